"""Real inputs made here: photos drawn with Pillow in a TrueType font, long or silent audio from
ffmpeg's own generators (speech comes from the product's espeak-ng voice). Nothing is downloaded."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from media.processes import ffmpeg

# Debian's fonts-dejavu-core (a dependency of chromium, installed by `make system-packages`);
# Pillow's own bitmap font when it is missing, at a size OCR still reads.
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.truetype(str(DEJAVU), size) if DEJAVU.exists() else ImageFont.load_default(size)


def text_photo(lines: list[str], *, image_format: str = "PNG", background: str = "white") -> bytes:
    """A photo of printed lines, dark on `background`."""
    image = Image.new("RGB", (1000, 120 + 90 * len(lines)), background)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((60, 60 + 90 * row), line, font=font(44), fill=(20, 20, 30))
    out = io.BytesIO()
    image.save(out, format=image_format)
    return out.getvalue()


def generated_audio(tmp_path: Path, source: str, seconds: float, *codec: str, name: str) -> bytes:
    """Audio from an ffmpeg lavfi `source` (anullsrc, sine), encoded with `codec` arguments into `name`."""
    output = tmp_path / name
    ffmpeg("-f", "lavfi", "-i", source, "-t", f"{seconds:g}", *codec, str(output))
    return output.read_bytes()
