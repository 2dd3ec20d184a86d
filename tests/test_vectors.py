"""Pretrained vectors: GloVe / word2vec text and binary files, alignment to a vocabulary with the
out-of-vocabulary count, a frozen Embedding, and the cached download of a published set from a
server on 127.0.0.1 (never the network)."""

import contextlib
import gzip
import hashlib
import io
import zipfile

import numpy as np
import pytest
from test_loaders import _Server

from boucle.data.loaders import PRETRAINED, PretrainedSet, WordVectors, fetch_vectors, load_vectors, save_vectors
from boucle.data.vocab import PAD, Vocabulary
from boucle.errors import BoucleError
from boucle.layers import Embedding

GLOVE = "the 0.1 0.2 0.3\ncat -1 0.5 2e-3\nDog 1.5 -0.25 0\n"


@contextlib.contextmanager
def one_line_error(match: str):
    with pytest.raises(BoucleError, match=match) as info:
        yield info
    assert "\n" not in str(info.value), str(info.value)


def test_glove_word2vec_text_binary_gzip_and_zip_read_the_same(tmp_path):
    (tmp_path / "g.txt").write_text(GLOVE)
    ref = load_vectors(tmp_path / "g.txt")
    assert ref.words == ["the", "cat", "Dog"] and ref.dim == 3 and ref.vectors.dtype == np.float32
    np.testing.assert_allclose(ref["cat"], [-1, 0.5, 2e-3])
    for fmt, name in [("word2vec", "w.txt"), ("word2vec-binary", "w.bin"), ("glove", "g2.txt")]:
        save_vectors(ref, tmp_path / name, fmt)
        back = load_vectors(tmp_path / name, fmt)
        assert back.words == ref.words and np.array_equal(back.vectors, ref.vectors), fmt
    assert (tmp_path / "w.txt").read_text().startswith("3 3\n")
    assert load_vectors(tmp_path / "w.bin").words == ref.words  # .bin: binary by default
    (tmp_path / "g.txt.gz").write_bytes(gzip.compress(GLOVE.encode()))
    with zipfile.ZipFile(tmp_path / "g.zip", "w") as z:
        z.writestr("inner/g.txt", GLOVE)
    for v in (load_vectors(tmp_path / "g.txt.gz"), load_vectors(tmp_path / "g.zip", member="inner/g.txt")):
        assert v.words == ref.words and np.array_equal(v.vectors, ref.vectors)
    assert load_vectors(tmp_path / "g.txt", words=["cat"]).words == ["cat"]
    assert load_vectors(tmp_path / "g.txt", limit=2).words == ["the", "cat"]


def test_align_counts_oov_and_builds_a_frozen_embedding():
    vectors = WordVectors(["the", "cat", "Dog"], np.array([[1.0, 2], [3, 4], [5, 6]]))
    vocab = Vocabulary.words("the dog the cat sat", specials=True)  # lower-cased: 'dog' finds 'Dog'
    al = vectors.align(vocab, oov="zeros")
    assert al.oov == ["sat"] and al.n_oov == 1 and al.coverage == pytest.approx(3 / 4)
    np.testing.assert_array_equal(al.matrix[vocab.index["dog"]], [5, 6])
    np.testing.assert_array_equal(al.matrix[PAD], [0, 0])
    rand = vectors.align(vocab, seed=0).matrix
    assert np.array_equal(rand, vectors.align(vocab, seed=0).matrix) and rand[vocab.index["sat"]].any()
    emb = Embedding.from_pretrained(al.matrix, mask_zero=True)
    assert emb.trainable is False and emb.built and np.array_equal(emb.params["E"], al.matrix.astype(np.float32))
    x = vocab.encode_batch(["the cat", "dog"])
    np.testing.assert_array_equal(emb(x)[0, 1], [3, 4])
    assert emb.compute_mask(x, None).tolist() == [[True, True], [True, False]]
    with one_line_error("weights: expected a finite 2-D"):
        Embedding.from_pretrained(np.array([1.0, np.nan]))


@pytest.mark.parametrize(
    "text, match",
    [
        ("the 0.1 0.2\ncat 0.3\n", r"bad\.txt:2: expected a word and 2 numbers, got 1 numbers"),
        ("the 0.1 0.2\ncat 0.3 x\n", r"bad\.txt:2: expected 2 numbers after 'cat', got 'x'"),
        ("3 2\nthe 0.1\n", r"bad\.txt:2: expected a word and 2 numbers, got 1"),
        ("", r"bad\.txt: expected word vectors, found no vector"),
    ],
)
def test_malformed_text_files(tmp_path, text, match):
    (tmp_path / "bad.txt").write_text(text)
    with one_line_error(match):
        load_vectors(tmp_path / "bad.txt")


def test_malformed_binary_and_arguments(tmp_path):
    (tmp_path / "t.bin").write_bytes(b"2 3\nthe " + np.zeros(3, "<f4").tobytes() + b"\ncat " + b"\x00" * 5)
    with one_line_error(r"t\.bin: truncated: vector 2 of 2 has 5 of 12 bytes"):
        load_vectors(tmp_path / "t.bin")
    (tmp_path / "h.bin").write_bytes(b"x y\n")
    with one_line_error(r"h\.bin:1: expected the word2vec header 'N D'"):
        load_vectors(tmp_path / "h.bin")
    with one_line_error("format: expected one of"):
        load_vectors(tmp_path / "t.bin", "fasttext")
    with one_line_error("path: no vectors file at"):
        load_vectors(tmp_path / "absent.txt")
    with one_line_error(r"member: expected one of \['a.txt'\]"):
        with zipfile.ZipFile(tmp_path / "z.zip", "w") as z:
            z.writestr("a.txt", GLOVE)
        load_vectors(tmp_path / "z.zip", member="b.txt")


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_fetch_extracts_checks_and_caches_a_published_set(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("tiny.3d.txt", GLOVE)
        z.writestr("tiny.5d.txt", "x 1 2 3 4 5\n")
    spec = PretrainedSet(
        "tiny", "http://127.0.0.1:9/unused.zip", "tiny.3d.txt", _sha(GLOVE.encode()), "glove", 3, member="tiny.3d.txt"
    )
    with _Server({"tiny.zip": buf.getvalue()}) as srv:
        path = fetch_vectors(spec, tmp_path, url=srv.url + "tiny.zip")
        assert path == tmp_path / "vectors" / "tiny.3d.txt" and path.read_text() == GLOVE
        assert sorted(p.name for p in (tmp_path / "vectors").iterdir()) == ["tiny.3d.txt"]  # archive deleted
        assert fetch_vectors(spec, tmp_path, url=srv.url + "tiny.zip") == path and len(srv.hits) == 1
        bad = PretrainedSet("tiny", "", "tiny.3d.txt", "0" * 64, "glove", 3, member="tiny.3d.txt")
        with one_line_error("tiny.3d.txt: checksum mismatch: expected sha256 0000"):
            fetch_vectors(bad, tmp_path / "other", url=srv.url + "tiny.zip")
    assert load_vectors(path).words == ["the", "cat", "Dog"]


def test_the_published_glove_set_offline_says_where_to_put_it(tmp_path):
    spec = PRETRAINED["glove.6B.50d"]
    assert spec.url == "https://nlp.stanford.edu/data/glove.6B.zip" and spec.member == "glove.6B.50d.txt"
    assert spec.dim == 50 and len(spec.sha256) == 64
    with one_line_error(
        r"cannot reach http://127.0.0.1:9/glove.6B.zip .*or place glove.6B.50d.txt \(sha256 "
        + spec.sha256
        + r"\) at .*vectors/glove.6B.50d.txt"
    ):
        fetch_vectors("glove.6B.50d", tmp_path, url="http://127.0.0.1:9/glove.6B.zip", timeout=5)
    with one_line_error("name: expected one of"):
        fetch_vectors("glove.42B", tmp_path)
