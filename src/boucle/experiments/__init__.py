"""Reproducible studies built on boucle (``boucle experiment ...``).

- :mod:`boucle.experiments.vanishing` — vanishing/exploding gradients: the adding
  problem and the embedded Reber grammar for SimpleRNN, LSTM and GRU, with and
  without clipping, and the gradient flow through time.

Submodules load on first use (``python -m boucle.experiments.vanishing`` runs cleanly).
"""
from __future__ import annotations

from typing import Any

__all__ = ["StudyConfig", "add_commands", "run_study"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import vanishing
        return getattr(vanishing, name)
    raise AttributeError(f"module 'boucle.experiments' has no attribute {name!r}")
