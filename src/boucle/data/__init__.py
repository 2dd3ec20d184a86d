"""Data: the pipeline that turns data into batches, and the loaders of real data.

- :mod:`.vocab` (characters ↔ ids, special tokens), :mod:`.padding` (padding, masks,
  length bucketing, teacher forcing), :mod:`.batching` (mini-batches of arrays),
  :mod:`.text` (corpora and truncated-BPTT streams), :mod:`.windows` (forecasting windows);
- :mod:`.loaders`: UEA ``.ts`` files, cached downloads, text folders, CSV series;
- :mod:`.tasks`: generated task datasets (adding problem, copy, Reber grammar, melodies,
  dates and addition, Python-source tagging, chaotic time series), apart from the pipeline.
"""

from .loaders import (
    as_images,
    csv_windows,
    download,
    load_csv_series,
    load_idx,
    load_mnist,
    load_npz_images,
    load_text_folder,
    load_ts,
    load_uea,
    write_ts,
)
from .padding import bucket_batches, pad_sequences, teacher_forcing, trim_padding
from .vocab import END, PAD, START, UNK, Vocabulary
from .windows import Normalizer, forecast_splits, persistence_forecast, sliding_windows, split_indices, split_series

__all__ = [
    "pad_sequences",
    "bucket_batches",
    "trim_padding",
    "teacher_forcing",
    "Vocabulary",
    "PAD",
    "START",
    "END",
    "UNK",
    "load_ts",
    "write_ts",
    "load_uea",
    "download",
    "load_text_folder",
    "load_csv_series",
    "csv_windows",
    "load_idx",
    "load_mnist",
    "load_npz_images",
    "as_images",
    "sliding_windows",
    "split_series",
    "split_indices",
    "Normalizer",
    "forecast_splits",
    "persistence_forecast",
]
