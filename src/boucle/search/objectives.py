"""What a search runs: a built-in recipe, or a Python callable named by a spec.

An objective is ``fn(config: dict, seed: int[, trial: TrialContext]) -> {metric: value}``,
a pure function: the same config and seed give the same metrics on any worker.
A spec names it in one of three ways, all resolved *on the worker* from a small
picklable :class:`ObjectiveRef`:

- ``recipe = "esn-mackey-glass"`` — a built-in recipe (:mod:`boucle.search.recipes`);
- ``objective = "package.module:function"`` — imported on the worker (it must be installed there);
- ``objective = "path/to/file.py:function"`` — the file's *source* travels with the
  reference and runs as a module on the worker, so a remote cluster needs no shared folder.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import re
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import BoucleError
from .recipes import RECIPES

__all__ = ["ObjectiveRef", "objective_ref", "resolve", "accepts_context"]

_CACHE: dict[tuple, Callable] = {}


@dataclass(frozen=True)
class ObjectiveRef:
    """``kind`` is ``"recipe"``, ``"module"`` or ``"file"``; ``source`` holds a file's text."""

    kind: str
    name: str
    function: str = ""
    source: str = ""

    def describe(self) -> str:
        return self.name if self.kind == "recipe" else f"{self.name}:{self.function}"


def objective_ref(recipe: Any = None, objective: Any = None, base: str | os.PathLike = ".") -> ObjectiveRef:
    """The reference for a spec's ``recipe`` or ``objective`` (exactly one); checked here, on the coordinator."""
    if (recipe is None) == (objective is None):
        raise BoucleError(
            'spec: expected exactly one of recipe = "NAME" or objective = "module:function", '
            f"got recipe={recipe!r}, objective={objective!r}"
        )
    if recipe is not None:
        if recipe not in RECIPES:
            raise BoucleError(f"recipe: expected one of {sorted(RECIPES)}, got {recipe!r}")
        return ObjectiveRef("recipe", recipe)
    if not isinstance(objective, str) or not re.fullmatch(r"[^:]+:[A-Za-z_]\w*", objective):
        raise BoucleError(f'objective: expected "package.module:function" or "file.py:function", got {objective!r}')
    target, func = objective.rsplit(":", 1)
    if target.endswith(".py"):
        path = os.path.join(os.fspath(base), target)
        try:
            with open(path, encoding="utf-8") as f:
                source = f.read()
        except OSError as e:
            raise BoucleError(f"objective: cannot read {path!r} ({e.strerror})") from None
        ref = ObjectiveRef("file", os.path.abspath(path), func, source)
    else:
        ref = ObjectiveRef("module", target, func)
    resolve(ref)  # fail now, in one line, rather than on every worker
    return ref


def resolve(ref: ObjectiveRef) -> Callable:
    """The callable of ``ref`` (cached per process)."""
    key = (ref.kind, ref.name, ref.function, hashlib.sha256(ref.source.encode()).hexdigest())
    fn = _CACHE.get(key)
    if fn is not None:
        return fn
    if ref.kind == "recipe":
        fn = RECIPES[ref.name].run
    elif ref.kind == "module":
        try:
            module = importlib.import_module(ref.name)
        except ImportError as e:
            raise BoucleError(f"objective: cannot import module {ref.name!r} ({e})") from None
        fn = getattr(module, ref.function, None)
    else:
        name = "boucle_objective_" + key[3][:16]
        module = sys.modules.get(name)
        if module is None:
            module = types.ModuleType(name)
            module.__file__ = ref.name
            sys.modules[name] = module  # (pickling the module's own classes finds them)
            try:
                exec(compile(ref.source, ref.name, "exec"), module.__dict__)
            except BaseException:
                del sys.modules[name]
                raise
        fn = getattr(module, ref.function, None)
    if not callable(fn):
        raise BoucleError(f"objective: {ref.describe()!r} is not a callable")
    _CACHE[key] = fn
    return fn


def accepts_context(fn: Callable) -> bool:
    """Whether ``fn`` takes a third argument (the :class:`~boucle.search.trial.TrialContext`)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return True
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]) >= 3
