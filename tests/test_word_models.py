"""Word-level models: the word vocabulary (tokenizer, counts, files, bad input), a many-to-one
classifier and a sentence language model over padded, masked word ids, frozen embeddings,
the built-in English corpus and the docstring task."""

import contextlib

import numpy as np
import pytest

import boucle
from boucle.data.english import source_passages
from boucle.data.tasks.docstrings import docstring_topics
from boucle.data.vocab import END, PAD, START, UNK, WORDS_ONLY, Tokenizer, Vocabulary
from boucle.errors import BoucleError
from boucle.models import language_model_data, perplexity, word_classifier, word_language_model
from boucle.models.seq2seq import Seq2Seq


@contextlib.contextmanager
def one_line_error(match: str):
    with pytest.raises(BoucleError, match=match) as info:
        yield info
    assert "\n" not in str(info.value), str(info.value)


def test_word_vocabulary_counts_orders_and_round_trips():
    v = Vocabulary.words(["The cat sat.", "the cat didn't sit!"], min_count=1)
    assert v.itos[:4] == ["<pad>", "<start>", "<end>", "<unk>"] and v.itos[4:6] == ["cat", "the"]
    assert v.counts.tolist()[:6] == [0, 0, 0, 0, 2, 2] and "didn't" in v and "." in v
    ids = v.encode("The cat ate.")
    assert ids.tolist() == [v.index["the"], v.index["cat"], UNK, v.index["."]]
    assert v.decode(ids.tolist() + [END, 4]) == "the cat <unk> ." and v.ids_to_tokens([0, 2]) == ["<pad>", "<end>"]
    assert v.tokens_to_ids(["<start>", "cat"]).tolist() == [START, v.index["cat"]]
    again = Vocabulary.from_config(v.get_config())
    assert again == v and again.counts.tolist() == v.counts.tolist()
    small = Vocabulary.words(["a a a b b c"], min_count=2, max_size=5)
    assert small.tokens == ["a"] and small.counts[UNK] == 3 and len(small) == 5
    words_only = Vocabulary.words("Hello, world!", pattern=WORDS_ONLY, lower=False, specials=False)
    assert words_only.tokens == ["Hello", "world"] and words_only.offset == 0
    assert words_only.encode("Hello there", unknown="skip").tolist() == [0]
    with one_line_error(r"text: tokens \['there'\] not in the vocabulary of 2 words"):
        words_only.encode("Hello there")


def test_character_vocabulary_is_unchanged():
    v = Vocabulary.from_text("hello")
    assert v.get_config() == {"chars": "ehlo", "specials": False} and v.level == "chars"
    assert Vocabulary.from_config({"chars": "ab"}) == Vocabulary("ab") and v.encode("ole").tolist() == [3, 2, 0]
    s = Vocabulary("ab", specials=True)
    assert s.encode("abz", unknown="unk").tolist() == [4, 5, UNK] and s.encode("abz", unknown="skip").tolist() == [4, 5]


def test_word_vocabulary_bad_input():
    with one_line_error("min_count: expected a count that keeps some word, got 3"):
        Vocabulary.words("a b", min_count=3)
    with one_line_error("max_size: expected an int >= 5, got 4"):
        Vocabulary.words("a b", max_size=4)
    with one_line_error(r"texts\[1\]: expected a str, got int"):
        Vocabulary.words(["a", 3])
    with one_line_error("pattern: expected a pattern that cannot match the empty string"):
        Vocabulary.words("a", pattern=r"\w*")
    with one_line_error("pattern: expected a valid regular expression"):
        Tokenizer("words", pattern="(")
    with one_line_error("tokens: expected distinct words, got 'a' twice"):
        Vocabulary(["a", "a"], tokenizer=Tokenizer("words"))
    with one_line_error("tokens: '<unk>' is a special token name"):
        Vocabulary(["<unk>"], True, tokenizer=Tokenizer("words"))
    v = Vocabulary.words("a b")
    with one_line_error("text: expected a text with at least one token, got '   '"):
        v.encode("   ")
    with one_line_error("ids: expected token ids in"):
        v.decode([99])


def test_a_word_vocabulary_is_a_seq2seq_target_vocabulary():
    """Captions: word targets with START/END/PAD as Seq2Seq has them."""
    src = Vocabulary("abc", specials=True)
    tgt = Vocabulary.words(["a cat", "the dog"])
    m = Seq2Seq(src, tgt, units=4, embed_dim=3, seed=0)
    y = m.target_ids(["a cat", "the dog cat"])
    assert y[0, 2] == PAD and tgt.decode(y[1].tolist() + [END, 4]) == "the dog cat"
    assert tgt.encode_batch(["the dog sat"]).tolist() == [[tgt.index["the"], tgt.index["dog"], UNK]]
    with one_line_error(r"y\[1\]: tokens \['sat'\] not in the vocabulary of 4 words"):
        m.target_ids(["a cat", "the dog sat"])
    back = Seq2Seq.from_config(m.get_config())
    assert back.target_vocab == tgt


def _sentences(n, seed=0):
    """Class 0 texts hold 'red' somewhere, class 1 'blue'; lengths 2..9, padded at the end."""
    rng = np.random.default_rng(seed)
    fill = ["one", "two", "three", "four", "five", "six"]
    texts, y = [], rng.integers(0, 2, n)
    for k in y:
        words = list(rng.choice(fill, rng.integers(1, 9)))
        words.insert(int(rng.integers(len(words) + 1)), "red" if k == 0 else "blue")
        texts.append(" ".join(words))
    return texts, y


def test_classifier_learns_with_masks_and_frozen_embeddings_stay(tmp_path):
    texts, y = _sentences(400)
    vocab = Vocabulary.words(texts)
    x = vocab.encode_batch(texts)
    clf = word_classifier(vocab, 2, dim=8, units=12, seed=0)
    clf.fit(x, y, epochs=6, batch_size=32, verbose=0)
    test_texts, y_test = _sentences(100, seed=1)
    xt = vocab.encode_batch(test_texts)
    assert clf.evaluate(xt, y_test)["accuracy"] >= 0.9
    one = clf.predict(xt[:1, : (xt[0] != PAD).sum()])  # the same text unpadded
    np.testing.assert_allclose(clf.predict(xt[:1]), one, rtol=1e-5, atol=1e-6)
    boucle.save(clf, tmp_path / "clf.safetensors")
    back = boucle.load(tmp_path / "clf.safetensors")
    assert back.vocab == vocab and np.allclose(back.predict(xt), clf.predict(xt))
    frozen = np.random.default_rng(0).standard_normal((len(vocab), 8))
    f = word_classifier(vocab, 2, embedding=frozen, trainable=False, units=12, seed=0)
    f.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(f.layers[0].params["E"], frozen.astype(np.float32))
    with one_line_error(r"embedding: expected a \(12, D\) matrix"):
        word_classifier(vocab, 2, embedding=np.zeros((3, 8)))


def test_language_model_perplexity_drops_below_the_vocabulary_size(tmp_path):
    texts = ["the cat sat on the mat", "the dog sat on the log", "a cat saw a dog"] * 40
    vocab = Vocabulary.words(texts)
    x, y = language_model_data(vocab, texts + ["", "zebra"], max_len=10)
    assert x.shape[0] == len(texts) + 1 and (x[:, 0] == START).all()
    assert y[-1].tolist()[:2] == [UNK, END] and (y[:, 1:] != PAD).sum() == (x[:, 1:] != PAD).sum()
    lm = word_language_model(vocab, dim=8, units=16, seed=0)
    before = perplexity(lm, x, y)
    assert before["perplexity"] == pytest.approx(len(vocab), rel=0.2) and before["words"] == int((x != PAD).sum())
    lm.fit(x, y, epochs=15, batch_size=16, verbose=0)
    after = perplexity(lm, x, y)
    assert after["perplexity"] < 3.0, after  # most next words are determined
    boucle.save(lm, tmp_path / "lm.safetensors")
    assert perplexity(boucle.load(tmp_path / "lm.safetensors"), x, y)["loss"] == pytest.approx(after["loss"])
    with one_line_error("texts: expected at least one text with a word"):
        language_model_data(vocab, ["", " "])


def test_english_passages_by_tokenize():
    src = '''#!/usr/bin/env python
"""Module docstring.

    >>> doctest line
More text."""
# first comment
# second comment

x = 1  # trailing
def f():
    """Function doc."""
    s = "not a docstring"
    return s
'''
    ps = source_passages(src, "pkg/mod.py")
    assert [(p.kind, p.text) for p in ps] == [
        ("docstring", "Module docstring.\n\nMore text."),
        ("comment", "first comment\nsecond comment"),
        ("comment", "trailing"),
        ("docstring", "Function doc."),
    ]
    assert ps[0].package == "pkg" and ps[0].line == 2
    with one_line_error("bad.py: cannot tokenize"):
        source_passages('"""never closed\n', "bad.py")


def test_docstring_task_labels_and_split():
    from boucle.data.english import Passage

    ps = [Passage(f"alpha words here {i}", f"email/m{i}.py", 1, "docstring") for i in range(10)]
    ps += [Passage(f"beta words there {i}", f"xml/n{i}.py", 1, "docstring") for i in range(5)]
    ps += [Passage("too short", "xml/n.py", 1, "docstring"), Passage("a comment here", "xml/c.py", 1, "comment")]
    t = docstring_topics(["email", "xml"], test_fraction=0.2, passages=ps)
    assert len(t.x_train) == 12 and len(t.x_test) == 3 and t.classes == ["email", "xml"]
    assert all(("alpha" in s) == (k == 0) for s, k in zip(t.x_train + t.x_test, list(t.y_train) + list(t.y_test)))
    with one_line_error(r"packages: no docstring found for \['http'\]"):
        docstring_topics(["email", "http"], passages=ps)
