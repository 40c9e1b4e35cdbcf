"""The sizes the diffusion pipeline renders at, shared by the web side (which picks a render's size) and
the imagine worker (which fits a sent photo to one). Arithmetic only: no Django, no image library."""

from __future__ import annotations

import math

SIZE_MULTIPLE = 64  # the UNet halves the latent three times; the autoencoder divides by 8
MAX_PHOTO_ASPECT = 2.0  # a longer panorama is cropped to this: its area stays a final render's
MIN_PHOTO_SIDE = 256  # the invisible mark needs at least 256² (watermark.py)


def round_to_multiple(pixels: float) -> int:
    return max(SIZE_MULTIPLE, round(pixels / SIZE_MULTIPLE) * SIZE_MULTIPLE)


def photo_shape(width: int, height: int, *, pixels: int) -> tuple[int, int]:
    """The (width, height) a `width`×`height` photo is edited at: its aspect limited to MAX_PHOTO_ASPECT,
    about `pixels` in area, sides multiples of SIZE_MULTIPLE and at least MIN_PHOTO_SIDE."""
    aspect = min(max(width / height, 1 / MAX_PHOTO_ASPECT), MAX_PHOTO_ASPECT)
    return _photo_side(math.sqrt(pixels * aspect)), _photo_side(math.sqrt(pixels / aspect))


def _photo_side(pixels: float) -> int:
    return max(MIN_PHOTO_SIDE, round_to_multiple(pixels))
