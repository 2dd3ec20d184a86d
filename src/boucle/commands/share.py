"""``boucle export`` and ``boucle report``: a trained model as ONNX, and as one HTML page.

    boucle export MODEL OUT.onnx [--sequence-lens] [--force]
    boucle report RUN_OR_MODEL -o report.html [--text FILE] [--data FILE.npz] [--input TEXT ...] [--force]

MODEL / RUN_OR_MODEL is a model file or a run folder holding ``model.safetensors`` (what
``boucle train --out DIR`` writes). Outputs are checked before any work (their folder
exists and is writable; a file already there is replaced only with ``--force``) and
written atomically.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ..errors import BoucleError
from ..export import export_onnx
from ..export.models import seq2seq_paths
from ..io import load
from ..models.seq2seq import Seq2Seq
from ..report import write_report
from .files import check_finite, check_output, human_bytes, model_path
from .options import nonneg_int, text

__all__ = ["add_commands"]


def _export(args: argparse.Namespace) -> int:
    src = model_path(args.model)
    model = load(src, compile=False)
    check_finite(model, src)
    out = Path(args.out)
    targets = list(seq2seq_paths(out)) if isinstance(model, Seq2Seq) else [out]
    for t in targets:
        check_output(t, "OUT", folder=False, force=args.force)
    for p in export_onnx(model, out, sequence_lens=args.sequence_lens):
        print(f"wrote {p} ({human_bytes(Path(p).stat().st_size)})")
    return 0


def _data(path: str | None) -> dict | None:
    if path is None:
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise BoucleError(
            f"--data: cannot read {path!r} as a NumPy .npz file ({str(e).splitlines()[0][:80]})"
        ) from None


def _report(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    src = model_path(args.model)
    out = Path(args.output)
    check_output(out, "--output", folder=False, force=args.force)
    model = load(src, compile=True)
    check_finite(model, src)
    val_text = None
    if args.text is not None:
        try:
            val_text = Path(args.text).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise BoucleError(f"--text: cannot read {args.text!r} as UTF-8 text ({e})") from None
    write_report(
        model, out, source=str(src), text=val_text, data=_data(args.data), inputs=args.input or None, seed=args.seed
    )
    print(f"wrote {out} ({human_bytes(out.stat().st_size)}, {time.perf_counter() - start:.1f} s)")
    return 0


def add_commands(sub) -> None:
    """Add ``export`` and ``report`` to the ``boucle`` parser."""
    p = sub.add_parser(
        "export",
        help="write a model as ONNX (Sequential, char model step, seq2seq encoder/decoder)",
        description="Write a model as an ONNX graph (opset 17, float32) that runs where boucle is not "
        "installed (onnxruntime, ...): a Sequential computes predict; a character model "
        "is one generation step (ids and states in, logits and states out); a Seq2Seq "
        "becomes OUT.encoder.onnx and OUT.decoder.onnx. Needs the onnx extra: "
        "pip install 'boucle[onnx]'.",
    )
    p.add_argument("model", metavar="MODEL", help="model file, or a folder holding model.safetensors")
    p.add_argument("out", metavar="OUT.onnx", help="file to write (its folder must exist)")
    p.add_argument(
        "--sequence-lens",
        action="store_true",
        help="Sequential: add the input sequence_lens (batch,) int32 standing for predict's mask (right-padded rows)",
    )
    p.add_argument("--force", action="store_true", help="replace a file already at OUT")
    p.set_defaults(func=_export)

    p = sub.add_parser(
        "report",
        help="one self-contained HTML page describing a trained model",
        description="Write one HTML file (inline SVG and PNG, no network) that opens from disk: the "
        "model card, training curves, and what the model learned — for character "
        "models samples, per-character surprisal, cells tracking quotes, indentation "
        "and line position, gate saturation and the gradient over time; attention maps "
        "for Seq2Seq; eigenvalues, predictions and memory capacity for echo state "
        "networks; filters and feature maps for convolutional networks.",
    )
    p.add_argument("model", metavar="RUN_OR_MODEL", help="a run folder (boucle train --out DIR) or a model file")
    p.add_argument("-o", "--output", required=True, metavar="FILE.html", help="the page to write")
    p.add_argument(
        "--text",
        metavar="FILE",
        default=None,
        help="character models: validation text (default: the run's own validation split when its "
        "corpus can be read again)",
    )
    p.add_argument(
        "--data",
        metavar="FILE.npz",
        default=None,
        help="arrays x (and y) to show predictions, feature maps or attention on",
    )
    p.add_argument(
        "--input",
        metavar="TEXT",
        type=text,
        action="append",
        help="Seq2Seq: a source text to show the attention of (repeatable)",
    )
    p.add_argument("--seed", type=nonneg_int, default=0, metavar="N", help="seed of the samples and probes (default 0)")
    p.add_argument("--force", action="store_true", help="replace a file already at --output")
    p.set_defaults(func=_report)
