"""The channel-agnostic assistant pipeline: one user turn in, typed events out.

input safety check → web grounding (search, shared links) → prompt building (untrusted text
neutralised, exact token counts) → context-window fitting → streamed generation with incremental
output safety checks → final output check, Code Shield and citation check. Every channel consumes
these events; none re-implements a step. A `/imagine <prompt>` turn is answered by a final render
instead of text, its prompt checked as the Imagine panel checks it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from assistant.engine.capabilities import Capabilities, ContentGuard, ImageMaker, ImageRequest, WebTools
from assistant.engine.grounding import SearchPlan, invalid_citations, plan_search, sources_block
from assistant.engine.llm import ModelGateway
from assistant.models import SearchMode
from assistant.ops import metrics
from core.images import ImageRef
from core.metrics import count_verdict
from model_service.builtin_tools import ToolCall, may_become_tool_call, parse_tool_call, system_prompt_with_tools
from model_service.chat_formats import ChatMessage, neutralize_special_tokens
from model_service.client import GenerationParams, StreamEnd, TextDelta
from model_service.context import ContextTooLong, fit_to_window
from safety.codeshield import CodeFinding
from safety.conf import safety_settings
from safety.verdict import Verdict
from search.sources import SearchOutcome

logger = logging.getLogger(__name__)


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
    search_mode: str = SearchMode.AUTO
    image_request: ImageRequest | None = None  # the last message is `/imagine <prompt>`


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
    invalid_citations: list[int] = field(default_factory=list)  # cited numbers with no such source
    code_findings: tuple[CodeFinding, ...] = ()


@dataclass(frozen=True)
class SearchStarted:
    query: str  # "" when only shared links are read
    urls: tuple[str, ...]


@dataclass(frozen=True)
class SearchDone:
    outcome: SearchOutcome


@dataclass(frozen=True)
class Blocked:
    """The safety check refused the question (`input`) or the answer (`output`, `code`); the
    pipeline ends here. `text` is what was refused, kept for review and never shown again."""

    stage: str
    categories: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class ImageReady:
    """The answer to `/imagine <prompt>`: a stored final render. AnswerEnd follows."""

    image: ImageRef


PipelineEvent = PromptReady | AnswerText | AnswerEnd | SearchStarted | SearchDone | Blocked | ImageReady


@dataclass(frozen=True)
class ToolCallMade:
    """Internal to the pipeline: the model answered with a built-in tool call."""

    call: ToolCall


class SafetyUnavailable(Exception):
    """The content guard could not answer and the failure policy is to refuse (fail closed)."""


def _allowed(verdict: Verdict, stage: str) -> bool:
    """Apply the failure policy to a guard that could not answer; raise when it says refuse."""
    count_verdict(verdict, stage)
    if verdict.unavailable:
        policy = "open" if verdict.safe else "closed"
        logger.warning("content guard unavailable (%s check, fail %s): %s", stage, policy, verdict.detail)
        if not verdict.safe:
            raise SafetyUnavailable(verdict.detail)
        return True
    return verdict.safe


class OutputWatch:
    """Checks the growing answer every SAFETY_OUTPUT_CHECK_CHARS characters without holding up the
    stream: at most one check runs at a time, and its verdict is read when the next text arrives."""

    def __init__(self, guard: ContentGuard, question: str, every_chars: int) -> None:
        self.guard = guard
        self.question = question
        self.every_chars = every_chars
        self.checked_chars = 0
        self.running: asyncio.Task[Verdict] | None = None

    def feed(self, answer_so_far: str) -> Verdict | None:
        """The finished check's unsafe verdict, if any; starts the next check when one is due."""
        if self.running is not None and self.running.done():
            verdict, self.running = self.running.result(), None
            if not _allowed(verdict, "output"):
                return verdict
        if self.running is None and len(answer_so_far) - self.checked_chars >= self.every_chars:
            self.checked_chars = len(answer_so_far)
            self.running = asyncio.create_task(self._check(answer_so_far))
        return None

    async def final(self, answer: str) -> Verdict | None:
        """The whole answer's unsafe verdict, if any (the check in flight is superseded)."""
        self.close()
        verdict = await self._check(answer)
        return None if _allowed(verdict, "output") else verdict

    def close(self) -> None:
        if self.running is not None:
            self.running.cancel()
            self.running = None

    async def _check(self, answer: str) -> Verdict:
        return await self.guard.check([("user", self.question), ("assistant", answer)], agent=True)


async def _count_blocks(gateway: ModelGateway, messages: list[ChatMessage], known: list[int | None]) -> list[int]:
    fmt = gateway.prompt_format
    return [
        count if count is not None else await gateway.counter.count(fmt.message_block(message))
        for message, count in zip(messages, known, strict=True)
    ]


async def respond(turn: Turn, gateway: ModelGateway, capabilities: Capabilities) -> AsyncIterator[PipelineEvent]:
    """Answer the last message of `turn`. Raises ContextTooLong, SafetyUnavailable or
    model_service.ModelError (and AssistantError from Imagine)."""
    question = turn.history[-1].content
    if turn.image_request is not None and capabilities.imagine is not None:
        async for event in _imagine(turn.image_request, capabilities.imagine, capabilities.guard, question):
            yield event
        return
    guard = capabilities.guard
    if guard is not None:
        verdict = await guard.check([(m.role, m.content) for m in turn.history[-5:]], agent=False)
        if not _allowed(verdict, "input"):
            yield Blocked("input", verdict.categories, question)
            return
    web = capabilities.web
    # With Llama 3.1's built-in tools the model itself decides to search (auto mode only).
    offer_tools = gateway.builtin_tools and web is not None and turn.search_mode == SearchMode.AUTO
    grounding = _Grounding()
    system_prompt = turn.system_prompt
    plan = plan_search(turn.search_mode, question) if web is not None else None
    if offer_tools and plan is not None:
        plan = SearchPlan(query="", urls=plan.urls) if plan.urls else None
    if plan is not None and web is not None:
        async for event in grounding.search(web, plan.query, plan.urls, question):
            yield event
        system_prompt = "\n\n".join(p for p in (system_prompt, grounding.prompt_block) if p)
    if offer_tools:
        system_prompt = system_prompt_with_tools(system_prompt, dt.date.today())

    prompt = await _fit_prompt(Turn(system_prompt, turn.history, turn.sampling), gateway)
    yield prompt.ready
    checks_answer = guard is not None and capabilities.check_output
    watch = OutputWatch(guard, question, safety_settings().output_check_chars) if checks_answer else None
    try:
        async for event in _answer(prompt, gateway, watch, capabilities, grounding, hold_tool_call=offer_tools):
            yield event
    finally:
        if watch is not None:
            watch.close()


async def _imagine(
    request: ImageRequest, maker: ImageMaker, guard: ContentGuard | None, question: str
) -> AsyncIterator[PipelineEvent]:
    """`/imagine <prompt>`: the prompt alone through the input check, as the Imagine panel checks
    it (a refusal is an ordinary blocked turn), then one final render instead of text."""
    prompt = maker.clean(request.prompt)
    if guard is not None:
        verdict = await guard.check([("user", prompt)], agent=False)
        if not _allowed(verdict, "input"):
            yield Blocked("input", verdict.categories, question)
            return
    yield ImageReady(await maker.render(replace(request, prompt=prompt)))
    yield AnswerEnd("stop", completion_tokens=0)


@dataclass
class _Grounding:
    """The web sources the answer may cite; None until a search ran (then brackets are citations)."""

    source_count: int | None = None
    prompt_block: str = ""

    async def search(
        self, web: WebTools, query: str, urls: Sequence[str], question: str
    ) -> AsyncIterator[PipelineEvent]:
        yield SearchStarted(query, tuple(urls))
        outcome = await web.search(query, urls, question)
        metrics.SEARCHES.labels("failed" if outcome.error else "ok").inc()
        self.source_count = len(outcome.sources)
        self.prompt_block = sources_block(outcome.sources, outcome.error)
        yield SearchDone(outcome)


async def _answer(
    prompt: _Prompt,
    gateway: ModelGateway,
    watch: OutputWatch | None,
    capabilities: Capabilities,
    grounding: _Grounding,
    *,
    hold_tool_call: bool,
) -> AsyncIterator[PipelineEvent]:
    """Generate, run at most one built-in tool call and generate again, then review the answer."""
    call = None
    async for event in _generate(prompt, gateway, watch, hold_tool_call=hold_tool_call):
        if isinstance(event, ToolCallMade):
            call = event.call
            continue
        if isinstance(event, AnswerEnd):
            event = await _review(event, prompt.answer_text(), grounding.source_count, watch, capabilities)
        yield event
    if call is None or capabilities.web is None:
        return
    question = prompt.messages[-1].content
    if call.name == "brave_search":
        async for event in grounding.search(capabilities.web, call.query, (), question):
            yield event
        result = grounding.prompt_block
    else:
        result = await capabilities.web.solve(call.query)
    yield await _add_tool_turn(prompt, gateway, call, result)
    async for event in _answer(prompt, gateway, watch, capabilities, grounding, hold_tool_call=False):
        yield event


async def _add_tool_turn(prompt: _Prompt, gateway: ModelGateway, call: ToolCall, result: str) -> PromptReady:
    """Append the model's tool call and the tool's answer (untrusted text) to the prompt."""
    markers = gateway.counter.special_markers
    added = [
        ChatMessage("assistant", call.message_content()),
        ChatMessage("ipython", neutralize_special_tokens(result, markers)),
    ]
    tokens = prompt.ready.prompt_tokens
    for message in added:
        tokens += await gateway.counter.count(gateway.prompt_format.message_block(message))
    if tokens + prompt.params.max_tokens > gateway.context_window:
        raise ContextTooLong(needed=tokens + prompt.params.max_tokens, available=gateway.context_window)
    prompt.messages.extend(added)
    prompt.text_parts.clear()  # the tool call is not part of the answer
    prompt.ready = PromptReady(tokens, prompt.ready.dropped_messages, {})
    return prompt.ready


@dataclass
class _Prompt:
    ready: PromptReady
    messages: list[ChatMessage]
    params: GenerationParams
    text_parts: list[str] = field(default_factory=list)

    def answer_text(self) -> str:
        return "".join(self.text_parts)


async def _fit_prompt(turn: Turn, gateway: ModelGateway) -> _Prompt:
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
    params = GenerationParams(
        max_tokens=max_tokens,
        temperature=gateway.temperature if sampling.temperature is None else sampling.temperature,
        extra={**gateway.extra_body, **sampling.extra},
    )
    return _Prompt(PromptReady(fitted.prompt_tokens, fitted.dropped_messages, new_counts), fitted.messages, params)


async def _generate(
    prompt: _Prompt, gateway: ModelGateway, watch: OutputWatch | None, *, hold_tool_call: bool = False
) -> AsyncIterator[PipelineEvent | ToolCallMade]:
    """Stream the answer. With `hold_tool_call`, text that may still become a built-in tool call
    is held back until it either is one (ToolCallMade, nothing shown) or clearly is not."""
    held = hold_tool_call
    async for event in gateway.client.stream(prompt.messages, prompt.params):
        if isinstance(event, TextDelta):
            prompt.text_parts.append(event.text)
            if held and may_become_tool_call(prompt.answer_text()):
                continue
            text, held = (prompt.answer_text(), False) if held else (event.text, False)
            refused = watch.feed(prompt.answer_text()) if watch is not None else None
            if refused is not None:
                yield Blocked("output", refused.categories, prompt.answer_text())
                return
            yield AnswerText(text)
        elif isinstance(event, StreamEnd):
            if held and (call := parse_tool_call(prompt.answer_text())) is not None:
                yield ToolCallMade(call)
                return
            if held and prompt.answer_text():
                yield AnswerText(prompt.answer_text())  # the start of a call that never finished
            completion_tokens = event.completion_tokens
            if completion_tokens is None:
                completion_tokens = await gateway.counter.count(prompt.answer_text())
            yield AnswerEnd(event.finish_reason, completion_tokens)


async def _review(
    end: AnswerEnd, answer: str, source_count: int | None, watch: OutputWatch | None, capabilities: Capabilities
) -> AnswerEnd | Blocked:
    """The finished answer's checks: the whole text through the guard, its code through Code
    Shield, its citations against the sources it was given."""
    if watch is not None and (refused := await watch.final(answer)) is not None:
        return Blocked("output", refused.categories, answer)
    findings: tuple[CodeFinding, ...] = ()
    if capabilities.code is not None and "```" in answer:
        report = await capabilities.code.scan(answer)
        if report.block:
            return Blocked("code", tuple(sorted({f.rule for f in report.findings})), answer)
        findings = report.findings
    invalid = invalid_citations(answer, source_count) if source_count is not None else []
    return AnswerEnd(end.finish_reason, end.completion_tokens, invalid, findings)
