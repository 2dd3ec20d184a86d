"""Data: padding and masks, length bucketing, datasets, loaders, windows."""
from .loaders import csv_windows, download, load_csv_series, load_text_folder, load_ts, load_uea, write_ts
from .padding import bucket_batches, pad_sequences
from .synthetic import (adding_problem, copy_task, embedded_reber, embedded_reber_string, is_embedded_reber,
                        is_reber, melodies, reber_string, sine_mixture)
from .tagging import TAG_CLASSES, python_tagging_data, tag_python_source, tagging_windows
from .windows import Normalizer, forecast_splits, persistence_forecast, sliding_windows, split_indices, split_series

__all__ = [
    "pad_sequences", "bucket_batches",
    "adding_problem", "copy_task", "embedded_reber", "reber_string", "embedded_reber_string", "is_reber",
    "is_embedded_reber", "sine_mixture", "melodies",
    "tag_python_source", "tagging_windows", "python_tagging_data", "TAG_CLASSES",
    "load_ts", "write_ts", "load_uea", "download", "load_text_folder", "load_csv_series", "csv_windows",
    "sliding_windows", "split_series", "split_indices", "Normalizer", "forecast_splits", "persistence_forecast",
]

# -- images (seed 003's convolutional networks): a built-in glyph set, MNIST-family IDX files, .npz arrays
from .glyphs import GLYPH_CLASSES, glyphs  # noqa: E402
from .images import as_images, load_idx, load_mnist, load_npz_images  # noqa: E402

__all__ += ["glyphs", "GLYPH_CLASSES", "load_idx", "load_mnist", "load_npz_images", "as_images"]
