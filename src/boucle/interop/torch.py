"""PyTorch ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` <-> boucle recurrent layers.

torch is **not** a dependency of boucle: it is imported inside the functions
that need it. (This module is ``boucle.interop.torch``; with absolute imports
``import torch`` inside it still finds the real torch.)

Layout differences, one layer and one direction (H = hidden size, G = gates)
-------------------------------------------------------------------------------

============  ==============================  ===================================
              PyTorch 2.x                     boucle (course, seed 002)
============  ==============================  ===================================
convention    column vectors, ``W x``         row vectors, ``x @ U``
input         ``weight_ih_l{k}`` (G*H, D)     ``U`` (D, G*H)   = weight_ih[perm].T
recurrent     ``weight_hh_l{k}`` (G*H, H)     ``W`` (H, G*H)   = weight_hh[perm].T
biases        ``bias_ih``, ``bias_hh``        ``b`` (G*H,) (+ GRU ``b_W``)
LSTM gates    i, f, g, o                      i, f, o, g
GRU gates     r, z, n                         z, r, g
GRU update    h' = (1 - z) n + z h            h' = z g + (1 - z) h
reverse dir.  suffix ``_reverse``             ``Bidirectional`` params ``backward/*``
============  ==============================  ===================================

- **Biases.** SimpleRNN and LSTM have one bias, ``b = bias_ih + bias_hh`` (the two
  only ever appear summed). :func:`to_torch` puts all of ``b`` in ``bias_ih`` and
  zeros in ``bias_hh``; so ``to_torch(from_torch(m))`` has the same weights as
  ``m`` and the same bias *sum* (bit for bit: the sum is computed once), and
  ``from_torch(to_torch(layer))`` gives back ``layer``'s parameters exactly.
- **GRU.** Only ``GRU(reset_after=True)`` has a torch twin (torch resets after the
  recurrent product: ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``);
  ``b = bias_ih`` and ``b_W = bias_hh`` for all three gates. torch's update gate is
  the complement of the course's: ``z_course = 1 - z_torch = σ(-a)``, so the
  converters negate the z block of ``U``, ``W``, ``b`` and ``b_W`` (an exact
  operation, its own inverse).
- **Stacks.** ``num_layers = L`` becomes a list of L layers, layer k reading the
  (B, T, dirs*H) output of layer k-1; ``bidirectional=True`` becomes
  :class:`~boucle.layers.wrappers.Bidirectional` with ``merge_mode="concat"``
  (torch's ``[forward, backward]`` order).
- **Batch axis.** boucle layers always take batch-first (B, T, D) inputs; a torch
  module with ``batch_first=False`` takes (T, B, D).
- **States.** torch's ``h_0``/``h_n`` (L*dirs, B, H) is, for layer k and direction
  d, row ``k*dirs + d``; the boucle ``initial_state`` of layer k is ``h`` (or
  ``[h, c]``), or for a Bidirectional ``[h_fwd(, c_fwd), h_bwd(, c_bwd)]``. The
  backward direction's final state is the state after reading step 0, as in torch.
- **Variable lengths.** A right-padded boucle mask ``mask[b, t] = t < lengths[b]``
  matches ``pack_padded_sequence(x, lengths, enforce_sorted=False)``: boucle's
  reverse direction starts at each sequence's own last valid step, like torch's.
- **Not converted.** ``proj_size > 0`` (LSTM projections), dropout between layers
  (training only: a warning, not carried), peephole LSTMs, the course's GRU
  (``reset_after=False``), the simplified GRU, learned initial states and
  activations other than tanh/relu have no torch twin: a one-line error.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BoucleError
from ..layers.base import Layer
from ..layers.recurrent import GRU, LSTM, RNN, SimpleRNN
from ..layers.wrappers import Bidirectional
from ..models import Sequential

__all__ = ["from_torch", "to_torch", "sequential_from_torch", "gates_to_course", "gates_from_course"]

#: course gate block j is torch gate block PERM[kind][j].
_PERM = {"rnn": (0,), "lstm": (0, 1, 3, 2), "gru": (1, 0, 2)}
#: kinds whose course block 0 (the update gate z) is the complement of the foreign one.
_FLIP = {"rnn": False, "lstm": False, "gru": True}
_MODES = {"RNN_TANH": ("rnn", "tanh"), "RNN_RELU": ("rnn", "relu"), "LSTM": ("lstm", None), "GRU": ("gru", None)}


def _blocks(a: np.ndarray, G: int) -> tuple[np.ndarray, int]:
    a = np.asarray(a)
    if a.ndim < 1 or a.shape[-1] % G:
        raise BoucleError(f"weights: last axis must hold {G} gate blocks, got shape {a.shape}")
    return a, a.shape[-1] // G


def gates_to_course(a: np.ndarray, perm: Sequence[int], flip_z: bool = False) -> np.ndarray:
    """Foreign gate blocks -> course blocks, along the LAST axis of ``a (..., G*H)``.

    Course block j = foreign block ``perm[j]``; with ``flip_z`` the course's block 0
    (the GRU update gate) is negated: σ(-a) = 1 - σ(a) turns ``h' = (1 - z) n + z h``
    into the course's ``h' = z g + (1 - z) h``. Returns a new array.
    """
    a, H = _blocks(a, len(perm))
    out = np.concatenate([a[..., k * H : (k + 1) * H] for k in perm], axis=-1)
    if flip_z:
        out[..., :H] *= -1
    return out


def gates_from_course(a: np.ndarray, perm: Sequence[int], flip_z: bool = False) -> np.ndarray:
    """The inverse of :func:`gates_to_course` (exact: a permutation and a sign)."""
    a, H = _blocks(a, len(perm))
    inv = [int(j) for j in np.argsort(perm)]
    out = np.concatenate([a[..., k * H : (k + 1) * H] for k in inv], axis=-1)
    if flip_z:
        z = inv.index(0)  # where course block 0 (z) landed
        out[..., z * H : (z + 1) * H] *= -1
    return out


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the environment
        raise BoucleError(
            "torch: PyTorch is required for boucle.interop.torch, got no module 'torch' (pip install torch)"
        ) from None
    return torch


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _direction_params(module, k: int, suffix: str, kind: str) -> dict[str, np.ndarray]:
    """boucle params of layer k, one direction (suffix '' or '_reverse'), from torch tensors."""
    perm, flip = _PERM[kind], _FLIP[kind]
    get = lambda n: _np(getattr(module, f"{n}_l{k}{suffix}"))  # noqa: E731
    p = {
        "U": np.ascontiguousarray(gates_to_course(get("weight_ih").T, perm, flip)),  # (D, G*H)
        "W": np.ascontiguousarray(gates_to_course(get("weight_hh").T, perm, flip)),
    }  # (H, G*H)
    if module.bias:
        b_ih, b_hh = get("bias_ih"), get("bias_hh")
        if kind == "gru":
            p["b"], p["b_W"] = gates_to_course(b_ih, perm, flip), gates_to_course(b_hh, perm, flip)
        else:
            p["b"] = gates_to_course(b_ih + b_hh, perm, flip)
    return p


def _check_module(module) -> tuple[str, str | None, np.dtype]:
    torch = _torch()
    if not isinstance(module, torch.nn.RNNBase) or getattr(module, "mode", None) not in _MODES:
        raise BoucleError(f"module: expected a torch.nn.RNN, nn.LSTM or nn.GRU, got {type(module).__name__}")
    if getattr(module, "proj_size", 0):
        raise BoucleError(f"module: LSTM projections have no boucle twin, expected proj_size=0, got {module.proj_size}")
    dtype = np.dtype(str(module.weight_ih_l0.dtype).removeprefix("torch."))
    if dtype.name not in ("float32", "float64"):
        raise BoucleError(f"module: dtype must be torch.float32 or torch.float64, got {module.weight_ih_l0.dtype}")
    if module.dropout:
        warnings.warn(
            f"from_torch: dropout={module.dropout} between layers is training-only and is not converted",
            UserWarning,
            stacklevel=3,
        )
    kind, activation = _MODES[module.mode]
    return kind, activation, dtype


def _make_layer(kind: str, activation: str | None, H: int, **kw) -> RNN:
    if kind == "rnn":
        return SimpleRNN(H, activation=activation, **kw)
    if kind == "lstm":
        return LSTM(H, **kw)
    return GRU(H, reset_after=True, **kw)


def from_torch(
    module: Any, *, return_sequences: bool = True, return_state: bool = False, name: str | None = None
) -> Layer | list[Layer]:
    """Convert a ``torch.nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` into built boucle layers.

    Args:
        module: the torch module (any ``num_layers``, ``bidirectional``, ``batch_first``,
            ``bias``; ``nonlinearity`` tanh or relu; float32 or float64).
        return_sequences: of the last layer (True, as torch returns every step's
            output); inner layers of a stack always return sequences.
        return_state: every layer also returns its final states (torch's ``h_n``
            holds all layers' states); such a stack is chained by hand.
        name: base name of the layers (``name`` for one layer, ``{name}_l{k}`` in a stack).

    Returns:
        ``num_layers == 1``: one layer — ``SimpleRNN``, ``LSTM``, ``GRU(reset_after=True)``,
        or ``Bidirectional(..., merge_mode="concat")``. ``num_layers > 1``: a list of such
        layers, layer k's input size being the output size of layer k-1; chain them
        (``y = l.forward(y, mask)[0]`` for each) or use :func:`sequential_from_torch`
        to get a ``Sequential``. Layers take batch-first (B, T, D) inputs, with the
        dtype of the module. Layouts: see the module docstring.
    """
    kind, activation, dtype = _check_module(module)
    L, H, dirs = module.num_layers, module.hidden_size, 2 if module.bidirectional else 1
    layers: list[Layer] = []
    for k in range(L):
        kw = dict(
            use_bias=bool(module.bias),
            return_sequences=bool(return_sequences) or k < L - 1,
            return_state=bool(return_state),
            dtype=dtype.name,
        )
        lname = None if name is None else (name if L == 1 else f"{name}_l{k}")
        D = module.input_size if k == 0 else dirs * H
        if dirs == 2:
            layer: Layer = Bidirectional(_make_layer(kind, activation, H, **kw), merge_mode="concat", name=lname)
        else:
            layer = _make_layer(kind, activation, H, name=lname, **kw)
        layer.build((None, D), 0)
        if dirs == 2:
            weights = {
                f"{side}/{n}": v
                for side, sfx in (("forward", ""), ("backward", "_reverse"))
                for n, v in _direction_params(module, k, sfx, kind).items()
            }
        else:
            weights = _direction_params(module, k, "", kind)
        layer.set_weights(weights)
        layers.append(layer)
    return layers[0] if L == 1 else layers


def sequential_from_torch(
    module: Any, *, return_sequences: bool = True, name: str = "sequential", seed: int | None = None
) -> Sequential:
    """A built :class:`~boucle.models.Sequential` of :func:`from_torch`'s layers, holding
    the torch weights: ``model.predict(x, mask=mask)`` gives torch's output sequence
    (batch-first, zero at padded steps) — or, with ``return_sequences=False``, the
    last layer's final h (both directions' concatenated for a bidirectional module).
    """
    layers = from_torch(module, return_sequences=return_sequences)
    layers = layers if isinstance(layers, list) else [layers]
    weights = [l.get_weights() for l in layers]
    model = Sequential(layers, name=name, seed=seed)
    if not model.built:
        model.build((None, module.input_size))
    for layer, w in zip(model.layers, weights):  # building draws fresh weights: put the torch ones back
        layer.set_weights(w)
    return model


# ------------------------------------------------------------------ boucle -> torch
def _spec(layer: Layer) -> tuple[tuple, list[RNN]]:
    """(the torch-relevant config, [forward layer(, backward layer)]) of one boucle layer."""
    if isinstance(layer, Bidirectional):
        if layer.merge_mode != "concat":
            raise BoucleError(
                f"{layer.name}: torch concatenates both directions, expected "
                f"merge_mode='concat', got {layer.merge_mode!r}"
            )
        inner = list(layer.layers)
    elif isinstance(layer, RNN):
        inner = [layer]
    else:
        raise BoucleError(f"layer: expected SimpleRNN, LSTM, GRU or Bidirectional, got {type(layer).__name__}")
    f = inner[0]
    if not f.built:
        raise BoucleError(f"{layer.name}: layer is not built, call build(input_shape) first")
    if f.go_backwards:
        raise BoucleError(
            f"{layer.name}: torch has no go_backwards for one direction, expected go_backwards=False, got True"
        )
    if f.learn_initial_state:
        raise BoucleError(
            f"{layer.name}: torch has no learned initial state, expected learn_initial_state=False, got True"
        )
    if isinstance(f, LSTM):
        if f.peephole:
            raise BoucleError(f"{layer.name}: torch's LSTM has no peepholes, expected peephole=False, got True")
        kind, act = "lstm", None
    elif isinstance(f, GRU):
        if f.variant != "full" or not f.reset_after:
            raise BoucleError(
                f"{layer.name}: only GRU(reset_after=True) has a torch twin, got "
                f"variant={f.variant!r}, reset_after={f.reset_after}"
            )
        kind, act = "gru", None
    elif isinstance(f, SimpleRNN):
        if f.activation not in ("tanh", "relu"):
            raise BoucleError(
                f"{layer.name}: torch's RNN nonlinearity is 'tanh' or 'relu', got activation={f.activation!r}"
            )
        kind, act = "rnn", f.activation
    else:
        raise BoucleError(f"layer: expected SimpleRNN, LSTM or GRU inside, got {type(f).__name__}")
    if f.dropout or f.recurrent_dropout:
        warnings.warn(
            f"to_torch: {layer.name} dropout={f.dropout}, recurrent_dropout={f.recurrent_dropout} "
            f"are training-only and are not converted",
            UserWarning,
            stacklevel=3,
        )
    spec = (kind, act, f.units, f.use_bias, len(inner), f.params["U"].dtype.name)
    return spec, inner


def _torch_rows(a: np.ndarray, kind: str) -> np.ndarray:
    """(K, G*H) course blocks -> torch (G*H, K) rows (the inverse of the U = weight_ih[perm].T map)."""
    return np.ascontiguousarray(gates_from_course(a, _PERM[kind], _FLIP[kind]).T)


def to_torch(layers: Any, *, batch_first: bool = True):
    """The ``torch.nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` equal to built boucle layers.

    Args:
        layers: one layer (SimpleRNN tanh/relu, LSTM, ``GRU(reset_after=True)``, or
            ``Bidirectional(..., merge_mode="concat")`` of one), a list of them (a
            stack: same kind, units, bias and directions; layer k's input size =
            output size of layer k-1), or a ``Sequential`` made only of them.
        batch_first: of the torch module (default True, as boucle's inputs).

    Returns:
        a torch module in the layers' dtype: ``num_layers = len(layers)``,
        ``bidirectional`` for Bidirectional layers. SimpleRNN/LSTM biases go to
        ``bias_ih`` (``bias_hh`` = 0); GRU ``b -> bias_ih``, ``b_W -> bias_hh``;
        the GRU update gate is flipped (see the module docstring).
    """
    torch = _torch()
    if isinstance(layers, Sequential):
        layers = layers.layers
    layers = list(layers) if isinstance(layers, (list, tuple)) else [layers]
    if not layers:
        raise BoucleError("layers: expected at least one recurrent layer, got an empty list")
    specs = [_spec(l) for l in layers]
    spec0 = specs[0][0]
    kind, act, H, use_bias, dirs, dtype = spec0
    for l, (spec, _) in zip(layers[1:], specs[1:]):
        if spec != spec0:
            raise BoucleError(
                f"{l.name}: a torch stack needs one config (kind, activation, units, use_bias, "
                f"directions, dtype) = {spec0}, got {spec}"
            )
    for k, (l, (_, inner)) in enumerate(zip(layers, specs)):
        D = inner[0].params["U"].shape[0]
        if k and D != dirs * H:
            raise BoucleError(f"{l.name}: input size of layer {k} must be {dirs * H} (previous output), got {D}")
    D0 = specs[0][1][0].params["U"].shape[0]
    tdtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    kw = dict(num_layers=len(layers), bias=use_bias, batch_first=batch_first, bidirectional=dirs == 2, dtype=tdtype)
    if kind == "rnn":
        module = torch.nn.RNN(D0, H, nonlinearity=act, **kw)
    else:
        module = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(D0, H, **kw)
    with torch.no_grad():
        for k, (_, inner) in enumerate(specs):
            for sfx, layer in zip(("", "_reverse"), inner):
                p = layer.params
                vals = {"weight_ih": _torch_rows(p["U"], kind), "weight_hh": _torch_rows(p["W"], kind)}
                if use_bias:
                    vals["bias_ih"] = gates_from_course(p["b"], _PERM[kind], _FLIP[kind])
                    vals["bias_hh"] = (
                        gates_from_course(p["b_W"], _PERM[kind], _FLIP[kind])
                        if kind == "gru"
                        else np.zeros_like(p["b"])
                    )
                for n, v in vals.items():
                    getattr(module, f"{n}_l{k}{sfx}").copy_(torch.from_numpy(np.ascontiguousarray(v)))
    return module
