"""Image → phrase: describe generated pictures of coloured shapes (seed 002's "Génération de légende").

    python examples/captions.py [--attention general|dot|additive|none] [--epochs N] [--n-train N]
                                [--out captioner.safetensors] [--plots docs/img] [--export DIR]

A convolutional encoder and an LSTM decoder (``ImageCaptioner``), with attention over the 12×12
feature map ("show, attend and tell") or without ("show and tell"), trained on images of one to
three objects whose colour–shape pairs exclude four held-out pairs; the test images each hold
at least one held-out pair (``boucle.data.tasks.captions``). Reports the exact match of the whole
caption and corpus BLEU-1..4 on the validation images (seen pairs) and on the test images (unseen
pairs), greedy and with beam search. ``--plots`` draws a grid of test images with their captions
and the attention of each word for a few; ``--export DIR`` writes test images as PNG files and a
caption file (``boucle caption MODEL DIR/*.png``; ``boucle.data.load_captions``).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import boucle
from boucle.data.loaders import write_image
from boucle.data.tasks.captions import HELD_OUT, shape_captions_task
from boucle.diagnostics.captions import plot_caption_attention, plot_caption_grid
from boucle.models.captioner import ImageCaptioner
from boucle.schedules import ExponentialDecay

#: the default encoder: three blocks, the last without pooling — a 12×12 map of 64 features (+ 2
#: coordinates) for 48×48 images, each position seeing 18×18 pixels (a whole large object).
FILTERS = (32, 64, 64)
POOLS = (2, 2, 1)


def build(
    vocab,
    attention: str | None = "general",
    *,
    units: int = 128,
    filters=FILTERS,
    pools=POOLS,
    input_feeding: bool = True,
    seed: int = 0,
    image_shape=(48, 48, 3),
) -> ImageCaptioner:
    """The example's captioner (``bench/caption.py`` times the same model)."""
    return ImageCaptioner(
        vocab,
        image_shape,
        filters=filters,
        pools=pools,
        units=units,
        attention=attention,
        input_feeding=attention is not None and input_feeding,
        seed=seed,
    )


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--attention", default="general", choices=["none", "dot", "general", "additive"])
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--filters", default=",".join(map(str, FILTERS)), help="filters of each conv block")
    p.add_argument("--pools", default=",".join(map(str, POOLS)), help="pooling size of each conv block (1: none)")
    p.add_argument("--no-input-feeding", action="store_true", help="do not feed h̃_{t-1} back (Luong et al. 2015)")
    p.add_argument("--word-dropout", type=float, default=0.25, help="input-word noising rate (0: none)")
    p.add_argument("--word-noise", default="unigram", choices=["unigram", "unk"])
    p.add_argument(
        "--held-out",
        default=None,
        help="held-out pairs colour:shape,... (default: boucle.data.tasks.captions.HELD_OUT)",
    )
    p.add_argument("--n-train", type=int, default=6000)
    p.add_argument("--n-val", type=int, default=300)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--decay", type=float, default=0.95, help="learning rate × this after each epoch")
    p.add_argument("--image-dropout", type=float, default=0.0, help="rate of null images in training (for --guidance)")
    p.add_argument("--guidance", type=float, default=0.0, help="guided decoding's weight w (0: plain decoding)")
    p.add_argument("--beam", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="save the trained model here (.safetensors)")
    p.add_argument("--plots", default=None, help="write captions_grid.png and captions_attention.png here")
    p.add_argument("--export", default=None, help="write 8 test images (PNG) and captions.txt here")
    p.add_argument(
        "--doc",
        default=None,
        help="write this run's results between the markers <!-- captions:KEY --> and "
        "<!-- /captions:KEY --> of this Markdown file (docs/captioning.md)",
    )
    p.add_argument("--key", default=None, help="the marker's KEY (default: the attention score, or none)")
    p.add_argument("--verbose", type=int, default=2)
    args = p.parse_args(argv)

    held = HELD_OUT if args.held_out is None else tuple(tuple(p.split(":")) for p in args.held_out.split(","))
    task = shape_captions_task(args.n_train, args.n_val, args.n_test, seed=args.seed, held_out=held)
    attention = None if args.attention == "none" else args.attention
    model = build(
        task.vocab,
        attention,
        units=args.units,
        filters=tuple(int(f) for f in args.filters.split(",")),
        pools=tuple(int(k) for k in args.pools.split(",")),
        input_feeding=not args.no_input_feeding,
        seed=args.seed,
    )
    steps = -(-args.n_train // args.batch_size)
    model.compile(boucle.optimizers.Adam(ExponentialDecay(args.lr, args.decay, steps), clipnorm=5.0))
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(
        task.train.images,
        task.train.captions,
        batch_size=args.batch_size,
        epochs=args.epochs,
        verbose=args.verbose,
        validation_data=(task.val.images, task.val.captions),
        word_dropout=args.word_dropout,
        word_noise=args.word_noise,
        image_dropout=args.image_dropout,
    )
    result = {
        "attention": args.attention,
        "input_feeding": model.input_feeding,
        "word_dropout": args.word_dropout,
        "guidance": (args.image_dropout, args.guidance),
        "held_out": held,
        "train_seconds": round(time.perf_counter() - start, 1),
        "train_cpu_seconds": round(time.process_time() - cpu, 1),
        "epochs": len(model.history.history["loss"]),
        "params": model.count_params(),
    }
    for split, data in (("seen", task.val), ("unseen", task.test)):
        for k in (1, args.beam):
            logs = model.evaluate(data.images, data.captions, beam_width=k, guidance=args.guidance)
            name = "greedy" if k == 1 else f"beam{k}"
            result[f"{split}_exact_match_{name}"] = round(logs["exact_match"], 4)
            for n in range(1, 5):
                result[f"{split}_bleu{n}_{name}"] = round(logs[f"bleu_{n}"], 4)
    print(result)
    if args.doc:
        write_results(args.doc, args.key or args.attention, results_block(result, args, argv, task))
    caps = model.caption(task.test.images[:12], guidance=args.guidance)
    for c, refs in zip(caps[:6], task.test.captions[:6]):
        print(f"  {'ok ' if c in refs else 'NO '} {c}   |  {refs[0]}")
    if args.out:
        boucle.save(model, args.out)
    if args.plots:
        os.makedirs(args.plots, exist_ok=True)
        ok = [c in refs for c, refs in zip(caps, task.test.captions[:12])]
        plot_caption_grid(
            task.test.images[:12],
            caps,
            os.path.join(args.plots, "captions_grid.png"),
            correct=ok,
            title=f"unseen colour–shape pairs, attention {args.attention} (green: exact)",
        )
        if attention is not None:
            pick = [int(i) for i in np.argsort([len(o) for o in task.test.objects[:12]], kind="stable")[-3:]]
            plot_caption_attention(
                task.test.images[pick],
                model.attention_maps(task.test.images[pick]),
                os.path.join(args.plots, "captions_attention.png"),
            )
    if args.export:
        os.makedirs(args.export, exist_ok=True)
        lines = []
        for i in range(8):
            name = f"test_{i}.png"
            write_image(os.path.join(args.export, name), task.test.images[i])
            lines += [f"{name}#{k}\t{c}" for k, c in enumerate(task.test.captions[i])]
        with open(os.path.join(args.export, "captions.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    return result


def results_block(result: dict, args: argparse.Namespace, argv: list[str] | None, task) -> str:
    """The run's measurements as Markdown: the command, the training cost, one table row per split and
    decoding (exact match, BLEU-1..4)."""
    import platform
    import sys

    cmd = " ".join(["python examples/captions.py", *(sys.argv[1:] if argv is None else argv)])
    held = ", ".join(f"{c} {s}" for c, s in result["held_out"])
    lines = [
        f"`{cmd}`",
        "",
        f"{result['params']:,} parameters; attention {result['attention']}, input feeding "
        f"{'on' if result['input_feeding'] else 'off'}, input-word noising {result['word_dropout']}"
        + ("; null images {}, guidance {}".format(*result["guidance"]) if any(result["guidance"]) else "")
        + "; "
        f"held-out pairs: {held}. {len(task.train.images):,} training images, {result['epochs']} epochs "
        f"in {result['train_seconds']:.0f} s wall ({result['train_cpu_seconds']:.0f} s CPU; "
        f"{os.cpu_count()} cores, {platform.machine()}, NumPy {np.__version__}).",
        "",
        "| test images | decoding | exact match | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 |",
        "|---|---|---|---|---|---|---|",
    ]
    for split, data, what in (
        ("seen", task.val, "seen pairs (validation)"),
        ("unseen", task.test, "held-out pairs (test)"),
    ):
        for name in ("greedy", f"beam{args.beam}"):
            label = "greedy" if name == "greedy" else f"beam {args.beam}"
            row = [f"{result[f'{split}_exact_match_{name}']:.1%}"] + [
                f"{result[f'{split}_bleu{n}_{name}']:.4f}" for n in range(1, 5)
            ]
            lines.append(f"| {what}, {len(data.images):,} | {label} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_results(path: str, key: str, block: str) -> None:
    """Replace what lies between ``<!-- captions:KEY -->`` and ``<!-- /captions:KEY -->`` in ``path``."""
    start, end = f"<!-- captions:{key} -->", f"<!-- /captions:{key} -->"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise SystemExit(f"--doc: expected the markers {start} and {end} in {path}")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[: i + len(start)] + "\n" + block + "\n" + text[j:])


if __name__ == "__main__":
    main()
