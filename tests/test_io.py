"""save / load: identical predictions, safe and validated files, atomic writes."""

import json
import struct

import numpy as np
import pytest
import safetensors.numpy

import boucle
from boucle import Sequential
from boucle.errors import ModelFileError
from boucle.layers import Dense, Dropout, Embedding


@pytest.fixture
def model(rng):
    m = Sequential(
        [
            Dense(8, activation="tanh", input_shape=(3,), name="dense"),
            Dropout(0.1),
            Dense(2, activation="softmax", name="out"),
        ],
        seed=0,
    )
    m.compile(
        optimizer=boucle.optimizers.Adam(0.01, clipnorm=1.0), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 32)]
    m.fit(x, y, epochs=2, verbose=0)
    return m, x, y


def test_round_trip_identical_predictions(model, tmp_path):
    m, x, y = model
    path = tmp_path / "m.safetensors"
    boucle.save(m, path)
    loaded = boucle.load(path)
    assert np.array_equal(loaded.predict(x), m.predict(x))
    assert loaded.get_config() == m.get_config()
    assert loaded.evaluate(x, y) == pytest.approx(m.evaluate(x, y))


def test_file_opens_with_safetensors_numpy_and_torch(model, tmp_path):
    import torch  # noqa: F401  (the torch loader must read boucle files)
    from safetensors.torch import load_file as torch_load

    m, _, _ = model
    path = tmp_path / "m.safetensors"
    boucle.save(m, path, include_optimizer=True)
    arrays = safetensors.numpy.load_file(path)
    tensors = torch_load(str(path))
    assert set(arrays) == set(tensors) and "dense/W" in arrays and any(k.startswith("optimizer/") for k in arrays)
    assert np.array_equal(tensors["dense/W"].numpy(), m.params["dense/W"])


def test_resume_bit_identical_without_dropout(rng, tmp_path):
    x = rng.standard_normal((16, 3)).astype(np.float32)
    y = rng.standard_normal((16, 1)).astype(np.float32)
    m = Sequential([Dense(4, activation="tanh", input_shape=(3,)), Dense(1)], seed=0)
    m.compile(optimizer="adam", loss="mse")
    for _ in range(5):
        m.train_on_batch(x, y)
    boucle.save(m, tmp_path / "m.safetensors", include_optimizer=True)
    r = boucle.load(tmp_path / "m.safetensors")
    for _ in range(5):
        m.train_on_batch(x, y)
        r.train_on_batch(x, y)
    assert all(np.array_equal(v, r.get_weights()[k]) for k, v in m.get_weights().items())


def test_float64_and_embedding_models_round_trip(rng, tmp_path):
    m = Sequential([Embedding(10, 4, mask_zero=True, input_shape=(5,)), Dense(3)], seed=2, dtype="float64")
    boucle.save(m, tmp_path / "e.safetensors")
    r = boucle.load(tmp_path / "e.safetensors")
    ids = rng.integers(0, 10, (3, 5))
    assert np.array_equal(r.predict(ids), m.predict(ids)) and r.predict(ids).dtype == np.float64


def test_missing_truncated_corrupt_files(model, tmp_path):
    m, _, _ = model
    with pytest.raises(ModelFileError, match="no model file"):
        boucle.load(tmp_path / "nope.safetensors")
    path = tmp_path / "m.safetensors"
    boucle.save(m, path)
    data = path.read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="corrupt|truncated"):
        boucle.load(tmp_path / "trunc.safetensors")
    (tmp_path / "tiny.safetensors").write_bytes(b"abc")
    with pytest.raises(ModelFileError, match="not a model file"):
        boucle.load(tmp_path / "tiny.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(ModelFileError, match="truncated|not a"):
        boucle.load(tmp_path / "junk.safetensors")
    safetensors.numpy.save_file({"a": np.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(ModelFileError, match="not a boucle model file"):
        boucle.load(tmp_path / "plain.safetensors")


def _rewrite(path, out, edit_meta=None, edit_tensors=None):
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(json.loads(data[8 : 8 + n])["__metadata__"]["boucle"])
    tensors = safetensors.numpy.load(data)
    if edit_meta:
        edit_meta(meta)
    if edit_tensors:
        edit_tensors(tensors)
    safetensors.numpy.save_file(tensors, str(out), metadata={"boucle": json.dumps(meta)})


def test_config_mismatches_are_refused(model, tmp_path):
    m, _, _ = model
    path = tmp_path / "m.safetensors"
    boucle.save(m, path)
    bad = tmp_path / "bad.safetensors"

    def unknown_layer(meta):
        meta["config"]["layers"][0]["class_name"] = "EvilLayer"

    _rewrite(path, bad, edit_meta=unknown_layer)
    with pytest.raises(ModelFileError, match="unknown layer class 'EvilLayer'"):
        boucle.load(bad)

    def unknown_model(meta):
        meta["class_name"] = "os.system"

    _rewrite(path, bad, edit_meta=unknown_model)
    with pytest.raises(ModelFileError, match="unknown model class"):
        boucle.load(bad)

    def wrong_shape(t):
        t["dense/W"] = np.zeros((4, 8), dtype=np.float32)

    _rewrite(path, bad, edit_tensors=wrong_shape)
    with pytest.raises(ModelFileError, match="tensor 'dense/W' should be float32\\[3, 8\\]"):
        boucle.load(bad)

    def wrong_dtype(t):
        t["dense/W"] = t["dense/W"].astype(np.float64)

    _rewrite(path, bad, edit_tensors=wrong_dtype)
    with pytest.raises(ModelFileError, match="should be float32"):
        boucle.load(bad)

    def missing(t):
        del t["dense/b"]

    _rewrite(path, bad, edit_tensors=missing)
    with pytest.raises(ModelFileError, match="missing tensors \\['dense/b'\\]"):
        boucle.load(bad)


def test_save_is_atomic(model, tmp_path, monkeypatch):
    m, _, _ = model
    path = tmp_path / "m.safetensors"
    boucle.save(m, path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        boucle.save(m, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
