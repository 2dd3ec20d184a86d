"""Helpers of the file-safety tests: small valid files of each model kind, and files rewritten from them."""

from __future__ import annotations

import functools
import json
import os
import struct
import tempfile

import numpy as np

import boucle
from boucle.data.vocab import Vocabulary
from boucle.layers import LSTM, Bidirectional, Dense, Dropout
from boucle.models.captioner import ImageCaptioner
from boucle.models.charlm import CharModel
from boucle.models.seq2seq import Seq2Seq
from boucle.reservoir import ESN, LSM, RLS, DeepESN


@functools.cache
def valid_file(kind: str) -> bytes:
    """The bytes of a small valid model file (with its optimizer state): ``char`` (a CharModel trained
    2 steps: history, stream position, carried states), ``seq`` (a compiled Sequential with a
    Bidirectional layer), ``s2s`` (a bidirectional Seq2Seq with attention), ``cap`` (an ImageCaptioner
    with attention), ``esn`` (a 2-layer DeepESN with an RLS readout), ``fb`` (an ESN with output feedback)
    or ``lsm`` (a fitted liquid state machine)."""
    if kind == "char":
        model = CharModel(Vocabulary.from_text("abcdef \n"), layers=1, hidden=8, embed=4, seed=0)
        model.compile("adam")
        model.fit(np.random.default_rng(0).integers(0, 8, 400), steps=2, seq_len=8, batch_size=4, verbose=0)
        model.data = {"corpus": "c", "characters": 400, "sha256": "0" * 64}
    elif kind == "seq":
        model = boucle.Sequential(
            [Bidirectional(LSTM(4, return_sequences=True), input_shape=(None, 3)), Dropout(0.1), LSTM(3), Dense(2)],
            seed=0,
        )
        model.compile("adam", "mse", ["mae"])
    elif kind in ("esn", "fb", "lsm"):
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((60, 2)), rng.standard_normal((60, 1))
        if kind == "esn":
            model = DeepESN([20, 10], spectral_radius=0.9, readout=RLS(), seed=0)
        elif kind == "fb":
            model = ESN(20, spectral_radius=0.9, feedback_scaling=0.5, seed=0)
        else:
            model = LSM(units=27, seed=0)
        model.fit(x, y)
        return _bytes(model, include_optimizer=False)
    elif kind == "cap":
        model = ImageCaptioner(
            Vocabulary.words(["a red dot", "two blue dots"]),
            (8, 8, 3),
            filters=(4,),
            units=4,
            embed_dim=3,
            attention="general",
            seed=0,
        )
        model.compile("adam")
    else:
        model = Seq2Seq(
            Vocabulary("abcdef", specials=True), units=4, embed_dim=3, attention="general", bidirectional=True, seed=0
        )
        model.compile("adam")
    return _bytes(model, include_optimizer=True)


def _bytes(model, include_optimizer: bool) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.safetensors")
        boucle.save(model, path, include_optimizer=include_optimizer)
        with open(path, "rb") as f:
            return f.read()


def split(data: bytes) -> tuple[dict, dict, bytes]:
    """(safetensors header, boucle metadata, tensor bytes) of a file."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    return header, json.loads(header["__metadata__"]["boucle"]), data[8 + n :]


def join(header: dict, meta: dict | str, body: bytes) -> bytes:
    """A file from its parts; ``meta`` as a dict (written by json.dumps) or as raw JSON text."""
    header = dict(header)
    header["__metadata__"] = {"boucle": meta if isinstance(meta, str) else json.dumps(meta)}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


def with_meta(kind: str, edit) -> bytes:
    """The valid file of ``kind`` with ``edit(meta)`` applied to its metadata (``edit`` changes ``meta``
    in place and returns None, or returns the new metadata: a dict, or raw JSON text)."""
    header, meta, body = split(valid_file(kind))
    out = edit(meta)
    return join(header, meta if out is None else out, body)
