"""Convolutions, forward beside backward (seed 003, "Réseaux de neurones convolutifs").

The course's neuron, a = b + Σ w·x, applied to every receptive field of an image:
for an output position (i, j) and a filter o,

    a[n, i, j, o] = b[o] + Σ_{p, q, c} W[p, q, c, o] · x̃[n, s_h i + d_h p, s_w j + d_w q, c]     (1)

with x̃ the input padded with zeros, s the strides, d the dilation rates. Like Keras
and PyTorch this is a cross-correlation (no kernel flip). Layout is channels-last:
``x: (B, H, W, C)``, ``W: (kh, kw, C, O)`` (Keras's kernel layout), ``a: (B, Ho, Wo, O)``.

**One matrix product per layer (im2col).** Gather every receptive field as one row,

    X_col[(n, i, j), (p, q, c)] = x̃[n, s_h i + d_h p, s_w j + d_w q, c]        (N = B·Ho·Wo rows, K = kh·kw·C)

then (1) is a single GEMM, ``A = X_col W_mat + b`` with ``W_mat = W.reshape(K, O)`` —
run by BLAS. The backward pass is two more GEMMs and the scatter that undoes the gather:

    dW_mat = X_colᵀ dA        db = Σ_rows dA        dX_col = dA W_matᵀ
    dx̃[n, s_h i + d_h p, s_w j + d_w q, c] += dX_col[(n, i, j), (p, q, c)]        (col2im)

col2im is kh·kw strided slice additions (one per kernel offset), so no Python loop
runs over positions. For stride 1 the same dx̃ is computed as a gather instead — the
classic dx̃ = dA ⋆ rot180(W), an im2col of the zero-padded dA and one more GEMM
(:func:`full_correlation`): it does more multiply-adds (over the padded input) but no
scatter, and is the faster of the two for few channels (1 < C < 16) or one filter.
A transposed convolution (``Conv2DTranspose``) is the same pair
read the other way: its forward pass is the backward-to-input pass of (1) (a GEMM then
col2im), its backward pass is (1) itself (im2col then GEMMs).

Padding (per spatial axis, as in Keras/TensorFlow): ``"valid"`` adds nothing;
``"same"`` gives ``Ho = ceil(H / s)`` with a total padding ``max((Ho - 1) s + d (k - 1) + 1 - H, 0)``
split ``before = total // 2``, ``after = total - before`` (the extra row at the bottom/right,
as TensorFlow does). Explicit ``(before, after)`` pairs express PyTorch's symmetric padding.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = [
    "conv_output_length",
    "same_padding",
    "resolve_padding",
    "pad2d",
    "window_view",
    "im2col",
    "col2im",
    "offset_major_product",
    "full_correlation",
    "dx_by_gather",
    "conv2d_forward",
    "conv2d_backward",
    "conv1d_forward",
    "conv1d_backward",
    "conv_transpose_geometry",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
]


def conv_output_length(n: int | None, k: int, stride: int, dilation: int, pad: tuple[int, int]) -> int | None:
    """Ho = floor((H + before + after − d (k − 1) − 1) / s) + 1 (None stays None)."""
    if n is None:
        return None
    return (n + pad[0] + pad[1] - dilation * (k - 1) - 1) // stride + 1


def same_padding(n: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """Keras/TensorFlow ``padding="same"``: (before, after) with the odd row after."""
    out = -(-n // stride)
    total = max((out - 1) * stride + dilation * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def resolve_padding(padding, spatial: tuple, kernel: tuple, strides: tuple, dilation: tuple) -> tuple:
    """Per-axis ``(before, after)`` for ``"valid"``, ``"same"``, ``"causal"`` (1-D: d (k − 1) before)
    or explicit pairs. ``"same"`` needs the input size; an unknown size (None) gives (None, None)."""
    if padding == "valid":
        return tuple((0, 0) for _ in kernel)
    if padding == "causal":
        return tuple((0, 0) for _ in kernel[:-1]) + ((dilation[-1] * (kernel[-1] - 1), 0),)
    if padding == "same":
        return tuple(
            (None, None) if n is None else same_padding(n, k, s, d)
            for n, k, s, d in zip(spatial, kernel, strides, dilation)
        )
    return tuple(tuple(p) for p in padding)


def pad2d(x: np.ndarray, pads: tuple, value: float = 0.0) -> np.ndarray:
    """x̃: ``x (B, H, W, C)`` with ``pads = ((top, bottom), (left, right))`` rows/columns of ``value``."""
    (t, b), (l, r) = pads
    if t == b == l == r == 0:
        return x
    B, H, W, C = x.shape
    xp = np.full((B, H + t + b, W + l + r, C), value, dtype=x.dtype)
    xp[:, t : t + H, l : l + W] = x
    return xp


def window_view(a: np.ndarray, p: int, q: int, stride: tuple, dilation: tuple, out: tuple) -> np.ndarray:
    """The view ``a[:, s_h i + d_h p, s_w j + d_w q, :]`` over all (i, j) < out: kernel offset (p, q)."""
    r0, c0 = p * dilation[0], q * dilation[1]
    return a[:, r0 : r0 + stride[0] * (out[0] - 1) + 1 : stride[0], c0 : c0 + stride[1] * (out[1] - 1) + 1 : stride[1]]


def im2col(xp: np.ndarray, kernel: tuple, stride: tuple, dilation: tuple, out: tuple) -> np.ndarray:
    """X_col (B·Ho·Wo, kh·kw·C): row (n, i, j) is the receptive field of output (i, j), in (p, q, c) order.

    ``xp``: the padded input (B, Hp, Wp, C). With few channels the gather runs as kh·kw
    slice copies (each contiguous in the destination); otherwise as one strided view
    copied in one call (faster when each receptive-field row is long).
    """
    B, _, _, C = xp.shape
    (kh, kw), (Ho, Wo) = kernel, out
    if C < 8:
        cols = np.empty((B, Ho, Wo, kh, kw, C), dtype=xp.dtype)
        for p in range(kh):
            for q in range(kw):
                cols[:, :, :, p, q, :] = window_view(xp, p, q, stride, dilation, out)
        return cols.reshape(B * Ho * Wo, kh * kw * C)
    sB, sH, sW, sC = xp.strides
    view = as_strided(
        xp,
        (B, Ho, Wo, kh, kw, C),
        (sB, stride[0] * sH, stride[1] * sW, dilation[0] * sH, dilation[1] * sW, sC),
        writeable=False,
    )
    return view.reshape(B * Ho * Wo, kh * kw * C)  # the copy: one call


def col2im(
    parts: np.ndarray, padded_shape: tuple, kernel: tuple, stride: tuple, dilation: tuple, out: tuple
) -> np.ndarray:
    """The adjoint of :func:`im2col`: dx̃[n, s_h i + d_h p, s_w j + d_w q, c] += parts[(p, q), (n, i, j), c].

    ``parts`` holds the columns offset-major, ``(kh·kw, B·Ho·Wo, C)``: the block of kernel
    offset (p, q) is contiguous, so each of the kh·kw strided additions into the padded
    array ``(B, Hp, Wp, C)`` runs over whole image rows (j, c) rather than C values at a time.
    """
    B, _, _, C = padded_shape
    (kh, kw), (Ho, Wo) = kernel, out
    dxp = np.zeros(padded_shape, dtype=parts.dtype)
    for k in range(kh * kw):
        window_view(dxp, k // kw, k % kw, stride, dilation, out)[...] += parts[k].reshape(B, Ho, Wo, C)
    return dxp


def offset_major_product(a: np.ndarray, W_kkio: np.ndarray) -> np.ndarray:
    """``parts[k] = a @ W_kkio[k]ᵀ``: a (N, O), W_kkio (kh·kw, I, O) -> (kh·kw, N, I), the
    product dX_col = a W_matᵀ laid out for :func:`col2im`. One GEMM when I = 1 (W_mat a ᵀ),
    outer products when O = 1, else one batched matmul (kh·kw GEMMs in one call)."""
    K, I, O = W_kkio.shape
    if I == 1:
        return W_kkio.reshape(K, O) @ a.T  # (kh·kw, N)
    if O == 1:  # rank one: outer products
        return a[None] * W_kkio.reshape(K, 1, I)  # (kh·kw, N, I)
    return np.matmul(a, W_kkio.transpose(0, 2, 1))  # (kh·kw, N, I)


def dx_by_gather(stride: tuple, C: int, O: int) -> bool:
    """Whether :func:`conv2d_backward` computes dx̃ by :func:`full_correlation` (stride 1, few
    input channels or one filter) rather than by :func:`col2im` (measured: bench/conv.py)."""
    return tuple(stride) == (1, 1) and 1 < C and (C < 16 or O == 1)


def full_correlation(da: np.ndarray, W: np.ndarray, dilation: tuple, xp_shape: tuple) -> np.ndarray:
    """dx̃ for stride 1 as a gather, equal to col2im(dA W_matᵀ):

        dx̃[n, r, u, c] = Σ_{p,q,o} dA[n, r − d_h p, u − d_w q, o] W[p, q, c, o]
                       = Σ_{p',q',o} dA_pad[n, r + d_h p', u + d_w q', o] W[kh−1−p', kw−1−q', c, o]

    (dA padded with d (k − 1) zeros on every side): the "full" correlation of dA with the
    kernel turned by 180° and its channel axes swapped — :func:`im2col` and one GEMM, with no
    scatter. ``da (B, Ho, Wo, O)`` -> ``(B, Hp, Wp, C)``.
    """
    kh, kw, C, O = W.shape
    B, Hp, Wp, _ = xp_shape
    qh, qw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
    dap = pad2d(da, ((qh, qh), (qw, qw)))  # dA_pad
    cols = im2col(dap, (kh, kw), (1, 1), dilation, (Hp, Wp))  # (B·Hp·Wp, kh·kw·O)
    Wf = W[::-1, ::-1].transpose(0, 1, 3, 2).reshape(kh * kw * O, C)  # rot180(W), (o, c) swapped
    return (cols @ Wf).reshape(B, Hp, Wp, C)


def conv2d_forward(
    x: np.ndarray, W: np.ndarray, b: np.ndarray | None, stride: tuple, dilation: tuple, pads: tuple
) -> tuple[np.ndarray, tuple]:
    """Equation (1): a = b + Σ_{p,q,c} W[p,q,c,:] · x̃[s i + d p, s j + d q, c], as A = X_col W_mat + b.

    x: (B, H, W, C), W: (kh, kw, C, O), b: (O,) or None, ``pads`` ((top, bottom), (left, right)).
    Returns ``a (B, Ho, Wo, O)`` and the cache for :func:`conv2d_backward`.
    """
    kh, kw, C, O = W.shape
    B, H, Wd, _ = x.shape
    Ho = conv_output_length(H, kh, stride[0], dilation[0], pads[0])
    Wo = conv_output_length(Wd, kw, stride[1], dilation[1], pads[1])
    xp = pad2d(x, pads)  # x̃
    cols = im2col(xp, (kh, kw), stride, dilation, (Ho, Wo))  # X_col (N, K)
    a = cols @ W.reshape(kh * kw * C, O)  # A = X_col W_mat
    if b is not None:
        a += b  # + b
    return a.reshape(B, Ho, Wo, O), (cols, x.shape, xp.shape, pads, stride, dilation)


def conv2d_backward(
    da: np.ndarray, cache: tuple, W: np.ndarray, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of (1): dW_mat = X_colᵀ dA, db = Σ dA, dx = col2im(dA W_matᵀ) cropped to x.

    Returns ``(dx (B, H, W, C) or None, dW (kh, kw, C, O), db (O,))``.
    """
    cols, x_shape, xp_shape, pads, stride, dilation = cache
    kh, kw, C, O = W.shape
    B, Ho, Wo, _ = da.shape
    da2 = da.reshape(B * Ho * Wo, O)  # dA (N, O)
    dW = (cols.T @ da2).reshape(W.shape)  # dW_mat = X_colᵀ dA
    db = np.ones(len(da2), dtype=da2.dtype) @ da2  # db = Σ_rows dA (a GEMV)
    if not need_dx:
        return None, dW, db
    if dx_by_gather(stride, C, O):  # gather: dx̃ = dA ⋆ rot180(W)
        dxp = full_correlation(da, W, dilation, xp_shape)
    else:
        parts = offset_major_product(da2, W.reshape(kh * kw, C, O))  # dX_col = dA W_matᵀ
        dxp = col2im(parts, xp_shape, (kh, kw), stride, dilation, (Ho, Wo))  # scatter back onto x̃
    (t, _), (l, _) = pads
    return dxp[:, t : t + x_shape[1], l : l + x_shape[2]], dW, db  # drop the padding


def conv1d_forward(
    x: np.ndarray, W: np.ndarray, b: np.ndarray | None, stride: int, dilation: int, pad: tuple[int, int]
) -> tuple[np.ndarray, tuple]:
    """1-D form of (1) over time: a[n, t, o] = b[o] + Σ_{p,c} W[p,c,o] x̃[n, s t + d p, c].

    x: (B, T, C), W: (k, C, O) -> a (B, To, O); computed as (1) on a height-1 image.
    """
    a, cache = conv2d_forward(x[:, None], W[None], b, (1, stride), (1, dilation), ((0, 0), tuple(pad)))
    return a[:, 0], cache


def conv1d_backward(da: np.ndarray, cache: tuple, W: np.ndarray, need_dx: bool = True):
    """Gradients of :func:`conv1d_forward`: ``(dx (B, T, C) or None, dW (k, C, O), db)``."""
    dx, dW, db = conv2d_backward(da[:, None], cache, W[None], need_dx)
    return (None if dx is None else dx[:, 0]), dW[0], db


def conv_transpose_geometry(
    n: int | None, k: int, stride: int, dilation: int, padding, output_padding: int | None
) -> tuple[int, int | None]:
    """(crop, output length) of a transposed convolution along one axis.

    The full result ("canvas") of scattering each input position's kernel has
    ``(n − 1) s + d (k − 1) + 1`` rows; the output is rows ``[crop, crop + out)`` of it
    (rows past the canvas are zero). ``padding`` is ``"valid"``, ``"same"`` (Keras 3's
    rule, keras/src/backend/common/backend_utils.py) or an int p (PyTorch's
    ``ConvTranspose`` padding: crop p, out = (n − 1) s − 2p + d (k − 1) + 1 + output_padding).
    """
    kd = dilation * (k - 1) + 1
    if padding == "valid":
        op = max(kd, stride) - kd if output_padding is None else output_padding
        return 0, None if n is None else (n - 1) * stride + kd + op
    if padding == "same":
        if output_padding is None:
            pad_len = stride + kd - 2
            out = None if n is None else n * stride
        else:
            pad_len = kd + kd % 2 - 2 + output_padding
            out = None if n is None else (n - 1) * stride + kd % 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, kd - 1)
        return kd - 1 - left, out
    p, op = int(padding), output_padding or 0
    return p, None if n is None else (n - 1) * stride - 2 * p + kd + op


def conv_transpose2d_forward(
    x: np.ndarray, W: np.ndarray, b: np.ndarray | None, stride: tuple, dilation: tuple, crop: tuple, out: tuple
) -> tuple[np.ndarray, tuple]:
    """y[n, s i + d p − crop, s j + d q − crop', o] += Σ_c x[n, i, j, c] W[p, q, o, c], then + b.

    The adjoint of (1) with respect to its input: one GEMM ``Y_col = X W_matᵀ``
    (``W_mat = W.reshape(kh·kw·O, C)``) and a col2im onto the canvas, cropped to ``out``.
    x: (B, H, W, C), W: (kh, kw, O, C) (Keras's ``Conv2DTranspose`` kernel layout),
    ``crop``/``out``: per-axis (see :func:`conv_transpose_geometry`). Returns y (B, Ho, Wo, O).
    """
    kh, kw, O, C = W.shape
    B, H, Wd, _ = x.shape
    Hc = max((H - 1) * stride[0] + dilation[0] * (kh - 1) + 1, crop[0] + out[0])
    Wc = max((Wd - 1) * stride[1] + dilation[1] * (kw - 1) + 1, crop[1] + out[1])
    x2 = x.reshape(B * H * Wd, C)
    parts = offset_major_product(x2, W.reshape(kh * kw, O, C))  # Y_col = X W_matᵀ
    canvas = col2im(parts, (B, Hc, Wc, O), (kh, kw), stride, dilation, (H, Wd))
    y = canvas[:, crop[0] : crop[0] + out[0], crop[1] : crop[1] + out[1]]
    y = y + b if b is not None else np.ascontiguousarray(y)
    return y, (x2, x.shape, (B, Hc, Wc, O), crop, stride, dilation)


def conv_transpose2d_backward(
    dy: np.ndarray, cache: tuple, W: np.ndarray, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv_transpose2d_forward`: im2col of dy on the canvas (equation (1)),
    then dx = dY_col W_mat, dW_mat = dY_colᵀ X, db = Σ dy."""
    x2, x_shape, canvas_shape, crop, stride, dilation = cache
    kh, kw, O, C = W.shape
    B, H, Wd, _ = x_shape
    dcanvas = np.zeros(canvas_shape, dtype=dy.dtype)
    dcanvas[:, crop[0] : crop[0] + dy.shape[1], crop[1] : crop[1] + dy.shape[2]] = dy
    dcols = im2col(dcanvas, (kh, kw), stride, dilation, (H, Wd))  # dY_col (N, kh·kw·O)
    dW = (dcols.T @ x2).reshape(W.shape)  # dW_mat = dY_colᵀ X
    dy2 = dy.reshape(-1, O)
    db = np.ones(len(dy2), dtype=dy.dtype) @ dy2
    dx = (dcols @ W.reshape(kh * kw * O, C)).reshape(x_shape) if need_dx else None  # dX = dY_col W_mat
    return dx, dW, db
