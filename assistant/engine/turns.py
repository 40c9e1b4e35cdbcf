"""Turns as the engine sees them: what the model needs to write an answer (`load_turn`), the
answers running in this process (`launch`, `drain`), and the served model and content guard as the
knowledge store's worker calls them when it reads facts from a finished exchange (`memory_model`,
`memory_allowed`, which config/settings.py names in KNOWLEDGE_EXTRACTION_MODEL and
KNOWLEDGE_CONTENT_CHECK: the knowledge store imports nothing of the assistant)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import TYPE_CHECKING

from assistant.chat import selectors
from assistant.conf import assistant_settings
from assistant.engine.capabilities import ImageRequest, default_capabilities
from assistant.engine.guard_checks import SafetyUnavailable, guard_allows
from assistant.engine.llm import model_gateway
from assistant.engine.pipeline import PHOTO_MARKER, HistoryMessage, KnowledgeScope, Sampling, Turn
from assistant.models import Channel, Conversation, Message
from core.event_loop import run_sync
from imagine.commands import EDIT_WORD, edit_instruction, imagine_prompt
from imagine.restyle import restyle_instruction
from knowledge.commands import memory_command
from model_service.client import GenerationParams, TextDelta
from model_service.messages import ChatMessage

if TYPE_CHECKING:
    from assistant.engine.outcome import AnswerOutcome
    from assistant.engine.runner import TurnRunner

logger = logging.getLogger(__name__)

MEMORY_MAX_TOKENS = 400  # five facts of JSON (memory.MAX_FACTS_PER_EXCHANGE) with room to spare

_running: set[asyncio.Task[AnswerOutcome]] = set()


def launch(runner: TurnRunner) -> asyncio.Task[AnswerOutcome]:
    """Start generating an answer in this process; the task outlives the socket that asked."""
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
    return "\n\n".join(p for p in (assistant_settings().system_prompt, conversation.instructions) if p)


def load_turn(
    answer: Message,
    *,
    sampling: Sampling | None = None,
    search_mode: str | None = None,
    image_prompt: str | None = None,
    memory: bool = True,
    files: bool = True,
    shown: list[Message] | None = None,
) -> Turn:
    """What the model needs to write `answer`: the system prompt and the history it replies to.
    `image_prompt` is the prompt of an `/imagine` turn when the caller already read it; otherwise
    the question is read for one (an answer re-run from what is stored). `memory` off (a temporary
    chat): the person's facts are neither read nor kept. `files` off: the conversation began with
    this turn, so it has no file to read passages of. `shown`: the conversation as shown up to the
    question, when the caller has it (a turn just stored); otherwise it is read."""
    history = [
        HistoryMessage(m.id, m.role, m.content, m.token_count, photo_reading=m.photo_reading)
        for m in selectors.prompt_history(answer=answer, shown=shown)
    ]
    return turn_of(
        answer.conversation,
        history,
        sampling=sampling,
        search_mode=search_mode,
        image_prompt=image_prompt,
        memory=memory,
        files=files,
    )


def turn_of(
    conversation: Conversation,
    history: list[HistoryMessage],
    *,
    sampling: Sampling | None = None,
    search_mode: str | None = None,
    image_prompt: str | None = None,
    memory: bool = True,
    files: bool = True,
) -> Turn:
    """The turn answering the last of `history` in `conversation` (see `load_turn`); reads the database
    only for a restyle asked in plain words."""
    knowledge = _knowledge_scope(conversation, memory, files)
    return Turn(
        system_prompt=system_prompt_for(conversation),
        history=history,
        sampling=sampling or Sampling(),
        search_mode=search_mode or conversation.owner.search_mode,
        image_request=_image_request(conversation, history, image_prompt),
        knowledge=knowledge,
        memory_command=memory_command(history[-1].content) if knowledge and _asks(history) else None,
    )


def _asks(history: list[HistoryMessage]) -> bool:
    return bool(history) and history[-1].role == Message.Role.USER


def _knowledge_scope(conversation: Conversation, memory: bool, files: bool) -> KnowledgeScope | None:
    """Memory and attached files serve a person in their chats, on the web and in messaging apps.
    `/v1` callers are programs that send whole conversations of their own: they get neither."""
    if conversation.channel == Channel.API:
        return None
    owner = conversation.owner
    return KnowledgeScope(
        owner_id=owner.pk,
        conversation_id=conversation.pk,
        channel=conversation.channel,
        memory=memory,
        files=files,
        language=owner.language,
    )


def _image_request(
    conversation: Conversation, history: list[HistoryMessage], image_prompt: str | None
) -> ImageRequest | None:
    """A picture for `/imagine <prompt>`, typed or as a photo's caption (`/imagine edit <instruction>`
    then restyles that photo), or for a restyle asked in plain words where a picture is what "it"
    means; except on the /v1 API, whose answers are text only."""
    if conversation.channel == Channel.API or not _asks(history):
        return None
    question = history[-1]
    photo = bool(question.photo_reading)  # the stored text is PHOTO_MARKER, then the caption
    words = question.content.removeprefix(PHOTO_MARKER) if photo else question.content
    prompt = image_prompt if image_prompt is not None else imagine_prompt(words)
    if prompt is None:
        return _restyle_request(conversation, history, words, photo)
    return ImageRequest(
        prompt=prompt,
        owner_id=conversation.owner_id,
        conversation_id=conversation.pk,
        picture_message_id=_picture_to_edit(question, photo) if edit_instruction(prompt) is not None else None,
    )


def _restyle_request(
    conversation: Conversation, history: list[HistoryMessage], words: str, photo: bool
) -> ImageRequest | None:
    """ "Make it watercolour" as a photo's caption restyles that photo, and right after an answer that
    is a picture restyles that picture; anywhere else it is a question for the model."""
    if (style := restyle_instruction(words)) is None:
        return None
    question_id = history[-1].id
    picture_id = question_id if photo else _picture_answer_before(conversation, question_id)
    if picture_id is None:
        return None
    return ImageRequest(
        prompt=f"{EDIT_WORD} {style}",
        owner_id=conversation.owner_id,
        conversation_id=conversation.pk,
        picture_message_id=picture_id,
    )


def _picture_answer_before(conversation: Conversation, question_id: int) -> int | None:
    """The shown answer just before the question, when it is a render or an edit (read only for a
    message that reads as a restyle; a picture's answer has no words, so the prompt's history lacks it)."""
    shown = [m for m in selectors.visible_messages(conversation=conversation) if m.pk < question_id]
    if not shown or shown[-1].role != Message.Role.ASSISTANT or shown[-1].image_id is None:
        return None
    return shown[-1].pk


def _picture_to_edit(question: HistoryMessage, photo: bool) -> int | None:
    """An edit restyles the photo it is the caption of, or the picture its Edit button named (None:
    the conversation's newest picture)."""
    if photo:
        return question.id
    return Message.objects.filter(pk=question.id).values_list("edits_picture_of_id", flat=True).first()


def load_turn_by_id(answer_id: int) -> Turn:
    return load_turn(Message.objects.select_related("conversation").get(pk=answer_id))


# --- the knowledge store's worker ---------------------------------------------------------------


async def _completion(prompt: str) -> str:
    gateway = model_gateway()
    params = GenerationParams(max_tokens=MEMORY_MAX_TOKENS, temperature=0.0, stop_token_ids=gateway.stop_token_ids())
    parts = []
    # The client stays open: the worker thread's loop keeps it for the next task (core/event_loop.py).
    async for event in gateway.client.stream(gateway.prompt_ids([ChatMessage("user", prompt)]), params):
        if isinstance(event, TextDelta):
            parts.append(event.text)
    return "".join(parts)


def memory_model(prompt: str) -> str:
    """The served model's completion of one of the knowledge store's prompts (extraction, replacement)."""
    return run_sync(_completion(prompt))


def memory_allowed(text: str) -> bool:
    """The content guard's verdict on a fact before it is kept, judged as a user's words; a guard
    that cannot answer under the fail-closed policy keeps nothing."""
    guard = default_capabilities().guard
    if guard is None:
        return True
    try:
        return guard_allows(run_sync(guard.check([("user", text)], agent=False)), "memory")
    except SafetyUnavailable:
        return False
