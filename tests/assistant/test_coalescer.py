"""The coalescer's frames: one per interval at most, numbered without gaps, and never cut once
numbered, whichever task is cancelled meanwhile (a stop cancels the generation; a shutdown, the task
that finishes the answer)."""

from __future__ import annotations

import asyncio

from assistant.engine.coalescer import Coalescer
from assistant.engine.frames import TokenFrame


class SlowSink:
    """Sends a frame only once `release` is set, as a channel layer under load does."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.sent: list[TokenFrame] = []

    async def emit(self, frame: TokenFrame) -> None:
        await self.release.wait()
        self.sent.append(frame)


async def test_tokens_within_an_interval_go_out_as_one_frame_numbered_in_order() -> None:
    sink = SlowSink()
    sink.release.set()
    frames = Coalescer(7, 0.05, sink.emit)
    frames.add("Hel")
    await asyncio.sleep(0.01)  # the first token after a quiet interval goes out at once
    frames.add("lo")
    frames.add(", world")
    await frames.finish(send_pending=True)

    assert sink.sent == [TokenFrame(message_id=7, seq=1, text="Hel"), TokenFrame(message_id=7, seq=2, text="lo, world")]
    assert (frames.content(), frames.frame_ends) == ("Hello, world", [3, 12])


async def test_a_frame_being_sent_is_not_cut_when_the_generation_stops() -> None:
    sink = SlowSink()
    frames = Coalescer(7, 0.05, sink.emit)

    async def generate() -> None:
        frames.add("Hello")
        await asyncio.sleep(10)

    generation = asyncio.create_task(generate())
    await asyncio.sleep(0.01)  # the frame is numbered and being sent
    generation.cancel()
    sink.release.set()
    await frames.finish(send_pending=True)

    assert sink.sent == [TokenFrame(message_id=7, seq=1, text="Hello")]


async def test_a_frame_being_sent_is_not_cut_when_the_finishing_task_is_cancelled() -> None:
    sink = SlowSink()
    frames = Coalescer(7, 0.05, sink.emit)
    frames.add("Hello")
    await asyncio.sleep(0.01)
    finishing = asyncio.create_task(frames.finish(send_pending=True))
    await asyncio.sleep(0.01)
    finishing.cancel()
    sink.release.set()
    await asyncio.sleep(0.01)

    assert sink.sent == [TokenFrame(message_id=7, seq=1, text="Hello")]
    assert frames.seq == 1


async def test_a_timed_frame_being_sent_is_not_cut_when_the_finishing_task_is_cancelled() -> None:
    sink = SlowSink()
    sink.release.set()
    frames = Coalescer(7, 0.05, sink.emit)
    frames.add("Hello")
    await asyncio.sleep(0.01)  # sent at once
    sink.release.clear()
    frames.add(", world")  # waits for the interval's end
    finishing = asyncio.create_task(frames.finish(send_pending=True))
    await asyncio.sleep(0.08)  # the timer has numbered the frame and is sending it
    finishing.cancel()
    sink.release.set()
    await asyncio.sleep(0.01)

    assert [frame.text for frame in sink.sent] == ["Hello", ", world"]
