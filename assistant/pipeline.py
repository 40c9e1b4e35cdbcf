"""The channel-agnostic assistant pipeline: one user turn in, typed events out.

prompt building (untrusted text neutralised, exact token counts) → context-window fitting →
streamed generation. Every channel consumes these events; none re-implements a step. Later
stages (input/output safety, search grounding) plug in here, not in channels.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from assistant.llm import ModelGateway
from model_service.chat_formats import ChatMessage, neutralize_special_tokens
from model_service.client import GenerationParams, StreamEnd, TextDelta
from model_service.context import fit_to_window


@dataclass(frozen=True)
class HistoryMessage:
    id: int | None  # None for messages that are not stored (the system prompt)
    role: str
    content: str
    token_count: int | None  # None until counted once with the served model's tokenizer


@dataclass(frozen=True)
class Sampling:
    """A caller's overrides of the operator's generation settings (the OpenAI-compatible API
    passes its request's); None keeps the operator's value."""

    max_tokens: int | None = None
    temperature: float | None = None
    extra: Mapping[str, object] = field(default_factory=dict)  # top_p, stop, seed, penalties


@dataclass(frozen=True)
class Turn:
    system_prompt: str
    history: list[HistoryMessage]  # oldest first; the last one is the user message to answer
    sampling: Sampling = Sampling()


@dataclass(frozen=True)
class PromptReady:
    prompt_tokens: int
    dropped_messages: int
    new_token_counts: dict[int, int]  # message id → count, for messages counted for the first time


@dataclass(frozen=True)
class AnswerText:
    text: str


@dataclass(frozen=True)
class AnswerEnd:
    finish_reason: str
    completion_tokens: int


PipelineEvent = PromptReady | AnswerText | AnswerEnd


async def _count_blocks(gateway: ModelGateway, messages: list[ChatMessage], known: list[int | None]) -> list[int]:
    fmt = gateway.prompt_format
    return [
        count if count is not None else await gateway.counter.count(fmt.message_block(message))
        for message, count in zip(messages, known, strict=True)
    ]


async def respond(turn: Turn, gateway: ModelGateway) -> AsyncIterator[PipelineEvent]:
    """Answer the last message of `turn`. Raises ContextTooLong or model_service.ModelError."""
    fmt = gateway.prompt_format
    system = HistoryMessage(id=None, role="system", content=turn.system_prompt, token_count=None)
    stored = [system, *turn.history]
    markers = gateway.counter.special_markers
    messages = [ChatMessage(m.role, neutralize_special_tokens(m.content, markers)) for m in stored]  # type: ignore[arg-type]
    counts = await _count_blocks(gateway, messages, [m.token_count for m in stored])
    fixed = await gateway.counter.count(fmt.prefix() + fmt.generation_prompt())
    sampling = turn.sampling
    max_tokens = sampling.max_tokens or gateway.max_tokens
    fitted = fit_to_window(messages, counts, fixed_tokens=fixed, window=gateway.context_window, max_tokens=max_tokens)
    new_counts = {m.id: c for m, c in zip(stored, counts, strict=True) if m.id is not None and m.token_count is None}
    yield PromptReady(fitted.prompt_tokens, fitted.dropped_messages, new_counts)

    params = GenerationParams(
        max_tokens=max_tokens,
        temperature=gateway.temperature if sampling.temperature is None else sampling.temperature,
        extra={**gateway.extra_body, **sampling.extra},
    )
    text_parts: list[str] = []
    async for event in gateway.client.stream(fitted.messages, params):
        if isinstance(event, TextDelta):
            text_parts.append(event.text)
            yield AnswerText(event.text)
        elif isinstance(event, StreamEnd):
            completion_tokens = event.completion_tokens
            if completion_tokens is None:
                completion_tokens = await gateway.counter.count("".join(text_parts))
            yield AnswerEnd(event.finish_reason, completion_tokens)
