"""Celery tasks on queue `documents`: extraction is slow and memory-hungry, so it scales on its own
workers; reading facts from an exchange (a model call, then embeddings) runs there too, off the
path of the answer it follows."""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from core.errors import AssistantError, ErrorCode
from knowledge import memory, services
from knowledge.conf import knowledge_settings
from knowledge.linking import memory_owner

QUEUE = "documents"
# Past the cooperative check between pages (KNOWLEDGE_EXTRACTION_SECONDS), for one page that never ends.
HARD_LIMIT_MARGIN_SECONDS = 60


@shared_task(
    queue=QUEUE,
    soft_time_limit=knowledge_settings().extraction_seconds + HARD_LIMIT_MARGIN_SECONDS,
    time_limit=knowledge_settings().extraction_seconds + 2 * HARD_LIMIT_MARGIN_SECONDS,
)
def extract_document(document_id: int) -> str | None:
    try:
        return services.process_document(document_id)
    except SoftTimeLimitExceeded:
        stopped = AssistantError(ErrorCode.EXTRACTION_TIMEOUT, "Reading the file took too long and was stopped.")
        return services.fail_document(document_id, stopped)


# What the person's memory gained from an exchange: the items stored or rewritten (a replaced fact).
_KEPT = (memory.Outcome.STORED, memory.Outcome.REPLACED)


# Queue `documents` (CELERY_TASK_ROUTES); a time limit well past one model call: the web process
# stops waiting for the result long before.
@shared_task(ignore_result=False, time_limit=300)
def remember_exchange(
    person_id: int,
    message_id: int,
    channel: str,
    user_text: str,
    answer_text: str,
    conversation_id: int | None = None,
) -> dict[str, list[dict[str, int | str]]]:
    """Facts of one complete, unblocked exchange of `person_id` kept in their memory, or in the web
    account's they are linked to (memory.remember_exchange), their provenance the user's message
    `message_id` in `conversation_id`: a memory.ExchangeMemory of the items stored or replaced, and of
    the sensitive facts to ask about. Not retried: a failed model call costs the facts of one
    exchange, and the person can still say "remember that …"."""
    model = memory.configured_model()
    if model is None:
        return memory.ExchangeMemory().model_dump()
    source = memory.Source(channel=channel, message_id=message_id, conversation_id=conversation_id)
    owner_id = memory_owner(user_id=person_id)
    remembered = memory.remember_exchange(
        owner_id=owner_id,
        user_text=user_text,
        answer_text=answer_text,
        blocked=False,
        source=source,
        model=model,
        content_check=memory.configured_content_check(),
    )
    kept = [memory.KeptItem(id=r.item.pk, text=r.item.text) for r in remembered if r.outcome in _KEPT and r.item]
    ask = [
        memory.ConsentAsk(text=r.fact.fact, token=memory.consent_token(owner_id=owner_id, fact=r.fact, source=source))
        for r in remembered
        if r.outcome is memory.Outcome.NEEDS_CONSENT
    ]
    return memory.ExchangeMemory(kept=kept, ask=ask).model_dump()
