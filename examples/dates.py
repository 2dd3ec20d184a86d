"""Dates in French and English to ISO 8601 with an encoder–decoder (seed 004's SEQ2SEQ, plus attention).

    python examples/dates.py [--attention general|dot|additive|none] [--epochs N] [--out dates.safetensors]
                             [--plot docs/img/dates_attention.png]

Generates "21 août 2017", "lundi 21 août 2017", "21/08/2017", "Aug 21, 2017", "le 3 mars 1999"...
→ "2017-08-21" from a seed (no download), trains on dates from which a held-out set of
calendar dates was removed, and reports the exact-match accuracy on that held-out set
with greedy decoding and with beam search. Then: ``boucle translate dates.safetensors "le 14 juillet 1789"``.
"""

from __future__ import annotations

import argparse
import time

import boucle
from boucle.data.tasks.translation import dates_dataset
from boucle.models.decoding import attention_map
from boucle.models.seq2seq import Seq2Seq


def plot_attention(model: Seq2Seq, text: str, path: str) -> None:
    """Save the attention map of ``text`` (rows: output characters, columns: source characters)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    src, out, alpha = attention_map(model, text)
    fig, ax = plt.subplots(figsize=(0.28 * len(src) + 1.2, 0.28 * (len(out) + 1) + 1.0), dpi=80)
    ax.imshow(alpha, cmap="Greys", vmin=0.0, vmax=1.0, aspect="equal")
    ax.set_xticks(range(len(src)), list(src.replace(" ", "␣")))
    ax.set_yticks(range(len(out) + 1), list(out) + ["<end>"])
    ax.tick_params(labelsize=9, length=0)
    ax.set_title(f"{src} → {out}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--attention", default="general", choices=["none", "dot", "general", "additive"])
    p.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--n-train", type=int, default=30000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--time-budget", type=float, default=None, help="stop after the epoch that ends past this")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="save the trained model here (.safetensors)")
    p.add_argument("--plot", default=None, help="write an attention map PNG here")
    p.add_argument("--verbose", type=int, default=2)
    args = p.parse_args(argv)

    data = dates_dataset(args.n_train, args.n_test, seed=args.seed)
    model = Seq2Seq(
        data.source_vocab,
        data.target_vocab,
        units=args.units,
        embed_dim=args.embed,
        cell=args.cell,
        bidirectional=args.bidirectional,
        attention=None if args.attention == "none" else args.attention,
        seed=args.seed,
    )
    model.compile(boucle.optimizers.Adam(args.lr, clipnorm=5.0))
    n_val = 500
    start = time.perf_counter()
    model.fit(
        data.x_train,
        data.y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        verbose=args.verbose,
        validation_data=(data.x_test[:n_val], data.y_test[:n_val]),
        time_budget=args.time_budget,
        callbacks=[boucle.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=1)],
    )
    train_s = time.perf_counter() - start
    greedy = model.evaluate(data.x_test, data.y_test)["exact_match"]
    beam = model.evaluate(data.x_test, data.y_test, beam_width=args.beam)["exact_match"]
    result = {
        "attention": args.attention,
        "train_seconds": round(train_s, 1),
        "epochs": len(model.history.history["loss"]),
        "held_out": len(data.x_test),
        "exact_match_greedy": greedy,
        f"exact_match_beam{args.beam}": beam,
    }
    print(result)
    for text in ["21 août 2017", "lundi 21 août 2017", "le 3 mars 1999", "Aug 21, 2017", "14 juillet 1789"]:
        try:
            print(f"  {text!r:28} → {model.translate(text)}")
        except boucle.BoucleError as e:
            print(f"  {text!r:28} → error: {e}")
    if args.out:
        boucle.save(model, args.out)
    if args.plot and model.attention is not None:
        plot_attention(model, "le mercredi 21 août 2017", args.plot)
    return result


if __name__ == "__main__":
    try:  # small matrices: one BLAS thread is fastest (much faster on busy cores)
        from threadpoolctl import threadpool_limits
    except ImportError:
        main()
    else:
        with threadpool_limits(1):
            main()
