"""A trained model as one self-contained HTML page (``boucle report RUN_OR_MODEL -o report.html``).

The page holds no script and fetches nothing: charts are inline SVG, images inline PNG, so
it opens from disk, offline, on a phone or a desktop. What it shows depends on the model:

- every model: the model card (:mod:`boucle.report.card`) and, when the history is at hand
  (char models keep theirs in their files), the training curves and the learning rate;
- ``CharModel``: samples at three temperatures, the validation text coloured by surprisal,
  cells that track quotes, indentation and the position in the line, gate saturation, and
  ‖∂E/∂h_t‖ over time (:mod:`boucle.report.text_sections`);
- ``Seq2Seq``: attention maps; echo state networks: the reservoir's eigenvalues, predictions
  against the truth, memory capacity by delay; convolutional ``Sequential`` models: filters
  and feature maps (:mod:`boucle.report.model_sections`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import BoucleError
from ..io import atomic_write_bytes, read_metadata
from ..models.charlm import CharModel
from ..models.seq2seq import Seq2Seq
from ..models.sequential import Sequential
from ..reservoir._echo import _EchoState
from .card import curves_section, model_card
from .model_sections import cnn_sections, esn_sections, seq2seq_sections
from .page import Section, render
from .text_sections import char_sections

__all__ = ["build_report", "write_report"]


def _meta(source: str | None) -> dict | None:
    if source is None or not os.path.isfile(source):
        return None
    with open(source, "rb") as f:
        return read_metadata(f.read(), source)


def build_report(
    model: Any,
    *,
    source: str | None = None,
    text: str | None = None,
    data: dict | None = None,
    inputs: list[str] | None = None,
    seed: int = 0,
) -> str:
    """The report's HTML for ``model`` (see the module doc).

    Args:
        source: the model file it was read from (named on the page; its metadata read).
        text: a character model's validation text (default: the run's own split, when readable).
        data: arrays — ``x`` (and ``y``): ESN predictions against the truth; ``x``: a CNN's input images.
        inputs: Seq2Seq source texts to show the attention of.
        seed: the samples' and probes' seed.
    """
    if data is not None and not isinstance(data, dict):
        raise BoucleError(f"data: expected a dict of arrays such as {{'x': ..., 'y': ...}}, got {type(data).__name__}")
    sections: list[Section] = [model_card(model, source, _meta(source))]
    curves = curves_section(getattr(model, "history", None))
    if curves is not None:
        sections.append(curves)
    if isinstance(model, CharModel):
        sections += char_sections(model, text, seed)
    elif isinstance(model, Seq2Seq):
        sections += seq2seq_sections(model, inputs)
    elif isinstance(model, _EchoState):
        sections += esn_sections(model, data)
    elif isinstance(model, Sequential):
        sections += cnn_sections(model, data)
    title = f"boucle report: {type(model).__name__} {getattr(model, 'name', '')}".strip()
    return render(title, source or "a model in memory", sections)


def write_report(model: Any, path: str | os.PathLike, **kwargs) -> str:
    """Write :func:`build_report`'s page to ``path`` atomically; returns the path."""
    page = build_report(model, **kwargs)
    atomic_write_bytes(Path(path), page.encode("utf-8"))
    return str(path)
