"""boucle's error classes. All derive from ``ValueError`` so callers that catch
``ValueError`` for bad input keep working."""


class BoucleError(ValueError):
    """Bad input or an invalid state: the message names the argument, the
    expected and the actual value."""


class ModelFileError(BoucleError):
    """A model file that is missing, truncated, corrupt or inconsistent with its config."""


class TrainingDiverged(BoucleError):
    """The loss became NaN or Inf during training."""
