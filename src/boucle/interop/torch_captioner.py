"""An :class:`~boucle.models.captioner.ImageCaptioner`'s PyTorch twin: the same network, the same weights.

``captioner_to_torch(model)`` returns a ``torch.nn.Module`` whose ``forward(images, dec_in)``
(images (B, H, W, C) channels-last, decoder inputs (B, T)) gives the logits (B, T, V) of the
teacher-forced pass, and ``loss(images, y)`` the masked mean cross-entropy of right-padded
targets — as ``model.forward`` / ``model.train_forward`` compute them:

- each block ``Conv2d(padding=k//2)`` → ReLU → ``MaxPool2d(pool, ceil_mode=True)`` (none for pool 1; Keras's "same"
  for odd kernels and stride-1 convolutions; the pool's missing row/column is ignored, as
  Keras pads it with −∞); kernels (kh, kw, C, O) → (O, C, kh, kw);
- the feature map back in channels-last order, so that vec(F), the memory slots p = i·W′ + j
  and their coordinates are boucle's; ``Linear`` bridges (W → Wᵀ);
- the decoder's ``nn.LSTM`` / ``nn.GRU`` from :func:`boucle.interop.torch.to_torch`, run over
  all T steps (the targets are right-padded: the valid steps never see the padded ones, and
  the loss masks the rest), attention written out (Luong's dot / general, Bahdanau's additive);
  with input feeding, one step at a time, h̃_{t−1} concatenated to the step's input.

Used by the parity test (float64, every gradient) and by ``bench/caption.py`` (training-step time).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BoucleError
from ..layers import MaxPooling2D
from ..models.captioner import ImageCaptioner
from .torch import _torch, to_torch

__all__ = ["captioner_to_torch"]


def captioner_to_torch(model: ImageCaptioner) -> Any:
    """The torch twin of ``model`` (see the module docstring), in the model's dtype."""
    if not isinstance(model, ImageCaptioner):
        raise BoucleError(f"model: expected an ImageCaptioner, got {type(model).__name__}")
    torch = _torch()
    nn = torch.nn
    dtype = {"float32": torch.float32, "float64": torch.float64}[model.dtype.name]
    enc, dec = model.encoder, model.decoder

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a)).to(dtype)

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            blocks = []
            for layer in enc.convs:
                if isinstance(layer, MaxPooling2D):
                    blocks.append(nn.MaxPool2d(layer.pool_size, ceil_mode=True))
                    continue
                W = layer.params["W"]  # (kh, kw, C, O)
                c = nn.Conv2d(W.shape[2], W.shape[3], W.shape[:2], padding=W.shape[0] // 2, dtype=dtype)
                with torch.no_grad():
                    c.weight.copy_(t(W.transpose(3, 2, 0, 1)))
                    c.bias.copy_(t(layer.params["b"]))
                blocks += [c, nn.ReLU()]
            self.cnn = nn.Sequential(*blocks)
            self.bridges = nn.ModuleList([self._linear(b) for row in enc.bridges for b in row])
            self.embedding = nn.Embedding(*dec.embedding.params["E"].shape, dtype=dtype)
            with torch.no_grad():
                self.embedding.weight.copy_(t(dec.embedding.params["E"]))
            self.rnn = to_torch(dec.rnns)
            self.score = dec.attn.score if dec.attn is not None else None
            if dec.attn is not None:
                self.attn = nn.ParameterDict({k: nn.Parameter(t(v)) for k, v in dec.attn.params.items()})
                self.combine = self._linear(dec.combine)
            self.output = self._linear(dec.output)
            self.register_buffer("coords", t(enc.coordinates(model.dtype)))

        @staticmethod
        def _linear(dense):
            W = dense.params["W"]
            lin = nn.Linear(*W.shape, dtype=dtype)
            with torch.no_grad():
                lin.weight.copy_(t(W.T))
                lin.bias.copy_(t(dense.params["b"]))
            return lin

        def forward(self, images, dec_in):
            x = images.permute(0, 3, 1, 2)  # channels-first
            F = self.cnn(x).permute(0, 2, 3, 1)  # (B, H', W', K), boucle's order
            B, K = F.shape[0], F.shape[-1]
            slots = F.reshape(B, -1, K)
            memory = torch.cat([slots, self.coords.expand(B, -1, -1)], -1) if model.coords else slots
            z = F.reshape(B, -1) if model.init_state == "flatten" else slots.mean(1)
            n = dec.n_states
            states = [torch.tanh(b(z)) if k % n == 0 else b(z) for k, b in enumerate(self.bridges)]
            h0 = torch.stack(states[0::n])  # (layers, B, H)
            init = (h0, torch.stack(states[1::n])) if n == 2 else h0
            e = self.embedding(dec_in)  # (B, T, E)
            if dec.input_feeding:  # h̃_{t-1} joins the input, step by step
                fed, outs, state = e.new_zeros(B, dec.units), [], init
                for t in range(e.shape[1]):
                    h, state = self.rnn(torch.cat([e[:, t : t + 1], fed[:, None]], -1), state)
                    h = self._attend(h, memory)
                    fed = h[:, 0]
                    outs.append(h)
                return self.output(torch.cat(outs, 1))
            h, _ = self.rnn(e, init)  # (B, T, H)
            if self.score is not None:
                h = self._attend(h, memory)
            return self.output(h)

        def _attend(self, h, memory):
            """h̃ = tanh([c, h] W_c + b_c), c = softmax(score(h, memory)) memory."""
            p = self.attn
            if self.score == "dot":
                s = h @ memory.transpose(1, 2)
            elif self.score == "general":
                s = (h @ p["W_a"]) @ memory.transpose(1, 2)
            else:
                s = torch.tanh((h @ p["W_q"])[:, :, None] + (memory @ p["W_k"])[:, None]) @ p["v"]
            ctx = torch.softmax(s, -1) @ memory
            return torch.tanh(self.combine(torch.cat([ctx, h], -1)))

        def loss(self, images, y):
            """Masked mean cross-entropy of right-padded target ids ``y`` (numpy, (B, T))."""
            dec_in, target, mask = model.teacher_forcing(np.asarray(y))
            logits = self.forward(images, torch.from_numpy(dec_in))
            logp = torch.log_softmax(logits, -1)
            nll = -logp.gather(-1, torch.from_numpy(target)[..., None])[..., 0]
            m = torch.from_numpy(mask).to(dtype)
            return (nll * m).sum() / m.sum()

    return Twin()
