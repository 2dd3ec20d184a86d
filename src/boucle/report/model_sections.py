"""The report's sections for encoder–decoders, echo state networks and convolutional networks.

- **Seq2Seq**: greedy translations of a few inputs and their attention maps (row t: the
  distribution over the source characters while writing output character t). Inputs come
  from the caller, else from the generated tasks (dates, addition) whose characters the
  model's vocabulary holds.
- **Echo state networks**: the eigenvalues of the (first) reservoir's W in the complex
  plane with the spectral-radius circle; predictions against the truth on given data; the
  memory capacity MC_k by delay k (Jaeger 2001, :func:`boucle.reservoir.memory_capacity`).
- **Convolutional networks**: the first convolution's filters, and the feature maps of each
  convolution for the first given image.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse.linalg as spla

from ..data.tasks.translation import addition_dataset, dates_dataset
from ..diagnostics.features import conv_filters, feature_maps
from ..errors import BoucleError
from ..layers.conv import Conv1D, Conv2D, Conv2DTranspose
from ..models.decoding import attention_map, translate
from ..reservoir.measures import memory_capacity, nrmse
from .page import Section, table
from .svg import esc, heatmap, image_grid, line_chart, scatter

__all__ = ["seq2seq_sections", "esn_sections", "cnn_sections", "default_inputs"]

DENSE_EIGS = 1500  # larger reservoirs: the 200 eigenvalues of largest modulus


def default_inputs(model: Any, n: int = 3) -> list[str]:
    """Inputs of the generated tasks whose characters the model's source vocabulary holds."""
    vocab = model.source_vocab
    if vocab is None:
        return []
    for make in (lambda: dates_dataset(50, 10, seed=1), lambda: addition_dataset(50, 10, seed=1)):
        texts = make().x_test[:n]
        if all(ch in vocab.index for t in texts for ch in t):
            return texts
    return []


def seq2seq_sections(model: Any, inputs: list[str] | None) -> list[Section]:
    texts = list(inputs) if inputs else default_inputs(model)
    if not texts:
        return [
            Section(
                "attention",
                "Attention",
                '<p class="note">Give inputs with --input TEXT (the model reads '
                "ids without a character vocabulary, or none of the built-in tasks fits it).</p>",
            )
        ]
    if model.attn is None:
        rows = [(t, esc(out)) for t, out in zip(texts, translate(model, texts))]
        return [
            Section(
                "attention",
                "Translations",
                '<p class="note">This model has no attention '
                "(attention=None): its greedy translations.</p>" + table(rows),
            )
        ]
    charts = []
    for t in texts[:4]:
        src, out, alpha = attention_map(model, t, unknown="unk")
        charts.append(heatmap(alpha, list(out) + ["END"], list(src), f"{src} → {out}", "source", "output"))
    note = (
        '<p class="note">Greedy decoding; row t is α_t·, the attention over the source characters while the '
        f"decoder writes output character t ({esc(model.attention)} score, Luong et al. 2015). Darker = more "
        "weight.</p>"
    )
    return [Section("attention", "Attention maps", note + f'<div class="cols">{"".join(charts)}</div>')]


def _eigenvalues(W) -> tuple[np.ndarray, str]:
    n = W.shape[0]
    if n <= DENSE_EIGS:
        return np.linalg.eigvals(W.toarray()), f"all {n} eigenvalues"
    k = min(200, n - 2)
    vals = spla.eigs(W.astype(np.float64), k=k, which="LM", return_eigenvectors=False, v0=np.ones(n) / np.sqrt(n))
    return vals, f"the {k} eigenvalues of largest modulus (of {n})"


def esn_sections(model: Any, data: dict | None) -> list[Section]:
    res = model.reservoirs[0]
    if not res.built:
        return [Section("reservoir", "Reservoir", '<p class="note">The reservoir is not built yet.</p>')]
    lam, which = _eigenvalues(res.W)
    rho = float(np.abs(lam).max())
    plane = scatter(
        [("eigenvalues", lam.real, lam.imag)],
        "eigenvalues of W in the complex plane",
        "Re λ",
        "Im λ",
        circle=res.spectral_radius,
        equal=True,
        width=420,
        height=420,
    )
    sections = [
        Section(
            "reservoir",
            "Reservoir spectrum",
            f'<p class="note">{esc(which)} of the recurrent matrix W ({res.units} units, connectivity '
            f"{res.connectivity:g}); dashed: the spectral-radius circle |λ| = {res.spectral_radius:g} "
            f"that W was scaled to (largest |λ| shown: {rho:.4g}).</p>{plane}",
        )
    ]
    if data is not None and "x" in data and "y" in data and model.readout.output_dim is not None:
        x, y = np.asarray(data["x"], dtype=np.float64), np.asarray(data["y"], dtype=np.float64)
        pred = np.asarray(model.predict(x, initial_state=None))
        y2, p2 = y.reshape(-1, y.shape[-1]), pred.reshape(-1, pred.shape[-1])
        n = min(len(y2), 500)
        t = np.arange(n)
        chart = line_chart(
            [("truth", t, y2[:n, 0]), ("prediction", t, p2[:n, 0], True)],
            "prediction vs truth (first output, first 500 steps)",
            "t",
            "y",
        )
        sections.append(
            Section(
                "prediction",
                "Prediction vs truth",
                f'<p class="note">On the given data, from zero states: NRMSE (std) '
                f"{nrmse(y2, p2):.4g} over {len(y2):,} steps.</p>{chart}",
            )
        )
    if model.input_dim == 1:
        k_max = min(2 * sum(r.units for r in model.reservoirs), 200)
        mc = np.asarray(memory_capacity(model, k_max=k_max, seed=0, as_list=True))
        chart = line_chart(
            [("MC_k", np.arange(1, k_max + 1), mc)],
            "memory capacity by delay",
            "delay k",
            "corr²(u(t−k), y_k(t))",
            points=k_max <= 40,
        )
        sections.append(
            Section(
                "memory",
                "Memory capacity",
                f'<p class="note">Jaeger (2001): i.i.d. inputs in [−0.8, 0.8], one linear readout '
                f"per delay k; MC = Σ_k MC_k = {mc.sum():.2f} (≤ {res.units} units).</p>{chart}",
            )
        )
    return sections


def cnn_sections(model: Any, data: dict | None) -> list[Section]:
    convs = [(i, l) for i, l in enumerate(model.layers) if isinstance(l, (Conv1D, Conv2D, Conv2DTranspose))]
    if not convs:
        return []
    i0, first = convs[0]
    F = conv_filters(first)  # (n, kh, kw, C)
    body = [
        image_grid(
            list(F[:64]),
            [str(k) for k in range(min(64, len(F)))],
            f"{first.name}: {len(F)} filters {F.shape[1]}×{F.shape[2]} (mean over {F.shape[3]} "
            "input channels; red +, blue −)",
            diverging=True,
        )
    ]
    x = None if data is None else data.get("x")
    if x is None:
        body.append('<p class="note">Give an image with --data FILE.npz (array x) to see the feature maps.</p>')
    else:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == len(model.built_input_shape):
            x = x[None]
        if tuple(x.shape[1:]) != tuple(d for d in model.built_input_shape):
            raise BoucleError(
                f"data: x: expected images of shape {tuple(model.built_input_shape)}, got {tuple(x.shape[1:])}"
            )
        img = x[0]
        body.append(image_grid([img if img.shape[-1] in (1, 3) else img[..., :1]], ["input"], "the input image"))
        for i, layer in convs[:3]:
            maps = feature_maps(model, x[:1], i)[0]
            if maps.ndim == 2:  # Conv1D: (T, C) -> one row per map
                maps = maps[None]
            body.append(
                image_grid(
                    [maps[..., c] for c in range(min(maps.shape[-1], 32))],
                    [str(c) for c in range(min(maps.shape[-1], 32))],
                    f"{layer.name}: feature maps of the input ({maps.shape[-1]} channels)",
                )
            )
    return [Section("cnn", "Filters and feature maps", "".join(body))]
