"""Image data: the built-in glyph set (seeded, balanced, shifts that move the mass, classes a
nearest-centroid rule separates) and the IDX/.npz loaders — a fixture served on 127.0.0.1
through the cached, SHA-256-checked download, never the network — with one-line errors."""

import contextlib
import hashlib
import http.server
import io
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from boucle.data import load_idx, load_mnist, load_npz_images
from boucle.data.loaders import images as images_mod
from boucle.data.tasks import glyphs
from boucle.errors import BoucleError

FIX = Path(__file__).parent / "fixtures"


# ----------------------------------------------------------------------------- glyphs


def test_glyphs_are_seeded_balanced_and_in_range():
    x, y = glyphs(300, seed=3)
    x2, y2 = glyphs(300, seed=3)
    assert x.shape == (300, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert np.bincount(y).tolist() == [30] * 10 and 0.0 <= x.min() and x.max() <= 1.0
    assert not np.array_equal(glyphs(300, seed=4)[0], x)
    assert set(glyphs(40, seed=0, classes=4)[1].tolist()) == {0, 1, 2, 3}


def test_glyph_classes_differ_and_shifts_move_them():
    x, y = glyphs(1000, seed=0, max_shift=0, max_rotation=0, noise=0)
    centroids = np.stack([x[y == c].mean(0) for c in range(10)])
    xt, yt = glyphs(500, seed=1, max_shift=0, max_rotation=0, noise=0)
    d = ((xt[:, None] - centroids[None]) ** 2).sum(axis=(2, 3, 4))
    assert (d.argmin(1) == yt).mean() > 0.8  # chance: 0.1
    xs, ys = glyphs(500, seed=1, max_shift=5, max_rotation=0, noise=0)
    ds = ((xs[:, None] - centroids[None]) ** 2).sum(axis=(2, 3, 4))
    assert (ds.argmin(1) == ys).mean() < (d.argmin(1) == yt).mean() - 0.2  # pixel templates break under shifts
    rows = np.arange(28)
    com = (xs[..., 0].sum(2) * rows).sum(1) / xs[..., 0].sum((1, 2))
    assert com.std() > 2.0  # centres of mass spread by the shift


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, r"n: expected a positive int, got 0"),
        ({"n": 5, "classes": 11}, r"classes: expected an int in \[2, 10\]"),
        ({"n": 5, "max_shift": -1}, r"max_shift: expected a non-negative number, got -1"),
    ],
)
def test_glyph_bad_arguments(kwargs, match):
    with pytest.raises(BoucleError, match=match):
        glyphs(**kwargs)


# ----------------------------------------------------------------------------- IDX


def expected_fixture_images():
    n, r, c = np.meshgrid(np.arange(3), np.arange(28), np.arange(28), indexing="ij")
    return ((n * 50 + r * 9 + c) % 256).astype(np.uint8)


def test_load_idx_reads_the_gzip_fixture():
    a = load_idx(FIX / "tiny-images-idx3-ubyte.gz")
    assert a.dtype == np.uint8 and a.shape == (3, 28, 28)
    np.testing.assert_array_equal(a, expected_fixture_images())
    assert load_idx(FIX / "tiny-labels-idx1-ubyte.gz").tolist() == [7, 2, 1]


@pytest.mark.parametrize(
    "code, fmt, values",
    [
        (0x0D, ">f", [1.5, -2.25, 3.0, 0.0, 7.0, 8.5]),
        (0x0C, ">i", [1, -2, 3, 70000, -5, 6]),
        (0x0B, ">h", [1, -2, 3, 300, -5, 6]),
        (0x09, ">b", [1, -2, 3, 4, -5, 6]),
        (0x0E, ">d", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
    ],
)
def test_load_idx_every_type_big_endian(tmp_path, code, fmt, values):
    raw = struct.pack(">BBBBII", 0, 0, code, 2, 2, 3) + b"".join(struct.pack(fmt, v) for v in values)
    (tmp_path / "a.idx").write_bytes(raw)
    a = load_idx(tmp_path / "a.idx")
    assert a.shape == (2, 3) and a.dtype.isnative
    np.testing.assert_array_equal(a.ravel(), values)


@pytest.mark.parametrize(
    "raw, match",
    [
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x05", r"not an IDX file \(expected magic 0x00 0x00"),
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x05", r"unknown IDX type 0x07"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 1), r"truncated IDX header"),
        (b"\x00\x00\x08\x02" + struct.pack(">II", 2, 2) + b"\x01\x02\x03", r"shape \(2, 2\) needs 4 bytes, got 3"),
        (b"\x1f\x8b\x08\x00garbage", r"corrupt gzip data"),
    ],
)
def test_load_idx_errors_are_one_line(tmp_path, raw, match):
    (tmp_path / "bad.idx").write_bytes(raw)
    with pytest.raises(BoucleError, match=match) as info:
        load_idx(tmp_path / "bad.idx")
    assert "\n" not in str(info.value) and "bad.idx" in str(info.value)


# ----------------------------------------------------------------------------- downloads


@contextlib.contextmanager
def serve(files: dict):
    """Serves ``files`` (name -> bytes) on 127.0.0.1; yields (base URL, list of requested paths)."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def fixture_files():
    img, lab = (FIX / "tiny-images-idx3-ubyte.gz").read_bytes(), (FIX / "tiny-labels-idx1-ubyte.gz").read_bytes()
    return {
        "train-images-idx3-ubyte.gz": img,
        "train-labels-idx1-ubyte.gz": lab,
        "t10k-images-idx3-ubyte.gz": img,
        "t10k-labels-idx1-ubyte.gz": lab,
    }


def test_load_mnist_downloads_checks_and_caches(tmp_path, monkeypatch):
    files = fixture_files()
    sums = {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    monkeypatch.setitem(images_mod.MNIST_FAMILY, "fashion_mnist", ("http://unused/", sums))
    with serve(files) as (url, hits):
        x, y = load_mnist("fashion-mnist", "train", cache_dir=tmp_path, base_url=url)
        assert x.shape == (3, 28, 28, 1) and x.dtype == np.float32 and y.tolist() == [7, 2, 1]
        np.testing.assert_allclose(x[..., 0], expected_fixture_images() / 255.0, rtol=1e-6)
        load_mnist("fashion_mnist", "train", cache_dir=tmp_path, base_url=url)
        assert len(hits) == 2  # the second call reads the cache
    assert sorted(p.name for p in (tmp_path / "fashion_mnist").iterdir()) == sorted(list(files)[:2])


def test_load_mnist_rejects_files_that_do_not_match_the_published_checksums(tmp_path):
    with serve(fixture_files()) as (url, _):
        with pytest.raises(
            BoucleError,
            match=r"checksum mismatch for .*train-images-idx3-ubyte.gz: expected "
            r"sha256 440fcabf",
        ):
            load_mnist("mnist", "train", cache_dir=tmp_path, base_url=url)
    assert not list((tmp_path / "mnist").iterdir())
    with pytest.raises(BoucleError, match=r"cannot reach .*offline\? place the file at .*kmnist"):
        load_mnist("kmnist", "test", cache_dir=tmp_path, base_url="http://127.0.0.1:9/", timeout=2)
    with pytest.raises(BoucleError, match=r"name: expected one of \['fashion_mnist', 'kmnist', 'mnist'\]"):
        load_mnist("cifar10")
    with pytest.raises(BoucleError, match=r"split: expected 'train' or 'test', got 'valid'"):
        load_mnist("mnist", "valid")


def test_load_npz_images_from_a_file_and_a_url(tmp_path):
    rng = np.random.default_rng(0)
    xtr, ytr = rng.integers(0, 256, (4, 5, 6), dtype=np.uint8), np.array([1, 0, 3, 2], dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, x_train=xtr, y_train=ytr, x_test=xtr[:2], y_test=ytr[:2])
    (tmp_path / "m.npz").write_bytes(buf.getvalue())
    x, y = load_npz_images(tmp_path / "m.npz")
    assert x.shape == (4, 5, 6, 1) and y.dtype == np.int64
    np.testing.assert_allclose(x[..., 0] * 255, xtr, atol=1e-4)
    sha = hashlib.sha256(buf.getvalue()).hexdigest()
    with serve({"m.npz": buf.getvalue()}) as (url, _):
        xt, yt = load_npz_images(url + "m.npz", split="test", sha256=sha, cache_dir=tmp_path / "c")
    assert xt.shape == (2, 5, 6, 1) and yt.tolist() == [1, 0]
    np.savez(tmp_path / "plain.npz", x=np.zeros((2, 3, 3, 2), np.float32), y=np.array([0, 1]))
    assert load_npz_images(tmp_path / "plain.npz")[0].shape == (2, 3, 3, 2)


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"a": np.zeros(2)}, r"expected arrays x_train/y_train or x/y, found \['a'\]"),
        (
            {"x": np.zeros((2, 3)), "y": np.zeros(2, int)},
            r"expected images \(N, H, W\) or \(N, H, W, C\), got shape \(2, 3\)",
        ),
        ({"x": np.zeros((2, 3, 3)), "y": np.zeros(3, int)}, r"expected 2 labels \(N,\), got shape \(3,\)"),
        ({"x": np.zeros((2, 3, 3)), "y": np.zeros(2)}, r"expected integer labels, got dtype float64"),
        ({"x": np.array([None, None], dtype=object), "y": np.zeros(2, int)}, r"not a readable .npz of arrays"),
    ],
)
def test_load_npz_errors(tmp_path, arrays, match):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(BoucleError, match=match) as info:
        load_npz_images(tmp_path / "bad.npz")
    assert "\n" not in str(info.value)
    with pytest.raises(BoucleError, match=r"source: no .npz file at"):
        load_npz_images(tmp_path / "absent.npz")
