"""The captioning command of ``boucle``: ``caption``.

    boucle caption MODEL IMAGE [IMAGE ...] [--beam K] [--max-len N] [--length-penalty A]
                   [--guidance W] [--attention OUT.png [--force]]

Prints one caption per image, in order. Images are PNG, PPM/PGM or JPEG files
(:mod:`boucle.data.loaders.image_files`, Pillow) of the model's size and channel count.
``--attention OUT.png`` also draws each word's attention over its image (greedy decoding;
a model built with attention; matplotlib). Bad input — a missing or corrupt model file, a
model that is not an ImageCaptioner, an image of another size or channel count, a file in
another format, an output that exists without ``--force`` — prints one line ``boucle caption:
error: ...`` on stderr and returns 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..data.loaders.image_files import read_image
from ..diagnostics.captions import plot_caption_attention
from ..errors import BoucleError
from ..models.captioner import ImageCaptioner
from .files import check_output, load_model_of
from .options import add_decoding_options

__all__ = ["add_commands"]


def _caption(args: argparse.Namespace) -> int:
    model = load_model_of(args.model, ImageCaptioner, "an ImageCaptioner model file")
    out = None
    if args.attention is not None:
        out = Path(args.attention)
        if out.suffix.lower() != ".png":
            raise BoucleError(f"--attention: expected a .png file name, got {args.attention!r}")
        if model.attn is None:
            raise BoucleError("--attention: the model has no attention (it was built with attention=None)")
        check_output(out, "--attention", folder=False, force=args.force)
    H, W, C = model.image_shape
    images = np.stack([read_image(p, size=(H, W), channels=C, name="IMAGE") for p in args.image])
    captions = model.caption(
        images, beam_width=args.beam, max_len=args.max_len, length_penalty=args.length_penalty, guidance=args.guidance
    )
    for line in captions:
        print(line)
    if out is not None:
        plot_caption_attention(images, model.attention_maps(images, max_len=args.max_len), out)
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``caption`` on a ``boucle`` subparsers object."""
    c = subparsers.add_parser(
        "caption",
        help="describe images with a trained image-captioning model",
        description="Caption each IMAGE (PNG, PPM/PGM or JPEG of the model's size) with an ImageCaptioner "
        "model file (greedy, or beam search with --beam K > 1) and print one caption per line.",
    )
    c.add_argument(
        "model",
        metavar="MODEL",
        help="a .safetensors file written by boucle.save, or a folder holding model.safetensors",
    )
    c.add_argument("image", metavar="IMAGE", nargs="+", help="image file(s)")
    add_decoding_options(c, "words", "the longest training caption")
    c.add_argument(
        "--guidance",
        metavar="W",
        type=float,
        default=0.0,
        help="guided decoding against the null image with weight W (a model trained with image_dropout; 0: none)",
    )
    c.add_argument(
        "--attention",
        metavar="OUT.png",
        default=None,
        help="also draw each word's attention over its image (greedy decoding) into this PNG",
    )
    c.add_argument("--force", action="store_true", help="replace the file already at --attention")
    c.set_defaults(func=_caption)
