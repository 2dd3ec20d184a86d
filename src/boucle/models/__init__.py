"""Models: plain training loops over layers."""

from .captioner import ImageCaptioner
from .charlm import CharModel
from .seq2seq import Seq2Seq
from .sequential import Sequential
from .word2vec import Word2Vec
from .words import language_model_data, perplexity, word_classifier, word_language_model

__all__ = [
    "Sequential",
    "CharModel",
    "Seq2Seq",
    "ImageCaptioner",
    "Word2Vec",
    "word_classifier",
    "word_language_model",
    "language_model_data",
    "perplexity",
]
