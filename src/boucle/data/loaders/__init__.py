"""Real data, one module per concern: UEA/UCR ``.ts`` files (:mod:`.ts`), cached checksummed
downloads (:mod:`.download`), folders of labelled text files (:mod:`.folders`), dated CSV
series (:mod:`.series`), pretrained word vectors (:mod:`.vectors`), MNIST-family images
(:mod:`.images`), image files (:mod:`.image_files`: PNG, PPM, JPEG) and caption files (:mod:`.captions`)."""

from .captions import CaptionFiles, load_captions, read_caption_file
from .download import default_cache_dir, download
from .folders import load_text_folder
from .image_files import read_image, write_image
from .images import as_images, load_idx, load_mnist, load_npz_images
from .series import CSVSeries, csv_windows, load_csv_series
from .ts import UEA_BASE_URL, TSDataset, load_ts, load_uea, write_ts
from .vectors import PRETRAINED, Alignment, PretrainedSet, WordVectors, fetch_vectors, load_vectors, save_vectors

__all__ = [
    "TSDataset",
    "load_ts",
    "write_ts",
    "default_cache_dir",
    "download",
    "UEA_BASE_URL",
    "load_uea",
    "load_text_folder",
    "CSVSeries",
    "load_csv_series",
    "csv_windows",
    "load_idx",
    "load_mnist",
    "load_npz_images",
    "as_images",
    "read_image",
    "write_image",
    "CaptionFiles",
    "load_captions",
    "read_caption_file",
    "WordVectors",
    "Alignment",
    "load_vectors",
    "save_vectors",
    "PretrainedSet",
    "PRETRAINED",
    "fetch_vectors",
]
