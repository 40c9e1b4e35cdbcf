"""Celery tasks on queue `documents`: extraction is slow and memory-hungry, so it scales on its own workers."""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from core.errors import AssistantError, ErrorCode
from knowledge import services
from knowledge.conf import knowledge_settings

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
