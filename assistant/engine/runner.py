"""Running one answer: the pipeline's events become numbered frames (the coalescer), a stored row
(the recorder) and frames for whoever listens (the sink).

A `TurnRunner` lives in the process that started the answer, independent of any socket: the
browser may reload or reconnect to another process and the answer goes on. How it ended is one
`AnswerOutcome`, stored, counted and handed to the sink.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace

import httpx

from assistant.conf import assistant_settings
from assistant.engine import admission, recorder
from assistant.engine.capabilities import Capabilities, default_capabilities
from assistant.engine.coalescer import Coalescer
from assistant.engine.code_tool import CodeImages
from assistant.engine.early import StartedAnswer
from assistant.engine.frames import BlockedFrame, CodeWarning, FinishReason, QueuedFrame
from assistant.engine.guard_checks import SafetyUnavailable
from assistant.engine.llm import ModelGateway, model_gateway
from assistant.engine.outcome import AnswerOutcome, BlockedTurn, Grounding, done_frame
from assistant.engine.pipeline import (
    AnswerEnd,
    AnswerText,
    Blocked,
    ImageReady,
    PipelineEvent,
    PromptReady,
    Queued,
    SearchDone,
    SearchStarted,
    Turn,
    respond,
)
from assistant.engine.progress import progress_writer
from assistant.engine.sinks import FrameSink, Replay
from assistant.engine.turns import load_turn_by_id
from assistant.models import Message
from assistant.ops import metrics
from core.db import database_sync_to_async
from core.errors import AssistantError, ErrorCode
from core.images import ImageRef
from model_service import log_context
from model_service.client import ModelError, ModelUnavailable
from model_service.context import ContextTooLong

logger = logging.getLogger(__name__)

CONTEXT_TOO_LONG_DETAIL = "This conversation is too long for the model. Start a new conversation."
SAFETY_UNAVAILABLE_DETAIL = (
    "Our safety check is unavailable right now, so we can't answer. Please try again in a moment."
)
INTERNAL_DETAIL = "Something went wrong on our side."
# Refusals name no hidden policy: they say what happened and what the person can do.
REFUSALS = {
    "input": "I can't help with that, because it could lead to serious harm. "
    "If you think I got this wrong, you can report it.",
    "output": "I stopped this answer because it began to include content that could cause harm. "
    "Try asking in a different way; if you think I got this wrong, you can report it.",
    "code": "I withdrew this answer because its code has a serious security flaw ({rules}). "
    "Ask again and I'll try a safer approach.",
}


def refusal_for(blocked: Blocked) -> str:
    return REFUSALS[blocked.stage].format(rules=", ".join(blocked.categories))


def _failed(detail: str, code: ErrorCode) -> AnswerOutcome:
    return AnswerOutcome(Message.Status.ERROR, FinishReason.ERROR, error=detail, error_code=code)


class TurnRunner:
    def __init__(
        self,
        answer_id: int,
        sink: FrameSink,
        *,
        turn: Turn | None = None,
        gateway: ModelGateway | None = None,
        capabilities: Capabilities | None = None,
        person: int | None = None,
        place: recorder.AnswerPlace | None = None,
        started: StartedAnswer | None = None,
    ) -> None:
        self.answer_id = answer_id
        self.early = started  # the pipeline's events, already being generated (assistant/engine/early.py)
        self.person = person  # whom the answer is for: their answers take turns with the model
        self.sink = sink
        self.turn = turn
        self.gateway = gateway
        self.capabilities = capabilities
        self.frames = Coalescer(answer_id, assistant_settings().frame_interval_ms / 1000, sink.numbered)
        self.recorder = recorder.Recorder(answer_id, self.frames, place)
        self.grounding: Grounding | None = None
        self.image: ImageRef | None = None  # the answer to `/imagine <prompt>`
        self.code_images: list[str] = []  # data URLs of pictures the model's code saved
        self.queued: QueuedFrame | None = None  # while the answer waits for the model
        self.stop_requested = False
        self.started = time.monotonic()
        self.prompt_tokens: int | None = None
        self.generation: asyncio.Task[AnswerEnd | Blocked] | None = None

    async def run(self) -> AnswerOutcome:
        # A UUID, not the answer id: llama.cpp's server refuses any other X-Request-Id.
        log_context.turn_id.set(self.early.turn_id if self.early else str(uuid.uuid4()))  # in this task's own context
        admission.answering_for.set(self.person)
        logger.info("answer %s: turn started", self.answer_id)
        with metrics.ACTIVE_ANSWERS.track_inprogress():
            return await self._run()

    def stop(self) -> None:
        """Stop generating and keep the partial answer."""
        self.stop_requested = True
        if self.generation is not None:
            self.generation.cancel()

    async def replay(self, after_seq: int) -> Replay:
        async with self.frames.lock:
            search = self.grounding.search_frame(self.answer_id) if self.grounding else None
            return Replay(self.frames.frames_after(after_seq), self.frames.seq, search, self.queued)

    async def _run(self) -> AnswerOutcome:
        await self.sink.open(self.answer_id, self)
        generation = self.generation = asyncio.create_task(self._generate())
        if self.stop_requested:
            generation.cancel()
        progress_writer().add(self.recorder)
        try:
            ending = await self._ending_of(generation)
        except asyncio.CancelledError:
            # This process is shutting down: keep what was written, mark it interrupted.
            ending = AnswerOutcome(Message.Status.INTERRUPTED, FinishReason.INTERRUPTED, error="The server restarted.")
            await asyncio.shield(self._finish(ending))
            raise
        return await self._finish(ending)

    async def _ending_of(self, generation: asyncio.Task[AnswerEnd | Blocked]) -> AnswerOutcome:
        """How the generation ended, before the answer's text and timings are attached."""
        try:
            end = await generation
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not self.stop_requested or (current is not None and current.cancelling()):
                raise
            return AnswerOutcome(Message.Status.CANCELLED, FinishReason.CANCELLED)
        except ContextTooLong:
            return _failed(CONTEXT_TOO_LONG_DETAIL, ErrorCode.CONTEXT_TOO_LONG)
        except SafetyUnavailable:
            return _failed(SAFETY_UNAVAILABLE_DETAIL, ErrorCode.SAFETY_UNAVAILABLE)
        except ModelError as exc:
            code = ErrorCode.MODEL_UNAVAILABLE if isinstance(exc, ModelUnavailable) else ErrorCode.MODEL_ERROR
            return _failed(exc.detail, code)
        except AssistantError as exc:  # Imagine refused or failed a `/imagine` render
            return _failed(exc.detail, exc.code)
        except Exception:
            logger.exception("answer %s failed", self.answer_id)
            return _failed(INTERNAL_DETAIL, ErrorCode.INTERNAL)
        if isinstance(end, Blocked):
            refusal = refusal_for(end)
            blocked = BlockedTurn(stage=end.stage, categories=list(end.categories), original_text=end.text)
            return AnswerOutcome(
                Message.Status.BLOCKED,
                FinishReason.BLOCKED,
                error=refusal,
                error_code=ErrorCode.BLOCKED,
                blocked=blocked,
            )
        return AnswerOutcome(
            Message.Status.COMPLETE,
            FinishReason.LENGTH if end.finish_reason == "length" else FinishReason.STOP,
            completion_tokens=end.completion_tokens,
            grounding=self.grounding.model_copy(update={"invalid_citations": list(end.invalid_citations)})
            if self.grounding
            else None,
            code_warnings=tuple(
                CodeWarning(rule=f.rule, severity=f.severity, line=f.line, description=f.description)
                for f in end.code_findings
            ),
        )

    async def _finish(self, ending: AnswerOutcome) -> AnswerOutcome:
        progress_writer().discard(self.recorder)
        await self.frames.finish(send_pending=ending.blocked is None)
        if ending.blocked is not None:
            await self.sink.unnumbered(BlockedFrame(message_id=self.answer_id, detail=ending.error))
        async with self.frames.lock:
            outcome = await self._complete(ending)
            await self.recorder.finish(outcome)
            metrics.record_answer(
                finish_reason=outcome.finish_reason,
                first_token_ms=outcome.first_token_ms,
                duration_ms=outcome.duration_ms,
                tokens=outcome.completion_tokens,
            )
            await self.sink.done(done_frame(self.answer_id, outcome), outcome)
        return outcome

    async def _complete(self, ending: AnswerOutcome) -> AnswerOutcome:
        """The ending with the answer's text, usage and timings attached."""
        content, frame_ends = self.frames.content(), list(self.frames.frame_ends)
        if ending.blocked is not None:  # what was streamed is retracted; the refusal is stored
            content, frame_ends = ending.error, [len(ending.error)]
        return replace(
            ending,
            content=content,
            frame_ends=frame_ends,
            seq=self.frames.seq,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=await self._completion_tokens(ending),
            first_token_ms=self.recorder.first_token_ms,
            duration_ms=int((time.monotonic() - self.started) * 1000),
            grounding=ending.grounding or self.grounding,
            image=self.image,
            code_images=() if ending.blocked is not None else tuple(self.code_images),
        )

    async def _completion_tokens(self, ending: AnswerOutcome) -> int | None:
        """The server's count when the stream ended normally; otherwise (stopped, failed,
        interrupted) the kept text counted with the model's tokenizer, so usage stays exact."""
        if ending.completion_tokens is not None:
            return ending.completion_tokens
        text = self.frames.content()
        if not text:
            return 0
        try:
            return len((self.gateway or model_gateway()).tokenizer.encode_text(text))
        except (httpx.HTTPError, ValueError):
            logger.warning("answer %s: could not count its %d characters", self.answer_id, len(text))
            return None

    async def _pipeline(self) -> AsyncIterator[PipelineEvent]:
        if self.early is not None:
            return self.early.events
        turn = self.turn or await database_sync_to_async(load_turn_by_id)(self.answer_id)
        return respond(turn, self.gateway or model_gateway(), self.capabilities or default_capabilities())

    async def _generate(self) -> AnswerEnd | Blocked:
        # Closed as soon as the answer ends, not when garbage collection gets to it: an open
        # generator keeps its HTTP response, and so a pooled connection to the model, checked out.
        async with aclosing(await self._pipeline()) as events:
            async for event in events:
                if isinstance(event, AnswerText):
                    self._on_text(event.text)
                elif isinstance(event, PromptReady):
                    self.prompt_tokens = event.prompt_tokens
                    # Saved with the outcome, on the database trip the answer makes anyway.
                    self.recorder.token_counts = event.new_token_counts
                elif isinstance(event, SearchStarted | SearchDone):
                    await self._on_search(event)
                elif isinstance(event, Queued):
                    await self._on_queued(event.position)
                elif isinstance(event, ImageReady):
                    self.image = event.image
                elif isinstance(event, CodeImages):
                    self.code_images.extend(event.data_urls)
                elif isinstance(event, AnswerEnd | Blocked):
                    return event
        raise ModelError("The model ended without finishing its answer.")

    def _on_text(self, text: str) -> None:
        self.queued = None
        if self.recorder.first_token_ms is None:
            self.recorder.first_token_ms = int((time.monotonic() - self.started) * 1000)
        self.frames.add(text)

    async def _on_queued(self, position: int) -> None:
        if self.recorder.first_token_ms is not None:
            return  # text is on screen: another wait (between tool calls) is not news to the reader
        self.queued = QueuedFrame(message_id=self.answer_id, position=position)
        await self.sink.unnumbered(self.queued)

    async def _on_search(self, event: SearchStarted | SearchDone) -> None:
        if isinstance(event, SearchStarted):
            self.grounding = Grounding.started(event.query, event.urls)
        else:
            found = event.outcome
            self.grounding = (self.grounding or Grounding()).finished(found.sources, found.error, found.unread)
        await self.sink.unnumbered(self.grounding.search_frame(self.answer_id))
