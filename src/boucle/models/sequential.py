"""``Sequential``: a linear stack of layers with Keras's compile / fit / evaluate / predict.

It trains through the one engine (:func:`boucle.training.fit`, seed 003's mini-batch
gradient descent): the model supplies shuffled mini-batches and its loss, the engine
runs the steps, clipping, optimizer, callbacks, progress bar, history and divergence
policy. Masks produced by ``Embedding(mask_zero=True)``/``Masking`` (or passed as
``mask=``) flow through the layers into the loss, so padded steps are ignored.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend, registry
from .. import losses as losses_mod
from .. import metrics as metrics_mod
from .. import optimizers as optimizers_mod
from ..data.batching import ArrayBatches, minibatches
from ..data.vocab import Vocabulary
from ..errors import BoucleError
from ..layers.base import Layer
from ..training import Forward, History, ProgressBar, fit, train_step
from ..validators import positive_int, rate
from .base import LayerContainer, check_arrays, register_model

__all__ = ["Sequential"]


def _compatible(a: tuple, b: tuple) -> bool:
    """Same rank, and equal sizes wherever both are known (None = any)."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


@register_model
class Sequential(LayerContainer):
    """A linear stack of layers.

    >>> model = Sequential([Dense(32, activation="relu", input_shape=(784,)), Dense(10, activation="softmax")], seed=0)
    >>> model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])

    Args:
        layers: initial layers (more with :meth:`add`).
        seed: seeds the model's one ``numpy.random.Generator`` (weights, shuffling,
            dropout): the same seed gives bit-identical training.
        dtype: ``"float32"``/``"float64"`` for every layer (default: each layer's own,
            else the global ``boucle.backend.floatx()``).
        vocab: the :class:`~boucle.data.vocab.Vocabulary` of a model reading tokens (optional;
            saved and loaded with the model, e.g. a word classifier's).
    """

    def __init__(
        self,
        layers: list[Layer] | None = None,
        name: str = "sequential",
        seed: int | None = None,
        dtype: Any = None,
        vocab: Vocabulary | None = None,
    ):
        if vocab is not None and not isinstance(vocab, Vocabulary):
            raise BoucleError(f"vocab: expected a Vocabulary or None, got {type(vocab).__name__}")
        self.vocab = vocab
        self.name = name
        self.seed = seed
        self._dtype_arg = None if dtype is None else backend.resolve_dtype(dtype).name
        self.layers: list[Layer] = []
        self.built = False
        self.built_input_shape: tuple | None = None
        self.rng = backend.make_rng(seed)
        self.optimizer = None
        self.loss = None
        self.metrics: list = []
        self.stop_training = False
        self.history: History | None = None
        self.step = 0  #: optimizer steps applied over the model's life
        for layer in layers or []:
            self.add(layer)

    # -- structure --------------------------------------------------------
    def add(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise BoucleError(f"layer: expected a boucle Layer, got {type(layer).__name__}")
        if any(l.name == layer.name for l in self.layers):
            raise BoucleError(f"layer: name {layer.name!r} is already used in this model; pass name=")
        if self._dtype_arg is not None:
            layer._dtype_arg = self._dtype_arg
        if self.built:  # shapes are known: build the new layer on the previous output shape
            layer.build(self.output_shape, self.rng)
        self.layers.append(layer)
        if not self.built and len(self.layers) == 1 and layer.input_shape is not None:
            self.build(layer.input_shape)

    def build(self, input_shape: tuple, rng: Any = None) -> None:
        """Build every layer for inputs ``(batch, *input_shape)``, in order, from the model's generator
        (or from ``rng``, a seed or Generator, when given)."""
        if rng is not None:
            self.rng = backend.make_rng(rng)
        if not self.layers:
            raise BoucleError("Sequential: add at least one layer before building")
        self.built_input_shape = tuple(input_shape)
        shape = self.built_input_shape
        for layer in self.layers:
            if not (layer.built and _compatible(layer.built_input_shape, shape)):  # keep weights already set
                layer.build(shape, self.rng)
            shape = layer.compute_output_shape(shape)
        self.built = True

    @property
    def output_shape(self) -> tuple:
        """The output shape without the batch axis (the model must be built)."""
        shape = self.built_input_shape
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return shape

    @property
    def dtype(self) -> np.dtype:
        return self.layers[0].dtype if self.layers else backend.floatx()

    @dtype.setter
    def dtype(self, value) -> None:
        for layer in self.layers:
            layer.dtype = np.dtype(value)

    # -- computation -------------------------------------------------------
    def _ensure_built(self, x) -> None:
        if not self.built:
            self.build(np.shape(x)[1:])
            return
        want, got = self.built_input_shape, np.shape(x)[1:]
        if not _compatible(want, got):
            raise BoucleError(
                f"x: expected shape (batch, {', '.join('None' if w is None else str(w) for w in want)}), "
                f"got {np.shape(x)}"
            )

    def forward(self, x, mask=None, training: bool = False):
        """Run every layer. Returns ``(y, cache)``; ``cache[-1]`` is the output mask."""
        caches = []
        for layer in self.layers:
            out_mask = layer.compute_mask(x, mask)
            x, cache = layer.forward(x, mask=mask, training=training)
            caches.append(cache)
            mask = out_mask
        return x, (caches, mask)

    def backward(self, dy, cache):
        caches, _ = cache
        for layer, c in zip(reversed(self.layers), reversed(caches)):
            dy = layer.backward(dy, c)
        return dy

    def __call__(self, x, mask=None, training: bool = False):
        self._ensure_built(x)
        return self.forward(x, mask=mask, training=training)[0]

    # -- training ----------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: list | None = None) -> None:
        """Choose the optimizer, the loss and the metrics (names or instances)."""
        if loss is None:
            raise BoucleError("loss: expected a loss name or instance, got None")
        self.optimizer = optimizers_mod.get(optimizer)
        self.loss = losses_mod.get(loss)
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise BoucleError(f"metrics: expected a list of names/callables, got {type(metrics).__name__}")
        self.metrics = [metrics_mod.get(m, loss=self.loss) for m in (metrics or [])]

    def _require_compiled(self) -> None:
        if self.loss is None or self.optimizer is None:
            raise BoucleError("model: call compile(optimizer, loss, metrics) before training or evaluating")

    def train_on_batch(self, x, y, mask=None) -> dict[str, float]:
        """One gradient step on one batch (under the engine's divergence policy: a non-finite
        loss or gradient is not applied); returns the batch's loss (and metrics)."""
        self._require_compiled()
        x, y, mask = check_arrays(x, y, mask, require_y=True)
        self._ensure_built(x)
        for m in self.metrics:
            m.reset()
        r = train_step(self, (x, y, mask))
        return {"loss": r.loss, **{m.name: m.result() for m in self.metrics}}

    # -- the engine's model protocol (boucle.training.engine) --------------
    def train_forward(self, batch) -> Forward:
        x, y, mask = batch
        y_pred, cache = self.forward(x, mask=mask, training=True)
        loss, dy = self.loss.forward_backward(y, y_pred, mask=cache[-1])
        return Forward(loss, (cache, dy, y_pred), size=len(x))

    def train_backward(self, cache) -> None:
        fcache, dy, _ = cache
        self.backward(dy, fcache)

    def train_commit(self, batch, cache) -> None:
        _, y, _ = batch
        fcache, _, y_pred = cache
        for m in self.metrics:
            m.update(y, y_pred, mask=fcache[-1])

    def fit(
        self,
        x,
        y,
        batch_size: int = 32,
        epochs: int = 1,
        verbose: int = 1,
        callbacks: list | None = None,
        validation_split: float = 0.0,
        validation_data: tuple | None = None,
        shuffle: bool = True,
        mask=None,
        initial_epoch: int = 0,
    ) -> History:
        """Train for ``epochs`` passes over ``(x, y)`` in mini-batches (seed 003).

        Args:
            mask: optional ``(N, T)`` input mask for padded sequences (1 = valid).
            validation_split: fraction of the *last* samples held out (before shuffling, as Keras).
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, mask_val)``.
            verbose: 0 silent, 1 progress bar, 2 one line per epoch.
        Returns:
            a :class:`~boucle.training.History` (also kept as ``model.history``); its
            ``stopped_reason`` says why training stopped early on divergence.
        """
        self._require_compiled()
        x, y, mask = check_arrays(x, y, mask, require_y=True)
        batch_size = positive_int(batch_size, "batch_size")
        epochs = positive_int(epochs, "epochs")
        validation_split = rate(validation_split, "validation_split")
        if validation_data is None and validation_split > 0:
            n_val = int(round(len(x) * validation_split))
            if n_val == 0 or n_val == len(x):
                raise BoucleError(f"validation_split: {validation_split} of {len(x)} samples leaves an empty split")
            validation_data = (x[-n_val:], y[-n_val:]) + ((mask[-n_val:],) if mask is not None else ())
            x, y = x[:-n_val], y[:-n_val]
            mask = mask[:-n_val] if mask is not None else None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise BoucleError("validation_data: expected (x_val, y_val) or (x_val, y_val, mask_val)")
            validation_data = check_arrays(
                *validation_data[:2], *validation_data[2:], name_x="x_val", name_y="y_val", require_y=True
            )
        self._ensure_built(x)

        def epoch_batches(epoch: int) -> ArrayBatches:
            return ArrayBatches((x, y, mask), batch_size, self.rng.permutation(len(x)) if shuffle else None)

        def validate() -> dict:
            return self.evaluate(*validation_data[:2], mask=validation_data[2], batch_size=batch_size)

        return fit(
            self,
            epoch_batches,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            verbose=verbose,
            validate=None if validation_data is None else validate,
        )

    def evaluate(self, x, y, batch_size: int = 32, mask=None, verbose: int = 0) -> dict[str, float]:
        """Loss and metrics over a dataset, without training: ``{"loss": ..., "accuracy": ...}``."""
        self._require_compiled()
        x, y, mask = check_arrays(x, y, mask, require_y=True)
        batch_size = positive_int(batch_size, "batch_size")
        self._ensure_built(x)
        for m in self.metrics:
            m.reset()
        total, weight = 0.0, 0
        source = ArrayBatches((x, y, mask), batch_size)
        bar = ProgressBar(desc="Evaluate", per_epoch=False, total=len(source)) if verbose == 1 else None
        if bar is not None:
            bar.on_train_begin()
        for xb, yb, mb in source:
            y_pred, cache = self.forward(xb, mask=mb)
            total += self.loss(yb, y_pred, mask=cache[-1]) * len(xb)
            weight += len(xb)
            for m in self.metrics:
                m.update(yb, y_pred, mask=cache[-1])
            if bar is not None:
                bar.on_batch_end(0, {"loss": total / weight})
        logs = {"loss": total / weight, **{m.name: m.result() for m in self.metrics}}
        if bar is not None:
            bar.on_train_end(logs)
        return logs

    def predict(self, x, batch_size: int = 32, mask=None, verbose: int = 0) -> np.ndarray:
        """Outputs for every sample, computed in batches (inference mode)."""
        x, _, mask = check_arrays(x, None, mask)
        batch_size = positive_int(batch_size, "batch_size")
        self._ensure_built(x)
        outs = [
            self.forward(x[idx], mask=None if mask is None else mask[idx])[0] for idx in minibatches(len(x), batch_size)
        ]
        return np.concatenate(outs, axis=0)

    # -- description -------------------------------------------------------
    def summary(self, print_fn=print) -> str:
        """Print (and return) a table: layer, output shape, parameter count, total."""
        if not self.built:
            raise BoucleError("summary: the model is not built; give the first layer input_shape= or call build()")
        rows, shape = [], self.built_input_shape
        for l in self.layers:
            shape = l.compute_output_shape(shape)
            rows.append((f"{l.name} ({type(l).__name__})", str((None, *shape)), f"{l.count_params():,}"))
        w0 = max(len("Layer (type)"), *(len(r[0]) for r in rows)) + 2
        w1 = max(len("Output Shape"), *(len(r[1]) for r in rows)) + 2
        line = "=" * (w0 + w1 + 12)
        out = [f'Model: "{self.name}"', line, f"{'Layer (type)':<{w0}}{'Output Shape':<{w1}}{'Param #':>10}", line]
        out += [f"{a:<{w0}}{b:<{w1}}{c:>10}" for a, b, c in rows]
        trainable = sum(l.count_trainable_params() for l in self.layers)
        out += [
            line,
            f"Total params: {self.count_params():,}",
            f"Trainable params: {trainable:,}",
            f"Non-trainable params: {self.count_params() - trainable:,}",
            line,
        ]
        text = "\n".join(out)
        if print_fn is not None:
            print_fn(text)
        return text

    # -- configuration -----------------------------------------------------
    def get_config(self) -> dict:
        cfg: dict[str, Any] = {
            "name": self.name,
            "seed": self.seed,
            "layers": [{"class_name": type(l).__name__, "config": l.get_config()} for l in self.layers],
            "input_shape": None if self.built_input_shape is None else list(self.built_input_shape),
        }
        if self._dtype_arg is not None:
            cfg["dtype"] = self._dtype_arg
        if self.vocab is not None:
            cfg["vocab"] = self.vocab.get_config()
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> Sequential:
        if not isinstance(config, dict):
            raise BoucleError(f"config: expected a dict, got {type(config).__name__}")
        known = {"name", "seed", "layers", "input_shape", "dtype", "vocab"}
        unknown = sorted(str(k) for k in set(config) - known)
        if unknown:
            raise BoucleError(f"config: unknown Sequential key(s) {unknown[:5]}, expected among {sorted(known)}")
        if not isinstance(config.get("layers", []), list) or not isinstance(
            config.get("input_shape"), (list, type(None))
        ):
            raise BoucleError("config: expected 'layers' a list and 'input_shape' a list or null")
        layers = [registry.deserialize("layer", spec, what="layers") for spec in config.get("layers", [])]
        vocab = None if config.get("vocab") is None else Vocabulary.from_config(config["vocab"])
        model = cls(
            name=config.get("name", "sequential"), seed=config.get("seed"), dtype=config.get("dtype"), vocab=vocab
        )
        for l in layers:
            model.add(l)
        if not model.built and config.get("input_shape") is not None:
            model.build(tuple(config["input_shape"]))
        return model

    def compile_config(self) -> dict | None:
        """JSON-able description of ``compile`` (for model files); custom metric callables are left out."""
        if self.loss is None or self.optimizer is None:
            return None
        return {
            "optimizer": self.optimizer.get_config(),
            "loss": self.loss.get_config(),
            "metrics": [m.name for m in self.metrics if not isinstance(m, metrics_mod.MeanFunction)],
        }

    def compile_from_config(self, cfg: dict) -> None:
        if not isinstance(cfg, dict) or "optimizer" not in cfg or "loss" not in cfg:
            raise BoucleError(
                f"compile config: expected {{'optimizer': ..., 'loss': ..., 'metrics': [...]}}, got {str(cfg)[:60]}"
            )
        self.compile(optimizer=cfg["optimizer"], loss=cfg["loss"], metrics=cfg.get("metrics") or None)
