"""Built-in search recipes: objectives ``(config, seed, trial) -> metrics`` with a default space.

- ``esn-mackey-glass`` — an :class:`~boucle.reservoir.ESN` forecasting Mackey–Glass ``horizon``
  steps ahead; reservoirpy's hyper-parameter tutorial space (spectral radius, leak rate,
  ridge; input scaling added). Layout ``"tutorial"`` (reservoirpy's tutorial 1): 2510 steps
  rescaled to [-1, 1], the first 2000 pairs for training, the rest for test, input
  connectivity 0.2, no warm-up; layout ``"readme"`` (reservoirpy's README): 2000 raw steps,
  the last 20 % of the pairs for test, input connectivity 0.1, 100 warm-up steps. The search
  ranks ``val_nrmse``: the readout fitted on the first 80 % of the training pairs, scored on
  the last 20 % (the run continuing the fit's state); ``test_nrmse`` / ``test_rmse`` refit
  on all training pairs and score the test pairs (continuing the training state). NRMSE is
  normalised by max - min (reservoirpy's default). The data are the same for every trial
  (``data_seed``); the trial seed draws the reservoir.
- ``uea-classifier`` — a recurrent classifier ``cell(units) -> Dense(classes, softmax)`` of
  variable-length multivariate sequences, masked: a UEA/UCR problem (``problem =
  "JapaneseVowels"``, downloaded once into the cache) or, by default, generated noisy
  3-channel oscillations of 3 classes (lengths 8-30). Trains through the engine for
  ``epochs`` (the budget under successive halving), reporting ``val_accuracy`` per epoch.
- ``char-model`` — the character model of ``boucle train`` (truncated BPTT) on the first
  ``chars`` characters of the built-in corpus (or ``paths``: a file or folder, or a list), for ``steps`` or under a
  ``time_budget`` of seconds; the engine's epoch is ``val_every`` steps, each reporting
  ``val_bpc``. A time budget makes the step count depend on the machine's speed: for
  reproducible trials give ``steps``.

Each recipe's ``config`` holds any of its :data:`Recipe.options`; the rest take their defaults.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import optimizers
from ..data.loaders import load_uea
from ..data.padding import pad_sequences
from ..data.tasks.timeseries import mackey_glass, to_forecasting
from ..data.text import load_corpus, split_ids
from ..data.vocab import Vocabulary
from ..data.windows import Normalizer
from ..errors import BoucleError, TrainingDiverged
from ..layers import GRU, LSTM, Dense, SimpleRNN
from ..models import Sequential
from ..models.charlm import CharModel
from ..reservoir import ESN, EchoStateWarning, nrmse, rmse

__all__ = ["Recipe", "RECIPES"]


@dataclass(frozen=True)
class Recipe:
    run: Callable[..., dict]
    options: dict  #: every config key and its default
    defaults: dict = field(default_factory=dict)  #: the spec's defaults: space, metric, direction
    budgeted: bool = False  #: trains in epochs through the engine (successive halving applies)
    with_budget: Callable[[dict, int], dict] | None = None  #: the config that trains ``budget`` epochs


def _options(config: dict, options: dict, recipe: str) -> dict:
    unknown = sorted(set(config) - set(options))
    if unknown:
        raise BoucleError(f"{recipe}: unknown option {unknown[0]!r}, expected some of {sorted(options)}")
    return {**options, **config}


# ----------------------------------------------------------------- ESN on Mackey-Glass
ESN_OPTIONS = {
    "units": 100,
    "spectral_radius": 1.25,
    "leak_rate": 0.3,
    "input_scaling": 1.0,
    "ridge": 1e-8,
    "connectivity": 0.1,
    "input_connectivity": None,
    "bias_scaling": 0.0,
    "horizon": 1,
    "layout": "tutorial",
    "warmup": None,
    "data_seed": 0,
    "val_fraction": 0.2,
}


@functools.lru_cache(maxsize=8)
def _mg_data(layout: str, horizon: int, data_seed: int):
    if layout == "tutorial":
        X = mackey_glass(2510, seed=data_seed)
        X = 2 * (X - X.min()) / (X.max() - X.min()) - 1
        x, y = to_forecasting(X, horizon)
        return x[:2000], y[:2000], x[2000:], y[2000:]
    if layout == "readme":
        x, y = to_forecasting(mackey_glass(2000, seed=data_seed), horizon)
        n_test = round(x.shape[0] * 0.2)
        return x[:-n_test], y[:-n_test], x[-n_test:], y[-n_test:]
    raise BoucleError(f"layout: expected 'tutorial' or 'readme', got {layout!r}")


def esn_mackey_glass(config: dict, seed: int, trial: Any = None) -> dict:
    """Validation and test NRMSE of one ESN (see the module doc)."""
    c = _options(config, ESN_OPTIONS, "esn-mackey-glass")
    xtr, ytr, xte, yte = _mg_data(c["layout"], int(c["horizon"]), int(c["data_seed"]))
    warmup = c["warmup"] if c["warmup"] is not None else (100 if c["layout"] == "readme" else 0)
    n_val = int(round(len(xtr) * c["val_fraction"]))

    def esn() -> ESN:
        return ESN(
            int(c["units"]),
            spectral_radius=c["spectral_radius"],
            leak_rate=c["leak_rate"],
            input_scaling=c["input_scaling"],
            ridge=c["ridge"],
            connectivity=c["connectivity"],
            input_connectivity=c["input_connectivity"] or (0.2 if c["layout"] == "tutorial" else 0.1),
            bias_scaling=c["bias_scaling"],
            seed=seed,
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EchoStateWarning)  # a spectral radius >= 1 is part of the space
        model = esn().fit(xtr[:-n_val], ytr[:-n_val], warmup=warmup)
        val = model.predict(xtr[-n_val:], initial_state="last")
        model = esn().fit(xtr, ytr, warmup=warmup)
        test = model.predict(xte, initial_state="last")
    out = {
        "val_nrmse": _finite_or_inf(nrmse, ytr[-n_val:], val),
        "val_rmse": _finite_or_inf(rmse, ytr[-n_val:], val),
        "test_nrmse": _finite_or_inf(nrmse, yte, test),
        "test_rmse": _finite_or_inf(rmse, yte, test),
    }
    if trial is not None:
        trial.save(model)
    return out


def _finite_or_inf(measure: Callable, y: np.ndarray, pred: np.ndarray) -> float:
    if not np.isfinite(pred).all():
        return math.inf
    return measure(y, pred, norm="minmax") if measure is nrmse else measure(y, pred)


# ----------------------------------------------------------------- UEA classifier
UEA_OPTIONS = {
    "cell": "gru",
    "units": 32,
    "lr": 5e-3,
    "epochs": 20,
    "batch_size": 16,
    "clipnorm": 1.0,
    "problem": None,
    "n_train": 120,
    "n_test": 90,
    "data_seed": 0,
    "val_fraction": 0.2,
}
_CELLS = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN}


def oscillations(n: int, seed: int, channels: int = 3, classes: int = 3) -> tuple[list, np.ndarray]:
    """``n`` noisy oscillations ``(T_i in [8, 30], channels)`` and their class ids: classes differ
    in frequency and in which channel leads."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i in range(n):
        c = i % classes
        t = np.arange(int(rng.integers(8, 31)))[:, None]
        phase = rng.uniform(0, 2 * np.pi) + np.arange(channels) * (0.6 if c % 2 else -0.6)
        xs.append(np.sin((0.15 + 0.12 * c) * t + phase) + 0.3 * rng.standard_normal((len(t), channels)))
        ys.append(c)
    return xs, np.asarray(ys)


@functools.lru_cache(maxsize=4)
def _uea_data(problem: str | None, n_train: int, n_test: int, data_seed: int):
    if problem is None:
        (xtr, ytr), (xte, yte) = oscillations(n_train, data_seed), oscillations(n_test, data_seed + 1)
        return xtr, ytr, xte, yte, 3
    train, test = load_uea(problem, "train"), load_uea(problem, "test")
    classes = train.class_labels or sorted(set(train.y.tolist()))
    return list(train.x), train.label_ids(classes), list(test.x), test.label_ids(classes), len(classes)


def uea_classifier(config: dict, seed: int, trial: Any = None) -> dict:
    """Validation and test accuracy of one recurrent classifier (see the module doc)."""
    c = _options(config, UEA_OPTIONS, "uea-classifier")
    if c["cell"] not in _CELLS:
        raise BoucleError(f"cell: expected one of {sorted(_CELLS)}, got {c['cell']!r}")
    xtr, ytr, xte, yte, k = _uea_data(c["problem"], int(c["n_train"]), int(c["n_test"]), int(c["data_seed"]))
    n_val = max(1, int(round(len(xtr) * c["val_fraction"])))
    norm = Normalizer().fit(np.concatenate(xtr[:-n_val]))  # statistics of the training frames only
    eye = np.eye(k, dtype=np.float32)

    def arrays(xs, ys):
        x, m = pad_sequences([norm.transform(a) for a in xs], dtype=np.float32)
        return x, eye[ys], m

    x, y, m = arrays(xtr[:-n_val], ytr[:-n_val])
    xv, yv, mv = arrays(xtr[-n_val:], ytr[-n_val:])
    xt, yt, mt = arrays(xte, yte)
    model = Sequential(
        [_CELLS[c["cell"]](int(c["units"]), input_shape=(None, x.shape[-1])), Dense(k, activation="softmax")], seed=seed
    )
    model.compile(
        optimizer=optimizers.Adam(c["lr"], clipnorm=c["clipnorm"]),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    epochs = trial.epochs(c["epochs"]) if trial is not None else int(c["epochs"])
    model.fit(
        x,
        y,
        mask=m,
        batch_size=int(c["batch_size"]),
        epochs=epochs,
        verbose=0,
        validation_data=(xv, yv, mv),
        callbacks=[trial.callback()] if trial is not None else None,
    )
    if model.history.stopped_reason:
        raise TrainingDiverged(model.history.stopped_reason)
    val, test = model.evaluate(xv, yv, mask=mv), model.evaluate(xt, yt, mask=mt)
    if trial is not None:
        trial.save(model)
    return {
        "val_accuracy": val["accuracy"],
        "val_loss": val["loss"],
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "epochs": len(model.history.epoch),
    }


# ----------------------------------------------------------------- character model
CHAR_OPTIONS = {
    "cell": "lstm",
    "layers": 1,
    "hidden": 128,
    "embed": 32,
    "lr": 5e-3,
    "seq_len": 64,
    "batch_size": 32,
    "clip": 5.0,
    "steps": None,
    "time_budget": None,
    "val_every": 50,
    "val_chars": 20_000,
    "chars": 300_000,
    "val_fraction": 0.1,
    "paths": None,
}


@functools.lru_cache(maxsize=2)
def _corpus(paths: tuple | None, chars: int) -> str:
    return load_corpus(list(paths) if paths else None).text[:chars]


def char_model(config: dict, seed: int, trial: Any = None) -> dict:
    """Validation bits per character of one character model (see the module doc)."""
    c = _options(config, CHAR_OPTIONS, "char-model")
    paths = (c["paths"],) if isinstance(c["paths"], str) else tuple(c["paths"] or ())
    text = _corpus(paths or None, int(c["chars"]))
    vocab = Vocabulary.from_text(text)
    train, val = split_ids(vocab.encode(text, "corpus"), c["val_fraction"])
    model = CharModel(
        vocab, cell=c["cell"], layers=int(c["layers"]), hidden=int(c["hidden"]), embed=int(c["embed"]), seed=seed
    )
    model.compile(optimizers.Adam(c["lr"], clipnorm=c["clip"]))
    model.init_output_bias(train)
    steps, budget = c["steps"], c["time_budget"]
    if trial is not None and trial.budget is not None:
        steps, budget = trial.budget * int(c["val_every"]), None
    if steps is None and budget is None:
        raise BoucleError("char-model: expected steps or time_budget in the config, got neither")
    model.fit(
        train,
        val,
        seq_len=int(c["seq_len"]),
        batch_size=int(c["batch_size"]),
        steps=steps,
        time_budget=budget,
        val_every=int(c["val_every"]),
        val_chars=int(c["val_chars"]),
        sample_every=0,
        verbose=0,
        callbacks=[trial.callback()] if trial is not None else None,
    )
    if model.history.stopped_reason:
        raise TrainingDiverged(model.history.stopped_reason)
    h = model.history.history
    if trial is not None:
        trial.save(model)
    return {"val_bpc": h["val_bpc"][-1], "val_loss": h["val_loss"][-1], "train_bpc": h["bpc"][-1], "steps": model.step}


RECIPES: dict[str, Recipe] = {
    "esn-mackey-glass": Recipe(
        esn_mackey_glass,
        ESN_OPTIONS,
        {
            "space": {
                "spectral_radius": ["loguniform", 1e-2, 10],
                "leak_rate": ["loguniform", 1e-3, 1],
                "input_scaling": ["loguniform", 0.1, 10],
                "ridge": ["loguniform", 1e-8, 10],
                "units": 100,
            },
            "metric": "val_nrmse",
            "direction": "minimize",
        },
    ),
    "uea-classifier": Recipe(
        uea_classifier,
        UEA_OPTIONS,
        {
            "space": {"cell": ["lstm", "gru"], "units": 32, "lr": 5e-3},
            "metric": "val_accuracy",
            "direction": "maximize",
        },
        budgeted=True,
        with_budget=lambda c, b: {**c, "epochs": b},
    ),
    "char-model": Recipe(
        char_model,
        CHAR_OPTIONS,
        {
            "space": {
                "hidden": [64, 128, 256],
                "lr": ["loguniform", 1e-3, 1e-2],
                "seq_len": [32, 64, 128],
                "time_budget": 60,
            },
            "metric": "val_bpc",
            "direction": "minimize",
        },
        budgeted=True,
        with_budget=lambda c, b: {
            **{k: v for k, v in c.items() if k != "time_budget"},
            "steps": b * int(c.get("val_every", CHAR_OPTIONS["val_every"])),
        },
    ),
}
