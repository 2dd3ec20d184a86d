"""The one training engine (:func:`fit`, :func:`train_step`), its callbacks and progress display.

Every model's ``fit`` — ``Sequential``, ``CharModel``, ``Seq2Seq`` — runs through
:func:`fit`; see :mod:`boucle.training.engine` for the model protocol and the
divergence policy.
"""

from .callbacks import (
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from .engine import Forward, StepResult, fit, train_step
from .progress import EpochLine, ProgressBar
from .tensorboard import TensorBoard

__all__ = [
    "fit",
    "train_step",
    "Forward",
    "StepResult",
    "Callback",
    "CallbackList",
    "History",
    "EarlyStopping",
    "ModelCheckpoint",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "CSVLogger",
    "TerminateOnNaN",
    "ProgressBar",
    "EpochLine",
    "TensorBoard",
]
