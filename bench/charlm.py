"""Character model (seed 002) in boucle vs a torch 2.13 CPU twin: quality, training speed, generation latency.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/charlm.py [--steps 200] [--chars 2000000]

Same architecture (Embedding 64 -> 2 x LSTM(256) -> Dense(V), float32), same text
(the first ``--chars`` characters of the built-in corpus: the stdlib's ``*.py``
files), same split (last 2 % for validation), same initial weights (boucle's,
copied with ``boucle.interop.to_torch``), the same sequence of batches
(:class:`boucle.data.text.TextStream`, state carried between batches, truncated
BPTT), Adam(2e-3, eps 1e-7), global-norm clipping at 5, the same number of steps,
the same number of threads (``--threads``, default 1): torch's, and boucle's as
``boucle train`` runs it — the recurrent loop on ``--threads`` threads
(``boucle.ops.recurrent.use_threads``, the batch split), NumPy's BLAS on one.
The twin's ``bias_hh`` is frozen at 0 so that it has boucle's parameters (one
LSTM bias). Training alternates blocks of ``--block`` steps between the two, so
both see the same machine load; validation bits per character are measured
with the same stateful layout (``eval_chunks``) on the first ``--val-chars``
characters of the validation split.

Generation latency: one character at a time, batch 1, the trained 2 x LSTM(256):
boucle's ``CharModel.sample`` (its lean step path) vs a torch loop (``nn.LSTM`` on
one step, ``Linear``, softmax, ``multinomial``) under ``torch.inference_mode``.

Targets: val bpc within 1 % of the twin's; training throughput >= the twin's;
generation latency <= the twin's. The machine is shared: quote ratios.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import interleaved, machine  # noqa: E402

from boucle.backend import blas_threads  # noqa: E402
from boucle.data.text import TextStream, eval_chunks, load_corpus, split_ids
from boucle.data.vocab import Vocabulary  # noqa: E402
from boucle.interop import to_torch  # noqa: E402
from boucle.models.charlm import CharModel  # noqa: E402
from boucle.ops.recurrent import use_threads  # noqa: E402
from boucle.optimizers import Adam  # noqa: E402


class Twin(torch.nn.Module):
    """The torch model equal to a CharModel (embedding, stacked LSTM, linear output)."""

    def __init__(self, m: CharModel):
        super().__init__()
        V, E = m.embedding.params["E"].shape
        self.emb = torch.nn.Embedding(V, E)
        self.rnn = to_torch(m.rnns, batch_first=True)
        self.fc = torch.nn.Linear(m.hidden, V)
        with torch.no_grad():
            self.emb.weight.copy_(torch.from_numpy(m.embedding.params["E"]))
            self.fc.weight.copy_(torch.from_numpy(np.ascontiguousarray(m.dense.params["W"].T)))
            self.fc.bias.copy_(torch.from_numpy(m.dense.params["b"]))
        for k in range(m.n_layers):  # boucle has one bias per LSTM layer
            getattr(self.rnn, f"bias_hh_l{k}").requires_grad_(False)

    def forward(self, x, state=None):
        y, state = self.rnn(self.emb(x), state)
        return self.fc(y), state


def torch_eval(net: Twin, ids, B: int, T: int) -> float:
    total, count, state = 0.0, 0, None
    with torch.inference_mode():
        for x, y, m in eval_chunks(ids, B, T):
            logits, state = net(torch.from_numpy(x), state)
            nll = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), torch.from_numpy(y).reshape(-1), reduction="none"
            )
            total += float((nll * torch.from_numpy(m.reshape(-1)).float()).sum())
            count += int(m.sum())
    return total / count / math.log(2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--block", type=int, default=10)
    ap.add_argument("--chars", type=int, default=2_000_000)
    ap.add_argument("--val-chars", type=int, default=100_000)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--seq-len", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--gen-chars", type=int, default=300)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads of torch and of boucle's recurrent loop (default 1; NumPy's BLAS: 1)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with blas_threads(1), use_threads(args.threads):
        run(args)


def run(args) -> None:
    B, T = args.batch_size, args.seq_len

    text = load_corpus().text[: args.chars]
    vocab = Vocabulary.from_text(text)
    train_ids, val_ids = split_ids(vocab.encode(text), 0.02)
    val_ids = val_ids[: args.val_chars + 1]
    model = CharModel(vocab, layers=args.layers, hidden=args.hidden, embed=64, seed=0)
    model.init_output_bias(train_ids)
    model.compile(Adam(2e-3, clipnorm=5.0))
    net = Twin(model)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=2e-3, eps=1e-7)
    stream, rng = TextStream(train_ids, B, T), np.random.default_rng(0)
    batches = [stream.next_batch(rng) for _ in range(args.steps)]  # the same batches for both
    state_t = [None]

    def torch_step(x, y, new):
        if new:
            state_t[0] = None
        logits, st = net(torch.from_numpy(x), state_t[0])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.from_numpy(y).reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        state_t[0] = tuple(s.detach() for s in st)
        return float(loss.detach())

    def boucle_step(x, y, new):
        if new:
            model.states = None
        return model.train_step(x, y)

    secs = {"boucle": 0.0, "torch": 0.0}
    losses = {"boucle": [], "torch": []}
    for s in range(0, args.steps, args.block):
        order = [("boucle", boucle_step), ("torch", torch_step)]
        for name, fn in order if (s // args.block) % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            for x, y, new in batches[s : s + args.block]:
                losses[name].append(fn(x, y, new))
            secs[name] += time.perf_counter() - t0
        print(
            f"step {min(s + args.block, args.steps)}: train bpc boucle {losses['boucle'][-1] / math.log(2):.4f} "
            f"torch {losses['torch'][-1] / math.log(2):.4f}",
            flush=True,
        )
    val_b = model.evaluate(val_ids, batch_size=B, seq_len=T)["bpc"]
    val_t = torch_eval(net, val_ids, B, T)

    # generation latency: batch 1, one character at a time
    n = args.gen_chars
    gen_state = {"s": None, "x": torch.tensor([[vocab.index["\n"]]])}
    gen = torch.Generator().manual_seed(0)

    def torch_generate():
        with torch.inference_mode():
            x, s = gen_state["x"], None
            for _ in range(n):
                logits, s = net(x, s)
                p = torch.softmax(logits[0, -1] / 0.8, dim=-1)
                x = torch.multinomial(p, 1, generator=gen).view(1, 1)

    def boucle_generate():
        model.sample(n, temperature=0.8, seed=0)

    gen_t = interleaved({"boucle": boucle_generate, "torch": torch_generate}, rounds=5, per_block=2)

    chars = args.steps * B * T
    print(machine())
    print(
        f"{args.layers} x LSTM({args.hidden}), embedding 64, vocabulary {len(vocab)}, seq_len {T}, batch {B}, "
        f"Adam 2e-3, clip 5, {args.steps} steps on the first {len(text):,} characters of the built-in corpus; "
        f"{args.threads} thread(s) for boucle's recurrent loop and for torch (NumPy's BLAS: 1); "
        f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}"
    )
    print("| | boucle | torch twin | ratio boucle/torch |")
    print("|---|---|---|---|")
    print(
        f"| val bpc after {args.steps} steps ({len(val_ids) - 1:,} chars) | {val_b:.4f} | {val_t:.4f} | "
        f"{val_b / val_t:.4f} |"
    )
    print(
        f"| training time, {args.steps} steps | {secs['boucle']:.1f} s | {secs['torch']:.1f} s | "
        f"{secs['boucle'] / secs['torch']:.2f}x |"
    )
    print(
        f"| training throughput | {chars / secs['boucle']:,.0f} chars/s | {chars / secs['torch']:,.0f} chars/s | "
        f"{secs['torch'] / secs['boucle']:.2f}x |"
    )
    print(
        f"| generation latency, batch 1 | {gen_t['boucle'] / n * 1e6:.0f} us/char | "
        f"{gen_t['torch'] / n * 1e6:.0f} us/char | {gen_t['boucle'] / gen_t['torch']:.2f}x |"
    )


if __name__ == "__main__":
    main()
