"""Celery tasks on queue `search` (CELERY_TASK_ROUTES routes search.tasks.*)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import current_app, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init

from search import math, ranking
from search.service import gather
from search.sources import SearchOutcome

logger = logging.getLogger(__name__)

# Longer than a provider request plus a page's deadline plus ranking; the caller stops waiting sooner.
SEARCH_TIME_LIMIT_SECONDS = 60


@shared_task(ignore_result=False, soft_time_limit=SEARCH_TIME_LIMIT_SECONDS, time_limit=SEARCH_TIME_LIMIT_SECONDS + 10)
def search_web(query: str, urls: list[str], max_sources: int = 3, question: str = "") -> dict[str, Any]:
    """Sources for a question as `SearchOutcome.to_json()`; see search.service.gather."""
    try:
        return gather(query, urls=urls, max_sources=max_sources, question=question).to_json()
    except SoftTimeLimitExceeded:
        error = f"Web search took longer than {SEARCH_TIME_LIMIT_SECONDS} s and was stopped."
        return SearchOutcome(query=query, error=error).to_json()


@shared_task(ignore_result=False, time_limit=SEARCH_TIME_LIMIT_SECONDS)
def solve_math(query: str) -> str:
    """The `wolfram_alpha` tool's answer text; see search.math.solve."""
    return math.solve(query)


@worker_process_init.connect
def _warm_ranking_model(**_: Any) -> None:
    """A worker process that serves the `search` queue loads MiniLM as it starts, in a thread (Celery
    gives process start-up only a few seconds), so the first search does not pay for the load."""
    if "search" in current_app.amqp.queues.consume_from:
        logger.info("loading the ranking model (all-MiniLM-L6-v2)")
        threading.Thread(target=ranking.embedder, name="load-ranking-model", daemon=True).start()
