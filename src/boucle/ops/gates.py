"""Gate blocks: the memory layout and block arithmetic shared by the cells of :mod:`boucle.ops.cells`.

Gate blocks follow the course's order — LSTM ``i, f, o, g``, GRU ``z, r, g``,
simplified GRU ``z, g`` — and are **gate-major** inside the loop: ``a[k]`` is block k,
a (B, H) view, so ``i, f, o, g = a``. The arrays behind these views keep each row's
blocks side by side, (B, G*H) — the layout of ``h_{t-1} W`` and of ``x U + b`` as the
layers compute it (T*B, G*H) — so the recurrent product stays ONE GEMM
(B, H) x (H, G*H) whose result takes xu_t in place, and an operation over several
blocks is one NumPy call (one tanh covers i, f, o and g: :func:`gates_`). In the
backward pass ``Σ_k dA_k W_k^T`` is one GEMM too, on a contiguous W^T kept for the
duration of one backward pass (``p.memo``, see :func:`boucle.ops.scan.backward`).

Row-vector convention (``x @ U``), B = batch, H = units, G = number of gate blocks;
``p`` is a :class:`boucle.ops.cells.LoopParams` (``W``, ``rec_mask``, ``memo``).
"""

from __future__ import annotations

from .. import backend

__all__ = [
    "by_gate",
    "from_gates",
    "gate_buffer",
    "gates_",
    "gates_backward_",
    "recurrent_input",
    "recurrent_input_backward",
    "preactivation",
    "transposed",
    "rec_backward",
    "gemm_rows",
    "dW_single",
]


def by_gate(M, G: int):
    """(K, G*H) -> (G, K, H) view: block k is M[:, kH:(k+1)H] (no copy)."""
    return M.reshape(M.shape[0], G, -1).transpose(1, 0, 2)


def from_gates(Mg):
    """(G, K, H) -> (K, G*H): the inverse of :func:`by_gate` (a copy)."""
    return Mg.transpose(1, 0, 2).reshape(Mg.shape[1], -1)


def gate_buffer(G: int, B: int, H: int, dtype):
    """A new (G, B, H) gate-major view of (B, G*H) row-major memory (see the module doc)."""
    return backend.xp().empty((B, G, H), dtype=dtype).transpose(1, 0, 2)


def gates_(a, n_sigmoid: int):
    """In place: σ on the first ``n_sigmoid`` blocks of a (G, B, H), tanh on the others.

    σ(a) = 1/2 + 1/2 tanh(a/2) (as :func:`activations.sigmoid_`), so that ONE tanh call
    covers every block: halve the σ blocks, tanh all, then map them to 1/2 + t/2.
    """
    s = a[:n_sigmoid]
    s *= 0.5
    backend.xp().tanh(a, out=a)
    s *= 0.5
    s += 0.5
    return a


def gates_backward_(da, a, n_sigmoid: int):
    """In place: da ⊙= σ'(a) = y (1 - y) on the first blocks, ⊙= tanh'(a) = (1 - y)(1 + y) on
    the others, with y the block's output ``a`` (one pass over all blocks: (1 - y)(y + [tanh]))."""
    da *= 1.0 - a
    if n_sigmoid == a.shape[0]:
        da *= a
    else:
        y_or_1py = a.copy()
        y_or_1py[n_sigmoid:] += 1.0
        da *= y_or_1py
    return da


def recurrent_input(p, h):
    """h_{t-1} as it enters the recurrent product: h ⊙ m with recurrent dropout, else h."""
    m = p.rec_mask
    return h if m is None else h * m


def recurrent_input_backward(p, dhin):
    m = p.rec_mask
    if m is not None:
        dhin *= m
    return dhin


def preactivation(xu_t, hin, W):
    """a_k = xu_t[k] + hin W_k for each gate block k, gate-major (G', B, H).

    One GEMM (B, H) x (H, G'*H) whose (B, G'*H) result, read gate-major, takes xu_t in place.
    """
    B, H = hin.shape
    a = (hin @ W).reshape(B, W.shape[1] // H, H).transpose(1, 0, 2)  # (G', B, H) view of (B, G'*H)
    a += xu_t
    return a


def transposed(p, cols: slice = slice(None)):
    """W[:, cols]^T as a C-contiguous array, memoised in ``p.memo`` when present.

    ``dA W^T`` is ~1.2-2x faster with a contiguous W^T; :func:`boucle.ops.scan.backward`
    gives each call its own ``memo``, so the copy is made once per backward pass and
    never outlives it (no stale copy after an optimizer step).
    """
    xp = backend.xp()
    memo = p.memo
    if memo is None:
        return p.W[:, cols].T
    name = ("W", cols.start, cols.stop)
    if name not in memo:
        memo[name] = xp.ascontiguousarray(p.W[:, cols].T)
    return memo[name]


def rec_backward(p, da, cols: slice = slice(None)):
    """d hin = Σ_k dA_k W_k^T for dA (G', B, H) gate-major and W[:, cols] (H, G'*H): one GEMM."""
    G, B, H = da.shape
    return da.transpose(1, 0, 2).reshape(B, G * H) @ transposed(p, cols)


def gemm_rows(a):
    """(T, G, B, H) gradient -> (T*B, G*H): each step's gate blocks side by side, as GEMM rows.

    No copy when ``a`` is laid out (T, B, G*H) in memory, as the recurrent layers do it."""
    T, G, B, H = a.shape
    return a.transpose(0, 2, 1, 3).reshape(T * B, G * H)


def dW_single(p, dxu, factors):
    """dW = Σ_t hin_t^T dA_t: ONE GEMM (H, T*B) x (T*B, G*H); factors = (hin (T, B, H),)."""
    (hin,) = factors
    return {"W": hin.reshape(-1, hin.shape[-1]).T @ gemm_rows(dxu)}
