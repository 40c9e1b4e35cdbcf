"""The Celery application shared by every worker; tasks live in each app's tasks.py."""

import os
from typing import Any

from celery import Celery, Task
from celery.signals import before_task_publish, task_postrun, task_prerun
from kombu.transport import TRANSPORT_ALIASES

from model_service import log_context

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# filesystem:// (the embedded mode's broker) with messages written whole: see config/celery_filesystem.py.
TRANSPORT_ALIASES["filesystem"] = "config.celery_filesystem:Transport"

app = Celery("assistant")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["code_interpreter"])  # not a Django app, so named here (queue `code`)

TURN_HEADER = "turn_id"


@before_task_publish.connect
def _send_turn_id(headers: dict[str, Any], **_: Any) -> None:
    """A task queued while handling a turn carries the turn's id to the worker."""
    if turn := log_context.turn_id.get():
        headers[TURN_HEADER] = turn


@task_prerun.connect
def _adopt_turn_id(task: Task, **_: Any) -> None:
    task.request.turn_token = log_context.turn_id.set(getattr(task.request, TURN_HEADER, None) or "")


@task_postrun.connect
def _forget_turn_id(task: Task, **_: Any) -> None:
    if token := getattr(task.request, "turn_token", None):
        log_context.turn_id.reset(token)
