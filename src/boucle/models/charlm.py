r"""Generative character models (seed 002, "RNNs Génératifs"; Karpathy's char-rnn).

The course's task: read a text one character at a time and predict the next one,
targets c_t = x_{t+1}, cross entropy at every step, E = Σ_t E_t; then generate by
feeding each sampled character back as the next input. :class:`CharModel` is

    e_t = E[x_t]  (embedding, or the one-hot vector of x_t when ``embed=0``)
    h^1_t = cell(e_t, h^1_{t-1}),  h^l_t = cell(h^{l-1}_t, h^l_{t-1})   l = 2..L
    a_t = h^L_t V + b_V,   p(x_{t+1} | x_{≤t}) = softmax(a_t)

with ``cell`` the LSTM, GRU or simple RNN of :mod:`boucle.ops.cells` and
dropout (optional) on each recurrent layer's output. Training is truncated BPTT
as char-rnn does it: the text is read as B parallel streams
(:class:`boucle.data.text.TextStream`), each batch holds the next T characters
of every stream, and the final states of one batch are the initial states of
the next (carried, detached: no gradient crosses batches). The loss is the
mean cross entropy per character in nats; bits per character = loss / ln 2,
perplexity = e^loss.

Everything a run needs to continue bit-identically lives in the model and is
saved by :func:`boucle.save` (``include_optimizer=True``): weights, the carried
states (tensors ``states/<layer>/<h|c>``), the optimizer's slots, and as JSON in
the config the vocabulary, step, stream position and both generators' states.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import allocation, backend
from .. import optimizers as optimizers_mod
from ..data.text import TextStream, eval_chunks
from ..data.vocab import Vocabulary
from ..errors import BoucleError
from ..layers import GRU, LSTM, Dense, Dropout, Embedding, SimpleRNN
from ..losses import SparseCategoricalCrossentropy
from ..training import Callback, Forward, History, ProgressBar, fit, train_step
from ..validators import integer, nonneg_int, positive_int, rate, real
from ..validators import seed as check_seed
from . import sampling
from .base import LayerContainer, register_model
from .charlm_files import CONFIG_KEYS, check_training

__all__ = ["CharModel", "CELLS"]

CELLS = ("lstm", "gru", "rnn")
_LAYER = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN}
LN2 = math.log(2.0)


@register_model
class CharModel(LayerContainer):
    """A character-level language model: embedding → L recurrent layers → Dense to the vocabulary.

    Args:
        vocab: a :class:`~boucle.data.text.Vocabulary` (or its characters).
        cell: ``"lstm"``, ``"gru"`` (the course's form) or ``"rnn"`` (Elman, tanh).
        layers: number L of stacked recurrent layers.
        hidden: units H per recurrent layer.
        embed: embedding size; 0 = one-hot inputs (D = vocabulary size).
        dropout: rate of the dropout on each recurrent layer's output (training only).
        seed: seeds the model's generators (weights and dropout; the data stream's own).
        dtype: ``"float32"`` (default) or ``"float64"``.

    >>> model = CharModel(Vocabulary.from_text(text), hidden=128, seed=0)
    >>> model.fit(text, steps=500, seq_len=64, batch_size=32)
    >>> print(model.sample(200, prime="def "))
    """

    def __init__(
        self,
        vocab: Vocabulary | str,
        cell: str = "lstm",
        layers: int = 2,
        hidden: int = 256,
        embed: int = 64,
        dropout: float = 0.0,
        seed: int | None = None,
        dtype: Any = None,
        name: str = "char_model",
    ):
        self.vocab = vocab if isinstance(vocab, Vocabulary) else Vocabulary(vocab)
        if cell not in CELLS:
            raise BoucleError(f"cell: expected one of {list(CELLS)}, got {cell!r}")
        self.cell, self.name = cell, name
        self.n_layers = positive_int(layers, "layers")
        self.hidden = positive_int(hidden, "hidden")
        self.embed = nonneg_int(embed, "embed (0 = one-hot)")
        self.dropout = rate(dropout, "dropout")
        self.seed = check_seed(seed)
        self.dtype = backend.resolve_dtype(dtype)
        model_ss, data_ss = np.random.SeedSequence(self.seed).spawn(2)
        self.rng = np.random.Generator(np.random.PCG64(model_ss))  # weights, dropout
        self.data_rng = np.random.Generator(np.random.PCG64(data_ss))  # stream rotations
        V, dt = len(self.vocab), self.dtype.name
        self.embedding = Embedding(V, self.embed, name="embedding", dtype=dt) if self.embed else None
        self.rnns = [
            _LAYER[cell](self.hidden, return_sequences=True, return_state=True, name=f"{cell}_{k}", dtype=dt)
            for k in range(self.n_layers)
        ]
        self.drops = (
            [Dropout(self.dropout, name=f"dropout_{k}", dtype=dt) for k in range(self.n_layers)] if self.dropout else []
        )
        self.dense = Dense(V, name="dense", dtype=dt)
        if self.embedding is not None:
            self.embedding.build((None,), self.rng)
        D = self.embed or V
        for k, rnn in enumerate(self.rnns):
            rnn.build((None, D if k == 0 else self.hidden), self.rng)
            if self.drops:
                self.drops[k].build((None, self.hidden), self.rng)
        self.dense.build((None, self.hidden), self.rng)
        self.built = True
        self.optimizer: optimizers_mod.Optimizer | None = None
        self._loss = SparseCategoricalCrossentropy(from_logits=True)
        # training state (saved in model files)
        self.step = 0
        self.states: list[tuple] | None = None  # carried (h[, c]) per layer, (B, H) each
        self.stream_state: dict | None = None  # TextStream.state_dict() + data fingerprint
        self.history = History()  # one record over the model's life (saved in files)
        self.metrics: list = []
        self.data: dict = {}  # free-form description of the training data
        self.train_seconds = 0.0
        self.stop_training = False

    # -- structure --------------------------------------------------------------------
    @property
    def layers(self) -> list:
        return ([self.embedding] if self.embedding else []) + self.rnns + self.drops + [self.dense]

    def get_weights(self) -> dict[str, np.ndarray]:
        """Parameters, plus the carried states ``states/<layer>/<h|c>`` when the model has them."""
        w = super().get_weights()
        for rnn, st in zip(self.rnns, self.states or []):
            for s_name, s in zip(rnn.state_names, st):
                w[f"states/{rnn.name}/{s_name}"] = s.copy()
        return w

    def weight_specs(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """``{key: (shape, dtype)}`` of :meth:`get_weights` without copying."""
        specs = super().weight_specs()
        for rnn, st in zip(self.rnns, self.states or []):
            for s_name, s in zip(rnn.state_names, st):
                specs[f"states/{rnn.name}/{s_name}"] = (s.shape, s.dtype)
        return specs

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        carried = {
            k[len("states/") :]: np.array(v, dtype=self.dtype) for k, v in weights.items() if k.startswith("states/")
        }
        super().set_weights({k: v for k, v in weights.items() if not k.startswith("states/")})
        if carried:
            try:
                self.states = [tuple(carried[f"{r.name}/{s}"] for s in r.state_names) for r in self.rnns]
            except KeyError as e:
                raise BoucleError(f"weights: carried state {e.args[0]!r} is missing") from None

    # -- computation ------------------------------------------------------------------
    def _zero_states(self, B: int) -> list[tuple]:
        return [tuple(allocation.zeros((B, self.hidden), self.dtype) for _ in r.state_names) for r in self.rnns]

    def forward(self, ids: np.ndarray, states: list | None = None, training: bool = False):
        """logits (B, T, V) for ids (B, T); returns ``(logits, cache, final_states)``."""
        ids = np.asarray(ids)
        B = ids.shape[0]
        states = states or self._zero_states(B)
        if self.embedding is not None:
            h, c_emb = self.embedding.forward(ids)  # (B, T, E)
        else:
            h, c_emb = np.eye(len(self.vocab), dtype=self.dtype)[ids], None  # (B, T, V) one-hot
        caches, final = [], []
        for k, rnn in enumerate(self.rnns):
            (h, *fin), c = rnn.forward(h, training=training, initial_state=list(states[k]))  # (B, T, H)
            c_drop = None
            if self.drops:
                h, c_drop = self.drops[k].forward(h, training=training)
            caches.append((c, c_drop))
            final.append(tuple(fin))
        logits, c_dense = self.dense.forward(h)  # (B, T, V)
        return logits, (c_emb, caches, c_dense), final

    def backward(self, dlogits: np.ndarray, cache) -> None:
        """Accumulate every parameter's gradient (BPTT inside each layer; none into the carried states)."""
        c_emb, caches, c_dense = cache
        dh = self.dense.backward(dlogits, c_dense)
        for k in range(len(self.rnns) - 1, -1, -1):
            c, c_drop = caches[k]
            if self.drops:
                dh = self.drops[k].backward(dh, c_drop)
            dh, _ = self.rnns[k].backward([dh] + [None] * len(self.rnns[k].state_names), c)
        if self.embedding is not None:
            self.embedding.backward(dh, c_emb)

    def init_output_bias(self, text: Any) -> None:
        """Set the output bias to the log frequencies of the characters of ``text`` (add-one
        smoothed): b_V = log p(c). With the small initial weights the untrained model then
        predicts the unigram distribution instead of the uniform one, which saves the first
        steps of training (Karpathy, "A recipe for training neural networks", 2019)."""
        counts = np.bincount(self._ids(text, "text"), minlength=len(self.vocab)) + 1.0
        self.dense.params["b"][...] = np.log(counts / counts.sum())

    def compile(self, optimizer: Any = "adam") -> None:
        """Choose the optimizer (name, instance or config); e.g. ``Adam(2e-3, clipnorm=5.0)``."""
        self.optimizer = optimizers_mod.get(optimizer)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> float:
        """One truncated-BPTT step from the carried states; returns the batch loss (nats/char).

        Under the engine's divergence policy: a non-finite loss or gradient is not applied
        (the weights, states and ``step`` stay as they were) and the loss is returned as is.
        """
        if self.optimizer is None:
            raise BoucleError("model: call compile(optimizer) or fit(..., optimizer=) before training")
        return train_step(self, (x, y, False, None)).loss

    # -- the engine's model protocol (boucle.training.engine) -----------------------------
    def train_forward(self, batch) -> Forward:
        """Batch ``(x, y, new_stream, stream_state)``: the loss from the carried states (zeros when
        the streams jumped, ``new_stream``)."""
        x, y, new_stream, _ = batch
        logits, cache, final = self.forward(x, None if new_stream else self.states, training=True)
        loss, dlogits = self._loss.forward_backward(y, logits)
        return Forward(loss, (cache, dlogits, final), size=x.size, logs={"bpc": loss / LN2})

    def train_backward(self, cache) -> None:
        fcache, dlogits, _ = cache
        self.backward(dlogits, fcache)

    def train_commit(self, batch, cache) -> None:
        """Carry the final states to the next batch, detached (truncated BPTT); record the stream position."""
        self.states = [tuple(s.copy() for s in st) for st in cache[2]]
        if batch[3] is not None:
            self.stream_state = batch[3]

    # -- training loop ------------------------------------------------------------------
    def _ids(self, text: Any, name: str) -> np.ndarray:
        if isinstance(text, str):
            return self.vocab.encode(text, name)
        ids = np.asarray(text)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise BoucleError(f"{name}: expected a str or 1-D integer ids, got {ids.dtype} shape {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self.vocab)):
            raise BoucleError(f"{name}: ids must lie in [0, {len(self.vocab)}), got [{ids.min()}, {ids.max()}]")
        return ids.astype(np.int64)

    def fit(
        self,
        text: Any,
        val_text: Any = None,
        *,
        seq_len: int = 100,
        batch_size: int = 64,
        steps: int | None = None,
        epochs: int | None = None,
        time_budget: float | None = None,
        optimizer: Any = None,
        val_every: int = 100,
        val_chars: int | None = None,
        sample_every: int | None = None,
        sample_length: int = 200,
        sample_temperature: float = 0.8,
        checkpoint: Callable[[CharModel], None] | None = None,
        checkpoint_every: int | None = None,
        verbose: int = 1,
        print_fn: Callable[[str], None] | None = None,
        callbacks: list | None = None,
    ) -> History:
        """Train by truncated BPTT on ``text`` (a str or ids), continuing the model's stream.

        Stopping rule, first reached: ``steps`` = total optimizer steps (``model.step``,
        counting earlier calls and resumed checkpoints), ``epochs`` = total passes over
        the text, ``time_budget`` = seconds of this call; none of them = one more epoch.

        Training runs through the one engine (:func:`boucle.training.fit`); its "epoch" — what
        callbacks, the history and the progress logs count — is the reporting interval of
        ``val_every`` steps, aligned on the model's step count (Keras's ``steps_per_epoch``).

        Args:
            val_text: validation text; its bits per character are measured every
                ``val_every`` steps on its first ``val_chars`` characters (all by
                default) and on the whole of it at the end.
            optimizer: replaces the model's (default when it has none: Adam(2e-3, clipnorm=5)).
            sample_every: print a ``sample_length``-character sample every so many steps
                (default: ``val_every``; 0 = never) at ``sample_temperature``.
            checkpoint: ``checkpoint(model)`` is called every ``checkpoint_every`` steps
                (default ``val_every``) and at the end (e.g. an atomic ``boucle.save``).
            verbose: 0 silent (but for ``print_fn``), 1 progress bar (loss, bpc, chars/s), the
                interval logs and samples (through ``print_fn``, default: above the bar).
            callbacks: Keras-style callbacks (EarlyStopping, ModelCheckpoint, CSVLogger, ...),
                called at every interval end with ``loss``, ``bpc``, ``val_loss``, ``val_bpc``.

        Returns:
            :attr:`history`, the model's lifetime :class:`~boucle.training.History`: per interval
            ``loss``/``bpc`` (train means) and ``val_loss``/``val_bpc``, with ``history.step``.
            ``history.stopped_reason`` says why training stopped early on divergence.
        """
        ids = self._ids(text, "text")
        val_ids = None if val_text is None else self._ids(val_text, "val_text")
        if val_ids is not None and len(val_ids) < 2:
            raise BoucleError(f"val_text: expected at least 2 characters, got {len(val_ids)}")
        val_every = integer(val_every, "val_every", minimum=1, maximum=sys.maxsize)  # an islice bound
        sample_every = val_every if sample_every is None else nonneg_int(sample_every, "sample_every")
        checkpoint_every = val_every if checkpoint_every is None else positive_int(checkpoint_every, "checkpoint_every")
        if time_budget is not None:
            time_budget = real(time_budget, "time_budget", low=0.0, want="seconds > 0")
        stream = TextStream(ids, batch_size, seq_len)
        fingerprint = _fingerprint(ids)
        try:
            if self.stream_state is None or self.stream_state.get("data") != fingerprint:
                raise BoucleError("new data")
            stream.load_state_dict(self.stream_state)  # continue the same streams
        except BoucleError:
            self.states = None  # another text or layout: start afresh
        if steps is not None:
            steps = positive_int(steps, "steps")
        if epochs is not None:
            epochs = positive_int(epochs, "epochs")
        if steps is None and epochs is None and time_budget is None:
            epochs = stream.epoch + 1
        if optimizer is not None or self.optimizer is None:
            self.compile(optimizer if optimizer is not None else optimizers_mod.Adam(2e-3, clipnorm=5.0))
        if print_fn is not None:
            say = print_fn
        elif verbose:
            from tqdm.auto import tqdm

            say = tqdm.write  # above the progress bar
        else:

            def say(line: str) -> None:
                pass

        def stream_batches() -> Iterator[tuple]:
            while epochs is None or stream.epoch < epochs:
                x, y, new = stream.next_batch(self.data_rng)
                yield x, y, new, {**stream.state_dict(), "data": fingerprint}

        batches = stream_batches()

        def interval(epoch: int):  # the next batches up to a multiple of val_every
            return itertools.islice(batches, val_every - self.step % val_every)

        def validate() -> dict:
            v = val_ids if val_chars is None else val_ids[: max(int(val_chars), 1) + 1]
            r = self.evaluate(v, batch_size=batch_size, seq_len=seq_len)
            return {"loss": r["loss"], "bpc": r["bpc"]}

        cbs: list[Callback] = [_Report(say, self)]
        if sample_every:
            cbs.append(
                _Every(
                    sample_every,
                    val_every,
                    lambda m: say(
                        f"----- sample at step {m.step} (temperature {sample_temperature}) -----\n"
                        f"{m.sample(sample_length, temperature=sample_temperature, seed=m.step)}\n-----"
                    ),
                )
            )
        if checkpoint is not None:
            cbs.append(_Every(checkpoint_every, val_every, checkpoint))
        bar = None
        if verbose:
            total = steps if steps is not None else (epochs * stream.chunks_per_epoch if epochs else None)
            initial = (
                self.step
                if steps is not None
                else (stream.epoch * stream.chunks_per_epoch + stream.chunk if epochs else 0)
            )
            bar = ProgressBar(
                per_epoch=False,
                total=total,
                initial=initial,
                desc="train",
                unit="step",
                keys=("loss", "bpc"),
                rate="chars_s",
                file=sys.stderr,
            )
        fit(
            self,
            interval,
            steps=steps,
            time_budget=time_budget,
            initial_epoch=self.step // val_every,
            validate=None if val_ids is None else validate,
            callbacks=[*cbs, *(callbacks or [])],
            verbose=0,
            progress=bar,
            history=self.history,
        )
        if val_ids is not None and not self.history.stopped_reason:  # the whole split (replaces a partial one)
            h = self.history
            last = h.step[-1] if h.step else None
            if val_chars is None and last == self.step and not math.isnan(h.history.get("val_loss", [math.nan])[-1]):
                val = {"loss": h.history["val_loss"][-1], "bpc": h.history["val_bpc"][-1], "chars": len(val_ids) - 1}
            else:
                val = self.evaluate(val_ids, batch_size=batch_size, seq_len=seq_len)
                if last == self.step:
                    h.history["val_loss"][-1], h.history["val_bpc"][-1] = val["loss"], val["bpc"]
            if verbose:
                say(
                    f"step {self.step}: val loss {val['loss']:.4f}, val bpc {val['bpc']:.4f} "
                    f"({val['chars']:,} characters)"
                )
        if checkpoint is not None:
            checkpoint(self)
        return self.history

    # -- evaluation ---------------------------------------------------------------------
    def evaluate(self, text: Any, batch_size: int = 64, seq_len: int = 100) -> dict[str, float]:
        """Mean cross entropy of every next-character prediction in ``text`` (str or ids).

        Returns ``{"loss": nats/char, "bpc": loss / ln 2, "perplexity": e^loss, "chars": n}``.
        The text is read as ``batch_size`` contiguous rows, state carried between
        chunks of ``seq_len`` (:func:`boucle.data.text.eval_chunks`).
        """
        ids = self._ids(text, "text")
        total, count, states = 0.0, 0, None
        for x, y, m in eval_chunks(ids, batch_size, seq_len):
            logits, _, states = self.forward(x, states, training=False)
            n = int(m.sum())
            total += self._loss(y, logits, mask=m) * n
            count += n
        loss = total / count
        return {"loss": loss, "bpc": loss / LN2, "perplexity": math.exp(min(loss, 700.0)), "chars": count}

    # -- generation ---------------------------------------------------------------------
    def stepper(self) -> sampling.Stepper:
        """The one-character step path used by :meth:`sample` (see :class:`~boucle.models.sampling.Stepper`)."""
        return sampling.Stepper(self)

    def sample_iter(
        self,
        length: int,
        prime: str = "",
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: Any = None,
    ) -> Iterator[str]:
        """Yield ``length`` characters, each drawn from p(x_{t+1} | prime, earlier samples) and fed
        back as the next input (the course's generation loop). Without ``prime`` the model starts
        as after a newline (or after its first character when the vocabulary has no newline).
        Options: see :mod:`boucle.models.sampling`; the same ``seed`` gives the same text."""
        temperature, top_k, top_p = sampling.check_sampling(temperature, top_k, top_p, length)
        if not isinstance(prime, str):
            raise BoucleError(f"prime: expected a str, got {type(prime).__name__}")
        prime_ids = (
            self.vocab.encode(prime, "prime") if prime else np.array([self.vocab.index.get("\n", 0)], dtype=np.int64)
        )
        rng = backend.make_rng(seed)
        return self._sample_gen(int(length), prime_ids, temperature, top_k, top_p, rng)

    def _sample_gen(self, length, prime_ids, temperature, top_k, top_p, rng) -> Iterator[str]:
        step = sampling.Stepper(self)
        states = step.zero_states(1)
        for i in prime_ids[:-1]:
            _, states = step(np.array([i]), states)
        nxt = int(prime_ids[-1])
        chars = self.vocab.chars
        for _ in range(length):
            logits, states = step(np.array([nxt]), states)
            nxt = sampling.draw(sampling.distribution(logits[0], temperature, top_k, top_p), rng)
            yield chars[nxt]

    def sample(
        self,
        length: int,
        prime: str = "",
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: Any = None,
    ) -> str:
        """``length`` generated characters as one string (the prime is not repeated); see :meth:`sample_iter`."""
        return "".join(self.sample_iter(length, prime, temperature, top_k, top_p, seed))

    # -- description and files ------------------------------------------------------------
    def architecture(self) -> str:
        """One line: inputs -> recurrent stack -> output, and the parameter count."""
        D = f"Embedding({len(self.vocab)}, {self.embed})" if self.embed else f"one-hot({len(self.vocab)})"
        drop = f" + dropout {self.dropout}" if self.dropout else ""
        return (
            f"{D} -> {self.n_layers} x {self.cell.upper()}({self.hidden}){drop} -> Dense({len(self.vocab)}); "
            f"{self.count_params():,} parameters"
        )

    def describe(self) -> str:
        """Architecture, sizes and training progress, one fact per line."""
        lines = [
            f"model: {type(self).__name__} ({self.dtype.name})",
            f"architecture: {self.architecture()}",
            f"vocabulary: {len(self.vocab)} characters",
            f"training steps: {self.step:,} ({self.train_seconds:,.0f} s)",
        ]
        if self.stream_state:
            s = self.stream_state
            per_epoch = max((s["n"] // s["batch_size"] - 1) // s["seq_len"], 1)
            lines.append(
                f"epochs: {s['epoch'] + s['chunk'] / per_epoch:.3f} "
                f"(batch size {s['batch_size']}, sequence length {s['seq_len']})"
            )
        if self.optimizer is not None:
            lines.append(f"optimizer: {self.optimizer!r}")
        vals = [
            (st, v) for st, v in zip(self.history.step, self.history.history.get("val_bpc", [])) if not math.isnan(v)
        ]
        if vals:
            lines.append(f"last validation bpc: {vals[-1][1]:.4f} (step {vals[-1][0]})")
        if "corpus" in self.data:
            lines.append(f"data: {self.data['corpus']} ({self.data.get('characters', 0):,} characters)")
        return "\n".join(lines)

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "vocab": self.vocab.get_config(),
            "cell": self.cell,
            "layers": self.n_layers,
            "hidden": self.hidden,
            "embed": self.embed,
            "dropout": self.dropout,
            "dtype": self.dtype.name,
            "seed": self.seed,
            "training": {
                "step": self.step,
                "stream": self.stream_state,
                "carried_batch": None if self.states is None else int(self.states[0][0].shape[0]),
                "rng": self.rng.bit_generator.state,
                "data_rng": self.data_rng.bit_generator.state,
                "history": self.history.get_config(),
                "data": self.data,
                "train_seconds": self.train_seconds,
            },
        }

    @classmethod
    def from_config(cls, config: dict) -> CharModel:
        """Rebuild from :meth:`get_config`; every value is checked (model files are untrusted input)."""
        if not isinstance(config, dict):
            raise BoucleError(f"config: expected a dict, got {type(config).__name__}")
        unknown = sorted(set(config) - CONFIG_KEYS)
        missing = sorted({"vocab", "cell", "layers", "hidden", "embed", "dropout"} - set(config))
        if unknown or missing:
            raise BoucleError(
                f"config: expected the CharModel keys {sorted(CONFIG_KEYS)}, "
                f"got unknown {unknown[:5]} and missing {missing}"
            )
        tr = check_training(config.get("training"))
        try:
            model = cls(
                Vocabulary.from_config(config["vocab"]),
                cell=config["cell"],
                layers=config["layers"],
                hidden=config["hidden"],
                embed=config["embed"],
                dropout=config["dropout"],
                seed=config.get("seed"),
                dtype=config.get("dtype"),
                name=config.get("name", "char_model"),
            )
            model.step = tr.get("step", 0)
            model.stream_state = tr.get("stream")
            if tr.get("carried_batch"):
                model.states = model._zero_states(tr["carried_batch"])
            if tr.get("rng"):
                model.rng.bit_generator.state = tr["rng"]
            if tr.get("data_rng"):
                model.data_rng.bit_generator.state = tr["data_rng"]
            model.history = _history_from_config(tr.get("history") or {})
            model.data = dict(tr.get("data") or {})
            model.train_seconds = tr.get("train_seconds", 0.0)
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            if isinstance(e, BoucleError):
                raise
            raise BoucleError(f"config: invalid CharModel config ({type(e).__name__}: {e})") from None
        return model

    def compile_config(self) -> dict | None:
        return None if self.optimizer is None else {"optimizer": self.optimizer.get_config()}

    def compile_from_config(self, cfg: dict) -> None:
        self.compile(cfg["optimizer"])


class _Report(Callback):
    """Prints each interval's line — ``step 250: train bpc 2.1234, val loss 1.4, val bpc 2.0`` —
    and adds the step times to the model's ``train_seconds``."""

    def __init__(self, say: Callable[[str], None], model: CharModel):
        self.say, self.owner = say, model

    def on_batch_end(self, batch, logs=None):
        self.owner.train_seconds += (logs or {}).get("time", 0.0)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        line = f"step {self.owner.step}: train bpc {logs.get('bpc', math.nan):.4f}"
        if "val_loss" in logs:
            line += f", val loss {logs['val_loss']:.4f}, val bpc {logs['val_bpc']:.4f}"
        self.say(line)


class _Every(Callback):
    """Calls ``fn(model)`` every ``every`` steps — at the interval's end when ``every`` is a multiple of
    the interval (so a sample follows that interval's line), else right after the step."""

    def __init__(self, every: int, interval: int, fn: Callable[[Any], None]):
        self.every, self.fn, self.at_epoch_end = every, fn, every % interval == 0

    def _maybe(self) -> None:
        if self.model.step % self.every == 0 and self.model.step != getattr(self, "_done", None):
            self._done = self.model.step
            self.fn(self.model)

    def on_batch_end(self, batch, logs=None):
        if not self.at_epoch_end:
            self._maybe()

    def on_epoch_end(self, epoch, logs=None):
        if self.at_epoch_end:
            self._maybe()


def _history_from_config(cfg: dict) -> History:
    """The saved lifetime history; files written before the training engine held
    ``{"step", "bpc", "val_step", "val_bpc"}`` lists, turned into the History layout here."""
    if "val_step" not in cfg:
        return History.from_config(cfg)
    step, bpc = list(cfg.get("step", [])), list(cfg.get("bpc", []))
    val = dict(zip(cfg.get("val_step", []), cfg.get("val_bpc", [])))
    hist = {"loss": [b * LN2 for b in bpc], "bpc": bpc}
    if val:
        hist["val_bpc"] = [val.get(s, math.nan) for s in step]
        hist["val_loss"] = [v * LN2 for v in hist["val_bpc"]]
    return History(hist, list(range(len(step))), step)


def _fingerprint(ids: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(ids, dtype=np.int64).tobytes()).hexdigest()[:16]
