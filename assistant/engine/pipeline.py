"""The channel-agnostic assistant pipeline: one user turn in, typed events out.

input safety check → the person's knowledge (remembered facts, passages of the conversation's
files; docs/subsystems/knowledge.md) → web grounding (search, shared links) → prompt building
(rendered by the project and counted in the very ids the server is sent; docs/subsystems/prompts.md)
→ context-window fitting → streamed generation with incremental output safety checks → final output
check, Code Shield and citation check. Every channel consumes these events; none re-implements a
step. A `/imagine <prompt>` turn is answered by a final render instead of text, its prompt checked
as the Imagine panel checks it. Llama 3.1's built-in tool calls (search, math, code: code_tool.py)
are run between generations, at most MAX_TOOL_ROUNDS per answer. A turn with a photo goes to the
vision model when one is configured (`ModelGateway.vision`, docs/subsystems/media.md), the photo
beside its reading; the reading stays with its message for every later turn. Its input check is the
content guard on the question and the photo's text, and, when a vision guard is configured
(`Capabilities.photo_guard`), Llama Guard 3 Vision on the photo and the question at the same time.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TypeVar

from django.utils import translation

from assistant.engine import admission
from assistant.engine.capabilities import (
    WEB_TOOLS_NOT_OFFERED,
    Capabilities,
    ContentGuard,
    ImageMaker,
    ImageRequest,
    PhotoGuard,
    WebTools,
)
from assistant.engine.client_tools import ClientTools
from assistant.engine.code_tool import KEEP_SPECIAL_TOKENS, MAX_TOOL_ROUNDS, CodeImages, offers_code, run_model_code
from assistant.engine.grounding import (
    SearchPlan,
    document_source,
    documents_block,
    invalid_citations,
    memory_block,
    photo_block,
    plan_search,
    sources_block,
    voice_note_block,
)
from assistant.engine.guard_checks import EarlyCheck, InputCheck, OutputWatch, PhotoCheck, guard_allows
from assistant.engine.llm import ModelGateway
from assistant.models import SearchMode
from assistant.ops import metrics
from core.db import database_sync_to_async
from core.images import ImageRef
from knowledge.commands import CommandKind, MemoryCommand, run_command, temporary_chat_reply
from knowledge.conf import knowledge_settings
from knowledge.linking import memory_owner
from knowledge.memory import Source as MemorySource
from knowledge.recall import Recalled, recall
from model_service.builtin_tools import (
    CodeCall,
    ToolCall,
    may_become_tool_call,
    parse_tool_call,
    system_prompt_with_tools,
)
from model_service.chat_formats import chat_request, data_url
from model_service.client import GenerationParams, StreamEnd, StreamEvent, TextDelta
from model_service.context import ContextTooLong, fit_to_window
from model_service.llama31 import Llama3Format, system_block, tool_result
from model_service.messages import ChatMessage
from safety.codeshield import CodeFinding
from safety.conf import safety_settings
from safety.vision_guard import Photo
from search.sources import SearchOutcome, Source

logger = logging.getLogger(__name__)
_Entry = TypeVar("_Entry")


@dataclass(frozen=True)
class HistoryMessage:
    id: int | None  # None for messages that are not stored (the system prompt)
    role: str
    content: str
    token_count: int | None  # None until counted once with the served model's tokenizer
    # A user message sent with a photo: the photo's reading (media.ocr's description block), which the
    # message carries in its `<photo>` fence to every later prompt too (counted with the message).
    photo_reading: str = ""


@dataclass(frozen=True)
class Sampling:
    """A caller's overrides of the operator's generation settings (the OpenAI-compatible API
    passes its request's); None keeps the operator's value."""

    max_tokens: int | None = None
    temperature: float | None = None
    extra: Mapping[str, object] = field(default_factory=dict)  # top_p, stop, seed, penalties


@dataclass(frozen=True)
class KnowledgeScope:
    """What the knowledge store gives a turn: the remembered facts of the conversation's owner (or of
    the web account a messaging identity is linked to) and passages of the files the owner attached
    to the conversation. `memory` off (a temporary chat): facts are neither read nor taken from the
    exchange. `files` off: the conversation began with this turn, so no file is attached to it yet
    (its passages are not looked for). `channel` is where a fact kept from this turn was said;
    `language` is the owner's, for the replies to memory commands ("": the site's)."""

    owner_id: int
    conversation_id: int | None  # None: not stored yet (a first answer started beside storing it)
    channel: str
    memory: bool = True
    files: bool = True
    language: str = ""


PHOTO_MARKER = "[photo]"  # the stored text of a photo message, before its caption


class AttachmentKind(StrEnum):
    PHOTO = "photo"
    VOICE = "voice"


@dataclass(frozen=True)
class Attachment:
    """What the person sent with their latest message, as the `media` worker read it: a photo's
    reading (media.ocr's description block) or a voice note's transcript, which is then the message's
    own text. The words in it are what the person said, so the content guard reads them like typed
    text: a transcript as the message itself, a photo's printed text (`photo_text`) beside it. With a
    vision model configured (`ModelGateway.vision`) the photo itself (`image`, as the worker cleaned
    it: re-encoded, without metadata) goes to that model too, the reading beside it; with a vision
    guard (`Capabilities.photo_guard`) it is judged with the question."""

    kind: AttachmentKind
    reading: str  # photo: its description; voice: the transcript
    photo_text: str = ""  # photo: the printed text found in it, without the description's own words
    image: bytes = field(default=b"", repr=False)  # photo: the cleaned JPEG or PNG
    image_type: str = ""  # photo: the media type of `image`
    language: str = ""  # voice: the transcript's language (ISO 639-1)
    language_detected: bool = False  # voice: the recogniser heard the language, not assumed it

    @property
    def photo_reading(self) -> str:
        """What the message sent with it keeps for later prompts: a photo's reading ("" for a voice note,
        whose transcript is the message itself)."""
        return self.reading if self.kind is AttachmentKind.PHOTO else ""


@dataclass(frozen=True)
class Turn:
    system_prompt: str
    history: list[HistoryMessage]  # oldest first; the last one is the user message to answer
    sampling: Sampling = Sampling()
    search_mode: str = SearchMode.AUTO
    image_request: ImageRequest | None = None  # the last message is `/imagine <prompt>`
    client_tools: ClientTools | None = None  # `/v1` function tools; built-in tools are then not offered
    knowledge: KnowledgeScope | None = None  # None: a turn without memory or files (`/v1`)
    memory_command: MemoryCommand | None = None  # the last message is `/memory`, "forget that"… (with `knowledge`)
    attachment: Attachment | None = None  # a photo or voice note sent with the last message
    early_check: EarlyCheck | None = None  # the question's check, when the door started it beside storing
    recalled: asyncio.Task[Recalled] | None = None  # `knowledge` read for the question, when the door started it


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


@dataclass(frozen=True)
class Queued:
    """The answer waits for its turn with the model (assistant/engine/admission.py): `position`
    streams must end before it starts (1: it is next). Yielded again when the position changes."""

    position: int


PipelineEvent = (
    PromptReady | AnswerText | AnswerEnd | SearchStarted | SearchDone | Blocked | ImageReady | CodeImages | Queued
)


@dataclass(frozen=True)
class ToolCallMade:
    """Internal to the pipeline: the model answered with a built-in tool call."""

    call: ToolCall | CodeCall


def _count_blocks(gateway: ModelGateway, messages: list[ChatMessage], known: list[int | None]) -> list[int]:
    return [
        count if count is not None else gateway.message_tokens(message)
        for message, count in zip(messages, known, strict=True)
    ]


async def respond(turn: Turn, gateway: ModelGateway, capabilities: Capabilities) -> AsyncIterator[PipelineEvent]:
    """Answer the last message of `turn`. Raises ContextTooLong, SafetyUnavailable or
    model_service.ModelError (and AssistantError from Imagine)."""
    try:
        async with aclosing(_respond(turn, gateway, capabilities)) as events:
            async for event in events:
                yield event
    finally:
        if turn.early_check is not None:
            turn.early_check.cancel()  # a turn answered without it (Imagine, memory), or ended first


async def _respond(turn: Turn, gateway: ModelGateway, capabilities: Capabilities) -> AsyncIterator[PipelineEvent]:
    question = turn.history[-1].content
    if turn.image_request is not None and capabilities.imagine is not None:
        photo_check = _photo_check(turn, capabilities.photo_guard)  # a photo sent with `/imagine edit …`
        async for event in _imagine(
            turn.image_request, capabilities.imagine, capabilities.guard, question, photo_check
        ):
            yield event
        return
    if turn.memory_command is not None and turn.knowledge is not None:
        async for event in _memory_command(turn, turn.knowledge, turn.memory_command, capabilities.guard):
            yield event
        return
    photo_check = _photo_check(turn, capabilities.photo_guard)
    input_check = InputCheck(capabilities.guard, _checked_conversation(turn), photo_check, turn.early_check)
    try:
        async with aclosing(_ground_and_answer(turn, gateway, capabilities, input_check)) as events:
            async for event in events:
                yield event
    finally:
        input_check.close()


def _checked_conversation(turn: Turn) -> list[tuple[str, str]]:
    """The last messages as the input check reads them, the photo's text with the question."""
    conversation = [(m.role, m.content) for m in turn.history[-5:]]
    if turn.attachment is not None and turn.attachment.photo_text:
        role, question = conversation[-1]
        conversation[-1] = (role, f"{question}\n\n{turn.attachment.photo_text}")
    return conversation


def _photo_check(turn: Turn, photo_guard: PhotoGuard | None) -> PhotoCheck | None:
    """The vision guard's part of the input check: the photo sent with the question, and the question."""
    photo = _photo_with_image(turn)
    if photo_guard is None or photo is None:
        return None
    caption = turn.history[-1].content.removeprefix(PHOTO_MARKER).strip()  # the person's words only
    return PhotoCheck(photo_guard.seeing(Photo(photo.image, photo.image_type)), caption)


async def _ground_and_answer(
    turn: Turn, gateway: ModelGateway, capabilities: Capabilities, input_check: InputCheck
) -> AsyncIterator[PipelineEvent]:
    question = turn.history[-1].content
    guard = capabilities.guard
    web = capabilities.web
    seen = _seen_photo(turn, gateway)
    if seen is not None and gateway.vision is not None:
        gateway = gateway.vision  # its window, format and tokenizer; it offers no built-in tools
    # With Llama 3.1's built-in tools the model itself decides to search (auto mode only).
    offer_tools = gateway.builtin_tools and web is not None and turn.search_mode == SearchMode.AUTO
    offer_tools = offer_tools and turn.client_tools is None
    offer_code = offers_code(gateway, capabilities) and turn.client_tools is None
    grounding = _Grounding()
    system_prompt = turn.system_prompt
    if turn.attachment is not None and turn.attachment.kind is AttachmentKind.VOICE:
        system_prompt = "\n\n".join(p for p in (system_prompt, _voice_note_block(turn.attachment)) if p)
    if turn.knowledge is not None:
        budgets = _KnowledgeBudgets.of(gateway, turn.sampling)
        known = await (turn.recalled or _recall(turn.knowledge, question, budgets))
        blocks = grounding.add_knowledge(known, budgets, gateway)
        system_prompt = "\n\n".join(p for p in (system_prompt, *blocks) if p)
        if grounding.documents:  # the citation list shows the files' pages before any web source
            yield SearchDone(SearchOutcome(query="", sources=grounding.documents))
    plan = plan_search(turn.search_mode, question) if web is not None else None
    if offer_tools and plan is not None:
        plan = SearchPlan(query="", urls=plan.urls) if plan.urls else None
    if plan is not None and web is not None:
        if (refused := await input_check.refusal()) is not None:  # the question goes nowhere unchecked
            yield Blocked("input", refused, question)
            return
        async for event in grounding.search(web, plan.query, plan.urls, question):
            yield event
        system_prompt = "\n\n".join(p for p in (system_prompt, grounding.prompt_block) if p)
    if isinstance(gateway.prompt_format, Llama3Format):  # the 3.1 system block, with or without tools
        today = dt.date.today()
        system_prompt = (
            system_prompt_with_tools(system_prompt, today, web=offer_tools, code=offer_code)
            if offer_tools or offer_code
            else system_block(system_prompt, today=today, custom_tools=_offers_client_tools(turn))
        )

    history = _with_photo_reading(turn.history, turn.attachment)
    prompt = _fit_prompt(Turn(system_prompt, history, turn.sampling, client_tools=turn.client_tools), gateway, seen)
    if offer_code:
        prompt.params.extra.update(KEEP_SPECIAL_TOKENS)
    checks_answer = guard is not None and capabilities.check_output
    watch = OutputWatch(guard, question, safety_settings().output_check_chars) if checks_answer else None
    unannounced: PromptReady | None = prompt.ready  # a refused question has no prompt to account for
    try:
        hold = offer_tools or offer_code
        tools = capabilities if offer_tools else replace(capabilities, web=None)  # a call of web tools not offered
        async for event in _answer(prompt, gateway, watch, tools, grounding, input_check, hold_tool_call=hold):
            if unannounced is not None and not (isinstance(event, Blocked) and event.stage == "input"):
                yield unannounced
                unannounced = None
            yield event
    finally:
        if watch is not None:
            watch.close()


def _voice_note_block(attachment: Attachment) -> str:
    return voice_note_block(attachment.language if attachment.language_detected else "")


def _seen_photo(turn: Turn, gateway: ModelGateway) -> Attachment | None:
    """The photo of this turn when the vision model is to see it (else its reading stands alone)."""
    return _photo_with_image(turn) if gateway.vision is not None else None


def _photo_with_image(turn: Turn) -> Attachment | None:
    """The photo sent with the question, when its image came with it."""
    photo = turn.attachment
    if photo is None or photo.kind is not AttachmentKind.PHOTO or not photo.image:
        return None
    return photo


def _with_photo_reading(history: list[HistoryMessage], attachment: Attachment | None) -> list[HistoryMessage]:
    """The history with the reading of the photo sent with its last message (the question), as the
    stored message keeps it (a turn built without storage, a test's, has it only here)."""
    if attachment is None or not attachment.photo_reading:
        return history
    return [*history[:-1], replace(history[-1], photo_reading=attachment.photo_reading)]


def _offers_client_tools(turn: Turn) -> bool:
    return turn.client_tools is not None and turn.client_tools.offer is not None


async def _imagine(
    request: ImageRequest,
    maker: ImageMaker,
    guard: ContentGuard | None,
    question: str,
    photo_check: PhotoCheck | None,
) -> AsyncIterator[PipelineEvent]:
    """`/imagine <prompt>`: the prompt alone through the input check, as the Imagine panel checks
    it (a refusal is an ordinary blocked turn), with the vision guard on a photo sent with it, then
    one final render instead of text."""
    prompt = maker.clean(request.prompt)
    check = InputCheck(guard, [("user", prompt)], photo_check)
    try:
        refused = await check.refusal()
    finally:
        check.close()
    if refused is not None:
        yield Blocked("input", refused, question)
        return
    yield ImageReady(await maker.render(replace(request, prompt=prompt)))
    yield AnswerEnd("stop", completion_tokens=0)


@dataclass(frozen=True)
class _KnowledgeBudgets:
    """Tokens of the system prompt for remembered facts and for passages: the operator's settings,
    each at most a quarter of what the window leaves beside the answer."""

    memory: int
    documents: int

    @classmethod
    def of(cls, gateway: ModelGateway, sampling: Sampling) -> _KnowledgeBudgets:
        settings = knowledge_settings()
        room = (gateway.context_window - (sampling.max_tokens or gateway.max_tokens) - gateway.fixed_tokens()) // 4
        return cls(min(settings.memory_prompt_tokens, room), min(settings.document_prompt_tokens, room))


def recall_soon(turn: Turn, gateway: ModelGateway) -> asyncio.Task[Recalled] | None:
    """The knowledge `turn` reads for its question, read from now on (None: it reads none)."""
    if turn.knowledge is None:
        return None
    budgets = _KnowledgeBudgets.of(gateway, turn.sampling)
    # A fresh context: inside a request's async_to_sync the read would go to that request's thread.
    reading = _recall(turn.knowledge, turn.history[-1].content, budgets)
    return asyncio.create_task(reading, context=contextvars.Context())


async def _recall(scope: KnowledgeScope, question: str, budgets: _KnowledgeBudgets) -> Recalled:
    """The person's facts and the conversation's passages for `question`, read on a database thread
    (Llama 3 counts; `_Grounding.add_knowledge` then fits them to the served model's exact ones)."""
    return await database_sync_to_async(recall)(
        owner_id=scope.owner_id,
        memory=scope.memory,
        question=question,
        conversation_id=scope.conversation_id,
        memory_tokens=budgets.memory,
        passage_tokens=budgets.documents if scope.files else 0,
    )


def _within(
    budget: int, entries: list[_Entry], block: Callable[[list[_Entry]], str], gateway: ModelGateway
) -> tuple[str, list[_Entry]]:
    """The block of the best entries whose exact count (the served model's tokenizer) fits `budget`,
    and those entries: the least relevant are left out first."""
    while entries:
        text = block(entries)
        if len(gateway.tokenizer.encode_text(text)) <= budget:
            return text, entries
        entries = entries[:-1]
    return "", []


async def _memory_command(
    turn: Turn, scope: KnowledgeScope, command: MemoryCommand, guard: ContentGuard | None
) -> AsyncIterator[PipelineEvent]:
    """A memory command (knowledge/commands.py), answered without the model. A fact to keep goes
    through the input check first, as a question would; a refusal is an ordinary blocked turn."""
    if command.kind is CommandKind.REMEMBER and guard is not None and scope.memory:
        verdict = await guard.check([("user", command.fact)], agent=False)
        if not guard_allows(verdict, "input"):
            yield Blocked("input", verdict.categories, turn.history[-1].content)
            return
    reply = await database_sync_to_async(_run_memory_command)(scope, command, turn.history)
    yield AnswerText(reply)
    yield AnswerEnd("stop", completion_tokens=0)


def _run_memory_command(scope: KnowledgeScope, command: MemoryCommand, history: list[HistoryMessage]) -> str:
    with translation.override(command.language or scope.language or None):  # a phrase's language first
        if not scope.memory:
            return temporary_chat_reply()
        question = history[-1]
        previous = next((m.id for m in reversed(history[:-1]) if m.role == "user"), None)
        source = MemorySource(channel=scope.channel, message_id=question.id, conversation_id=scope.conversation_id)
        return run_command(
            command,
            owner_id=memory_owner(user_id=scope.owner_id),
            sender_id=scope.owner_id,
            source=source,
            previous_message_id=previous,
        )


@dataclass
class _Grounding:
    """What the answer may cite: the attached files' passages (numbered first), then web sources.
    `source_count` is None until there is something to cite (then brackets are citations)."""

    source_count: int | None = None
    prompt_block: str = ""  # the web sources' block
    documents: list[Source] = field(default_factory=list)

    def add_knowledge(self, known: Recalled, budgets: _KnowledgeBudgets, gateway: ModelGateway) -> list[str]:
        """The memory and documents blocks of the system prompt, each within its token budget."""
        facts, _ = _within(budgets.memory, [m.text for m in known.memories], memory_block, gateway)
        passages = [document_source(p.document_name, p.page, p.text) for p in known.passages]
        documents, self.documents = _within(budgets.documents, passages, documents_block, gateway)
        if self.documents:
            self.source_count = len(self.documents)
        return [facts, documents]

    async def search(
        self, web: WebTools, query: str, urls: Sequence[str], question: str
    ) -> AsyncIterator[PipelineEvent]:
        yield SearchStarted(query, tuple(urls))
        outcome = await web.search(query, urls, question)
        metrics.SEARCHES.labels("failed" if outcome.problems else "ok").inc()
        first = len(self.documents) + 1
        self.source_count = len(self.documents) + len(outcome.sources)
        self.prompt_block = sources_block(outcome.sources, outcome.problems, first_number=first)
        sources = [*self.documents, *outcome.sources]
        yield SearchDone(SearchOutcome(outcome.query, sources, outcome.error, outcome.unread))


async def _answer(
    prompt: _Prompt,
    gateway: ModelGateway,
    watch: OutputWatch | None,
    capabilities: Capabilities,
    grounding: _Grounding,
    input_check: InputCheck,
    *,
    hold_tool_call: bool,
    rounds_left: int = MAX_TOOL_ROUNDS,
) -> AsyncIterator[PipelineEvent]:
    """Generate; while the model calls a built-in tool (at most MAX_TOOL_ROUNDS times), run it and
    generate again; then review the answer. Nothing the model wrote is used before the question's
    check has passed."""
    call = None
    async with aclosing(_generate(prompt, gateway, watch, hold_tool_call=hold_tool_call)) as events:
        async for event in events:
            if (refused := await input_check.refusal()) is not None:
                yield Blocked("input", refused, input_check.question)
                return
            if isinstance(event, ToolCallMade):
                call = event.call
                continue
            if isinstance(event, AnswerEnd):
                event = await _review(event, prompt.answer_text(), grounding.source_count, watch, capabilities)
            yield event
    if call is None:
        return
    question = next(m.content for m in reversed(prompt.messages) if m.role == "user")  # not a tool's result
    if isinstance(call, CodeCall):
        run = await run_model_code(call.code, capabilities.code, capabilities.python)
        if run.refused_rules:
            yield Blocked("code", run.refused_rules, call.code)
            return
        yield AnswerText(run.shown())
        if run.images:
            yield CodeImages(run.images)
        result = run.output
    elif capabilities.web is None:
        result = WEB_TOOLS_NOT_OFFERED
    elif call.name == "brave_search":
        async for event in grounding.search(capabilities.web, call.query, (), question):
            yield event
        result = grounding.prompt_block
    else:
        result = await capabilities.web.solve(call.query)
    yield _add_tool_turn(prompt, gateway, call, result)
    rounds_left -= 1
    async for event in _answer(
        prompt, gateway, watch, capabilities, grounding, input_check, hold_tool_call=rounds_left > 0,
        rounds_left=rounds_left,
    ):  # fmt: skip
        yield event


def _add_tool_turn(prompt: _Prompt, gateway: ModelGateway, call: ToolCall | CodeCall, result: str) -> PromptReady:
    """Append the model's tool call and the tool's answer (untrusted text, sent as plain text) to the prompt."""
    added = [call.message(), tool_result(result)]
    tokens = prompt.ready.prompt_tokens + sum(gateway.message_tokens(message) for message in added)
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
    image_url: str = ""  # a photo for the vision model: the prompt goes as chat messages with it

    def answer_text(self) -> str:
        return "".join(self.text_parts)


def _prompt_message(message: HistoryMessage, *, image: bool = False) -> ChatMessage:
    """A stored message as the model reads it: a photo's message with its reading in its fence
    (`image`: the vision model sees the photo itself, at the start of this message)."""
    content = message.content
    if message.photo_reading:
        content = "\n\n".join(p for p in (photo_block(message.photo_reading, seen=image), content) if p)
    return ChatMessage(message.role, content, image=image)  # type: ignore[arg-type]


def _fit_prompt(turn: Turn, gateway: ModelGateway, photo: Attachment | None = None) -> _Prompt:
    """The prompt fitted to the window. With `photo` (for `gateway`, the vision model) the last
    message carries it, and every message is counted afresh: stored counts are the main model's."""
    system = HistoryMessage(id=None, role="system", content=turn.system_prompt, token_count=None)
    stored = [system, *turn.history]
    last = len(stored) - 1
    messages = [_prompt_message(m, image=photo is not None and i == last) for i, m in enumerate(stored)]
    pinned = None  # the system message
    if turn.client_tools is not None:  # `/v1` function tools (assistant/engine/client_tools.py)
        messages = turn.client_tools.prompt_messages(messages)
        if turn.client_tools.offer is not None:
            stored.insert(1, HistoryMessage(None, "user", turn.client_tools.offer.content, token_count=None))
            pinned = 2  # the offer stays with the system message, however long the conversation
    counts = _count_blocks(gateway, messages, [None if photo else m.token_count for m in stored])
    fixed = gateway.fixed_tokens()
    sampling = turn.sampling
    max_tokens = sampling.max_tokens or gateway.max_tokens
    fitted = fit_to_window(
        messages, counts, fixed_tokens=fixed, window=gateway.context_window, max_tokens=max_tokens, pinned=pinned
    )
    new_counts = {m.id: c for m, c in zip(stored, counts, strict=True) if m.id is not None and m.token_count is None}
    if photo is not None:
        new_counts = {}  # the vision model's counts are not the main model's
    params = GenerationParams(
        max_tokens=max_tokens,
        temperature=gateway.temperature if sampling.temperature is None else sampling.temperature,
        stop_token_ids=gateway.stop_token_ids(),
        extra={**gateway.extra_body, **sampling.extra},
    )
    ready = PromptReady(fitted.prompt_tokens, fitted.dropped_messages, new_counts)
    image_url = data_url(photo.image, photo.image_type) if photo is not None else ""
    return _Prompt(ready, fitted.messages, params, image_url=image_url)


async def _generate(
    prompt: _Prompt, gateway: ModelGateway, watch: OutputWatch | None, *, hold_tool_call: bool = False
) -> AsyncIterator[PipelineEvent | ToolCallMade]:
    """Stream the answer once its turn with the model comes (Queued while it waits). With
    `hold_tool_call`, text that may still become a built-in tool call is held back until it either
    is one (ToolCallMade, nothing shown) or clearly is not."""
    held = hold_tool_call
    async with aclosing(_admitted_stream(prompt, gateway)) as events:
        async for event in events:
            if isinstance(event, Queued):
                yield event
            elif isinstance(event, TextDelta):
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
                    completion_tokens = len(gateway.tokenizer.encode_text(prompt.answer_text()))
                yield AnswerEnd(event.finish_reason, completion_tokens)


async def _admitted_stream(prompt: _Prompt, gateway: ModelGateway) -> AsyncIterator[Queued | StreamEvent]:
    """The model's stream once this answer's turn comes (assistant/engine/admission.py), Queued
    while it waits. The place is given up as soon as the stream ends, before the answer is reviewed."""
    if prompt.image_url:
        stream = gateway.client.stream_chat(chat_request(prompt.messages, prompt.image_url), prompt.params)
    else:
        stream = gateway.client.stream(gateway.prompt_ids(prompt.messages), prompt.params)
    end: StreamEnd | None = None
    async with admission.model_stream() as place:
        async for position in place.positions():
            yield Queued(position)
        async with aclosing(stream) as events:
            async for event in events:
                if isinstance(event, StreamEnd):
                    end = event
                    break
                yield event
    if end is not None:
        yield end


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
