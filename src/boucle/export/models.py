r"""Whole models as ONNX graphs: ``Sequential``, ``CharModel`` (a step model), ``Seq2Seq`` (two graphs).

- **Sequential** — one graph ``x -> y`` computing :meth:`Sequential.predict` (inference:
  no dropout, BatchNormalization on its moving statistics). ``x`` is float32
  ``(batch, *input_shape)``, or int64 token ids when the first layer is an Embedding.
  With ``sequence_lens=True`` the graph also takes ``sequence_lens (batch,)`` int32,
  standing for ``predict``'s ``mask`` (``mask[b, t] = t < sequence_lens[b]``).
- **CharModel** — one step of generation (seed 002: the output at t is the input at
  t + 1): inputs ``ids (batch,)`` int64 and the states ``h_k`` (and ``c_k`` for the
  LSTM), ``(batch, H)`` float32, per layer k; outputs ``logits (batch, V)`` and the new
  states ``h_k_out`` (``c_k_out``). Starting from zeros and feeding each drawn character
  back gives :meth:`CharModel.sample` in any ONNX runtime; the vocabulary (id -> character)
  is in the model's metadata ``boucle.vocabulary`` (JSON).
- **Seq2Seq** — the encoder ``source (batch, T_x)`` int64 (0 = padding, right-padded) ->
  ``memory (batch, T_x, H_e)``, ``source_mask (batch, T_x)`` float32 and the decoder's
  initial states ``h_l`` (``c_l``); the decoder step ``token (batch,)``, the states,
  ``memory``, ``source_mask`` -> ``log_probs (batch, V)`` (log-softmax), the new states
  and, with attention, ``alpha (batch, T_x)`` — :meth:`Seq2Seq.decode_step`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import BoucleError
from ..io import atomic_write_bytes
from ..layers import Embedding
from ..layers.wrappers import Bidirectional
from ..models.charlm import CharModel
from ..models.seq2seq import Seq2Seq
from ..models.sequential import Sequential
from .graph import Graph, require_onnx
from .layers import activation, convert_layer, lengths_of
from .recurrent import run_rnn

__all__ = ["export_onnx", "sequential_graph", "charmodel_graph", "seq2seq_graphs"]


def _dims(shape: tuple, prefix: str) -> list:
    return [d if d is not None else f"{prefix}{i}" for i, d in enumerate(shape)]


def sequential_graph(model: Sequential, sequence_lens: bool = False):
    """The ``onnx.ModelProto`` of :meth:`Sequential.predict`."""
    if not model.built:
        raise BoucleError("export_onnx: the Sequential is not built; give its first layer input_shape= or call build()")
    g = Graph(model.name)
    shape = tuple(model.built_input_shape)
    ids = isinstance(model.layers[0], Embedding)
    x = g.input("x", np.int64 if ids else np.float32, ["batch", *_dims(shape, "in")])
    batch = g.batch_size(x)
    lens = g.input("sequence_lens", np.int32, ["batch"]) if sequence_lens else None
    for layer in model.layers:
        x, lens = convert_layer(g, layer, x, lens, shape, batch)
        shape = layer.compute_output_shape(shape)
    g.output(x, "y", np.float32, ["batch", *_dims(tuple(shape), "out")])
    return g.model(f"boucle {type(model).__name__} {model.name!r}: y = predict(x)")


def _vocab_meta(model, key: str, vocab) -> None:
    if vocab is not None:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(vocab.get_config())


def charmodel_graph(model: CharModel):
    """The one-step generation graph of a :class:`CharModel` (see the module doc)."""
    g = Graph(model.name)
    ids = g.input("ids", np.int64, ["batch"])
    batch = g.batch_size(ids)
    states = [
        [g.input(f"{s}_{k}", np.float32, ["batch", model.hidden]) for s in r.state_names]
        for k, r in enumerate(model.rnns)
    ]
    table = model.embedding.params["E"] if model.embedding is not None else np.eye(len(model.vocab))
    x = g.unsqueeze(g.node("Gather", [g.const(table, "embedding"), ids], axis=0), [0])  # (1, B, D)
    outs = []
    for k, rnn in enumerate(model.rnns):  # dropout: none at inference
        x, final = run_rnn(g, rnn, x, None, batch, initial=states[k])  # (1, B, H)
        outs.append(final)
    h = g.squeeze(x, [0])
    logits = g.node(
        "Add", [g.node("MatMul", [h, g.const(model.dense.params["W"], "V")]), g.const(model.dense.params["b"], "b_V")]
    )
    g.output(logits, "logits", np.float32, ["batch", len(model.vocab)])
    for k, (rnn, final) in enumerate(zip(model.rnns, outs)):
        for s, t in zip(rnn.state_names, final):
            g.output(t, f"{s}_{k}_out", np.float32, ["batch", model.hidden])
    m = g.model(f"boucle CharModel step: logits, states = step(ids, states); {model.architecture()}")
    _vocab_meta(m, "boucle.vocabulary", model.vocab)
    return m


def _encoder(model: Seq2Seq):
    g = Graph(f"{model.name}_encoder")
    src = g.input("source", np.int64, ["batch", "source_time"])
    batch = g.batch_size(src)
    valid = g.node("Cast", [g.node("Not", [g.node("Equal", [src, g.const(np.array(0))])])], to=1)  # (B, T)
    lens = lengths_of(g, valid, None)
    emb = g.node("Gather", [g.const(model.enc_embedding.params["E"], "enc_embedding"), src], axis=0)
    x = g.transpose(emb, [1, 0, 2])  # (T, B, E)
    init = []
    for l, layer in enumerate(model.enc_layers):
        if isinstance(layer, Bidirectional):
            (yf, sf), (yb, sb) = (run_rnn(g, inner, x, lens, batch) for inner in layer.layers)
            x = g.node("Concat", [yf, yb], axis=-1)
            if model.merge == "sum":  # s_0 = s→ + s←
                init.append([g.node("Add", [a, b]) for a, b in zip(sf, sb)])
            else:  # s_0 = g([s→, s←] V + b)
                init.append(
                    [
                        convert_layer(g, bridge, g.node("Concat", [a, b], axis=-1), None, (2 * model.units,), batch)[0]
                        for bridge, a, b in zip(model.bridges[l], sf, sb)
                    ]
                )
        else:
            x, final = run_rnn(g, layer, x, lens, batch)
            init.append(final)
    He = 2 * model.units if model.bidirectional else model.units
    g.output(g.transpose(x, [1, 0, 2]), "memory", np.float32, ["batch", "source_time", He])
    g.output(valid, "source_mask", np.float32, ["batch", "source_time"])
    for l, states in enumerate(init):
        for s, t in zip(model.dec_layers[0].state_names, states):
            g.output(t, f"{s}_{l}", np.float32, ["batch", model.units])
    m = g.model("boucle Seq2Seq encoder: memory, source_mask, decoder states = encode(source)")
    _vocab_meta(m, "boucle.source_vocabulary", model.source_vocab)
    return m


def _attention(g: Graph, model: Seq2Seq, q: str, memory: str, mask: str) -> tuple[str, str]:
    """Context (B, H_e) and α (B, T_x) of the query q (B, H) (boucle.ops.attention, one decoder step)."""
    p = model.attn.params
    keys_t = g.transpose(memory, [0, 2, 1])  # (B, H_e, T)
    if model.attention == "additive":
        qa = g.unsqueeze(g.node("MatMul", [q, g.const(p["W_q"], "W_q")]), [1])  # (B, 1, A)
        ka = g.node("MatMul", [memory, g.const(p["W_k"], "W_k")])  # (B, T, A)
        u = g.node("Tanh", [g.node("Add", [qa, ka])])
        s = g.node("MatMul", [u, g.const(p["v"], "v")])  # (B, T)
    else:
        k = q if model.attention == "dot" else g.node("MatMul", [q, g.const(p["W_a"], "W_a")])
        s = g.squeeze(g.node("MatMul", [g.unsqueeze(k, [1]), keys_t]), [1])  # (B, T)
    # padding gets exp(s − 10^9 − max) = 0 exactly; a row with no valid position gets α = 0 (boucle's rule)
    penalty = g.node(
        "Mul",
        [g.node("Sub", [mask, g.const(np.array(1.0, dtype=np.float32))]), g.const(np.array(1e9, dtype=np.float32))],
    )
    alpha = g.node("Softmax", [g.node("Add", [s, penalty])], axis=-1)
    alpha = g.node("Mul", [alpha, g.node("ReduceMax", [mask], axes=[-1], keepdims=1)])
    ctx = g.squeeze(g.node("MatMul", [g.unsqueeze(alpha, [1]), memory]), [1])  # (B, H_e)
    return ctx, alpha


def _decoder(model: Seq2Seq):
    g = Graph(f"{model.name}_decoder")
    token = g.input("token", np.int64, ["batch"])
    batch = g.batch_size(token)
    names = model.dec_layers[0].state_names
    states = [[g.input(f"{s}_{l}", np.float32, ["batch", model.units]) for s in names] for l in range(model.num_layers)]
    He = 2 * model.units if model.bidirectional else model.units
    memory = g.input("memory", np.float32, ["batch", "source_time", He])
    mask = g.input("source_mask", np.float32, ["batch", "source_time"])
    x = g.unsqueeze(g.node("Gather", [g.const(model.dec_embedding.params["E"], "dec_embedding"), token], axis=0), [0])
    new = []
    for l, layer in enumerate(model.dec_layers):
        x, final = run_rnn(g, layer, x, None, batch, initial=states[l])
        new.append(final)
    h = g.squeeze(x, [0])  # (B, H)
    alpha = None
    if model.attn is not None:
        ctx, alpha = _attention(g, model, h, memory, mask)
        c = model.combine
        h = g.node(
            "Add",
            [
                g.node("MatMul", [g.node("Concat", [ctx, h], axis=-1), g.const(c.params["W"], "W_c")]),
                g.const(c.params["b"], "b_c"),
            ],
        )
        h = activation(g, c.activation, h)
    o = model.output
    logits = g.node("Add", [g.node("MatMul", [h, g.const(o.params["W"], "V")]), g.const(o.params["b"], "b_V")])
    g.output(g.node("LogSoftmax", [logits], axis=-1), "log_probs", np.float32, ["batch", model.target_size])
    for l, final in enumerate(new):
        for s, t in zip(names, final):
            g.output(t, f"{s}_{l}_out", np.float32, ["batch", model.units])
    if alpha is not None:
        g.output(alpha, "alpha", np.float32, ["batch", "source_time"])
    m = g.model("boucle Seq2Seq decoder step: log_probs, states(, alpha) = step(token, states, memory, source_mask)")
    _vocab_meta(m, "boucle.target_vocabulary", model.target_vocab)
    return m


def seq2seq_graphs(model: Seq2Seq) -> tuple[Any, Any]:
    """``(encoder, decoder step)`` ``onnx.ModelProto`` of a :class:`Seq2Seq` (see the module doc)."""
    return _encoder(model), _decoder(model)


def seq2seq_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """Where :func:`export_onnx` writes a Seq2Seq: ``OUT.onnx`` -> ``OUT.encoder.onnx``, ``OUT.decoder.onnx``."""
    p = Path(path)
    stem = p.name[: -len(".onnx")] if p.name.endswith(".onnx") else p.name
    return p.with_name(f"{stem}.encoder.onnx"), p.with_name(f"{stem}.decoder.onnx")


def export_onnx(model: Any, path: str | os.PathLike, *, sequence_lens: bool = False) -> list[str]:
    """Write ``model`` as ONNX (opset 17, float32) and return the paths written.

    Args:
        model: a :class:`Sequential` (one graph computing ``predict``), a :class:`CharModel`
            (its one-step generation graph) or a :class:`Seq2Seq` (two graphs, written as
            ``OUT.encoder.onnx`` and ``OUT.decoder.onnx`` for ``path = OUT.onnx``). Layers
            and models without an ONNX form are a one-line error naming them.
        sequence_lens: Sequential only: add the input ``sequence_lens (batch,)`` int32 for
            ``predict``'s mask (right-padded rows).

    Files are written atomically. See :mod:`boucle.export` for what each graph computes.
    """
    require_onnx()
    if sequence_lens and not isinstance(model, Sequential):
        raise BoucleError(f"sequence_lens: only a Sequential takes it, got a {type(model).__name__}")
    if isinstance(model, Sequential):
        out = [(Path(path), sequential_graph(model, sequence_lens))]
    elif isinstance(model, CharModel):
        out = [(Path(path), charmodel_graph(model))]
    elif isinstance(model, Seq2Seq):
        out = list(zip(seq2seq_paths(path), seq2seq_graphs(model)))
    else:
        raise BoucleError(f"export_onnx: expected a Sequential, CharModel or Seq2Seq, got {type(model).__name__}")
    for p, m in out:
        m.producer_version = __version__
        atomic_write_bytes(p, m.SerializeToString())
    return [str(p) for p, _ in out]
