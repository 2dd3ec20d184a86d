"""Many-to-one: seed 002's music-genre model, written in boucle almost line for line.

The course's slide ("Exemple: Genre musical — Réseau récurrent et code")::

    model = Sequential()
    model.add(Dense(100))
    model.add(SimpleRecurrent(100, return_sequence=False))
    model.add(Dense(3, activation='softmax'))
    model.compile(loss='categorical_crossentropy', optimizer='sgd', metrics=['accuracy'])

    h_t = tanh(U x_t + W h_{t-1} + b),  y_T = Softmax(V h_T + d),  E = cross_entropy(y_T, c)

Data: the course used 500 scores of variable length in 3 classes (Blues, Rock,
Classique). Here the scores are generated: each note is a vector
``[onehot(pitch class, 12), duration]``; a genre draws its pitches from its own
scale in C (blues scale, major pentatonic, diatonic major) with its own melodic
steps and rhythm (swung long-short, steady eighths, varied). Scores have 12–40 notes,
zero-padded at the end (seed 002, "Rajout de zéros") with a mask, so the RNN's
last state is the state after each score's own last note.

    python examples/genre_many_to_one.py [--n 500] [--epochs 20] [--lr 0.1] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

import boucle
from boucle.data import pad_sequences
from boucle.layers import Dense, SimpleRNN

GENRES = ("blues", "rock", "classique")
_SCALES = {"blues": (0, 3, 5, 6, 7, 10), "rock": (0, 2, 4, 7, 9), "classique": (0, 2, 4, 5, 7, 9, 11)}
_RHYTHM = {"blues": (0.66, 0.33), "rock": (0.5, 0.5), "classique": (0.25, 0.5, 1.0, 0.25)}


def make_scores(
    n: int, seed: int = 0, min_len: int = 12, max_len: int = 40, transpose: bool = False
) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` scores ``(T_i, 13)`` and one-hot genres ``(n, 3)``, balanced over the classes.

    Scores are written in C, as in a collection normalised to one key; ``transpose=True``
    puts each in a random key (a harder task: only intervals and rhythm tell the genre).
    """
    rng = np.random.default_rng(seed)
    scores, labels = [], []
    for i in range(n):
        g = i % 3
        genre = GENRES[g]
        scale, rhythm = _SCALES[genre], _RHYTHM[genre]
        T = int(rng.integers(min_len, max_len + 1))
        key = int(rng.integers(12)) if transpose else 0
        deg = int(rng.integers(len(scale)))
        notes = np.zeros((T, 13), dtype=np.float32)
        for t in range(T):
            deg = (deg + int(rng.choice((-1, 1, 2) if genre != "classique" else (-1, 1)))) % len(scale)
            notes[t, (key + scale[deg]) % 12] = 1.0
            notes[t, 12] = rhythm[t % len(rhythm)] if genre != "classique" else rhythm[int(rng.integers(len(rhythm)))]
        scores.append(notes)
        labels.append(g)
    order = rng.permutation(n)
    y = np.eye(3, dtype=np.float32)[np.array(labels)[order]]
    return [scores[k] for k in order], y


def build(seed: int = 0, lr: float = 0.1) -> boucle.Sequential:
    """The slide's model (SGD: the course says 'sgd'; its learning rate is an argument here)."""
    model = boucle.Sequential(seed=seed)
    model.add(Dense(100))
    model.add(SimpleRNN(100, return_sequences=False))
    model.add(Dense(3, activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=boucle.optimizers.SGD(lr), metrics=["accuracy"])
    return model


def run(n: int = 500, epochs: int = 20, lr: float = 0.1, batch_size: int = 16, seed: int = 0, verbose: int = 0) -> dict:
    """Train on 80 % of ``n`` scores; returns train/test accuracy and the chance level."""
    scores, y = make_scores(n, seed)
    x, mask = pad_sequences(scores, dtype=np.float32)  # (n, T, 13), (n, T)
    split = int(0.8 * n)
    model = build(seed, lr)
    model.fit(x[:split], y[:split], mask=mask[:split], batch_size=batch_size, epochs=epochs, verbose=verbose)
    train = model.evaluate(x[:split], y[:split], mask=mask[:split])
    test = model.evaluate(x[split:], y[split:], mask=mask[split:])
    return {
        "train_accuracy": train["accuracy"],
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "chance": 1 / 3,
        "params": model.count_params(),
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=500, help="number of scores (the course had 500)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.1, help="SGD learning rate")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    res = run(args.n, args.epochs, args.lr, seed=args.seed, verbose=2)
    print(
        f"genre accuracy: train {res['train_accuracy']:.3f}, test {res['test_accuracy']:.3f} "
        f"(chance {res['chance']:.3f}; {res['params']} parameters)"
    )
    return res


if __name__ == "__main__":
    main()
