"""Where an answer's frames go: one sink per kind of listener.

- `ChannelLayerSink`: web sockets, in any process. Frames go to the group `answer.<id>`, which
  every following socket joins; the runner listens on `answer-control.<id>` for `turn.stop` (stop,
  keep the partial answer) and `turn.resync` (send the frames a socket missed to its channel).
- `QueueSink`: a caller in the runner's own process (`/v1`), through a local queue that cannot
  drop a frame, as the channel layer may under load.
- `CollectorSink`: a caller that wants only the outcome (a messaging reply): nothing is published.

`TeeSink` hands every frame to several sinks: a `/v1` answer also goes to the channel layer, since
its conversation is in its owner's list on the web page, where it can be followed and stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Protocol

from channels.layers import BaseChannelLayer, get_channel_layer

from assistant.engine.frames import AnswerFrame, BlockedFrame, DoneFrame, SearchFrame, TokenFrame
from assistant.engine.outcome import AnswerOutcome


def answer_group(message_id: int) -> str:
    return f"answer.{message_id}"


def control_group(message_id: int) -> str:
    return f"answer-control.{message_id}"


@dataclass(frozen=True)
class Replay:
    frames: list[TokenFrame]
    seq: int  # frames sent so far
    search: SearchFrame | None


class AnswerControl(Protocol):
    """What a listener may ask of a running answer."""

    def stop(self) -> None: ...

    async def replay(self, after_seq: int) -> Replay: ...


class FrameSink(Protocol):
    async def open(self, message_id: int, control: AnswerControl) -> None: ...

    async def numbered(self, frame: TokenFrame) -> None: ...

    async def unnumbered(self, frame: SearchFrame | BlockedFrame) -> None:
        """A frame outside the numbered sequence: the latest state wins."""

    async def done(self, frame: DoneFrame, outcome: AnswerOutcome) -> None:
        """The last call; the answer is stored by then."""


class ChannelLayerSink:
    def __init__(self, layer: BaseChannelLayer | None = None) -> None:
        self.layer = layer or get_channel_layer()
        self.message_id = 0
        self.control_channel = ""
        self.listener: asyncio.Task[None] | None = None

    async def open(self, message_id: int, control: AnswerControl) -> None:
        self.message_id = message_id
        self.control_channel = await self.layer.new_channel()
        await self.layer.group_add(control_group(message_id), self.control_channel)
        self.listener = asyncio.create_task(self._listen(control))

    async def numbered(self, frame: TokenFrame) -> None:
        await self._publish(frame, final=False)

    async def unnumbered(self, frame: SearchFrame | BlockedFrame) -> None:
        await self.layer.group_send(
            answer_group(self.message_id),
            {"type": "answer.event", "message_id": self.message_id, "frame": frame.dump()},
        )

    async def done(self, frame: DoneFrame, outcome: AnswerOutcome) -> None:
        if self.listener is not None:  # no replay may follow `done`: its frames would come after it
            self.listener.cancel()
            with suppress(asyncio.CancelledError):
                await self.listener
        await self._publish(frame, final=True)
        await self.layer.group_discard(control_group(self.message_id), self.control_channel)

    async def _publish(self, frame: TokenFrame | DoneFrame, *, final: bool) -> None:
        await self.layer.group_send(
            answer_group(self.message_id),
            {
                "type": "answer.frame",
                "message_id": self.message_id,
                "seq": frame.seq,
                "frame": frame.dump(),
                "final": final,
            },
        )

    async def _listen(self, control: AnswerControl) -> None:
        while True:
            message = await self.layer.receive(self.control_channel)
            if message["type"] == "turn.stop":
                control.stop()
            elif message["type"] == "turn.resync":
                await self._send_replay(control, message["reply_channel"], message["after_seq"])

    async def _send_replay(self, control: AnswerControl, reply_channel: str, after_seq: int) -> None:
        replay = await control.replay(after_seq)
        await self.layer.send(
            reply_channel,
            {
                "type": "answer.replay",
                "message_id": self.message_id,
                "frames": [frame.dump() for frame in replay.frames],
                "seq": replay.seq,
                "search": replay.search.dump() if replay.search else None,
            },
        )


class QueueSink:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[AnswerFrame] = asyncio.Queue()
        self.control: AnswerControl | None = None

    async def open(self, message_id: int, control: AnswerControl) -> None:
        self.control = control

    async def numbered(self, frame: TokenFrame) -> None:
        self.queue.put_nowait(frame)

    async def unnumbered(self, frame: SearchFrame | BlockedFrame) -> None:
        self.queue.put_nowait(frame)

    async def done(self, frame: DoneFrame, outcome: AnswerOutcome) -> None:
        self.queue.put_nowait(frame)

    async def frames(self) -> AsyncIterator[AnswerFrame]:
        """Every frame until `done`. If the reader goes away first (a client that disconnected), the
        answer is stopped: nobody is left to read it."""
        finished = False
        try:
            while not finished:
                frame = await self.queue.get()
                finished = isinstance(frame, DoneFrame)
                yield frame
        finally:
            if not finished and self.control is not None:
                self.control.stop()


class CollectorSink:
    def __init__(self) -> None:
        self.result: asyncio.Future[AnswerOutcome] = asyncio.get_running_loop().create_future()

    async def open(self, message_id: int, control: AnswerControl) -> None:
        return None

    async def numbered(self, frame: TokenFrame) -> None:
        return None

    async def unnumbered(self, frame: SearchFrame | BlockedFrame) -> None:
        return None

    async def done(self, frame: DoneFrame, outcome: AnswerOutcome) -> None:
        self.result.set_result(outcome)

    async def outcome(self) -> AnswerOutcome:
        return await self.result


class TeeSink:
    def __init__(self, *sinks: FrameSink) -> None:
        self.sinks = sinks

    async def open(self, message_id: int, control: AnswerControl) -> None:
        for sink in self.sinks:
            await sink.open(message_id, control)

    async def numbered(self, frame: TokenFrame) -> None:
        for sink in self.sinks:
            await sink.numbered(frame)

    async def unnumbered(self, frame: SearchFrame | BlockedFrame) -> None:
        for sink in self.sinks:
            await sink.unnumbered(frame)

    async def done(self, frame: DoneFrame, outcome: AnswerOutcome) -> None:
        for sink in self.sinks:
            await sink.done(frame, outcome)
