"""boucle's error classes. All derive from ``ValueError`` so callers that catch
``ValueError`` for bad input keep working."""


class BoucleError(ValueError):
    """Bad input or an invalid state: the message names the argument, the
    expected and the actual value."""


class ModelFileError(BoucleError):
    """A model file that is missing, truncated, corrupt or inconsistent with its config."""


class NonFiniteError(BoucleError):
    """An array that must be finite holds NaN or Inf (during training: the model diverged)."""


class TrainingDiverged(BoucleError):
    """Training stopped because a step's loss or gradient became NaN or Inf (the command line's error)."""


class DivergenceWarning(RuntimeWarning):
    """Training stopped because a step's loss or gradient became NaN or Inf (the library's warning;
    the command line reports it as a :class:`TrainingDiverged` error instead)."""
