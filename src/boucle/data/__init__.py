"""Data: padding and masks, length bucketing, datasets."""
from .padding import bucket_batches, pad_sequences

__all__ = ["pad_sequences", "bucket_batches"]
