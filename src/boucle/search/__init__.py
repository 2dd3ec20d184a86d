"""Hyper-parameter searches and multi-seed studies, serial, on local processes or on Dask.

A trial is a pure function ``(config, seed) -> metrics`` (:mod:`~boucle.search.trial`);
a search (:func:`run_search`) runs trials chosen by a method (grid, random, successive
halving: :mod:`~boucle.search.methods`) over a :class:`Space` on a backend
(:mod:`~boucle.search.backends`), appending each result to its folder as it finishes
(:mod:`~boucle.search.journal`). Specs are TOML or JSON files
(:mod:`~boucle.search.spec`); built-in recipes live in :mod:`~boucle.search.recipes`.
The command line is ``boucle search SPEC [--workers N | --scheduler tcp://HOST:PORT]``.
"""

from .backends import DaskBackend, ProcessBackend, SerialBackend, WorkerDied, make_backend, map_ordered, run_tasks
from .methods import Grid, Halving, Random, config_scores
from .recipes import RECIPES
from .runner import SearchResult, best_config, identical, run_search
from .space import Choice, Constant, IntUniform, LogUniform, Space, Uniform
from .spec import SearchSpec, load_spec, parse_spec
from .trial import TrialContext, TrialTimeout, config_rng, execute, trial_seed

__all__ = [
    "run_search",
    "SearchResult",
    "SearchSpec",
    "load_spec",
    "parse_spec",
    "Space",
    "Uniform",
    "LogUniform",
    "IntUniform",
    "Choice",
    "Constant",
    "Grid",
    "Random",
    "Halving",
    "config_scores",
    "best_config",
    "identical",
    "make_backend",
    "SerialBackend",
    "ProcessBackend",
    "DaskBackend",
    "WorkerDied",
    "run_tasks",
    "map_ordered",
    "TrialContext",
    "TrialTimeout",
    "execute",
    "config_rng",
    "trial_seed",
    "RECIPES",
]
