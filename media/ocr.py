"""What the embedded mode can honestly say about a photo: the text printed in it (rapidocr-onnxruntime,
PP-OCRv4 models shipped inside the package) and its basic facts (size, orientation, main colours).

It never describes the scene: the block the model reads says it comes from OCR, so an answer cannot
pass a guess off as sight. Production replaces this with a vision model (docs/subsystems/media.md
gives that contract); the description block keeps the same place in the prompt.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from PIL import Image

from media.conf import media_settings

if TYPE_CHECKING:
    from rapidocr_onnxruntime import RapidOCR

# Named colours a person would use; each main colour of a photo is called by the nearest one.
_COLOUR_NAMES = {
    "black": (0, 0, 0),
    "dark grey": (80, 80, 80),
    "grey": (150, 150, 150),
    "white": (250, 250, 250),
    "red": (200, 30, 30),
    "orange": (240, 140, 20),
    "yellow": (240, 220, 40),
    "green": (40, 160, 60),
    "blue": (40, 80, 200),
    "light blue": (140, 190, 240),
    "purple": (130, 50, 160),
    "pink": (240, 150, 190),
    "brown": (120, 75, 40),
    "beige": (225, 205, 170),
}
_PALETTE_SIZE = 4  # the photo is reduced to this many colours; those covering 10 % or more are named
_MIN_COLOUR_SHARE = 0.10
_THUMBNAIL_SIDE = 64


@dataclass(frozen=True)
class OcrLine:
    text: str
    confidence: float  # the recogniser's score for the line, 0 to 1


@dataclass(frozen=True)
class PhotoReading:
    width: int
    height: int
    colours: tuple[str, ...]  # main colours, most of the picture first
    lines: tuple[OcrLine, ...]  # top to bottom, those at or above MEDIA_OCR_MIN_CONFIDENCE

    @property
    def orientation(self) -> str:
        if self.width == self.height:
            return "square"
        return "landscape" if self.width > self.height else "portrait"

    def description(self) -> str:
        """The block the model reads in place of the picture; it says what it is, and is not."""
        facts = f"{self.width}×{self.height} pixels, {self.orientation}; main colours: {', '.join(self.colours)}."
        header = "[Photo, read by OCR: only its printed text and basic facts are known, not what it shows]"
        if not self.lines:
            return f"{header}\n{facts}\nNo printed text was found in it."
        text = "\n".join(line.text for line in self.lines)
        return f"{header}\n{facts}\nText found in the photo:\n{text}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PhotoReading:
        return cls(
            width=data["width"],
            height=data["height"],
            colours=tuple(data["colours"]),
            lines=tuple(OcrLine(**line) for line in data["lines"]),
        )


@functools.cache
def engine() -> RapidOCR:
    """Loaded once per worker process (about 0.1 s; the models are in the package). Imported here:
    the web process imports this module but never reads a photo, and need not map ONNX Runtime."""
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def read_photo(image: Image.Image) -> PhotoReading:
    """OCR and basic facts of a decoded photo (intake's `clean_photo` gives one)."""
    found, _ = engine()(image.convert("RGB"))
    threshold = media_settings().ocr_min_confidence
    lines = tuple(
        OcrLine(text=text.strip(), confidence=round(float(score), 3))
        for _box, text, score in found or ()
        if float(score) >= threshold and text.strip()
    )
    return PhotoReading(width=image.width, height=image.height, colours=main_colours(image), lines=lines)


def main_colours(image: Image.Image) -> tuple[str, ...]:
    """Names of the colours that cover at least a tenth of the picture, the largest first."""
    small = image.convert("RGB")
    small.thumbnail((_THUMBNAIL_SIDE, _THUMBNAIL_SIDE))
    reduced = small.quantize(colors=_PALETTE_SIZE)
    palette = reduced.getpalette() or []
    total = small.width * small.height
    names: list[str] = []
    for count, index in sorted(reduced.getcolors() or [], reverse=True):
        name = _nearest_colour_name(tuple(palette[index * 3 : index * 3 + 3]))
        if count / total >= _MIN_COLOUR_SHARE and name not in names:
            names.append(name)
    return tuple(names)


def _nearest_colour_name(rgb: tuple[int, ...]) -> str:
    return min(_COLOUR_NAMES, key=lambda name: sum((a - b) ** 2 for a, b in zip(rgb, _COLOUR_NAMES[name], strict=True)))
