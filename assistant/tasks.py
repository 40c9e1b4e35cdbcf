"""Background work on Celery (queue `default`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from celery import shared_task

from assistant.chat.services import TITLE_MAX_CHARS, provisional_title, set_generated_title
from assistant.conf import assistant_settings
from assistant.engine.capabilities import default_capabilities
from assistant.engine.llm import model_gateway
from assistant.models import Conversation, Message
from core.event_loop import run_sync
from model_service.client import GenerationParams, TextDelta
from model_service.messages import ChatMessage

TITLE_INSTRUCTION = (
    "Write a title of at most six words for the conversation below, in the language of the user's "
    "question. Plain words: no markdown, no quotes, no final full stop. Reply with the title only."
)
TITLE_MAX_TOKENS = 16
# What the title model reads of the exchange: the question and the start of its answer.
QUESTION_CHARS = 2000
ANSWER_CHARS = 600


# Small models dress a title up: "Title: **Trip plans**." → "Trip plans".
_TITLE_LABEL = re.compile(r"^\s*title\s*:\s*", re.IGNORECASE)
_MARKUP = re.compile(r"[*_`#\"“”«»]|^\s*['‘’]|['‘’]\s*$")


def plain_title(written: str) -> str:
    """The model's title as the sidebar shows it: its first line, without markdown, quotes or label."""
    lines = written.strip().splitlines()
    first_line = lines[0] if lines else ""
    words = _MARKUP.sub("", _TITLE_LABEL.sub("", first_line)).split()
    return " ".join(words).rstrip(".。")[:TITLE_MAX_CHARS].strip()


@dataclass(frozen=True)
class Exchange:
    question: str
    answer: str


def _title_prompt(exchange: Exchange) -> str:
    question = f"Question: {exchange.question[:QUESTION_CHARS]}"
    return f"{question}\n\nAnswer: {exchange.answer[:ANSWER_CHARS]}" if exchange.answer else question


async def _generate_title(exchange: Exchange) -> str:
    gateway = model_gateway()
    messages = [ChatMessage("system", TITLE_INSTRUCTION), ChatMessage("user", _title_prompt(exchange))]
    parts = []
    params = GenerationParams(max_tokens=TITLE_MAX_TOKENS, temperature=0.2)
    # The client stays open: the worker thread's loop keeps it for the next task (event_loop.py).
    async for event in gateway.client.stream(gateway.prompt_ids(messages), params):
        if isinstance(event, TextDelta):
            parts.append(event.text)
    return plain_title("".join(parts))


async def _title_allowed(question: str, title: str) -> bool:
    """A title is an answer the person sees in their list: it passes the same output check."""
    capabilities = default_capabilities()
    if capabilities.guard is None or not capabilities.check_output:
        return True
    verdict = await capabilities.guard.check([("user", question), ("assistant", title)], agent=True)
    return verdict.safe


def _titled_exchange(conversation_id: int, answer_id: int | None) -> Exchange | None:
    """The exchange a title is written from: `answer_id` (a complete answer) and its question; without
    it the first complete answer and its question, else the first question alone. A refused question
    never reaches the model."""
    answers = Message.objects.filter(
        conversation_id=conversation_id, role=Message.Role.ASSISTANT, status=Message.Status.COMPLETE
    ).select_related("reply_to")
    answer = answers.filter(pk=answer_id).first() if answer_id is not None else answers.order_by("id").first()
    if answer is not None and answer.reply_to is not None:
        return Exchange(question=answer.reply_to.content, answer=answer.content)
    if answer_id is not None:
        return None
    questions = Message.objects.filter(conversation_id=conversation_id, role=Message.Role.USER)
    first = questions.exclude(answers__status=Message.Status.BLOCKED).order_by("id").first()
    return Exchange(question=first.content, answer="") if first is not None else None


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def title_conversation(conversation_id: int, answer_id: int | None = None) -> None:
    """Give a new conversation a short title written by the model, after its first complete answer
    (`answer_id`), from the question that answer replies to."""
    first = Message.objects.filter(conversation_id=conversation_id, role=Message.Role.USER).order_by("id").first()
    if first is None or not assistant_settings().model_titles:
        return
    # Only the title the conversation was created with is replaced: after a rename, or when an earlier
    # delivery of this task already titled it, there is nothing to do (and no model call to pay for).
    provisional = provisional_title(first.content)
    if not Conversation.objects.filter(pk=conversation_id, title=provisional).exists():
        return
    exchange = _titled_exchange(conversation_id, answer_id)
    if exchange is None:
        return
    title = run_sync(_generate_title(exchange))
    if title and run_sync(_title_allowed(exchange.question, title)):
        set_generated_title(conversation_id=conversation_id, title=title, provisional=provisional)
