"""The web chat WebSocket: authenticate, validate frames, hand turns to the door (`assistant.door`),
forward frames. No business logic lives here.

The socket follows any number of answers at once (`Following`). For each it remembers the last
frame number sent, so duplicate frames are dropped and a gap triggers a resync from the runner. An
answer whose runner is in this process is followed locally (its frames come through the socket's
inbox, its missed frames straight from the runner); any other through the channel layer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from assistant.chat import selectors, services
from assistant.chat.services import TurnStart
from assistant.door import (
    Action,
    AnswerHandle,
    TurnRequest,
    end_temporary_chat,
    memory_group,
    start_answer,
)
from assistant.engine import recorder
from assistant.engine.frames import TokenFrame, frames_after
from assistant.engine.outcome import done_frame, stored_outcome
from assistant.engine.renders import answer_image
from assistant.engine.sinks import ChannelLayerSink, Replay, answer_group, control_group, running_here
from assistant.models import Channel, Message
from assistant.ops import metrics
from assistant.web import attachments
from assistant.web.protocol import (
    AckFrame,
    AnyClientFrame,
    EditFrame,
    ErrorFrame,
    MessageFrame,
    RegenerateFrame,
    SelectVersionFrame,
    StopFrame,
    VersionSelectedFrame,
    parse_client_frame,
)
from core.db import database_sync_to_async
from core.errors import DEPENDENCY_ERRORS, AssistantError, ErrorCode, dependency_unavailable
from core.metrics import ERRORS
from core.websocket import SocketConsumer

logger = logging.getLogger(__name__)

RESYNC_TIMEOUT_SECONDS = 2.0
# An answer whose runner did not save for this long has lost its process.
STALE_ANSWER_SECONDS = 5.0
# A followed answer silent for this long is checked with its runner (or the database): its last
# frames may have been lost, or its process may have died.
SILENCE_CHECK_SECONDS = 3.0
TEMPORARY_STARTS_NEW = "temporary: a temporary chat starts with its first message; this conversation is kept."


def _lost_its_process(answer: Message) -> bool:
    """A streaming answer whose runner stopped saving heartbeats."""
    return not answer.is_final and time.time() - answer.updated_at.timestamp() > STALE_ANSWER_SECONDS


@dataclass
class Following:
    last_seq: int
    resyncing: bool = False
    heard_at: float = field(default_factory=time.monotonic)  # last frame or replay for this answer
    # The `done` that arrived while a replay was on its way: delivered after the replay, not dropped.
    final_event: dict | None = None
    local: ChannelLayerSink | None = None  # the runner's sink, when it runs in this process

    def quiet(self, now: float) -> bool:
        return not self.resyncing and now - self.heard_at > SILENCE_CHECK_SECONDS


class ChatConsumer(SocketConsumer):
    counted_in_metrics = False  # set once accepted, so a refused handshake is never counted down
    memory: str | None = None  # the group told when the person's memory keeps something (door.memory_group)

    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.following: dict[int, Following] = {}
        self.searches_sent: dict[int, str] = {}  # the last search frame sent, per answer not yet done
        self.temporary_chats: dict[int, AnswerHandle] = {}  # started here as temporary: their last turn
        self.watchdog: asyncio.Task[None] | None = None
        await self.accept()
        metrics.WEBSOCKET_CONNECTIONS.inc()
        self.counted_in_metrics = True
        if await self.close_unless_signed_in():
            self.memory = memory_group(self.user.pk)
            await self.channel_layer.group_add(self.memory, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
        if self.counted_in_metrics:
            metrics.WEBSOCKET_CONNECTIONS.dec()
        await self.leave_account()
        if self.memory is not None:
            await self.channel_layer.group_discard(self.memory, self.channel_name)
        for last_turn in getattr(self, "temporary_chats", {}).values():
            end_temporary_chat(user=self.user, last_turn=last_turn)
        for message_id in list(getattr(self, "following", {})):
            await self._unfollow(message_id)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        client_id = None
        try:
            if text_data is None:
                raise AssistantError(ErrorCode.INVALID_FRAME, "Frames must be JSON text, not binary.")
            frame = parse_client_frame(text_data)
            client_id = frame.client_id if isinstance(frame, MessageFrame | EditFrame) else None
            await self._dispatch(frame)
        except AssistantError as exc:
            error = ErrorFrame(code=exc.code, detail=exc.detail, client_id=client_id, retry_after=exc.retry_after)
            await self._send_error(error)
        except DEPENDENCY_ERRORS as exc:
            logger.error("frame refused, dependency unavailable: %s", exc)
            error = dependency_unavailable(exc)
            await self._send_error(ErrorFrame(code=error.code, detail=error.detail, client_id=client_id))
        except Exception:
            logger.exception("frame failed: %.200s", text_data)
            await self._send_error(ErrorFrame(code=ErrorCode.INTERNAL, detail="Something went wrong on our side."))

    async def _dispatch(self, frame: AnyClientFrame) -> None:
        if isinstance(frame, MessageFrame) and frame.attachment_id is not None:
            await self._answer_with_attachment(frame, frame.attachment_id)
        elif isinstance(frame, MessageFrame):
            request = self._turn_request(
                conversation_id=frame.conversation_id,
                text=frame.text,
                client_id=frame.client_id,
                temporary=self._is_temporary(frame.conversation_id, asked=frame.temporary),
                edits_picture_of=frame.edit_picture_of,
            )
            await self._answer(request)
        elif isinstance(frame, RegenerateFrame):
            temporary = frame.conversation_id in self.temporary_chats
            request = self._turn_request(
                action=Action.REGENERATE, conversation_id=frame.conversation_id, temporary=temporary
            )
            await self._answer(request)
        elif isinstance(frame, EditFrame):
            request = self._turn_request(
                action=Action.EDIT,
                conversation_id=frame.conversation_id,
                edited_message_id=frame.message_id,
                text=frame.text,
                client_id=frame.client_id,
                temporary=frame.conversation_id in self.temporary_chats,
            )
            await self._answer(request)
        elif isinstance(frame, SelectVersionFrame):
            await self._select_version(frame.message_id)
        elif isinstance(frame, StopFrame):
            await self._stop(frame.message_id)
        else:
            await self._resume(frame.message_id, frame.after_seq)

    def _is_temporary(self, conversation_id: int | None, *, asked: bool) -> bool:
        """A temporary chat is one this socket started as such; every later turn in it is temporary too."""
        if conversation_id is None:
            return asked
        if asked and conversation_id not in self.temporary_chats:
            raise AssistantError(ErrorCode.INVALID_FRAME, TEMPORARY_STARTS_NEW)
        return conversation_id in self.temporary_chats

    def _turn_request(self, **fields: Any) -> TurnRequest:
        client = self.scope.get("client")
        return TurnRequest(channel=Channel.WEB, user=self.user, ip=client[0] if client else None, **fields)

    async def _answer_with_attachment(self, frame: MessageFrame, attachment_id: int) -> None:
        """A message sent with an upload: claimed for this message (so it is sent once), then kept with
        the stored message so the thread shows it; released again when the turn is refused."""
        temporary = self._is_temporary(frame.conversation_id, asked=frame.temporary)
        claimed = await database_sync_to_async(attachments.claim)(
            owner=self.user, attachment_id=attachment_id, client_id=frame.client_id, text=frame.text
        )
        sent = await database_sync_to_async(attachments.for_turn)(claimed)  # reads the photo from the storage
        client = self.scope.get("client")
        request = TurnRequest.with_attachment(
            sent,
            caption=frame.text.strip(),
            channel=Channel.WEB,
            user=self.user,
            ip=client[0] if client else None,
            conversation_id=frame.conversation_id,
            client_id=frame.client_id,
            temporary=temporary,
            edits_picture_of=frame.edit_picture_of,  # refused by the door: a photo is edited by its caption
        )
        try:
            handle = await self._answer(request)
        except AssistantError:
            await database_sync_to_async(attachments.release)(claimed)
            raise
        await database_sync_to_async(attachments.keep_with)(claimed, message_id=handle.user_message_id)

    async def _answer(self, request: TurnRequest) -> AnswerHandle:
        sink = ChannelLayerSink(self.channel_layer)

        async def follow_new(start: TurnStart) -> None:
            await sink.join(start.answer.pk)
            await self._follow(start.answer.pk, after_seq=0, runner=sink)

        handle = await start_answer(request, sink, before_launch=follow_new)
        ack = AckFrame(
            client_id=request.client_id,
            conversation_id=handle.conversation_id,
            user_message_id=handle.user_message_id,
            message_id=handle.answer.pk,
        )
        await self._send(ack.dump())
        if request.temporary:
            self.temporary_chats[handle.conversation_id] = handle
        if not handle.created:  # a retried message: replay what exists instead of generating again
            await self._resume(handle.answer.pk, 0)
        return handle

    async def _select_version(self, message_id: int) -> None:
        chosen = await database_sync_to_async(services.select_version)(user=self.user, message_id=message_id)
        await self._send(VersionSelectedFrame(conversation_id=chosen.conversation_id, message_id=chosen.pk).dump())

    async def _stop(self, message_id: int) -> None:
        answer = await database_sync_to_async(selectors.answer_for)(user=self.user, message_id=message_id)
        if answer.is_final:
            raise AssistantError(ErrorCode.NOT_STREAMING, "That answer has already finished.")
        if _lost_its_process(answer):  # no runner is left to obey a stop
            answer = await database_sync_to_async(recorder.mark_interrupted)(answer_id=message_id)
            await self._replay_stored(answer, answer.seq)
            return
        await self.channel_layer.group_send(control_group(message_id), {"type": "turn.stop"})

    async def _resume(self, message_id: int, after_seq: int) -> None:
        answer = await database_sync_to_async(selectors.answer_for)(user=self.user, message_id=message_id)
        if answer.is_final:
            await self._replay_stored(answer, after_seq)
            return
        await self._follow(message_id, after_seq=after_seq)
        await self._request_resync(message_id)

    # --- following answers ------------------------------------------------------------

    async def _follow(self, message_id: int, *, after_seq: int, runner: ChannelLayerSink | None = None) -> None:
        """Follows locally when the answer runs in this process: `runner` is the sink of an answer
        this socket starts (before its runner is), else the one found running here."""
        followed = self.following.get(message_id)
        if followed is not None:
            local = followed.local
        elif local := runner or running_here(message_id):  # found and joined with no await between
            local.follow_locally(self.inbox)
        else:
            await self.channel_layer.group_add(answer_group(message_id), self.channel_name)
        self.following[message_id] = Following(last_seq=after_seq, local=local)
        if self.watchdog is None:
            self.watchdog = asyncio.create_task(self._watch_for_silence())

    async def _watch_for_silence(self) -> None:
        """Resync answers that went quiet. Only the timestamps are read here; the check itself runs
        in this consumer's own message order (its inbox), so it never interleaves with a handler."""
        while True:
            await asyncio.sleep(SILENCE_CHECK_SECONDS)
            now = time.monotonic()
            if any(following.quiet(now) for following in self.following.values()):
                self.inbox.put_nowait({"type": "answer.silence_check"})

    async def answer_silence_check(self, event: dict) -> None:
        now = time.monotonic()
        for message_id, following in list(self.following.items()):
            if following.quiet(now):
                await self._request_resync(message_id)

    async def _unfollow(self, message_id: int) -> None:
        following = self.following.pop(message_id, None)
        if following is None:
            return
        if following.local is not None:
            following.local.unfollow_locally(self.inbox)
        else:
            await self.channel_layer.group_discard(answer_group(message_id), self.channel_name)

    async def _request_resync(self, message_id: int) -> None:
        following = self.following[message_id]
        if following.local is not None and following.local.opened:
            # Straight from the runner; the frames after the replay follow in the inbox.
            await self._catch_up_locally(message_id, following, await following.local.replay(following.last_seq))
            return
        following.resyncing = True
        if following.local is None:
            await self.channel_layer.group_send(
                control_group(message_id),
                {"type": "turn.resync", "reply_channel": self.channel_name, "after_seq": following.last_seq},
            )
        # A local runner that never started gets the same end as one that does not answer.
        self._resync_timer = asyncio.create_task(self._resync_timeout_after(message_id))

    async def _catch_up_locally(self, message_id: int, following: Following, replay: Replay) -> None:
        if replay.queued is not None:
            await self._send(replay.queued.dump())
        search = replay.search.dump() if replay.search else None
        await self._caught_up(message_id, following, search, [(frame.seq, frame.dump()) for frame in replay.frames])

    async def _resync_timeout_after(self, message_id: int) -> None:
        await asyncio.sleep(RESYNC_TIMEOUT_SECONDS)
        self.inbox.put_nowait({"type": "answer.resync_timeout", "message_id": message_id})

    async def answer_frame(self, event: dict) -> None:
        following = self.following.get(event["message_id"])
        if following is None or event["seq"] < following.last_seq:
            return  # not followed, or already sent
        following.heard_at = time.monotonic()
        if following.resyncing:  # a replay is on its way and will carry the frames
            if event["final"]:
                following.final_event = event
            return
        if event["final"]:
            await self._unfollow(event["message_id"])
            if event["seq"] == following.last_seq:
                await self._send(event["frame"])
                self.searches_sent.pop(event["message_id"], None)
            else:  # frames were lost on the way; the stored answer is final and complete
                answer = await database_sync_to_async(Message.objects.get)(pk=event["message_id"])
                await self._replay_stored(answer, following.last_seq)
        elif event["seq"] == following.last_seq + 1:
            following.last_seq = event["seq"]
            await self._send(event["frame"])
        elif event["seq"] > following.last_seq + 1:
            await self._request_resync(event["message_id"])  # frames were lost on the way

    async def answer_event(self, event: dict) -> None:
        """A frame outside the numbered sequence (search progress, a retraction): latest state wins."""
        following = self.following.get(event["message_id"])
        if following is None:
            return
        following.heard_at = time.monotonic()
        if json.loads(event["frame"])["type"] == "search":
            await self._send_search(event["message_id"], event["frame"])
        else:
            await self._send(event["frame"])

    async def _send_search(self, message_id: int, frame: str) -> None:
        """A search state, unless it is the one this socket last got for the answer: every replay
        carries the current state, and a slow search is replayed on every silence check."""
        if self.searches_sent.get(message_id) == frame:
            return
        self.searches_sent[message_id] = frame
        await self._send(frame)

    async def answer_replay(self, event: dict) -> None:
        following = self.following.get(event["message_id"])
        if following is None or not following.resyncing:
            return
        frames = [(json.loads(frame)["seq"], frame) for frame in event["frames"]]
        await self._caught_up(event["message_id"], following, event.get("search"), frames)

    async def _caught_up(
        self, message_id: int, following: Following, search: str | None, frames: list[tuple[int, str]]
    ) -> None:
        """Sends a replay's search state and the frames not sent yet, then a `done` held meanwhile."""
        following.heard_at = time.monotonic()
        if search:
            await self._send_search(message_id, search)
        for seq, frame in frames:
            if seq > following.last_seq:
                await self._send(frame)
                following.last_seq = seq
        following.resyncing = False
        if following.final_event is not None:
            final_event, following.final_event = following.final_event, None
            await self.answer_frame(final_event)

    async def answer_resync_timeout(self, event: dict) -> None:
        """No runner answered: the answer ended meanwhile, or its process is gone."""
        message_id = event["message_id"]
        following = self.following.get(message_id)
        if following is None or not following.resyncing:
            return
        answer = await database_sync_to_async(Message.objects.get)(pk=message_id)
        if _lost_its_process(answer):
            answer = await database_sync_to_async(recorder.mark_interrupted)(answer_id=message_id)
        if answer.is_final:
            await self._unfollow(message_id)
            await self._replay_stored(answer, following.last_seq)
            return
        # Its runner may be alive but slow, or gone without the heartbeat being stale yet: send
        # what is stored and ask again; the stale check above ends this within STALE_ANSWER_SECONDS.
        for seq, text in frames_after(answer.content, answer.frame_ends, following.last_seq):
            await self._send(TokenFrame(message_id=message_id, seq=seq, text=text).dump())
            following.last_seq = seq
        await self._request_resync(message_id)

    async def _replay_stored(self, answer: Message, after_seq: int) -> None:
        outcome = stored_outcome(answer, await database_sync_to_async(answer_image)(answer))
        if outcome.grounding is not None:
            await self._send_search(answer.pk, outcome.grounding.search_frame(answer.pk).dump())
        for seq, text in frames_after(answer.content, answer.frame_ends, after_seq):
            await self._send(TokenFrame(message_id=answer.pk, seq=seq, text=text).dump())
        await self._send(done_frame(answer.pk, outcome).dump())
        self.searches_sent.pop(answer.pk, None)

    async def memory_updated(self, event: dict) -> None:
        """The person's memory kept facts from an exchange (`memory_updated`, sent by the door)."""
        await self._send(event["frame"])

    async def _send_error(self, frame: ErrorFrame) -> None:
        ERRORS.labels(frame.code).inc()
        await self._send(frame.dump())
