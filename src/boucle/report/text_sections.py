"""The report's sections for a character model: samples, surprisal, cells, gates, gradient over time.

The validation text comes from the caller (``boucle report --text FILE``) or, for a run of
``boucle train``, from the run's own corpus read again (its paths and glob are in the model
file) when its fingerprint still matches; the last ``val_fraction`` of it is the validation
split the run scored. Measurements: :mod:`boucle.report.charlm`.
"""

from __future__ import annotations

import numpy as np

from .. import validators
from ..data.text import load_corpus, split_ids
from ..errors import BoucleError
from ..models.charlm import CharModel
from .charlm import gate_saturation, gradient_over_time, surprisal, text_features, trace, track_cells
from .page import DIVERGING_SCALE, SEQUENTIAL_SCALE, Section, coloured_text, scale_legend, table
from .svg import esc, line_chart, scatter

__all__ = ["validation_text", "char_sections", "TEMPERATURES"]

#: the temperatures of the samples shown (sharper, the default of ``boucle generate``, flatter).
TEMPERATURES = (0.5, 0.8, 1.2)
SHOWN = 1500  # characters coloured by surprisal
ANALYSED = 6000  # characters the cells and gates are measured on
CELL_CHARS = 900  # characters shown per tracked cell


def validation_text(model: CharModel) -> tuple[str | None, str]:
    """The run's validation split read again, and where it came from (or None and why not)."""
    data = model.data or {}
    paths, glob, run = data.get("paths"), data.get("glob"), data.get("run")
    if not (
        isinstance(paths, list)
        and all(isinstance(p, str) for p in paths)
        and isinstance(run, dict)
        and (glob is None or isinstance(glob, str))
        and isinstance(data.get("sha256"), str)
    ):
        return None, "this model file does not say where its corpus is; give a text with --text"
    try:
        corpus = load_corpus(paths, glob)
        frac = validators.rate(run.get("val_fraction"), "val_fraction", "run options")
    except (BoucleError, OSError) as e:
        return None, f"the run's corpus cannot be read again ({e}); give a text with --text"
    if corpus.sha256 != data["sha256"]:
        return None, f"the run's corpus ({corpus.source}) has changed since training; give a text with --text"
    ids = model.vocab.encode(corpus.text, "corpus")
    _, val = split_ids(ids, frac)
    if len(val) < 2:
        return None, "the run kept no validation split; give a text with --text"
    return model.vocab.decode(val), f"the run's validation split ({len(val):,} characters of {corpus.source})"


def _samples(model: CharModel, seed: int) -> Section:
    parts = [
        f"<h3>temperature {t}</h3><pre>{esc(model.sample(300, temperature=t, seed=seed))}</pre>" for t in TEMPERATURES
    ]
    return Section(
        "samples",
        "Samples",
        '<p class="note">300 characters each, drawn one at a time and fed back '
        f"as the next input (seed {seed}; lower temperature = more conservative).</p>" + "".join(parts),
    )


def _surprisal(model: CharModel, text: str, where: str) -> Section:
    ids = model.vocab.encode(text[: SHOWN + 1], "text")
    bits = surprisal(trace(model, ids)["logits"], ids)  # bits for ids[1:]
    body = (
        f'<p class="note">Each character coloured by −log₂ p(character | the text before it): how surprised '
        f"the model is (from {esc(where)}; the first {len(bits):,} characters after the first, read from zero "
        f"states: {bits.mean():.3f} bits per character here).</p>"
        + scale_legend(SEQUENTIAL_SCALE, "0", "8+ bits", "surprisal")
        + f'<div class="seq">{coloured_text(text[1 : len(bits) + 1], bits, 0.0, 8.0, SEQUENTIAL_SCALE)}</div>'
    )
    return Section("surprisal", "Surprisal on the validation text", body)


def _cells(model: CharModel, text: str, tr: dict) -> Section:
    lstm = bool(tr["c"])
    acts = [np.tanh(c) for c in tr["c"]] if lstm else tr["h"]
    labels = [f"layer {k + 1}, cell {j}" for k, a in enumerate(acts) for j in range(a.shape[1])]
    cells = np.concatenate(acts, axis=1)  # (T, L·H)
    found = track_cells(cells, text_features(text[: len(cells)]), labels)
    what = "tanh(c_t), the cell state squashed to [−1, 1]" if lstm else "h_t"
    body = [
        f'<p class="note">Karpathy, Johnson &amp; Fei-Fei (2015) look for cells that track structure. For '
        f"each feature of the text below, the cell ({esc(what)}) whose activation correlates best with it "
        f"over the first {len(cells):,} validation characters (Pearson r); each cell coloured over the text "
        "(blue −1, red +1).</p>",
        scale_legend(DIVERGING_SCALE, "−1", "+1", "activation"),
    ]
    for f in found:
        a = cells[:CELL_CHARS, f["cell"]]
        body.append(
            f"<h3>{esc(f['feature'])}: {esc(f['label'])} (r = {f['r']:+.2f})</h3>"
            f'<div class="div">{coloured_text(text[: len(a)], a, -1.0, 1.0, DIVERGING_SCALE)}</div>'
        )
    return Section("cells", "Cells that track the text", "".join(body))


def _gates(model: CharModel, tr: dict) -> Section:
    sat = gate_saturation(tr["gates"])
    if not sat or not sat[0]:
        return Section("gates", "Gate saturation", '<p class="note">A simple RNN has no gates.</p>')
    charts, rows = [], []
    for k, layer in enumerate(sat):
        series = [(name, left, right) for name, (left, right) in layer.items()]
        charts.append(
            scatter(
                series,
                f"layer {k + 1}: one point per unit",
                "fraction left-saturated (< 0.1)",
                "fraction right-saturated (> 0.9)",
                lim=(0.0, 1.0),
                width=420,
                height=360,
            )
        )
        for name, (left, right) in layer.items():
            rows.append(
                (
                    f"layer {k + 1}, {name} gate",
                    f"left {left.mean():.1%}, right {right.mean():.1%} of the "
                    f"steps on average; {((left + right) > 0.9).mean():.0%} of the units saturated > 90 % "
                    "of the time",
                )
            )
    body = (
        '<p class="note">How often each gate is saturated over the text: the fraction of steps with the gate '
        "below 0.1 (left) or above 0.9 (right) — the paper's Figure 3. Units on the right edge are gates "
        "that stay open (e.g. forget gates remembering), units near the origin act in the middle range.</p>"
        f'<div class="cols">{"".join(charts)}</div>' + table(rows)
    )
    return Section("gates", "Gate saturation", body)


def _gradient(model: CharModel, text: str, seed: int) -> Section:
    g = gradient_over_time(model, model.vocab.encode(text[:ANALYSED], "text"), seed=seed)
    t = np.arange(1, len(g["h"]) + 1)
    series = [("‖∂E/∂h_t‖", t, g["h"])] + ([("‖∂E/∂c_t‖", t, g["c"], True)] if "c" in g else [])
    what = (
        "E = the cross entropy of the prediction after the window"
        if g["exact"]
        else "E = r · h_T for a random unit direction r (the model has several layers)"
    )
    ratio = g["h"][0] / g["h"][-1] if g["h"][-1] > 0 else float("nan")
    body = (
        f'<p class="note">Seed 002: the error signal reaching the state of the first layer t steps before '
        f"the end of a {len(t)}-character window ({esc(what)}; mean of 4 validation windows). "
        f"‖∂E/∂h_1‖ / ‖∂E/∂h_T‖ = {ratio:.2e}.</p>"
        + line_chart(series, "gradient of the last prediction over time (log scale)", "t", "norm", logy=True)
    )
    return Section("gradient", "Gradient over time", body)


def char_sections(model: CharModel, text: str | None, seed: int = 0) -> list[Section]:
    """Samples, then (with a text) surprisal, tracked cells, gate saturation and the gradient over time."""
    sections = [_samples(model, seed)]
    where = "the given text"
    if text is None:
        text, where = validation_text(model)
        if text is None:
            sections.append(Section("text", "Validation text", f'<p class="note">{esc(where)}.</p>'))
            return sections
    model.vocab.encode(text, "text")  # unknown characters: one line
    if len(text) < 20:
        raise BoucleError(f"text: expected at least 20 characters to analyse, got {len(text)}")
    tr = trace(model, model.vocab.encode(text[:ANALYSED], "text"))
    sections += [
        _surprisal(model, text, where),
        _cells(model, text, tr),
        _gates(model, tr),
        _gradient(model, text, seed),
    ]
    return sections
