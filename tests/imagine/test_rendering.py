"""The rendering parts in this process, with the tiny random pipeline: seeds, batching,
watermarks and clips."""

from __future__ import annotations

import io
import tempfile

import imageio_ffmpeg
import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from imagine.batching import Batcher
from imagine.clips import encode_clip
from imagine.pipelines import RenderRequest, renderer
from imagine.watermark import INVISIBLE_MARK, mark, read_invisible

SIZE = 256


def _request(prompt: str, seed: int, *, width: int = SIZE) -> RenderRequest:
    return RenderRequest(prompt=prompt, seed=seed, width=width, height=SIZE, steps=1)


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_same_seed_renders_the_same_picture_alone_or_in_a_batch() -> None:
    alone = renderer().render([_request("a red fox in snow", 42)])[0]
    again = renderer().render([_request("a red fox in snow", 42)])[0]
    in_batch = renderer().render([_request("a lighthouse", 7), _request("a red fox in snow", 42)])[1]
    other_seed = renderer().render([_request("a red fox in snow", 43)])[0]
    assert np.array_equal(_pixels(alone), _pixels(again))
    assert np.abs(_pixels(alone) - _pixels(in_batch)).max() <= 2  # batched matmuls round differently
    assert np.abs(_pixels(alone) - _pixels(other_seed)).mean() > 1


def test_batcher_renders_requests_queued_together_in_one_call_per_size() -> None:
    calls: list[list[RenderRequest]] = []

    def render(requests: list[RenderRequest]) -> list[Image.Image]:
        calls.append(requests)
        return renderer().render(requests)

    batcher = Batcher(render, window_s=0.2, max_batch=8)
    requests = [_request(f"prompt {n}", n) for n in range(4)] + [_request("wide", 9, width=SIZE + 64)]
    futures = [batcher.submit(request) for request in requests]
    results = [future.result(timeout=30) for future in futures]
    assert [len(call) for call in calls] == [4, 1]  # one call per (size, steps)
    assert {result.batch_id for result in results[:4]} == {results[0].batch_id}
    assert [result.batch_size for result in results] == [4, 4, 4, 4, 1]
    assert results[4].image.size == (SIZE + 64, SIZE)


def test_batcher_hands_a_render_failure_to_every_waiting_request() -> None:
    def fail(requests: list[RenderRequest]) -> list[Image.Image]:
        raise RuntimeError("no GPU memory left")

    batcher = Batcher(fail, window_s=0.05, max_batch=8)
    futures = [batcher.submit(_request("a", n)) for n in range(3)]
    for future in futures:
        with pytest.raises(RuntimeError, match="no GPU memory"):
            future.result(timeout=10)


def test_invisible_watermark_is_read_back_from_the_saved_file(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path
    image = mark(renderer().render([_request("a harbour at dawn", 3)])[0])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    name = default_storage.save("imagine/test/marked.png", ContentFile(buffer.getvalue()))
    with default_storage.open(name, "rb") as file:
        assert read_invisible(Image.open(file)) == INVISIBLE_MARK


def test_visible_mark_is_drawn_in_the_bottom_right_corner() -> None:
    plain = Image.new("RGB", (SIZE, SIZE), (30, 90, 160))
    marked = _pixels(mark(plain))
    original = _pixels(plain)
    corner_changed = np.abs(marked[-20:, -60:] - original[-20:, -60:]).max()
    elsewhere_changed = np.abs(marked[: SIZE // 2, : SIZE // 2] - original[: SIZE // 2, : SIZE // 2]).max()
    assert corner_changed > 60  # the label
    assert elsewhere_changed < 20  # only the invisible mark's small changes


def _probe_mp4(data: bytes) -> tuple[int, float, tuple[int, int]]:
    with tempfile.NamedTemporaryFile(suffix=".mp4") as file:
        file.write(data)
        file.flush()
        reader = imageio_ffmpeg.read_frames(file.name)
        metadata = next(reader)
        count = sum(1 for _ in reader)
    return count, float(metadata["duration"]), tuple(metadata["size"])


def test_zoom_clip_loops_and_is_written_as_mp4_and_gif() -> None:
    image = mark(renderer().render([_request("a sailing boat", 5)])[0])
    progress: list[tuple[int, int]] = []
    frames = renderer().zoom_frames(
        image, prompt="a sailing boat", seed=5, frames=8, progress=lambda done, total: progress.append((done, total))
    )
    clip = encode_clip([mark(frame) for frame in frames], fps=4)
    assert progress == [(4, 8), (8, 8)]
    assert (clip.frames, clip.fps) == (8, 4)
    assert _probe_mp4(clip.mp4) == (8, 2.0, (SIZE, SIZE))
    gif = Image.open(io.BytesIO(clip.gif))
    assert gif.n_frames == 8
    assert gif.info["duration"] == 250
    assert gif.info["loop"] == 0
