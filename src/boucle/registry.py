"""One registry for every class a model file may name.

A model file (:mod:`boucle.io`) is JSON naming classes — the model, its layers, its
optimizer, a learning-rate schedule, a loss — and loading must never run anything
else. Every serialisable class registers itself here under its kind and name::

    @register("layer")
    class Dense(Layer): ...

and :func:`lookup` is the only way back from a name to a class: an unknown name is
refused with the list of known ones (so ``"os.system"`` or ``"EvilLayer"`` never
resolves). Each class rebuilds itself from its own config (``cls.from_config``);
:func:`deserialize` does the lookup and that call in one place.

Kinds: ``"layer"``, ``"model"``, ``"optimizer"``, ``"schedule"``, ``"loss"``.
Optimizers are also found case-insensitively (``"adam"`` → :class:`Adam`), as Keras does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .errors import BoucleError

__all__ = ["KINDS", "register", "lookup", "names", "deserialize", "view", "accepted_keys", "check_keys"]

KINDS = ("layer", "model", "optimizer", "schedule", "loss")
_CASE_INSENSITIVE = ("optimizer",)

_CLASSES: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}


def _check_kind(kind: str) -> dict[str, type]:
    if kind not in _CLASSES:
        raise BoucleError(f"kind: expected one of {list(KINDS)}, got {kind!r}")
    return _CLASSES[kind]


def register(kind: str, name: str | None = None) -> Callable[[type], type]:
    """Class decorator: make ``cls`` findable as ``(kind, name)`` (default name: the class name).

    Registering a second, different class under a taken name is refused (a model file
    would otherwise load as whichever class registered last).
    """
    table = _check_kind(kind)

    def add(cls: type) -> type:
        key = name or cls.__name__
        old = table.get(key)
        if (
            old is not None
            and old is not cls
            and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__)
        ):
            raise BoucleError(f"register: {kind} name {key!r} is taken by {old.__module__}.{old.__qualname__}")
        table[key] = cls
        return cls

    return add


def names(kind: str) -> list[str]:
    """The registered names of ``kind``, sorted."""
    return sorted(_check_kind(kind))


def view(kind: str) -> dict[str, type]:
    """A copy of the ``name -> class`` table of ``kind``."""
    return dict(_check_kind(kind))


def lookup(kind: str, name: Any, *, what: str | None = None) -> type:
    """The class registered as ``(kind, name)``; a one-line :class:`BoucleError` otherwise.

    ``what`` names the argument in the message (default: ``"<kind> class"``).
    """
    table = _check_kind(kind)
    label = what or f"{kind} class"
    if isinstance(name, str):
        if name in table:
            return table[name]
        if kind in _CASE_INSENSITIVE:
            folded = {k.lower(): v for k, v in table.items()}
            if name.lower() in folded:
                return folded[name.lower()]
    shown = name if isinstance(name, (str, int, float, bool, type(None))) else type(name).__name__
    raise BoucleError(f"{label}: unknown {kind} class {shown!r}, expected one of {sorted(table)}")


def accepted_keys(cls: type) -> set[str] | None:
    """The keyword arguments ``cls(...)`` accepts: its ``__init__``'s parameters, and those of the
    base classes its ``**kwargs`` passes on to; None when some constructor takes anything."""
    keys: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if klass is object:
            return keys
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return None
        keys |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return keys
    return keys


def check_keys(cls: type, config: dict, what: str) -> None:
    """Refuse config keys that ``cls(**config)`` would not accept, with a one-line error listing the known ones."""
    known = accepted_keys(cls)
    unknown = sorted(str(k) for k in config if k not in known) if known is not None else []
    if unknown:
        raise BoucleError(f"{what}: unknown {cls.__name__} argument(s) {unknown[:5]}, expected among {sorted(known)}")


def deserialize(kind: str, spec: Any, *, what: str | None = None) -> Any:
    """An object from ``{"class_name": name, "config": {...}}``: ``lookup(kind, name).from_config(config)``."""
    label = what or kind
    if not isinstance(spec, dict) or not isinstance(spec.get("config", {}), dict):
        raise BoucleError(
            f"{label}: expected {{'class_name': <a registered {kind}>, 'config': {{...}}}}, got {type(spec).__name__}"
        )
    cls = lookup(kind, spec.get("class_name"), what=what)
    return cls.from_config(dict(spec.get("config", {})))
