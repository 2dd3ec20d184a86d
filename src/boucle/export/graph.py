"""A small builder of ONNX graphs: named tensors, constants, nodes, and the model around them.

The converters (:mod:`boucle.export.layers`, :mod:`boucle.export.recurrent`,
:mod:`boucle.export.models`) write a graph one node at a time::

    g = Graph("sequential")
    x = g.input("x", np.float32, ("batch", 20))
    y = g.node("MatMul", [x, g.const(W)])
    g.output(y, "y", np.float32, ("batch", 10))
    onnx_model = g.model()

Every constant is stored in float32 (boucle's float64 models are exported in float32:
onnxruntime's recurrent operators run in float32) or in its integer type. ``onnx`` is
an optional dependency (the ``onnx`` extra): it is imported when a model is built, and
its absence is a one-line :class:`~boucle.errors.BoucleError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import BoucleError

__all__ = ["Graph", "OPSET", "IR_VERSION", "require_onnx"]

#: the operator set the graphs use (LSTM/GRU/RNN ``layout``: 14; ``Reduce*`` with an ``axes`` attribute: < 18).
OPSET = 17
#: the file format version (opset 17 needs IR >= 8; onnxruntime >= 1.14 reads it).
IR_VERSION = 8


def require_onnx():
    """The ``onnx`` module, or a one-line error saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise BoucleError("export_onnx: the onnx package is not installed; pip install 'boucle[onnx]'") from None
    return onnx


def _elem_type(dtype: Any) -> int:
    onnx = require_onnx()
    return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


class Graph:
    """One ONNX graph under construction (nodes in order, constants as initializers)."""

    def __init__(self, name: str):
        self.name = name
        self.nodes: list = []
        self.initializers: list = []
        self.inputs: list = []
        self.outputs: list = []
        self._names: dict[str, int] = {}

    def fresh(self, base: str) -> str:
        """A tensor name not used yet in this graph, built from ``base``."""
        base = base.replace("/", "_")
        n = self._names.get(base, 0)
        self._names[base] = n + 1
        return base if n == 0 else f"{base}_{n}"

    # -- graph boundary -------------------------------------------------------------
    def input(self, name: str, dtype: Any, shape: Sequence) -> str:
        """Declare a graph input; ``shape`` entries are ints, names of symbolic sizes, or None."""
        onnx = require_onnx()
        name = self.fresh(name)
        self.inputs.append(onnx.helper.make_tensor_value_info(name, _elem_type(dtype), list(shape)))
        return name

    def output(self, tensor: str, name: str, dtype: Any, shape: Sequence | None = None) -> str:
        """Expose ``tensor`` as the graph output ``name`` (through an Identity when renamed)."""
        onnx = require_onnx()
        if tensor != name:
            self.nodes.append(onnx.helper.make_node("Identity", [tensor], [name], name=self.fresh(f"out_{name}")))
            self._names[name] = self._names.get(name, 0) + 1
        self.outputs.append(
            onnx.helper.make_tensor_value_info(name, _elem_type(dtype), None if shape is None else list(shape))
        )
        return name

    # -- contents ---------------------------------------------------------------------
    def const(self, value: Any, name: str = "const", dtype: Any = None) -> str:
        """A constant tensor (float arrays in float32, ints in int64 unless ``dtype`` says otherwise)."""
        onnx = require_onnx()
        a = np.asarray(value)
        if dtype is not None:
            a = a.astype(dtype)
        elif np.issubdtype(a.dtype, np.floating):
            a = a.astype(np.float32)
        elif np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
            a = a.astype(np.int64) if a.dtype != bool else a
        tname = self.fresh(name)
        self.initializers.append(onnx.numpy_helper.from_array(np.ascontiguousarray(a), tname))
        return tname

    def node(self, op: str, inputs: Sequence[str], n_out: int = 1, name: str | None = None, **attrs) -> Any:
        """Add node ``op``; returns its output name (or a list of ``n_out`` names). An input ``""`` is
        an omitted optional input."""
        onnx = require_onnx()
        base = self.fresh(name or op.lower())
        outs = [base] + [self.fresh(f"{base}_{k}") for k in range(1, n_out)]
        self.nodes.append(onnx.helper.make_node(op, list(inputs), outs, name=base, **attrs))
        return outs[0] if n_out == 1 else outs

    # -- a few composite helpers --------------------------------------------------------
    def transpose(self, x: str, perm: Sequence[int]) -> str:
        return self.node("Transpose", [x], perm=list(perm))

    def unsqueeze(self, x: str, axes: Sequence[int]) -> str:
        return self.node("Unsqueeze", [x, self.const(np.array(axes, dtype=np.int64), "axes")])

    def squeeze(self, x: str, axes: Sequence[int]) -> str:
        return self.node("Squeeze", [x, self.const(np.array(axes, dtype=np.int64), "axes")])

    def batch_size(self, x: str) -> str:
        """A (1,) int64 tensor: the first dimension of ``x``."""
        shape = self.node("Shape", [x])
        return self.node("Slice", [shape, self.const(np.array([0]), "start"), self.const(np.array([1]), "end")])

    def model(self, doc: str = ""):
        """The ``onnx.ModelProto``, checked by ``onnx.checker``."""
        onnx = require_onnx()
        graph = onnx.helper.make_graph(self.nodes, self.name, self.inputs, self.outputs, self.initializers)
        model = onnx.helper.make_model(
            graph, producer_name="boucle", opset_imports=[onnx.helper.make_opsetid("", OPSET)]
        )
        model.ir_version = IR_VERSION
        if doc:
            model.doc_string = doc
        onnx.checker.check_model(model)
        return model
