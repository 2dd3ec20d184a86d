r"""Decoding a trained encoder–decoder (:class:`~boucle.models.seq2seq.Seq2Seq`,
:class:`~boucle.models.captioner.ImageCaptioner`): greedy and beam search, batched.

Both run the decoder one step at a time through ``model.decode_step`` —
the same layers (hence the same cell equations and time loop, with T = 1) as in
training, fed back their own previous output (seed 002: "on donne la sortie au
temps t comme entrée au temps t+1") — so they work unchanged on a model
just loaded from disk (``boucle.load``): nothing is rebuilt by hand.

Greedy: ŷ_t = argmax_k log P(k | ŷ_<t, x), until END or ``max_len`` tokens.

Beam search (Sutskever et al. 2014; Wu et al. 2016 for the length normalisation),
for each source independently but all sources of a batch at once (B·K decoder rows):

    keep the K hypotheses with the highest score S(y_≤t) = Σ_{τ≤t} log P(y_τ | y_<τ, x)
    among the K·V one-token extensions of the current K;
    a hypothesis that emitted END is finished: it stays in the beam with a frozen
    score (it extends only by PAD at log-probability 0);
    stop when all K are finished or after ``max_len`` + 1 steps; return the
    hypothesis with the highest S / |y|^α  (|y| counts END; α = ``length_penalty``,
    0 = raw log-probability, 1 = mean log-probability per token).

**Guidance** (classifier-free guidance, Ho & Salimans 2022, applied to a decoder's words as in
Sanchez et al. 2023): with weight w > 0 every step scores the tokens by

    log P_w(k | y_<t, x) = log softmax_k( (1 + w) log P(k | y_<t, x) − w log P(k | y_<t, ∅) )

where ∅ is a null input (for images: the all-zero image) that the model was trained to read
now and then (``ImageCaptioner.fit(image_dropout=)``), so that P(· | y_<t, ∅) is the
decoder's own language model: the words the input supports gain over those the preceding
words alone predict. The conditional and the null rows run side by side (their states in one
list, so beam search reorders both); w = 0 is plain decoding.

PAD and START are never emitted (their log-probability is set to −∞); with
K = 1 beam search is exactly greedy decoding (the argmax extension, ties broken by
the lowest token id in both). ``max_len`` counts the target's tokens without END
(default: the model's ``max_target_len``, i.e. the longest training target); a
hypothesis with no END by then is returned as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import validators
from ..data.vocab import END, PAD, START
from ..errors import BoucleError

__all__ = [
    "greedy_decode",
    "beam_search",
    "decode",
    "decode_ids",
    "translate",
    "attention_map",
    "Guided",
    "MAX_DECODE_LEN",
    "MAX_BEAM",
]

_DEFAULT_MAX_LEN = 100
#: the longest output decoding produces (a model that never emits END stops there).
MAX_DECODE_LEN = 10_000
#: the widest beam (B·K decoder rows run at once).
MAX_BEAM = 1_000


def _check(beam_width: Any, max_len: Any, length_penalty: Any, model: Any) -> tuple[int, int, float]:
    beam_width = validators.integer(beam_width, "beam_width", minimum=1, maximum=MAX_BEAM)
    if max_len is None:
        max_len = min(model.max_target_len or _DEFAULT_MAX_LEN, MAX_DECODE_LEN)
    max_len = validators.integer(max_len, "max_len", minimum=1, maximum=MAX_DECODE_LEN)
    length_penalty = validators.real(
        length_penalty, "length_penalty", low=0.0, low_open=False, want="a finite float >= 0"
    )
    return beam_width, max_len, length_penalty


def _step(model: Any, tokens, states, memory, src_mask):
    """model.decode_step with PAD and START forbidden (log P = -inf): they are never targets."""
    logp, states, alpha = model.decode_step(tokens, states, memory, src_mask)
    logp[:, [PAD, START]] = -np.inf
    return logp, states, alpha


class Guided:
    """``model`` decoded with guidance weight ``w`` against the null input ``null`` (one prepared input,
    batch 1): :meth:`encode` and :meth:`decode_step` as the model's, the null rows' states appended to
    the conditional ones (see the module docstring)."""

    def __init__(self, model: Any, w: float, null: np.ndarray):
        self.model, self.w, self.null = model, float(w), null
        self.max_target_len = model.max_target_len
        self.prepare = model.prepare

    def encode(self, x):
        memory, mask, states, cache = self.model.encode(x)
        self._null_memory, null_mask, null_states, _ = self.model.encode(self.null)
        if null_mask is not None:  # pragma: no cover - the null input of a padded source would need its own mask
            raise BoucleError("guidance: needs an encoder without a memory mask (images)")
        self._split = len(states)
        null_states = [[np.repeat(s, len(x), axis=0) for s in layer] for layer in null_states]
        return memory, mask, states + null_states, cache

    def decode_step(self, tokens, states: list, memory, mem_mask):
        n = len(tokens)
        cond, null = states[: self._split], states[self._split :]
        logp, cond, alpha = self.model.decode_step(tokens, cond, memory, mem_mask)
        null_logp, null, _ = self.model.decode_step(tokens, null, np.repeat(self._null_memory, n, axis=0), None)
        self._split = len(cond)  # the decoder may add a state after its first step (input feeding)
        z = (1.0 + self.w) * logp - self.w * null_logp
        z -= z.max(axis=-1, keepdims=True)
        z -= np.log(np.exp(z).sum(axis=-1, keepdims=True))
        return z, cond + null, alpha


def _strip(row: np.ndarray) -> np.ndarray:
    """Tokens before the first END, PAD removed."""
    ends = np.flatnonzero(row == END)
    row = row[: ends[0]] if len(ends) else row
    return row[row != PAD]


def greedy_decode(model: Any, x: np.ndarray, max_len: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray | None]:
    """Greedy decoding of a batch of inputs ``x`` (source ids (B, T_x), images (B, H, W, C)).

    Returns the token ids of each output (without END), their log-probabilities
    (END included) and the attention weights (B, steps, S) over the S memory slots
    (None without attention).
    """
    memory, src_mask, states, _ = model.encode(x)
    B = len(x)
    tokens = np.full(B, START, dtype=np.int64)
    done = np.zeros(B, dtype=bool)
    score = np.zeros(B)
    out, alphas = [], []
    for _ in range(max_len + 1):
        logp, states, alpha = _step(model, tokens, states, memory, src_mask)
        tok = np.where(done, PAD, logp.argmax(axis=-1))  # (B,)
        score += np.where(done, 0.0, logp[np.arange(B), tok])
        out.append(tok)
        alphas.append(alpha)
        done |= tok == END
        if done.all():
            break
        tokens = tok
    seqs = np.stack(out, axis=1)  # (B, steps)
    att = None if alphas[0] is None else np.stack(alphas, axis=1)  # (B, steps, T_x)
    return [_strip(r) for r in seqs], score, att


def beam_search(
    model: Any, x: np.ndarray, beam_width: int, max_len: int, length_penalty: float = 1.0
) -> tuple[list[np.ndarray], np.ndarray]:
    """Batched beam search of a batch of inputs ``x`` (see the module docstring).

    Returns the best hypothesis of each source (ids without END) and its normalised score.
    """
    K = beam_width
    memory, src_mask, states, _ = model.encode(x)
    B = len(x)
    memory = np.repeat(memory, K, axis=0)  # (B*K, T_x, H_e)
    src_mask = None if src_mask is None else np.repeat(src_mask, K, axis=0)
    states = [[np.repeat(s, K, axis=0) for s in layer] for layer in states]
    scores = np.full((B, K), -np.inf)
    scores[:, 0] = 0.0  # one live hypothesis at first
    finished = np.zeros((B, K), dtype=bool)
    lengths = np.zeros((B, K), dtype=np.int64)
    hist = np.zeros((B, K, 0), dtype=np.int64)
    tokens = np.full(B * K, START, dtype=np.int64)
    rows = np.arange(B)[:, None] * K
    for _ in range(max_len + 1):
        logp, states, _ = _step(model, tokens, states, memory, src_mask)
        V = logp.shape[-1]
        logp = logp.reshape(B, K, V)
        frozen = np.full(V, -np.inf)
        frozen[PAD] = 0.0
        logp = np.where(finished[..., None], frozen, logp)
        cand = (scores[..., None] + logp).reshape(B, K * V)
        top = np.argsort(-cand, axis=1, kind="stable")[:, :K]  # (B, K)
        scores = np.take_along_axis(cand, top, axis=1)
        beam, tok = top // V, top % V
        flat = (rows + beam).reshape(-1)
        states = [[s[flat] for s in layer] for layer in states]
        hist = np.concatenate([np.take_along_axis(hist, beam[..., None], axis=1), tok[..., None]], axis=2)
        was = np.take_along_axis(finished, beam, axis=1)
        lengths = np.take_along_axis(lengths, beam, axis=1) + ~was
        finished = was | (tok == END) | np.isneginf(scores)  # empty slots (K > candidates) too
        tokens = tok.reshape(-1)
        if finished.all():
            break
    norm = scores / np.maximum(lengths, 1) ** length_penalty
    norm = np.where(np.isfinite(norm), norm, -np.inf)
    best = norm.argmax(axis=1)
    return [_strip(hist[b, best[b]]) for b in range(B)], norm[np.arange(B), best]


def decode(
    model: Any,
    x: Any,
    *,
    beam_width: int = 1,
    max_len: int | None = None,
    length_penalty: float = 1.0,
    batch_size: int = 256,
) -> list[np.ndarray]:
    """Output token ids (without END) for inputs ``x``: source ids (N, T_x) or texts (Seq2Seq), images
    (ImageCaptioner) — whatever ``model.inputs`` accepts.

    ``beam_width=1`` is greedy decoding; larger widths run :func:`beam_search`.
    """
    K, max_len, alpha = _check(beam_width, max_len, length_penalty, model)
    return decode_ids(model, model.inputs(x), K, max_len, alpha, batch_size)


def decode_ids(
    model: Any, x: np.ndarray, beam_width: int, max_len: int, length_penalty: float = 1.0, batch_size: int = 256
) -> list[np.ndarray]:
    """:func:`decode` for inputs already checked (no argument validation), in batches."""
    out: list[np.ndarray] = []
    for s in range(0, len(x), batch_size):
        xb = model.prepare(x[s : s + batch_size])
        out += (
            greedy_decode(model, xb, max_len)[0]
            if beam_width == 1
            else beam_search(model, xb, beam_width, max_len, length_penalty)[0]
        )
    return out


def translate(
    model: Any,
    texts: str | list[str],
    *,
    beam_width: int = 1,
    max_len: int | None = None,
    length_penalty: float = 1.0,
    unknown: str = "error",
    too_long: str = "error",
) -> str | list[str]:
    """Decode text(s) with a model that has character vocabularies: a string for a string, else a list.

    Args:
        unknown: characters outside the source vocabulary: ``"error"`` (default, names
            them) or ``"unk"`` (mapped to <unk>).
        too_long: sources longer than the model's ``max_source_len``: ``"error"`` (default)
            or ``"truncate"`` (with a warning).
    """
    if model.source_vocab is None or model.target_vocab is None:
        raise BoucleError("model: translate needs character vocabularies (the model was built with sizes only)")
    single = isinstance(texts, str)
    batch = [texts] if single else texts
    if not isinstance(batch, (list, tuple)) or not batch:
        raise BoucleError(f"texts: expected a string or a non-empty list of strings, got {type(texts).__name__}")
    _check(beam_width, max_len, length_penalty, model)
    if single:
        x = model.source_vocab.encode(
            texts, unknown=unknown, max_len=model.max_source_len, too_long=too_long, name="text"
        )[None]
    else:
        x = model.source_ids(list(batch), unknown=unknown, too_long=too_long, name="texts")
    ids = decode(model, x, beam_width=beam_width, max_len=max_len, length_penalty=length_penalty)
    out = [model.target_vocab.decode(r) for r in ids]
    return out[0] if single else out


def attention_map(
    model: Any, text: str, *, max_len: int | None = None, unknown: str = "error"
) -> tuple[str, str, np.ndarray]:
    """Greedy translation of ``text`` and its attention weights, for plotting.

    Returns ``(source, output, alpha)`` with ``alpha`` of shape (len(output) + 1, len(source)):
    row t is the distribution over source characters when emitting output character t
    (the last row: END).
    """
    if model.attn is None:
        raise BoucleError("model: attention_map needs a model built with attention=, got attention=None")
    _, max_len, _ = _check(1, max_len, 0.0, model)
    if not isinstance(text, str):
        raise BoucleError(f"text: expected a string, got {type(text).__name__}")
    x = model.source_vocab.encode(text, unknown=unknown, max_len=model.max_source_len, name="text")[None]
    ids, _, att = greedy_decode(model, x, max_len)
    out = model.target_vocab.decode(ids[0])
    return text, out, att[0, : len(ids[0]) + 1, : len(text)]
