"""Task datasets, generated from a seed (no download): what the examples, tests and studies train on.

- :mod:`.synthetic`: the adding problem, the copy task, (embedded) Reber grammars, sine
  mixtures, melodies (seed 002, seed 004);
- :mod:`.translation`: dates and addition for encoder–decoders;
- :mod:`.tagging`: Python source, one token class per character;
- :mod:`.timeseries`: Mackey–Glass, NARMA-10, Lorenz (echo state networks);
- :mod:`.glyphs`: 28×28 digit glyphs, shifted, rotated, noisy (convolutional networks);
- :mod:`.captions`: coloured shapes described in words, with held-out colour–shape pairs (captioning).
"""

from .captions import CaptionTask, ShapeCaptions, shape_captions, shape_captions_task
from .glyphs import GLYPH_CLASSES, glyphs
from .synthetic import (
    ADDING_BASELINE_MSE,
    adding_problem,
    copy_task,
    embedded_reber,
    embedded_reber_string,
    is_embedded_reber,
    is_reber,
    melodies,
    reber_string,
    sine_mixture,
)
from .tagging import TAG_CLASSES, python_tagging_data, tag_python_source, tagging_windows
from .timeseries import lorenz, mackey_glass, narma10, to_forecasting
from .translation import DATE_FORMATS, TextPairs, addition_dataset, dates_dataset, format_date

__all__ = [
    "adding_problem",
    "copy_task",
    "embedded_reber",
    "reber_string",
    "embedded_reber_string",
    "is_reber",
    "is_embedded_reber",
    "sine_mixture",
    "melodies",
    "ADDING_BASELINE_MSE",
    "tag_python_source",
    "tagging_windows",
    "python_tagging_data",
    "TAG_CLASSES",
    "mackey_glass",
    "narma10",
    "lorenz",
    "to_forecasting",
    "glyphs",
    "GLYPH_CLASSES",
    "shape_captions",
    "shape_captions_task",
    "ShapeCaptions",
    "CaptionTask",
    "dates_dataset",
    "addition_dataset",
    "format_date",
    "DATE_FORMATS",
    "TextPairs",
]
