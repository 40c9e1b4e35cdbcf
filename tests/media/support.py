"""Real inputs made here: photos drawn with Pillow in a TrueType font, long or silent audio from
ffmpeg's own generators (speech comes from the product's espeak-ng voice). Nothing is downloaded."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from media.processes import ffmpeg
from tests.imagine.support import BROKER_URL, RESULTS_URL, flush, redis_in_this_process
from tests.support.processes import product_env, running, worker_command

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


@contextmanager
def running_media_worker(var_dir: Path) -> Iterator[None]:
    """A real Celery worker of queue `media` on Redis, with this process's Celery app pointed at it."""
    flush()
    env = product_env(var_dir, CELERY_BROKER_URL=BROKER_URL, CELERY_RESULT_BACKEND=RESULTS_URL)
    command = [*worker_command(queues=("media",)), "--include", "media.tasks"]
    with running(command, env=env, log=var_dir / "worker.log"), redis_in_this_process():
        yield
