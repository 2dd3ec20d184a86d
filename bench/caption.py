"""Image captioning: one training step of the default ImageCaptioner, boucle vs its torch 2.13 CPU twin.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/caption.py [--threads 1|2] [--rounds 5]

The model is ``examples/captions.py``'s default (``build``): 48×48×3 images → Conv2D(32, 64, 64;
3×3, relu, same), each of the first two followed by MaxPooling2D(2) → 12×12 slots of 64 features
(+ 2 coordinates); LSTM(128)
decoder, embedding 32, general attention with input feeding (and, second row, the same model
without attention: one scan); batch 32 of captions from the generated set, float32, Adam.
boucle's step is ``boucle.training.train_step`` (forward, masked cross-entropy, backward, Adam;
the recurrent loop on the engine boucle picks).
The twin is :func:`boucle.interop.torch_captioner.captioner_to_torch` — the same modules and
weights (its loss is checked equal to boucle's before timing) — trained with ``torch.optim.Adam``.
Both run in this process, timed block-interleaved with rotating order (``bench/common.py``),
medians. ``--threads 1`` pins NumPy's BLAS and torch to one thread and measures CPU time
(``time.process_time``: robust to other load on a shared machine); ``--threads 2`` measures
wall time with two threads per library.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import torch  # noqa: E402
from common import interleaved, machine  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import boucle  # noqa: E402  (first: loads the BLAS libraries that the thread limits must reach)
from boucle.data.tasks.captions import shape_captions_task  # noqa: E402
from boucle.interop.torch_captioner import captioner_to_torch  # noqa: E402
from boucle.training import train_step  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B = 32


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def step_fns(attention: str | None) -> dict:
    task = shape_captions_task(B, 1, 1, seed=0)
    model = _example("captions").build(task.vocab, attention)
    model.compile(boucle.optimizers.Adam(1e-3))
    x = model.images(task.train.images)
    y = model._pad([caps[0] for caps in model.caption_ids(task.train.captions, B)])
    twin = captioner_to_torch(model)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        ours = model.train_forward((x, y, 0.0)).loss
        theirs = twin.loss(xt, y).item()
    assert abs(ours - theirs) < 1e-4 * max(1.0, abs(ours)), (ours, theirs)  # the same network (float32)
    opt = torch.optim.Adam(twin.parameters(), lr=1e-3)

    def t_step():
        opt.zero_grad()
        twin.loss(xt, y).backward()
        opt.step()

    return {"boucle": lambda: train_step(model, (x, y, 0.0)), "torch": t_step, "T": y.shape[1]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, choices=[1, 2], default=1)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.threads == 1 else time.perf_counter
    print(machine())
    print(
        f"batch {B}, 48x48x3 images, float32; {'CPU' if args.threads == 1 else 'wall'} time per training step, "
        f"{args.threads} thread(s), medians of {args.rounds} interleaved blocks"
    )
    print(f"{'model':<28} {'boucle ms':>10} {'torch ms':>10} {'boucle/torch':>13}")
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for attention in ("general", None):
            fns = step_fns(attention)
            T = fns.pop("T")
            res = interleaved(fns, rounds=args.rounds, per_block=3, warmup_s=0.5, clock=clock)
            name = f"attention {attention} (T={T})"
            print(
                f"{name:<28} {1e3 * res['boucle']:>10.1f} {1e3 * res['torch']:>10.1f} "
                f"{res['boucle'] / res['torch']:>12.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
