"""``boucle train | generate | evaluate | info``: character models from the command line.

The main job (seed 002's generative RNN): ``boucle train`` with no argument
trains an LSTM on the built-in corpus — the Python standard library's own
``.py`` files — for a fixed time budget, printing validation bits per character
and samples as it goes; ``boucle generate runs/charlm`` then writes Python-like
text. Every input is checked before anything is written; checkpoints are
written atomically.
"""

from __future__ import annotations

import argparse
import functools
import io
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__, registry, validators
from .. import io as boucle_io
from ..data.text import TextStream, load_corpus, split_ids
from ..data.vocab import Vocabulary
from ..errors import BoucleError, TrainingDiverged
from ..locks import OutputLock
from ..models.charlm import CELLS, CharModel  # importing it registers CharModel for boucle.load
from ..models.encoder_decoder import EncoderDecoder
from ..models.sequential import Sequential
from ..ops.recurrent import use_threads
from ..optimizers import names as optimizer_names
from ..training import History, TensorBoard
from .files import MODEL_FILE, check_memory, check_output, load_model_of, model_path
from .options import layer_count, nonneg_float, nonneg_int, positive_float, positive_int, text, top_p, unit_rate

__all__ = ["add_commands", "DEFAULTS", "MODEL_FILE"]

#: Defaults of ``boucle train``, chosen for quality per wall-second on the built-in corpus with
#: 200-240 s budgets on a shared 2-core machine (1 BLAS thread). Two runs side by side (val bpc on
#: 30k characters): LSTM(128), batch 64: 1.69; LSTM(256), batch 32: 1.82; 2 x LSTM(128): 1.72;
#: Adam 5e-3 to 8e-3 beat 2e-3 to 3e-3; the output bias set to the log unigram frequencies gained
#: ~0.2 bpc. Alone (whole val split), batch 64: LSTM(256) 1.69 in 2,297 steps, still improving;
#: LSTM(128) 1.71 in 5,890 steps, flat after ~3,000.
DEFAULTS: dict[str, Any] = {
    "cell": "lstm",
    "layers": 1,
    "hidden": 256,
    "embed": 32,
    "seq_len": 64,
    "batch_size": 64,
    "optimizer": "adam",
    "lr": 5e-3,
    "clip": 5.0,
    "dropout": 0.0,
    "val_fraction": 0.02,
    "seed": 0,
}
DEFAULT_TIME_BUDGET = 240.0
#: options that define the model, data and optimizer: fixed by the checkpoint on --resume.
_FIXED = (
    "cell",
    "layers",
    "hidden",
    "embed",
    "seq_len",
    "batch_size",
    "optimizer",
    "lr",
    "clip",
    "dropout",
    "val_fraction",
    "seed",
)


def add_commands(sub) -> None:
    """Add ``train``, ``generate``, ``evaluate`` and ``info`` to the ``boucle`` parser."""
    fmt = argparse.RawDescriptionHelpFormatter
    d = DEFAULTS
    p = sub.add_parser(
        "train",
        help="train a character model on text files (default: the Python standard library)",
        formatter_class=fmt,
        description="Train a character-level language model (seed 002: targets c_t = x_{t+1}, cross\n"
        "entropy at every step) by truncated BPTT, the state carried between batches.\n\n"
        "With no PATH the built-in corpus is used: the .py files directly in the Python\n"
        "standard library folder, sysconfig.get_paths()['stdlib'] (no subfolders), sorted\n"
        "by name: 168 files, ~4.7 MB on Python 3.11.\n\n"
        "Prints a progress bar (loss, bits per character, characters/s), the validation\n"
        "loss and bpc and a sample at intervals, and writes an atomic checkpoint\n"
        f"DIR/{MODEL_FILE} at intervals and at the end (model, vocabulary, optimizer\n"
        "state, random generators, step, stream positions, carried states).\n\n"
        "A checkpoint already in DIR is never replaced unless --resume (continue it) or\n"
        f"--force (replace it) is given; while a run trains, DIR/{MODEL_FILE}.lock\n"
        "keeps a second run out of DIR.",
        epilog=f"Without --steps, --epochs or --time-budget, training stops after {DEFAULT_TIME_BUDGET:.0f} s "
        "(the whole\ncommand takes ~4.5 minutes on 2 cores). On --resume, the model, data and optimizer\n"
        "options come from the checkpoint (give the same PATH and --glob); --steps and\n"
        "--epochs count from the start of the run. BLAS threads: 'boucle --threads N train'.",
    )
    g = p.add_argument_group("data")
    g.add_argument("paths", nargs="*", metavar="PATH", help="UTF-8 text files or folders (default: built-in corpus)")
    g.add_argument(
        "--glob",
        metavar="PATTERN",
        default=None,
        help="files to read in folders (default '*'; '*.py' for the built-in corpus; '**/*.py' recurses)",
    )
    g.add_argument(
        "--val-fraction",
        metavar="F",
        type=unit_rate,
        default=None,
        help=f"last fraction of the text held out for validation (default {d['val_fraction']}; 0 = none)",
    )
    g = p.add_argument_group("model")
    g.add_argument("--cell", choices=CELLS, default=None, help=f"recurrent cell (default {d['cell']})")
    g.add_argument(
        "--layers",
        type=layer_count,
        metavar="N",
        default=None,
        help=f"stacked recurrent layers (default {d['layers']})",
    )
    g.add_argument(
        "--hidden", type=positive_int, metavar="N", default=None, help=f"units per layer (default {d['hidden']})"
    )
    g.add_argument(
        "--embed",
        type=nonneg_int,
        metavar="N",
        default=None,
        help=f"embedding size, 0 = one-hot inputs (default {d['embed']})",
    )
    g.add_argument(
        "--dropout",
        metavar="RATE",
        type=unit_rate,
        default=None,
        help=f"dropout on each recurrent layer's output (default {d['dropout']})",
    )
    g = p.add_argument_group("training")
    g.add_argument(
        "--seq-len",
        type=positive_int,
        metavar="N",
        default=None,
        help=f"characters per BPTT chunk (default {d['seq_len']})",
    )
    g.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="N",
        default=None,
        help=f"parallel text streams per batch (default {d['batch_size']})",
    )
    g.add_argument(
        "--steps", type=positive_int, metavar="N", default=None, help="stop after this many optimizer steps in total"
    )
    g.add_argument(
        "--epochs",
        type=positive_int,
        metavar="N",
        default=None,
        help="stop after this many passes over the text in total",
    )
    g.add_argument(
        "--time-budget",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help=f"stop after this many seconds of training in this run (default {DEFAULT_TIME_BUDGET:.0f} "
        "when no other stopping rule is given)",
    )
    g.add_argument("--optimizer", choices=optimizer_names(), default=None, help=f"optimizer (default {d['optimizer']})")
    g.add_argument("--lr", metavar="LR", type=positive_float, default=None, help=f"learning rate (default {d['lr']})")
    g.add_argument(
        "--clip",
        metavar="NORM",
        type=nonneg_float,
        default=None,
        help=f"clip the global gradient norm to this value, 0 = no clipping (default {d['clip']})",
    )
    g.add_argument(
        "--seed",
        type=nonneg_int,
        metavar="N",
        default=None,
        help=f"seed of the weights, dropout and data streams (default {d['seed']})",
    )
    g = p.add_argument_group("output")
    g.add_argument(
        "--out",
        default="runs/charlm",
        metavar="DIR",
        help=f"output folder: {MODEL_FILE} (checkpoint), bpc.png (default runs/charlm)",
    )
    x = g.add_mutually_exclusive_group()
    x.add_argument("--resume", action="store_true", help=f"continue the run checkpointed in DIR/{MODEL_FILE}")
    x.add_argument(
        "--force",
        action="store_true",
        help=f"replace the checkpoint already in DIR/{MODEL_FILE} (without --resume or --force, "
        "an existing checkpoint is never overwritten)",
    )
    g.add_argument(
        "--plot",
        action="store_true",
        help="write DIR/bpc.png, train/val bpc (needs matplotlib: pip install 'boucle[plot]')",
    )
    g.add_argument(
        "--val-every",
        type=positive_int,
        default=250,
        metavar="STEPS",
        help="validate, sample and checkpoint every so many steps (default 250)",
    )
    g.add_argument(
        "--val-chars",
        type=positive_int,
        metavar="N",
        default=None,
        help="score only the first N characters of the validation split at each interval "
        "(default: all of it; the whole split is scored at the end)",
    )
    g.add_argument(
        "--sample-length",
        type=nonneg_int,
        metavar="N",
        default=300,
        help="length of the printed samples, 0 = none (default 300)",
    )
    g.add_argument(
        "--temperature", metavar="T", type=positive_float, default=0.8, help="of the printed samples (default 0.8)"
    )
    g.add_argument("--quiet", action="store_true", help="no progress bar and no samples")
    g.add_argument(
        "--tensorboard",
        metavar="DIR",
        default=None,
        help="write TensorBoard event files to DIR: scalars every step, weight and gradient histograms "
        "and a sample every --val-every steps (pip install 'boucle[tensorboard]')",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "generate",
        help="generate text with a trained character model",
        formatter_class=fmt,
        description="Generate text, streaming each character as it is sampled and fed back\n"
        "as the next input (seed 002). The same --seed gives the same text.",
    )
    p.add_argument("model", metavar="MODEL", help=f"model file, or a folder holding {MODEL_FILE}")
    p.add_argument(
        "--prime",
        metavar="TEXT",
        type=text,
        default="",
        help="text the model reads first; printed, then continued (default: start as after a newline)",
    )
    p.add_argument("--length", type=nonneg_int, metavar="N", default=500, help="characters to generate (default 500)")
    p.add_argument(
        "--temperature",
        metavar="T",
        type=positive_float,
        default=0.8,
        help="> 0; lower = more conservative, 1 = the model's distribution (default 0.8)",
    )
    p.add_argument(
        "--top-k",
        type=positive_int,
        metavar="N",
        default=None,
        help="sample among the N most likely characters (1 = greedy)",
    )
    p.add_argument(
        "--top-p",
        metavar="P",
        type=top_p,
        default=None,
        help="sample among the most likely characters whose probability reaches P, in (0, 1]",
    )
    p.add_argument("--seed", type=nonneg_int, metavar="N", default=None, help="seed of the sampling (default: random)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "evaluate",
        help="loss, bits per character and perplexity of a model on text",
        formatter_class=fmt,
        description="Score every next-character prediction of the text: mean cross entropy\n"
        "(nats/char), bits per character (= loss / ln 2) and perplexity (= e^loss).",
    )
    p.add_argument("model", metavar="MODEL", help=f"model file, or a folder holding {MODEL_FILE}")
    p.add_argument("paths", nargs="+", metavar="PATH", help="UTF-8 text files or folders")
    p.add_argument("--glob", metavar="PATTERN", default="*", help="files to read in folders (default '*')")
    p.add_argument("--batch-size", type=positive_int, metavar="N", default=64, help="parallel rows (default 64)")
    p.add_argument("--seq-len", type=positive_int, metavar="N", default=100, help="characters per chunk (default 100)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "info",
        help="architecture, parameter count, vocabulary and training of a model",
        description="Describe a model file (any boucle model): architecture, parameter count; "
        "for a character model also its vocabulary size, training steps and data.",
    )
    p.add_argument("model", metavar="MODEL", help=f"model file, or a folder holding {MODEL_FILE}")
    p.set_defaults(func=cmd_info)


# ------------------------------------------------------------------ helpers
def load_model(path: str, name: str = "MODEL", compile: bool = False, finite: bool = False) -> CharModel:
    """A :class:`CharModel` from a file (or a folder holding ``model.safetensors``); with ``finite``,
    refused when its weights hold NaN or Inf."""
    return load_model_of(path, CharModel, "a character model file", name=name, compile=compile, finite=finite)


def _check_run(run: Any, ckpt: Path) -> dict:
    """The options a checkpoint's run was started with (``model.data["run"]``), each checked."""
    where = f"--resume: {str(ckpt)!r} run options"
    if not isinstance(run, dict) or set(_FIXED) - set(run):
        raise BoucleError(f"--resume: {str(ckpt)!r} is not a checkpoint written by 'boucle train'")
    validators.one_of(run["cell"], CELLS, "cell", where)
    validators.one_of(run["optimizer"], optimizer_names(), "optimizer", where)
    for k in ("layers", "hidden", "seq_len", "batch_size"):
        validators.positive_int(run[k], k, where)
    validators.nonneg_int(run["embed"], "embed", where)
    validators.seed(run["seed"], "seed", where)
    validators.real(run["lr"], "lr", low=0.0, owner=where)
    validators.real(run["clip"], "clip", low=0.0, low_open=False, owner=where)
    validators.rate(run["dropout"], "dropout", where)
    validators.rate(run["val_fraction"], "val_fraction", where)
    return dict(run)


def _check_model_memory(vocab: Vocabulary, opts: dict) -> None:
    """Refuse a model too large for this machine before it is allocated (say how much it needs)."""
    L, H, B, T, V = opts["layers"], opts["hidden"], opts["batch_size"], opts["seq_len"], len(vocab)
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[opts["cell"]]
    step = B * T * (L * H * (2 * gates + 4) + 3 * V + opts["embed"]) * 4  # float32 caches of one step
    check_memory(
        "--hidden/--layers/--embed",
        lambda: CharModel(vocab, cell=opts["cell"], layers=L, hidden=H, embed=opts["embed"], dropout=opts["dropout"]),
        copies=4,
        activation_bytes=step,
    )


def _require_matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise BoucleError("--plot: matplotlib is not installed; pip install 'boucle[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plot(history: History, path: Path) -> None:
    """PNG of train and validation bits per character against the step, written atomically."""
    plt = _require_matplotlib()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(history.step, history.history.get("bpc", []), label="train (interval mean)")
    val = [(s, v) for s, v in zip(history.step, history.history.get("val_bpc", [])) if v == v]  # not NaN
    if val:
        ax.plot(*zip(*val), "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("bits per character")
    ax.grid(alpha=0.3)
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    boucle_io.atomic_write_bytes(path, buf.getvalue())


def _make_optimizer(name: str, lr: float, clip: float):
    return registry.lookup("optimizer", name)(lr, clipnorm=clip or None)


# ------------------------------------------------------------------ commands
def _on_every_core(command):
    """Run ``command(args)`` with the recurrent loop on every core (``boucle train``: the fastest,
    docs/benchmarks.md — the batch is split, one chunk per thread, no waiting between steps),
    or on ``--threads N`` > 1."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        with use_threads(args.threads if getattr(args, "threads", 1) > 1 else os.cpu_count()):
            return command(args)

    return run


@_on_every_core
def cmd_train(args: argparse.Namespace) -> int:
    t_wall = time.perf_counter()
    out = Path(args.out)
    ckpt = check_output(out, "--out", folder=True, force=args.force, resume=args.resume)
    if args.plot:
        _require_matplotlib()
    lock = OutputLock(ckpt, "--out")
    try:
        if out.is_dir():  # in use by another run: refused before anything is read
            _hold(lock, args, out)
        return _train(args, out, ckpt, lock, t_wall)
    finally:
        lock.release()


def _hold(lock: OutputLock, args: argparse.Namespace, out: Path) -> None:
    """Take ``out``'s lock (if not held yet), check the output again under it (another run may have
    written a checkpoint since the first check) and report a stale lock taken over."""
    if lock.held:
        return
    lock.acquire()
    check_output(out, "--out", folder=True, force=args.force, resume=args.resume)
    if lock.note:
        print(f"boucle train: {lock.note}", file=sys.stderr)


def _train(args: argparse.Namespace, out: Path, ckpt: Path, lock: OutputLock, t_wall: float) -> int:
    board = (
        []
        if args.tensorboard is None
        else [
            TensorBoard(
                args.tensorboard,
                histogram_freq=args.val_every,
                sample_length=args.sample_length,
                sample_temperature=args.temperature,
            )
        ]
    )
    given = {k: getattr(args, k) for k in _FIXED if getattr(args, k) is not None}
    if args.resume:
        model = load_model(str(ckpt), "--resume", compile=True)
        if model.optimizer is None:
            raise BoucleError(f"--resume: {str(ckpt)!r} is not a checkpoint written by 'boucle train'")
        run = _check_run(model.data.get("run"), ckpt)
        for k, v in given.items():
            if run.get(k) != v:
                raise BoucleError(
                    f"--resume: --{k.replace('_', '-')} {v} differs from the checkpoint's "
                    f"{run.get(k)} (the model, data and optimizer options come from the checkpoint)"
                )
        opts = run
    else:
        opts = {**DEFAULTS, **given}
    corpus = load_corpus(args.paths, args.glob)
    if args.resume:
        if model.data.get("sha256") != corpus.sha256:
            raise BoucleError(
                f"--resume: the corpus ({corpus.source}) differs from the checkpoint's "
                f"({model.data.get('corpus')}); give the same PATH and --glob"
            )
        vocab = model.vocab
    else:
        vocab = Vocabulary.from_text(corpus.text)
    ids = vocab.encode(corpus.text, "corpus")
    TextStream(ids, opts["batch_size"], opts["seq_len"])  # refuses a corpus shorter than one batch,
    train_ids, val_ids = split_ids(ids, opts["val_fraction"])  # before the split's own complaints
    TextStream(train_ids, opts["batch_size"], opts["seq_len"])
    if not args.resume:
        _check_model_memory(vocab, opts)
        model = CharModel(
            vocab,
            cell=opts["cell"],
            layers=opts["layers"],
            hidden=opts["hidden"],
            embed=opts["embed"],
            dropout=opts["dropout"],
            seed=opts["seed"],
        )
        model.init_output_bias(train_ids)
        model.compile(_make_optimizer(opts["optimizer"], opts["lr"], opts["clip"]))
        model.data = {
            "corpus": corpus.source,
            "characters": len(ids),
            "sha256": corpus.sha256,
            "run": opts,
            "paths": [str(Path(p).resolve()) for p in args.paths],
            "glob": args.glob,
        }
    model.data["env"] = {
        "boucle": __version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": getattr(args, "threads", None),
    }  # of the latest run in this folder
    out.mkdir(parents=True, exist_ok=True)  # everything checked: now write
    _hold(lock, args, out)
    say = print
    say(
        f"corpus: {corpus.source}: {len(ids):,} characters, {len(vocab)} distinct; "
        f"train {len(train_ids):,}, validation {len(val_ids):,}"
    )
    say(f"model: {model.architecture()}")
    if args.resume:
        say(f"resuming from {ckpt} at step {model.step}")
    stops = (args.steps, args.epochs, args.time_budget)
    budget = DEFAULT_TIME_BUDGET if stops == (None, None, None) else args.time_budget

    def save(m: CharModel) -> None:
        boucle_io.save(m, ckpt, include_optimizer=True)

    if not args.resume:
        save(model)  # step 0: the folder's checkpoint belongs to this run from now on
    try:
        model.fit(
            train_ids,
            val_ids if len(val_ids) else None,
            seq_len=opts["seq_len"],
            batch_size=opts["batch_size"],
            steps=args.steps,
            epochs=args.epochs,
            time_budget=budget,
            val_every=args.val_every,
            val_chars=args.val_chars,
            sample_every=args.val_every if args.sample_length else 0,
            sample_length=args.sample_length,
            sample_temperature=args.temperature,
            checkpoint=save,
            verbose=0 if args.quiet else 1,
            callbacks=board,
        )
    except KeyboardInterrupt:
        print(
            f"interrupted at step {model.step}; {ckpt} holds the last checkpoint (written every "
            f"{args.val_every} steps): continue with the same command and --resume",
            file=sys.stderr,
        )
        raise
    h = model.history
    if args.plot:
        write_plot(h, out / "bpc.png")
    if h.stopped_reason:  # the divergence policy stopped the run: exit 2 with its message
        raise TrainingDiverged(f"{h.stopped_reason}; {ckpt} holds the weights of step {model.step}")
    if args.sample_length and not args.quiet and model.step % args.val_every:
        say(f"----- final sample (temperature {args.temperature}) -----")
        say(model.sample(args.sample_length, temperature=args.temperature, seed=model.step))
        say("-----")
    last_val = h.history.get("val_bpc", [math.nan])[-1] if h.step and h.step[-1] == model.step else math.nan
    val = f", val bpc {last_val:.4f}" if last_val == last_val else ""
    say(
        f"done: {model.step:,} steps{val}, {time.perf_counter() - t_wall:.0f} s; "
        f"model in {ckpt}" + (f", plot in {out / 'bpc.png'}" if args.plot else "")
    )
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    model = load_model(args.model, finite=True)
    if args.prime:
        model.vocab.encode(args.prime, "--prime")
    chars = model.sample_iter(
        args.length, prime=args.prime, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed
    )
    out = sys.stdout
    out.write(args.prime)
    out.flush()
    for ch in chars:
        out.write(ch)
        out.flush()
    out.write("\n")
    out.flush()
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    model = load_model(args.model, finite=True)
    corpus = load_corpus(args.paths, args.glob)
    ids = model.vocab.encode(corpus.text, "PATH")
    if len(ids) < 2:
        raise BoucleError(f"PATH: expected at least 2 characters to score, got {len(ids)}")
    r = model.evaluate(ids, batch_size=args.batch_size, seq_len=args.seq_len)
    print(f"{corpus.source}: {r['chars']:,} characters scored")
    print(f"loss {r['loss']:.4f} nats/char  bpc {r['bpc']:.4f}  perplexity {r['perplexity']:.3f}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    p = model_path(args.model)
    model = boucle_io.load(p, compile=True)
    print(f"file: {p} ({os.path.getsize(p):,} bytes)")
    if isinstance(model, CharModel):
        print(model.describe())
    elif isinstance(model, (Sequential, EncoderDecoder)) and getattr(model, "built", True):
        print(model.summary(print_fn=None))
    else:
        n = sum(int(v.size) for v in model.get_weights().values())
        print(f"model: {type(model).__name__}\nparameters: {n:,}")
    if not all(np.isfinite(v).all() for v in model.get_weights().values() if np.issubdtype(v.dtype, np.floating)):
        print("warning: the weights hold NaN or Inf (the run that wrote them diverged)")
    return 0
