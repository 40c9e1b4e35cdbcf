"""Background work on Celery (queue `default`)."""

from __future__ import annotations

from celery import shared_task

from assistant.chat.services import TITLE_MAX_CHARS, provisional_title, set_generated_title
from assistant.conf import assistant_settings
from assistant.engine.capabilities import default_capabilities
from assistant.engine.llm import model_gateway
from assistant.models import Conversation, Message
from core.event_loop import run_sync
from model_service.client import GenerationParams, TextDelta
from model_service.messages import ChatMessage

TITLE_INSTRUCTION = "Write a title of at most six words for this conversation. Reply with the title only."
TITLE_MAX_TOKENS = 16


async def _generate_title(first_question: str) -> str:
    gateway = model_gateway()
    messages = [
        ChatMessage("system", TITLE_INSTRUCTION),
        ChatMessage("user", first_question[:2000]),
    ]
    parts = []
    params = GenerationParams(max_tokens=TITLE_MAX_TOKENS, temperature=0.2)
    # The client stays open: the worker thread's loop keeps it for the next task (event_loop.py).
    async for event in gateway.client.stream(gateway.prompt_ids(messages), params):
        if isinstance(event, TextDelta):
            parts.append(event.text)
    return " ".join("".join(parts).strip().strip("\"'*#").split())[:TITLE_MAX_CHARS]


async def _title_allowed(question: str, title: str) -> bool:
    """A title is an answer the person sees in their list: it passes the same output check."""
    capabilities = default_capabilities()
    if capabilities.guard is None or not capabilities.check_output:
        return True
    verdict = await capabilities.guard.check([("user", question), ("assistant", title)], agent=True)
    return verdict.safe


def _titled_question(conversation_id: int, answer_id: int | None) -> str | None:
    """The question a title is written from: the one `answer_id` (a complete answer) replies to, or
    without it the first question that was not refused. A refused question never reaches the model."""
    if answer_id is not None:
        answers = Message.objects.filter(pk=answer_id, status=Message.Status.COMPLETE).select_related("reply_to")
        answer = answers.first()
        return answer.reply_to.content if answer is not None and answer.reply_to is not None else None
    questions = Message.objects.filter(conversation_id=conversation_id, role=Message.Role.USER)
    first = questions.exclude(answers__status=Message.Status.BLOCKED).order_by("id").first()
    return first.content if first is not None else None


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
    question = _titled_question(conversation_id, answer_id)
    if question is None:
        return
    title = run_sync(_generate_title(question))
    if title and run_sync(_title_allowed(question, title)):
        set_generated_title(conversation_id=conversation_id, title=title, provisional=provisional)
