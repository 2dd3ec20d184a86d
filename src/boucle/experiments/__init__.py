"""Reproducible studies built on boucle (``boucle experiment ...``).

- :mod:`boucle.experiments.vanishing` — vanishing/exploding gradients: the adding
  problem and the embedded Reber grammar for SimpleRNN, LSTM and GRU, with and
  without clipping, and the gradient flow through time.
"""

from .vanishing import StudyConfig, run_study

__all__ = ["StudyConfig", "run_study"]
