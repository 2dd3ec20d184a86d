"""Training callbacks (Keras's ``keras.callbacks``): the public name of :mod:`boucle.training.callbacks`."""

from .training.callbacks import (
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
from .training.progress import EpochLine, ProgressBar
from .training.tensorboard import TensorBoard

__all__ = [
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
