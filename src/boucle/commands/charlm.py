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
import sys
import time
from pathlib import Path
from typing import Any

from .. import io as boucle_io
from ..data.text import TextStream, load_corpus, split_ids
from ..data.vocab import Vocabulary
from ..errors import BoucleError, TrainingDiverged
from ..models.charlm import CELLS, CharModel      # importing it registers CharModel for boucle.load
from .. import registry
from ..ops.recurrent import use_threads
from ..optimizers import names as optimizer_names
from ..training import History
from .options import nonneg_float, nonneg_int, positive_float, positive_int, top_p, unit_rate

__all__ = ["add_commands", "DEFAULTS", "MODEL_FILE"]

MODEL_FILE = "model.safetensors"

#: Defaults of ``boucle train``, chosen for quality per wall-second on the built-in corpus with
#: 200-240 s budgets on a shared 2-core machine (1 BLAS thread). Two runs side by side (val bpc on
#: 30k characters): LSTM(128), batch 64: 1.69; LSTM(256), batch 32: 1.82; 2 x LSTM(128): 1.72;
#: Adam 5e-3 to 8e-3 beat 2e-3 to 3e-3; the output bias set to the log unigram frequencies gained
#: ~0.2 bpc. Alone (whole val split), batch 64: LSTM(256) 1.69 in 2,297 steps, still improving;
#: LSTM(128) 1.71 in 5,890 steps, flat after ~3,000.
DEFAULTS: dict[str, Any] = {
    "cell": "lstm", "layers": 1, "hidden": 256, "embed": 32, "seq_len": 64, "batch_size": 64,
    "optimizer": "adam", "lr": 5e-3, "clip": 5.0, "dropout": 0.0, "val_fraction": 0.02, "seed": 0,
}
DEFAULT_TIME_BUDGET = 240.0
#: options that define the model, data and optimizer: fixed by the checkpoint on --resume.
_FIXED = ("cell", "layers", "hidden", "embed", "seq_len", "batch_size", "optimizer", "lr", "clip",
          "dropout", "val_fraction", "seed")


def add_commands(sub) -> None:
    """Add ``train``, ``generate``, ``evaluate`` and ``info`` to the ``boucle`` parser."""
    fmt = argparse.RawDescriptionHelpFormatter
    d = DEFAULTS
    p = sub.add_parser(
        "train", help="train a character model on text files (default: the Python standard library)",
        formatter_class=fmt,
        description="Train a character-level language model (seed 002: targets c_t = x_{t+1}, cross\n"
                    "entropy at every step) by truncated BPTT, the state carried between batches.\n\n"
                    "With no PATH the built-in corpus is used: the .py files directly in the Python\n"
                    "standard library folder, sysconfig.get_paths()['stdlib'] (no subfolders), sorted\n"
                    "by name: 168 files, ~4.7 MB on Python 3.11.\n\n"
                    "Prints a progress bar (loss, bits per character, characters/s), the validation\n"
                    "loss and bpc and a sample at intervals, and writes an atomic checkpoint\n"
                    f"DIR/{MODEL_FILE} at intervals and at the end (model, vocabulary, optimizer\n"
                    "state, random generators, step, stream positions, carried states).",
        epilog=f"Without --steps, --epochs or --time-budget, training stops after {DEFAULT_TIME_BUDGET:.0f} s "
               "(the whole\ncommand takes ~4.5 minutes on 2 cores). On --resume, the model, data and optimizer\n"
               "options come from the checkpoint (give the same PATH and --glob); --steps and\n"
               "--epochs count from the start of the run. BLAS threads: 'boucle --threads N train'.")
    g = p.add_argument_group("data")
    g.add_argument("paths", nargs="*", metavar="PATH", help="UTF-8 text files or folders (default: built-in corpus)")
    g.add_argument("--glob", metavar="PATTERN", default=None, help="files to read in folders (default '*'; '*.py' for the built-in corpus; "
                                                "'**/*.py' recurses)")
    g.add_argument("--val-fraction", metavar="F", type=unit_rate, default=None,
                   help=f"last fraction of the text held out for validation (default {d['val_fraction']}; 0 = none)")
    g = p.add_argument_group("model")
    g.add_argument("--cell", choices=CELLS, default=None, help=f"recurrent cell (default {d['cell']})")
    g.add_argument("--layers", type=positive_int, metavar="N", default=None, help=f"stacked recurrent layers (default {d['layers']})")
    g.add_argument("--hidden", type=positive_int, metavar="N", default=None, help=f"units per layer (default {d['hidden']})")
    g.add_argument("--embed", type=nonneg_int, metavar="N", default=None,
                   help=f"embedding size, 0 = one-hot inputs (default {d['embed']})")
    g.add_argument("--dropout", metavar="RATE", type=unit_rate, default=None,
                   help=f"dropout on each recurrent layer's output (default {d['dropout']})")
    g = p.add_argument_group("training")
    g.add_argument("--seq-len", type=positive_int, metavar="N", default=None,
                   help=f"characters per BPTT chunk (default {d['seq_len']})")
    g.add_argument("--batch-size", type=positive_int, metavar="N", default=None,
                   help=f"parallel text streams per batch (default {d['batch_size']})")
    g.add_argument("--steps", type=positive_int, metavar="N", default=None, help="stop after this many optimizer steps in total")
    g.add_argument("--epochs", type=positive_int, metavar="N", default=None, help="stop after this many passes over the text in total")
    g.add_argument("--time-budget", type=positive_float, default=None, metavar="SECONDS",
                   help=f"stop after this many seconds of training in this run (default {DEFAULT_TIME_BUDGET:.0f} "
                        "when no other stopping rule is given)")
    g.add_argument("--optimizer", choices=optimizer_names(), default=None, help=f"optimizer (default {d['optimizer']})")
    g.add_argument("--lr", metavar="LR", type=positive_float, default=None, help=f"learning rate (default {d['lr']})")
    g.add_argument("--clip", metavar="NORM", type=nonneg_float, default=None,
                   help=f"clip the global gradient norm to this value, 0 = no clipping (default {d['clip']})")
    g.add_argument("--seed", type=nonneg_int, metavar="N", default=None,
                   help=f"seed of the weights, dropout and data streams (default {d['seed']})")
    g = p.add_argument_group("output")
    g.add_argument("--out", default="runs/charlm", metavar="DIR",
                   help=f"output folder: {MODEL_FILE} (checkpoint), bpc.png (default runs/charlm)")
    g.add_argument("--resume", action="store_true", help=f"continue the run checkpointed in DIR/{MODEL_FILE}")
    g.add_argument("--plot", action="store_true", help="write DIR/bpc.png, train/val bpc (needs matplotlib: "
                                                       "pip install 'boucle[plot]')")
    g.add_argument("--val-every", type=positive_int, default=250, metavar="STEPS",
                   help="validate, sample and checkpoint every so many steps (default 250)")
    g.add_argument("--val-chars", type=positive_int, metavar="N", default=None,
                   help="score only the first N characters of the validation split at each interval "
                        "(default: all of it; the whole split is scored at the end)")
    g.add_argument("--sample-length", type=nonneg_int, metavar="N", default=300,
                   help="length of the printed samples, 0 = none (default 300)")
    g.add_argument("--temperature", metavar="T", type=positive_float, default=0.8, help="of the printed samples (default 0.8)")
    g.add_argument("--quiet", action="store_true", help="no progress bar and no samples")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("generate", help="generate text with a trained character model", formatter_class=fmt,
                       description="Generate text, streaming each character as it is sampled and fed back\n"
                                   "as the next input (seed 002). The same --seed gives the same text.")
    p.add_argument("model", metavar="MODEL", help=f"model file, or a folder holding {MODEL_FILE}")
    p.add_argument("--prime", metavar="TEXT", default="", help="text the model reads first; printed, then continued "
                                               "(default: start as after a newline)")
    p.add_argument("--length", type=nonneg_int, metavar="N", default=500, help="characters to generate (default 500)")
    p.add_argument("--temperature", metavar="T", type=positive_float, default=0.8,
                   help="> 0; lower = more conservative, 1 = the model's distribution (default 0.8)")
    p.add_argument("--top-k", type=positive_int, metavar="N", default=None, help="sample among the N most likely characters (1 = greedy)")
    p.add_argument("--top-p", metavar="P", type=top_p, default=None,
                   help="sample among the most likely characters whose probability reaches P, in (0, 1]")
    p.add_argument("--seed", type=nonneg_int, metavar="N", default=None, help="seed of the sampling (default: random)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("evaluate", help="loss, bits per character and perplexity of a model on text",
                       formatter_class=fmt,
                       description="Score every next-character prediction of the text: mean cross entropy\n"
                                   "(nats/char), bits per character (= loss / ln 2) and perplexity (= e^loss).")
    p.add_argument("model", metavar="MODEL", help=f"model file, or a folder holding {MODEL_FILE}")
    p.add_argument("paths", nargs="+", metavar="PATH", help="UTF-8 text files or folders")
    p.add_argument("--glob", metavar="PATTERN", default="*", help="files to read in folders (default '*')")
    p.add_argument("--batch-size", type=positive_int, metavar="N", default=64, help="parallel rows (default 64)")
    p.add_argument("--seq-len", type=positive_int, metavar="N", default=100, help="characters per chunk (default 100)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("info", help="architecture, parameter count, vocabulary and training of a model",
                       description="Describe a model file: architecture, parameter count, vocabulary size, "
                                   "training steps and data.")
    p.add_argument("model", metavar="MODEL", help=f"model file, or a folder holding {MODEL_FILE}")
    p.set_defaults(func=cmd_info)


# ------------------------------------------------------------------ helpers
def model_path(path: str) -> Path:
    p = Path(path)
    return p / MODEL_FILE if p.is_dir() else p


def load_model(path: str, name: str = "MODEL", compile: bool = False) -> CharModel:
    """A :class:`CharModel` from a file (or a folder holding ``model.safetensors``)."""
    p = model_path(path)
    model = boucle_io.load(p, compile=compile)
    if not isinstance(model, CharModel):
        raise BoucleError(f"{name}: {str(p)!r} holds a {type(model).__name__}, not a character model")
    return model


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
    val = [(s, v) for s, v in zip(history.step, history.history.get("val_bpc", [])) if v == v]   # not NaN
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
    if out.exists() and not out.is_dir():
        raise BoucleError(f"--out: {str(out)!r} exists and is not a folder")
    ckpt = out / MODEL_FILE
    if args.plot:
        _require_matplotlib()
    given = {k: getattr(args, k) for k in _FIXED if getattr(args, k) is not None}
    if args.resume:
        if not ckpt.is_file():
            raise BoucleError(f"--resume: no checkpoint at {str(ckpt)!r}")
        model = load_model(str(ckpt), "--resume", compile=True)
        run = model.data.get("run")
        if not isinstance(run, dict) or model.optimizer is None:
            raise BoucleError(f"--resume: {str(ckpt)!r} is not a checkpoint written by 'boucle train'")
        for k, v in given.items():
            if run.get(k) != v:
                raise BoucleError(f"--resume: --{k.replace('_', '-')} {v} differs from the checkpoint's "
                                  f"{run.get(k)} (the model, data and optimizer options come from the checkpoint)")
        opts = dict(run)
    else:
        opts = {**DEFAULTS, **given}
    corpus = load_corpus(args.paths, args.glob)
    if args.resume:
        if model.data.get("sha256") != corpus.sha256:
            raise BoucleError(f"--resume: the corpus ({corpus.source}) differs from the checkpoint's "
                              f"({model.data.get('corpus')}); give the same PATH and --glob")
        vocab = model.vocab
    else:
        vocab = Vocabulary.from_text(corpus.text)
    ids = vocab.encode(corpus.text, "corpus")
    TextStream(ids, opts["batch_size"], opts["seq_len"])                # refuses a corpus shorter than one batch,
    train_ids, val_ids = split_ids(ids, opts["val_fraction"])           # before the split's own complaints
    TextStream(train_ids, opts["batch_size"], opts["seq_len"])
    if not args.resume:
        model = CharModel(vocab, cell=opts["cell"], layers=opts["layers"], hidden=opts["hidden"],
                          embed=opts["embed"], dropout=opts["dropout"], seed=opts["seed"])
        model.init_output_bias(train_ids)
        model.compile(_make_optimizer(opts["optimizer"], opts["lr"], opts["clip"]))
        model.data = {"corpus": corpus.source, "characters": len(ids), "sha256": corpus.sha256, "run": opts}
    out.mkdir(parents=True, exist_ok=True)                               # everything checked: now write
    say = print
    say(f"corpus: {corpus.source}: {len(ids):,} characters, {len(vocab)} distinct; "
        f"train {len(train_ids):,}, validation {len(val_ids):,}")
    say(f"model: {model.architecture()}")
    if args.resume:
        say(f"resuming from {ckpt} at step {model.step}")
    stops = (args.steps, args.epochs, args.time_budget)
    budget = DEFAULT_TIME_BUDGET if stops == (None, None, None) else args.time_budget

    def save(m: CharModel) -> None:
        boucle_io.save(m, ckpt, include_optimizer=True)

    if not args.resume:
        save(model)                      # step 0: the folder's checkpoint belongs to this run from now on
    try:
        model.fit(train_ids, val_ids if len(val_ids) else None, seq_len=opts["seq_len"],
                  batch_size=opts["batch_size"], steps=args.steps, epochs=args.epochs, time_budget=budget,
                  val_every=args.val_every, val_chars=args.val_chars,
                  sample_every=args.val_every if args.sample_length else 0, sample_length=args.sample_length,
                  sample_temperature=args.temperature, checkpoint=save, verbose=0 if args.quiet else 1)
    except KeyboardInterrupt:
        print(f"interrupted at step {model.step}; {ckpt} holds the last checkpoint (written every "
              f"{args.val_every} steps): continue with the same command and --resume", file=sys.stderr)
        raise
    h = model.history
    if args.plot:
        write_plot(h, out / "bpc.png")
    if h.stopped_reason:                  # the divergence policy stopped the run: exit 2 with its message
        raise TrainingDiverged(f"{h.stopped_reason}; {ckpt} holds the weights of step {model.step}")
    if args.sample_length and not args.quiet and model.step % args.val_every:
        say(f"----- final sample (temperature {args.temperature}) -----")
        say(model.sample(args.sample_length, temperature=args.temperature, seed=model.step))
        say("-----")
    last_val = h.history.get("val_bpc", [math.nan])[-1] if h.step and h.step[-1] == model.step else math.nan
    val = f", val bpc {last_val:.4f}" if last_val == last_val else ""
    say(f"done: {model.step:,} steps{val}, {time.perf_counter() - t_wall:.0f} s; "
        f"model in {ckpt}" + (f", plot in {out / 'bpc.png'}" if args.plot else ""))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    if args.prime:
        model.vocab.encode(args.prime, "--prime")
    chars = model.sample_iter(args.length, prime=args.prime, temperature=args.temperature,
                              top_k=args.top_k, top_p=args.top_p, seed=args.seed)
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
    model = load_model(args.model)
    corpus = load_corpus(args.paths, args.glob)
    ids = model.vocab.encode(corpus.text, "PATH")
    if len(ids) < 2:
        raise BoucleError(f"PATH: expected at least 2 characters to score, got {len(ids)}")
    r = model.evaluate(ids, batch_size=args.batch_size, seq_len=args.seq_len)
    print(f"{corpus.source}: {r['chars']:,} characters scored")
    print(f"loss {r['loss']:.4f} nats/char  bpc {r['bpc']:.4f}  perplexity {r['perplexity']:.3f}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    model = load_model(args.model, compile=True)
    print(f"file: {model_path(args.model)} ({os.path.getsize(model_path(args.model)):,} bytes)")
    text = model.describe()
    print(text)
    return 0

