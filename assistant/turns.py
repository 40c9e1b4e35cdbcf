"""Running one answer: the pipeline's events become stored text and numbered frames.

A `TurnRunner` lives in the process that started the answer, independent of any socket: the
browser may reload or reconnect to another process and the answer goes on. It talks to the
world through the channel layer only:

- frames go to the group `answer.<id>`, which every following socket joins;
- it listens on the group `answer-control.<id>` for `turn.stop` (cancel generation, keep the
  partial answer) and `turn.resync` (send the frames a socket missed to that socket's channel);
- it saves the growing answer at most every ASSISTANT_FLUSH_INTERVAL_MS, and at least every
  second as a heartbeat, so a resuming socket can tell a live answer from one whose process died.

Tokens are coalesced into at most one frame per ASSISTANT_FRAME_INTERVAL_MS; a token that
arrives after a quiet interval (the first one included) goes out at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import uuid
from contextlib import aclosing, suppress
from dataclasses import dataclass

import httpx
from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer, get_channel_layer
from django.conf import settings

from assistant import metrics, selectors, services
from assistant.capabilities import Capabilities, ImageRequest, default_capabilities
from assistant.errors import AssistantError, ErrorCode
from assistant.frames import frames_after
from assistant.llm import ModelGateway, model_gateway
from assistant.models import Channel, Conversation, Message
from assistant.pipeline import (
    AnswerEnd,
    AnswerText,
    Blocked,
    HistoryMessage,
    ImageReady,
    PromptReady,
    SafetyUnavailable,
    SearchDone,
    SearchStarted,
    Turn,
    respond,
)
from assistant.progress import HEARTBEAT_SECONDS, progress_writer
from assistant.protocol import (
    BlockedFrame,
    CodeWarning,
    DoneFrame,
    FinishReason,
    ImageRef,
    SearchFrame,
    SourceRef,
    TokenFrame,
    Usage,
)
from imagine.commands import imagine_prompt
from model_service import log_context
from model_service.client import ModelError, ModelUnavailable
from model_service.context import ContextTooLong

logger = logging.getLogger(__name__)

CONTEXT_TOO_LONG_DETAIL = "This conversation is too long for the model. Start a new conversation."
SAFETY_UNAVAILABLE_DETAIL = (
    "Our safety check is unavailable right now, so we can't answer. Please try again in a moment."
)
# Refusals name no hidden policy: they say what happened and what the person can do.
REFUSALS = {
    "input": "I can't help with that, because it could lead to serious harm. "
    "If you think I got this wrong, you can report it.",
    "output": "I stopped this answer because it began to include content that could cause harm. "
    "Try asking in a different way; if you think I got this wrong, you can report it.",
    "code": "I withdrew this answer because its code has a serious security flaw ({rules}). "
    "Ask again and I'll try a safer approach.",
}
_running: set[asyncio.Task[None]] = set()
WEB_SCHEMES = ("https://", "http://")


@dataclass(frozen=True)
class Ending:
    """How an answer ended, before its text is attached."""

    status: str
    reason: FinishReason
    error: str = ""
    code: ErrorCode | None = None
    completion_tokens: int | None = None
    blocked: Blocked | None = None
    invalid_citations: tuple[int, ...] = ()
    code_warnings: tuple[CodeWarning, ...] = ()


def refusal_for(blocked: Blocked) -> str:
    return REFUSALS[blocked.stage].format(rules=", ".join(blocked.categories))


def search_frame(message_id: int, grounding: dict) -> SearchFrame:
    """The `search` frame for an answer's stored or live grounding."""
    listed = grounding.get("sources", [])
    sources = [SourceRef(number=n, title=s["title"], url=s["url"]) for n, s in enumerate(listed, start=1)]
    return SearchFrame(
        message_id=message_id,
        status="done" if grounding.get("done") else "searching",
        query=grounding.get("query", ""),
        urls=grounding.get("urls", []),
        sources=sources,
        error=grounding.get("error") or None,
    )


RunnerFrame = TokenFrame | DoneFrame | SearchFrame | BlockedFrame


def answer_group(message_id: int) -> str:
    return f"answer.{message_id}"


def control_group(message_id: int) -> str:
    return f"answer-control.{message_id}"


def launch(answer_id: int, turn: Turn | None = None) -> asyncio.Task[None]:
    """Start generating an answer in this process; the task outlives the socket that asked.

    `turn` is the prompt history when the caller already loaded it (see load_turn)."""
    return launch_runner(TurnRunner(answer_id, turn=turn))


def launch_runner(runner: TurnRunner) -> asyncio.Task[None]:
    # A fresh context: a task started inside an HTTP request would otherwise inherit that request's
    # thread-sensitive executor (asgiref), which is shut down when the response ends.
    task = asyncio.create_task(runner.run(), name=f"answer-{runner.answer_id}", context=contextvars.Context())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


async def drain(grace_seconds: float) -> None:
    """Let the answers running in this process finish for up to `grace_seconds`, then cancel the
    rest, which keep their text and end `interrupted`. Called once the server stopped accepting."""
    running = set(_running)
    if not running:
        return
    logger.info("shutdown: waiting up to %.0fs for %d answer(s)", grace_seconds, len(running))
    _, unfinished = await asyncio.wait(running, timeout=grace_seconds)
    for task in unfinished:
        task.cancel()
    await asyncio.gather(*unfinished, return_exceptions=True)
    if unfinished:
        logger.warning("shutdown: %d answer(s) cut off after the grace period", len(unfinished))


def system_prompt_for(conversation: Conversation) -> str:
    """The operator's system prompt, then the client's own instructions (API callers send them)."""
    return "\n\n".join(p for p in (settings.ASSISTANT_SYSTEM_PROMPT, conversation.instructions) if p)


def load_turn(answer: Message) -> Turn:
    """What the model needs to write `answer`: the system prompt and the history it replies to."""
    history = [
        HistoryMessage(id=m.id, role=m.role, content=m.content, token_count=m.token_count)
        for m in selectors.prompt_history(answer=answer)
    ]
    conversation = answer.conversation
    return Turn(
        system_prompt=system_prompt_for(conversation),
        history=history,
        search_mode=conversation.owner.search_mode,
        image_request=_image_request(conversation, history),
    )


def _image_request(conversation: Conversation, history: list[HistoryMessage]) -> ImageRequest | None:
    """A picture for `/imagine <prompt>`, except on the /v1 API, whose answers are text only."""
    if conversation.channel == Channel.API or not history or history[-1].role != Message.Role.USER:
        return None
    prompt = imagine_prompt(history[-1].content)
    if prompt is None:
        return None
    return ImageRequest(prompt=prompt, owner_id=conversation.owner_id, conversation_id=conversation.pk)


def _load_turn_by_id(answer_id: int) -> Turn:
    return load_turn(Message.objects.select_related("conversation").get(pk=answer_id))


class TurnRunner:
    def __init__(
        self,
        answer_id: int,
        *,
        turn: Turn | None = None,
        layer: BaseChannelLayer | None = None,
        gateway: ModelGateway | None = None,
        capabilities: Capabilities | None = None,
    ) -> None:
        self.answer_id = answer_id
        self.turn = turn
        self.layer = layer or get_channel_layer()
        self.gateway = gateway
        self.capabilities = capabilities
        self.grounding: dict = {}  # see Message.grounding; "done" is set once the search ended
        self.image: ImageRef | None = None  # the answer to `/imagine <prompt>`
        self.frame_interval = settings.ASSISTANT_FRAME_INTERVAL_MS / 1000
        self.parts: list[str] = []
        self.frame_ends: list[int] = []
        self.pending = ""
        self.send_lock = asyncio.Lock()
        self.last_emit = 0.0
        self.emit_timer: asyncio.Task[None] | None = None
        self.stop_requested = False
        self.started = time.monotonic()
        self.first_token_ms: int | None = None
        self.prompt_tokens: int | None = None
        self.background: list[asyncio.Task[None]] = []
        self.generation: asyncio.Task[AnswerEnd] | None = None
        self.saved_seq = -1  # frames saved so far (-1: never saved; the first interval saves)
        self.saved_at = time.monotonic()
        self.watchers: list[asyncio.Queue[RunnerFrame]] = []

    # --- lifecycle ---------------------------------------------------------------

    async def run(self) -> None:
        # A UUID, not the answer id: llama.cpp's server refuses any other X-Request-Id.
        log_context.turn_id.set(str(uuid.uuid4()))  # in this task's own context
        logger.info("answer %s: turn started", self.answer_id)
        with metrics.ACTIVE_ANSWERS.track_inprogress():
            await self._run()

    def watch(self) -> asyncio.Queue[RunnerFrame]:
        """Every frame of this answer, in order and without loss, for a caller in this process
        (the channel layer may drop frames under load; a local queue cannot)."""
        queue: asyncio.Queue[RunnerFrame] = asyncio.Queue()
        self.watchers.append(queue)
        return queue

    def stop(self) -> None:
        """Stop generating and keep the partial answer, like a `turn.stop` from any process."""
        self.stop_requested = True
        if self.generation is not None:
            self.generation.cancel()

    async def _run(self) -> None:
        control_channel = await self.layer.new_channel()
        await self.layer.group_add(control_group(self.answer_id), control_channel)
        generation = self.generation = asyncio.create_task(self._generate())
        if self.stop_requested:
            generation.cancel()
        helpers = [asyncio.create_task(self._listen(control_channel))]
        progress_writer().add(self)
        try:
            ending = await self._ending_of(generation)
        except asyncio.CancelledError:
            # This process is shutting down: keep what was written, mark it interrupted.
            ending = Ending(Message.Status.INTERRUPTED, FinishReason.INTERRUPTED, "The server restarted.")
            await asyncio.shield(self._finish(ending, helpers, control_channel))
            raise
        await self._finish(ending, helpers, control_channel)

    async def _ending_of(self, generation: asyncio.Task[AnswerEnd | Blocked]) -> Ending:
        try:
            end = await generation
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not self.stop_requested or (current is not None and current.cancelling()):
                raise
            return Ending(Message.Status.CANCELLED, FinishReason.CANCELLED)
        except ContextTooLong:
            return Ending(Message.Status.ERROR, FinishReason.ERROR, CONTEXT_TOO_LONG_DETAIL, ErrorCode.CONTEXT_TOO_LONG)
        except SafetyUnavailable:
            detail = SAFETY_UNAVAILABLE_DETAIL
            return Ending(Message.Status.ERROR, FinishReason.ERROR, detail, ErrorCode.SAFETY_UNAVAILABLE)
        except ModelError as exc:
            code = ErrorCode.MODEL_UNAVAILABLE if isinstance(exc, ModelUnavailable) else ErrorCode.MODEL_ERROR
            return Ending(Message.Status.ERROR, FinishReason.ERROR, exc.detail, code)
        except AssistantError as exc:  # Imagine refused or failed a `/imagine` render
            return Ending(Message.Status.ERROR, FinishReason.ERROR, exc.detail, exc.code)
        except Exception:
            logger.exception("answer %s failed", self.answer_id)
            detail = "Something went wrong on our side."
            return Ending(Message.Status.ERROR, FinishReason.ERROR, detail, ErrorCode.INTERNAL)
        if isinstance(end, Blocked):
            refusal = refusal_for(end)
            return Ending(Message.Status.BLOCKED, FinishReason.BLOCKED, refusal, ErrorCode.BLOCKED, blocked=end)
        reason = FinishReason.LENGTH if end.finish_reason == "length" else FinishReason.STOP
        return Ending(
            Message.Status.COMPLETE,
            reason,
            completion_tokens=end.completion_tokens,
            invalid_citations=tuple(end.invalid_citations),
            code_warnings=tuple(
                CodeWarning(rule=f.rule, severity=f.severity, line=f.line, description=f.description)
                for f in end.code_findings
            ),
        )

    async def _finish(self, ending: Ending, helpers: list[asyncio.Task[None]], control_channel: str) -> None:
        progress_writer().discard(self)
        if self.emit_timer is not None:
            with suppress(asyncio.CancelledError):
                await self.emit_timer  # at most one frame interval; keeps frames before `done`
        if ending.blocked is None:
            await self._emit()
        else:
            self.pending = ""  # refused text is never sent
            await self._send_frame(BlockedFrame(message_id=self.answer_id, detail=ending.error))
        await asyncio.gather(*self.background, return_exceptions=True)
        for helper in helpers:
            helper.cancel()
        with suppress(asyncio.CancelledError):
            await asyncio.gather(*helpers, return_exceptions=True)
        async with self.send_lock:
            content, frame_ends = "".join(self.parts), list(self.frame_ends)
            if ending.blocked is not None:  # what was streamed is retracted; the refusal is stored
                content, frame_ends = ending.error, [len(ending.error)]
            grounding = (
                {**self.grounding, "invalid_citations": list(ending.invalid_citations)} if self.grounding else {}
            )
            final = services.AnswerOutcome(
                content=content,
                frame_ends=frame_ends,
                status=ending.status,
                finish_reason=ending.reason.value,
                error=ending.error,
                prompt_tokens=self.prompt_tokens,
                completion_tokens=await self._completion_tokens(ending),
                first_token_ms=self.first_token_ms,
                duration_ms=int((time.monotonic() - self.started) * 1000),
                grounding=grounding,
                code_findings=[w.model_dump() for w in ending.code_warnings],
                blocked=_blocked_record(ending.blocked),
                image_id=self.image.id if self.image is not None else None,
            )
            await database_sync_to_async(services.finish_answer)(answer_id=self.answer_id, outcome=final)
            metrics.record_answer(
                finish_reason=final.finish_reason,
                first_token_ms=final.first_token_ms,
                duration_ms=final.duration_ms,
                tokens=final.completion_tokens,
            )
            done = DoneFrame(
                message_id=self.answer_id,
                seq=len(self.frame_ends),  # what this answer's followers were sent, refused or not
                finish_reason=FinishReason(final.finish_reason),
                usage=Usage(prompt_tokens=final.prompt_tokens or 0, completion_tokens=final.completion_tokens or 0),
                error=final.error or None,
                error_code=ending.code,
                invalid_citations=list(ending.invalid_citations),
                code_warnings=list(ending.code_warnings),
                image=self.image,
            )
            self._notify(done)
            await self._publish(done.seq, done.dump(), final=True)
        await self.layer.group_discard(control_group(self.answer_id), control_channel)

    async def _completion_tokens(self, ending: Ending) -> int | None:
        """The server's count when the stream ended normally; otherwise (stopped, failed,
        interrupted) the kept text counted with the model's tokenizer, so usage stays exact."""
        if ending.completion_tokens is not None:
            return ending.completion_tokens
        text = "".join(self.parts)
        if not text:
            return 0
        try:
            return await (self.gateway or model_gateway()).counter.count(text)
        except (httpx.HTTPError, ValueError):
            logger.warning("answer %s: could not count its %d characters", self.answer_id, len(text))
            return None

    # --- generation -----------------------------------------------------------------

    async def _generate(self) -> AnswerEnd | Blocked:
        turn = self.turn or await database_sync_to_async(_load_turn_by_id)(self.answer_id)
        gateway = self.gateway or model_gateway()
        capabilities = self.capabilities or default_capabilities()
        # Closed as soon as the answer ends, not when garbage collection gets to it: an open
        # generator keeps its HTTP response, and so a pooled connection to the model, checked out.
        async with aclosing(respond(turn, gateway, capabilities)) as events:
            async for event in events:
                if isinstance(event, AnswerText):
                    self._on_text(event.text)
                elif isinstance(event, PromptReady):
                    self.prompt_tokens = event.prompt_tokens
                    # Off the path to the first token; awaited before the answer is finished.
                    self.background.append(
                        asyncio.create_task(
                            database_sync_to_async(services.record_token_counts)(event.new_token_counts)
                        )
                    )
                elif isinstance(event, SearchStarted | SearchDone):
                    await self._on_search(event)
                elif isinstance(event, ImageReady):
                    self.image = event.image
                elif isinstance(event, AnswerEnd | Blocked):
                    return event
        raise ModelError("The model ended without finishing its answer.")

    async def _on_search(self, event: SearchStarted | SearchDone) -> None:
        if isinstance(event, SearchStarted):
            self.grounding = {"query": event.query, "urls": list(event.urls), "sources": [], "done": False}
        else:
            outcome = event.outcome
            # Only web links reach pages and apps as hrefs (a local index may hold file:// pages).
            sources = [
                {"title": s.title, "url": s.url if s.url.startswith(WEB_SCHEMES) else ""} for s in outcome.sources
            ]
            self.grounding = {**self.grounding, "sources": sources, "error": outcome.error, "done": True}
        await self._send_frame(search_frame(self.answer_id, self.grounding))

    async def _send_frame(self, frame: SearchFrame | BlockedFrame) -> None:
        """A frame outside the numbered token sequence, to every follower."""
        self._notify(frame)
        await self.layer.group_send(
            answer_group(self.answer_id),
            {"type": "answer.event", "message_id": self.answer_id, "frame": frame.dump()},
        )

    def _on_text(self, text: str) -> None:
        if self.first_token_ms is None:
            self.first_token_ms = int((time.monotonic() - self.started) * 1000)
        self.pending += text
        if self.emit_timer is not None:
            return  # a frame is already scheduled and will carry this text
        wait = self.last_emit + self.frame_interval - time.monotonic()
        self.emit_timer = asyncio.create_task(self._emit_after(max(wait, 0.0)))

    async def _emit_after(self, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        self.emit_timer = None
        await self._emit()

    async def _emit(self) -> None:
        async with self.send_lock:
            if not self.pending:
                return
            text, self.pending = self.pending, ""
            self.parts.append(text)
            self.frame_ends.append((self.frame_ends[-1] if self.frame_ends else 0) + len(text))
            seq = len(self.frame_ends)
            self.last_emit = time.monotonic()
            frame = TokenFrame(message_id=self.answer_id, seq=seq, text=text)
            self._notify(frame)
            # Shielded: a stop must not cut a frame that is already numbered and stored.
            await asyncio.shield(self._publish(seq, frame.dump()))

    def _notify(self, frame: RunnerFrame) -> None:
        for queue in self.watchers:
            queue.put_nowait(frame)

    async def _publish(self, seq: int, frame: str, *, final: bool = False) -> None:
        await self.layer.group_send(
            answer_group(self.answer_id),
            {"type": "answer.frame", "message_id": self.answer_id, "seq": seq, "frame": frame, "final": final},
        )

    # --- control and persistence ------------------------------------------------------

    async def _listen(self, control_channel: str) -> None:
        while True:
            message = await self.layer.receive(control_channel)
            if message["type"] == "turn.stop":
                self.stop()
            elif message["type"] == "turn.resync":
                await self._send_replay(message["reply_channel"], message["after_seq"])

    async def _send_replay(self, reply_channel: str, after_seq: int) -> None:
        async with self.send_lock:
            frames = frames_after("".join(self.parts), self.frame_ends, after_seq)
            await self.layer.send(
                reply_channel,
                {
                    "type": "answer.replay",
                    "message_id": self.answer_id,
                    "frames": [TokenFrame(message_id=self.answer_id, seq=s, text=t).dump() for s, t in frames],
                    "seq": len(self.frame_ends),
                    "search": search_frame(self.answer_id, self.grounding).dump() if self.grounding else None,
                },
            )

    def progress_due(self, now: float) -> services.AnswerProgress | None:
        seq = len(self.frame_ends)
        if seq == self.saved_seq and now - self.saved_at < HEARTBEAT_SECONDS:
            return None
        return services.AnswerProgress(
            answer_id=self.answer_id,
            content="".join(self.parts[:seq]),
            frame_ends=self.frame_ends[:seq],
            first_token_ms=self.first_token_ms,
        )

    def progress_saved(self, progress: services.AnswerProgress, at: float) -> None:
        self.saved_seq, self.saved_at = len(progress.frame_ends), at


def _blocked_record(blocked: Blocked | None) -> services.BlockedTurn | None:
    if blocked is None:
        return None
    return services.BlockedTurn(stage=blocked.stage, categories=list(blocked.categories), original_text=blocked.text)
