"""Frames → a looping MP4 (H.264) and GIF, written with the ffmpeg binary imageio-ffmpeg ships."""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
from PIL import Image


@dataclass(frozen=True)
class Clip:
    mp4: bytes
    gif: bytes
    frames: int
    fps: int


def encode_clip(frames: list[Image.Image], *, fps: int) -> Clip:
    return Clip(mp4=_mp4(frames, fps), gif=_gif(frames, fps), frames=len(frames), fps=fps)


def _mp4(frames: list[Image.Image], fps: int) -> bytes:
    width, height = frames[0].size
    with tempfile.TemporaryDirectory(prefix="imagine-clip-") as folder:
        path = Path(folder) / "clip.mp4"
        writer = imageio_ffmpeg.write_frames(
            str(path),
            (width, height),
            fps=fps,
            codec="libx264",
            pix_fmt_out="yuv420p",  # what browsers and phones play
            output_params=["-movflags", "+faststart"],  # playable while it downloads
            macro_block_size=16,
        )
        writer.send(None)
        for frame in frames:
            writer.send(frame.convert("RGB").tobytes())
        writer.close()
        return path.read_bytes()


def _gif(frames: list[Image.Image], fps: int) -> bytes:
    buffer = io.BytesIO()
    first, *rest = (frame.convert("RGB") for frame in frames)
    first.save(buffer, format="GIF", save_all=True, append_images=rest, duration=round(1000 / fps), loop=0)
    return buffer.getvalue()
