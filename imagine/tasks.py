"""Celery tasks on queue `imagine` (a GPU worker: `--pool threads --concurrency 8`, one process per
GPU). They need no database and no shared storage: each returns its picture or clip through the
result backend, and the web process stores it (imagine/services.py). Every picture is decoded here,
never in the web process: a photo the person sent arrives as its stored bytes and is checked and fitted
before it is edited.

A task never raises for an expected failure: it returns `{"ok": False, "code", "detail"}`, which
every result backend carries as plain JSON, and the worker stays up (GPU out of memory included).
"""

from __future__ import annotations

import base64
import io
import logging
import time
from collections.abc import Callable
from typing import Any

import torch
from celery import Task, shared_task
from PIL import Image, ImageOps

from core.errors import ErrorCode
from imagine.batching import batcher
from imagine.clips import encode_clip
from imagine.conf import imagine_settings
from imagine.pipelines import RenderRequest, renderer, video_frames
from imagine.sizes import photo_shape
from imagine.watermark import mark

logger = logging.getLogger(__name__)


def _encode(image: Image.Image, image_format: str) -> str:
    buffer = io.BytesIO()
    if image_format == "JPEG":
        image.save(buffer, format="JPEG", quality=88)
    else:
        image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


OUT_OF_MEMORY_DETAIL = "The image service ran out of GPU memory. Try a smaller size, or again in a moment."
UNREADABLE_PHOTO_DETAIL = "That photo could not be read."


def _failure(code: ErrorCode, detail: str) -> dict[str, Any]:
    return {"ok": False, "code": code.value, "detail": detail}


def _guarded(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return work()
    except torch.cuda.OutOfMemoryError:
        logger.warning("imagine: GPU out of memory", exc_info=True)
        torch.cuda.empty_cache()
        return _failure(ErrorCode.GPU_OUT_OF_MEMORY, OUT_OF_MEMORY_DETAIL)
    except Exception:
        logger.exception("imagine: render failed")
        return _failure(ErrorCode.RENDER_FAILED, "The image could not be rendered. Please try again.")


def _picture(image: Image.Image, *, image_format: str, started: float) -> dict[str, Any]:
    """A rendered picture, watermarked, as the result backend carries it."""
    marked = mark(image, invisible=image_format == "PNG")
    return {
        "ok": True,
        "image": _encode(marked, image_format),
        "format": image_format.lower(),
        "width": marked.width,
        "height": marked.height,
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }


def _render(request: dict[str, Any], *, image_format: str) -> dict[str, Any]:
    started = time.perf_counter()
    rendered = batcher().submit(RenderRequest(**request)).result()
    return {
        **_picture(rendered.image, image_format=image_format, started=started),
        "batch_id": rendered.batch_id,
        "batch_size": rendered.batch_size,
        "started": rendered.started,
        "finished": rendered.finished,
    }


@shared_task(ignore_result=False, acks_late=False)
def render_preview(request: dict[str, Any]) -> dict[str, Any]:
    """A preview (JPEG, preview autoencoder). Not acknowledged late: a lost preview is replaced by
    the next keystroke, never worth rendering twice."""
    return _guarded(lambda: _render(request, image_format="JPEG"))


@shared_task(ignore_result=False)
def render_final(request: dict[str, Any]) -> dict[str, Any]:
    """A final render (PNG, which keeps the invisible watermark intact)."""
    return _guarded(lambda: _render({**request, "final": True}, image_format="PNG"))


@shared_task(bind=True, ignore_result=False)
def edit(self: Task, request: dict[str, Any]) -> dict[str, Any]:
    """A stored picture (`image`), or a photo the person sent (`photo`, fitted to about `pixels`),
    restyled by a prompt (PNG, both watermarks); reports PROGRESS per step. A photo that cannot be read
    is refused with BROKEN_FILE. Not batched: each edit starts from a picture of its own, which img2img
    takes one call each."""

    def progress(done: int, total: int) -> None:
        self.update_state(state="PROGRESS", meta={"done": done, "total": total})

    def work() -> dict[str, Any]:
        started = time.perf_counter()
        source = _edit_source(request)
        if source is None:
            return _failure(ErrorCode.BROKEN_FILE, UNREADABLE_PHOTO_DETAIL)
        edited = renderer().edit(source, prompt=request["prompt"], seed=request["seed"], progress=progress)
        return _picture(edited, image_format="PNG", started=started)

    return _guarded(work)


def _edit_source(request: dict[str, Any]) -> Image.Image | None:
    if "photo" in request:
        return _fitted_photo(base64.b64decode(request["photo"]), pixels=request["pixels"])
    return _decode(request["image"])


def _fitted_photo(data: bytes, *, pixels: int) -> Image.Image | None:
    """A sent photo cropped at the centre and scaled to `photo_shape`, so that a phone's 12-megapixel
    photo costs the GPU what a render costs; None when it is not an image Pillow can read (damaged, cut
    short, another kind of file, a decompression bomb)."""
    try:
        photo = Image.open(io.BytesIO(data))
        photo.load()
    except (OSError, Image.DecompressionBombError):
        return None
    shape = photo_shape(photo.width, photo.height, pixels=pixels)
    return ImageOps.fit(photo.convert("RGB"), shape, method=Image.Resampling.LANCZOS)


def _decode(image: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(image))).convert("RGB")


@shared_task(bind=True, ignore_result=False)
def animate(self: Task, request: dict[str, Any]) -> dict[str, Any]:
    """A looping clip from a stored image; reports PROGRESS (done, total) as frames render."""

    def progress(done: int, total: int) -> None:
        self.update_state(state="PROGRESS", meta={"done": done, "total": total})

    def work() -> dict[str, Any]:
        started = time.perf_counter()
        image = _decode(request["image"])
        frames = _animation_frames(image, prompt=request["prompt"], seed=request["seed"], progress=progress)
        clip = encode_clip([mark(frame, invisible=False) for frame in frames], fps=imagine_settings().animate_fps)
        return {
            "ok": True,
            "mp4": base64.b64encode(clip.mp4).decode(),
            "gif": base64.b64encode(clip.gif).decode(),
            "frames": clip.frames,
            "fps": clip.fps,
            "width": image.width,
            "height": image.height,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }

    return _guarded(work)


def _animation_frames(
    image: Image.Image, *, prompt: str, seed: int, progress: Callable[[int, int], None]
) -> list[Image.Image]:
    frames = imagine_settings().animate_frames
    if imagine_settings().animate_model:
        return video_frames(image, seed=seed, frames=frames, progress=progress)
    return renderer().zoom_frames(image, prompt=prompt, seed=seed, frames=frames, progress=progress)
