"""Where an answer's frames go: one sink per kind of listener.

- `ChannelLayerSink`: web sockets, in any process. A socket in the runner's own process follows
  locally: each frame is put in its inbox (`follow_locally`), with no channel layer on the way; it
  catches up by calling `replay` itself. A socket elsewhere joins the group `answer.<id>` and asks
  for a `turn.resync`: from that request on, frames also go to the group. The runner listens on
  `answer-control.<id>` for `turn.stop` (stop, keep the partial answer) and `turn.resync` (send
  the frames a socket missed to its channel).
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

from assistant.engine.frames import AnswerFrame, DoneFrame, QueuedFrame, SearchFrame, TokenFrame, UnnumberedFrame
from assistant.engine.outcome import AnswerOutcome


def answer_group(message_id: int) -> str:
    return f"answer.{message_id}"


def control_group(message_id: int) -> str:
    return f"answer-control.{message_id}"


# A socket's messages handed over in this process; the socket handles them one at a time, in the
# same order as its channel-layer messages.
Inbox = asyncio.Queue[dict[str, object]]


@dataclass(frozen=True)
class Replay:
    frames: list[TokenFrame]
    seq: int  # frames sent so far
    search: SearchFrame | None
    queued: QueuedFrame | None = None  # the answer still waits for the model


class AnswerControl(Protocol):
    """What a listener may ask of a running answer."""

    def stop(self) -> None: ...

    async def replay(self, after_seq: int) -> Replay: ...


class FrameSink(Protocol):
    async def open(self, message_id: int, control: AnswerControl) -> None: ...

    async def numbered(self, frame: TokenFrame) -> None: ...

    async def unnumbered(self, frame: UnnumberedFrame) -> None:
        """A frame outside the numbered sequence: the latest state wins."""

    async def done(self, frame: DoneFrame, outcome: AnswerOutcome) -> None:
        """The last call; the answer is stored by then."""


# The answers whose runner is in this process, by message id, from `open` until `done`.
_running_here: dict[int, ChannelLayerSink] = {}


def running_here(message_id: int) -> ChannelLayerSink | None:
    return _running_here.get(message_id)


class ChannelLayerSink:
    def __init__(self, layer: BaseChannelLayer | None = None) -> None:
        self.layer = layer or get_channel_layer()
        self.message_id = 0
        self.control_channel = ""
        self.control: AnswerControl | None = None
        self.listener: asyncio.Task[None] | None = None
        self.inboxes: set[Inbox] = set()
        # Whether a socket follows through the group: the channel layer's cost is paid only then.
        self.group_followed = False

    def follow_locally(self, inbox: Inbox) -> None:
        """Hand this answer's frames to a socket of this process: never waits on the socket."""
        self.inboxes.add(inbox)

    def unfollow_locally(self, inbox: Inbox) -> None:
        self.inboxes.discard(inbox)

    @property
    def opened(self) -> bool:
        """Whether the runner started; a runner that failed before never does."""
        return self.control is not None

    async def replay(self, after_seq: int) -> Replay:
        """What a local follower missed, once `opened`; later frames reach its inbox after this returns."""
        if self.control is None:
            raise RuntimeError("the answer's runner has not started")
        return await self.control.replay(after_seq)

    async def join(self, message_id: int) -> None:
        """Join the answer's control group (stops, followers in other processes). A socket calls it
        before the answer is launched, so a channel layer that cannot be reached refuses the turn
        (nothing stored) instead of failing the answer."""
        self.control_channel = await self.layer.new_channel()
        await self.layer.group_add(control_group(message_id), self.control_channel)

    async def open(self, message_id: int, control: AnswerControl) -> None:
        self.message_id = message_id
        self.control = control  # before any await: local followers read replays from here on
        _running_here[message_id] = self
        if not self.control_channel:
            await self.join(message_id)
        self.listener = asyncio.create_task(self._listen(control))

    async def numbered(self, frame: TokenFrame) -> None:
        await self._publish(frame, final=False)

    async def unnumbered(self, frame: UnnumberedFrame) -> None:
        await self._deliver({"type": "answer.event", "message_id": self.message_id, "frame": frame.dump()})

    async def done(self, frame: DoneFrame, outcome: AnswerOutcome) -> None:
        if self.listener is not None:  # no replay may follow `done`: its frames would come after it
            self.listener.cancel()
            with suppress(asyncio.CancelledError):
                await self.listener
        if _running_here.get(self.message_id) is self:
            # In the same step as the hand-over below: a socket that finds this answer running
            # here is sure to get its `done`.
            del _running_here[self.message_id]
        await self._publish(frame, final=True)
        await self.layer.group_discard(control_group(self.message_id), self.control_channel)

    async def _publish(self, frame: TokenFrame | DoneFrame, *, final: bool) -> None:
        await self._deliver(
            {
                "type": "answer.frame",
                "message_id": self.message_id,
                "seq": frame.seq,
                "frame": frame.dump(),
                "final": final,
            }
        )

    async def _deliver(self, event: dict[str, object]) -> None:
        for inbox in self.inboxes:  # before any await: local sockets get frames in the runner's order
            inbox.put_nowait(event)
        if self.group_followed:
            await self.layer.group_send(answer_group(self.message_id), event)

    async def _listen(self, control: AnswerControl) -> None:
        while True:
            message = await self.layer.receive(self.control_channel)
            if message["type"] == "turn.stop":
                control.stop()
            elif message["type"] == "turn.resync":
                # Only a socket that follows through the group asks here (a local one calls
                # `replay`). Set before the replay is read under the coalescer's lock: each frame is
                # then in the replay, on the group, or both (a duplicate the socket drops).
                self.group_followed = True
                await self._send_replay(control, message["reply_channel"], message["after_seq"])

    async def _send_replay(self, control: AnswerControl, reply_channel: str, after_seq: int) -> None:
        replay = await control.replay(after_seq)
        if replay.queued is not None:  # before the replay, in the channel's order: no token has come yet
            event = {"type": "answer.event", "message_id": self.message_id, "frame": replay.queued.dump()}
            await self.layer.send(reply_channel, event)
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

    async def unnumbered(self, frame: UnnumberedFrame) -> None:
        # `/v1` has no event for waiting, and its status is decided by the first frame it reads.
        if not isinstance(frame, QueuedFrame):
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

    async def unnumbered(self, frame: UnnumberedFrame) -> None:
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

    async def unnumbered(self, frame: UnnumberedFrame) -> None:
        for sink in self.sinks:
            await sink.unnumbered(frame)

    async def done(self, frame: DoneFrame, outcome: AnswerOutcome) -> None:
        for sink in self.sinks:
            await sink.done(frame, outcome)
