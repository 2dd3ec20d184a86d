"""Pooling and nearest-neighbour up-sampling, forward beside backward (seed 003).

Channels-last, ``x: (B, H, W, C)``; a pooling window of size (k_h, k_w) moves with
strides (s_h, s_w); ``x̃`` is the padded input. For output position (i, j) and channel c:

    max:      y[n, i, j, c] = max_{p, q} x̃[n, s_h i + p, s_w j + q, c]                     (1)
    average:  y[n, i, j, c] = 1/|V_ij| Σ_{(p, q) ∈ V_ij} x[n, s_h i + p − top, s_w j + q − left, c]   (2)

For ``padding="same"`` (Keras/TensorFlow: ``Ho = ceil(H / s)``, the odd padding row at the
bottom/right) the max pads with −∞ and the average divides by the number V_ij of *real*
inputs in the window (padding is not counted), as Keras does. Backward passes:

    max:      dx at the first maximum of each window (row-major order, as PyTorch) += dy      (1')
    average:  dx[every real input of the window] += dy / |V_ij|                            (2')

Both loop over the k_h·k_w window offsets, each a strided slice of the whole batch
(no loop over positions). Global pooling reduces over H and W; nearest up-sampling
repeats each pixel (s_h, s_w) times and its backward sums each block:

    up-sampling:  y[n, s_h i + a, s_w j + b, c] = x[n, i, j, c],
                  dx[n, i, j, c] = Σ_{a, b} dy[n, s_h i + a, s_w j + b, c]
"""

from __future__ import annotations

import numpy as np

from .conv import pad2d, same_padding, window_view

__all__ = [
    "pool_geometry",
    "max_pool2d_forward",
    "max_pool2d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "global_max_forward",
    "global_max_backward",
    "global_avg_forward",
    "global_avg_backward",
    "upsample2d_forward",
    "upsample2d_backward",
]

_ONE = (1, 1)


def pool_geometry(n: int | None, k: int, stride: int, padding: str) -> tuple[tuple[int, int], int | None]:
    """((before, after), Ho) along one axis: ``"valid"``: Ho = floor((H − k) / s) + 1, no padding;
    ``"same"``: Ho = ceil(H / s), padding as :func:`boucle.ops.conv.same_padding`."""
    if n is None:
        return (0, 0), None
    if padding == "same":
        return same_padding(n, k, stride, 1), -(-n // stride)
    return (0, 0), (n - k) // stride + 1


def _geometry(x_shape, pool, stride, padding):
    (pt, Ho), (pl, Wo) = (pool_geometry(n, k, s, padding) for n, k, s in zip(x_shape[1:3], pool, stride))
    return (pt, pl), (Ho, Wo)


def max_pool2d_forward(x: np.ndarray, pool: tuple, stride: tuple, padding: str) -> tuple[np.ndarray, tuple]:
    """Equation (1). Returns ``y (B, Ho, Wo, C)`` and a cache holding, per output, the offset
    ``p k_w + q`` of its window's first maximum (uint8/uint16)."""
    pads, out = _geometry(x.shape, pool, stride, padding)
    xp = pad2d(x, pads, -np.inf)  # x̃, −∞ in the padding
    y = np.array(window_view(xp, 0, 0, stride, _ONE, out))  # running max, offset (0, 0)
    itype = np.uint8 if pool[0] * pool[1] < 256 else np.uint16
    arg = np.zeros(y.shape, dtype=itype)
    for k in range(1, pool[0] * pool[1]):
        v = window_view(xp, k // pool[1], k % pool[1], stride, _ONE, out)
        better = np.greater(v, y).view(np.uint8)  # strict: the first maximum wins
        np.maximum(y, v, out=y)
        arg += better * (itype(k) - arg)  # arg = k where better (modular: exact)
    return y, (arg, x.shape, xp.shape, pads, pool, stride)


def max_pool2d_backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
    """Equation (1'): each dy goes to its window's first maximum."""
    arg, x_shape, xp_shape, ((pt, _), (pl, _)), pool, stride = cache
    out = dy.shape[1:3]
    dxp = np.zeros(xp_shape, dtype=dy.dtype)
    disjoint = stride[0] >= pool[0] and stride[1] >= pool[1]  # windows do not overlap: assign
    for k in range(pool[0] * pool[1]):
        w = window_view(dxp, k // pool[1], k % pool[1], stride, _ONE, out)
        g = dy * (arg == k)
        if disjoint:
            w[...] = g
        else:
            w += g
    return dxp[:, pt : pt + x_shape[1], pl : pl + x_shape[2]]


def avg_pool2d_forward(x: np.ndarray, pool: tuple, stride: tuple, padding: str) -> tuple[np.ndarray, tuple]:
    """Equation (2): the mean over the real inputs of each window (padding not counted)."""
    pads, out = _geometry(x.shape, pool, stride, padding)
    xp = pad2d(x, pads)
    y = np.array(window_view(xp, 0, 0, stride, _ONE, out))
    for k in range(1, pool[0] * pool[1]):
        y += window_view(xp, k // pool[1], k % pool[1], stride, _ONE, out)  # Σ over the window
    if xp is x:
        count = x.dtype.type(pool[0] * pool[1])
    else:  # |V_ij|: count the real inputs
        ones = pad2d(np.ones((1, *x.shape[1:3], 1), dtype=x.dtype), pads)
        count = sum(window_view(ones, k // pool[1], k % pool[1], stride, _ONE, out) for k in range(pool[0] * pool[1]))
    y /= count
    return y, (count, x.shape, xp.shape, pads, pool, stride)


def avg_pool2d_backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
    """Equation (2'): dy / |V_ij| spread over the window."""
    count, x_shape, xp_shape, ((pt, _), (pl, _)), pool, stride = cache
    g = dy / count
    dxp = np.zeros(xp_shape, dtype=dy.dtype)
    for k in range(pool[0] * pool[1]):
        window_view(dxp, k // pool[1], k % pool[1], stride, _ONE, dy.shape[1:3])[...] += g
    return dxp[:, pt : pt + x_shape[1], pl : pl + x_shape[2]]


def global_avg_forward(x: np.ndarray) -> np.ndarray:
    """y[n, c] = mean over every spatial position of x[n, ..., c]; x: (B, *spatial, C)."""
    return x.mean(axis=tuple(range(1, x.ndim - 1)))


def global_avg_backward(dy: np.ndarray, x_shape: tuple) -> np.ndarray:
    """dx[n, ..., c] = dy[n, c] / (number of positions)."""
    n = int(np.prod(x_shape[1:-1]))
    g = dy / dy.dtype.type(n)
    return np.broadcast_to(g.reshape(x_shape[0], *([1] * (len(x_shape) - 2)), x_shape[-1]), x_shape).copy()


def global_max_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """y[n, c] = max over every spatial position; the cache keeps the first argmax."""
    flat = x.reshape(x.shape[0], -1, x.shape[-1])  # (B, P, C)
    arg = flat.argmax(axis=1)  # first maximum
    return np.take_along_axis(flat, arg[:, None], axis=1)[:, 0], (arg, x.shape)


def global_max_backward(dy: np.ndarray, cache: tuple) -> np.ndarray:
    arg, x_shape = cache
    dx = np.zeros((x_shape[0], int(np.prod(x_shape[1:-1])), x_shape[-1]), dtype=dy.dtype)
    np.put_along_axis(dx, arg[:, None], dy[:, None], axis=1)
    return dx.reshape(x_shape)


def upsample2d_forward(x: np.ndarray, size: tuple) -> np.ndarray:
    """Nearest neighbour: y[n, s_h i + a, s_w j + b, c] = x[n, i, j, c]; (B, H, W, C) -> (B, s_h H, s_w W, C)."""
    B, H, W, C = x.shape
    sh, sw = size
    return np.broadcast_to(x[:, :, None, :, None, :], (B, H, sh, W, sw, C)).reshape(B, H * sh, W * sw, C)


def upsample2d_backward(dy: np.ndarray, size: tuple) -> np.ndarray:
    """dx[n, i, j, c] = Σ_{a < s_h, b < s_w} dy[n, s_h i + a, s_w j + b, c]."""
    B, Hs, Ws, C = dy.shape
    sh, sw = size
    return dy.reshape(B, Hs // sh, sh, Ws // sw, sw, C).sum(axis=(2, 4))
