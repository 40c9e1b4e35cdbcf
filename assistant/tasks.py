"""Background work on Celery (queue `default`)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from assistant.event_loop import run_sync
from assistant.llm import model_gateway
from assistant.models import Conversation, Message
from assistant.services import TITLE_MAX_CHARS, provisional_title, set_generated_title
from model_service.chat_formats import ChatMessage, neutralize_special_tokens
from model_service.client import GenerationParams, TextDelta

TITLE_INSTRUCTION = "Write a title of at most six words for this conversation. Reply with the title only."
TITLE_MAX_TOKENS = 16


async def _generate_title(first_question: str) -> str:
    gateway = model_gateway()
    messages = [
        ChatMessage("system", TITLE_INSTRUCTION),
        ChatMessage("user", neutralize_special_tokens(first_question[:2000], gateway.counter.special_markers)),
    ]
    parts = []
    params = GenerationParams(max_tokens=TITLE_MAX_TOKENS, temperature=0.2)
    # The client stays open: the worker thread's loop keeps it for the next task (event_loop.py).
    async for event in gateway.client.stream(messages, params):
        if isinstance(event, TextDelta):
            parts.append(event.text)
    return " ".join("".join(parts).strip().strip("\"'*#").split())[:TITLE_MAX_CHARS]


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=3)
def title_conversation(conversation_id: int) -> None:
    """Give a new conversation a short title written by the model (after its first answer)."""
    first = Message.objects.filter(conversation_id=conversation_id, role=Message.Role.USER).order_by("id").first()
    if first is None or not settings.ASSISTANT_MODEL_TITLES:
        return
    # Only the title the conversation was created with is replaced: after a rename, or when an earlier
    # delivery of this task already titled it, there is nothing to do (and no model call to pay for).
    provisional = provisional_title(first.content)
    if not Conversation.objects.filter(pk=conversation_id, title=provisional).exists():
        return
    title = run_sync(_generate_title(first.content))
    if title:
        set_generated_title(conversation_id=conversation_id, title=title, provisional=provisional)
