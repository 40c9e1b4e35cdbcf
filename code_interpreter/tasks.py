"""Celery task on queue `code` (CELERY_TASK_ROUTES routes code_interpreter.tasks.*). The worker starts
a bubblewrap sandbox per task: the model's code never runs in the worker's own process."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from code_interpreter.results import CodeInterpreterUnavailable
from code_interpreter.service import run_python

logger = logging.getLogger(__name__)

# Far above any sensible wall-clock limit: the sandbox's own deadline ends a run long before.
TASK_TIME_LIMIT_SECONDS = 300


# Not acknowledged late: a run that took its worker down must not be handed to the next worker.
@shared_task(ignore_result=False, acks_late=False, time_limit=TASK_TIME_LIMIT_SECONDS)
def run_code(code: str) -> dict[str, Any]:
    """{"result": ExecutionResult.to_json()}, or {"unavailable": why} when no sandbox could be made."""
    try:
        return {"result": run_python(code).to_json()}
    except CodeInterpreterUnavailable as error:
        logger.error("code interpreter: no sandbox: %s", error)
        return {"unavailable": str(error)}
