"""The Celery application shared by every worker; tasks live in each app's tasks.py."""

import os
import sys
from typing import Any

from celery import Celery, Task
from celery.concurrency import get_implementation
from celery.concurrency.thread import TaskPool as ThreadTaskPool
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_init, worker_process_shutdown
from celery.worker import WorkController
from django.conf import settings
from django.db import close_old_connections, connections
from kombu.transport import TRANSPORT_ALIASES

from core.garbage_collection import tune_for_serving
from model_service import log_context

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# filesystem:// (the embedded mode's broker) with messages written whole: see config/celery_filesystem.py.
TRANSPORT_ALIASES["filesystem"] = "config.celery_filesystem:Transport"

app = Celery("assistant")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["code_interpreter", "media"])  # not Django apps, so named here (queues `code`, `media`)

TURN_HEADER = "turn_id"

# Celery's Django fixup closes the database at every task boundary, and with Django's connection pool
# it closes the whole pool (celery/celery#10554): each messaging reply then built a new pool with its
# threads and connected to PostgreSQL afresh. A worker process keeps its own pool instead (the fixup
# still drops what a forked child inherits, and the pool closes when the child exits); between
# tasks connections go back to it, and broken or aged ones are dropped, as after a web request.
app.conf.update(CELERY_DB_REUSE_MAX=sys.maxsize)


@task_prerun.connect
@task_postrun.connect
def _release_database(task: Task, **_: Any) -> None:
    if not task.request.is_eager:  # an eager task runs inside its caller's transaction (tests)
        close_old_connections()


@worker_init.connect
def _tune_garbage_collection(**_: Any) -> None:
    tune_for_serving()  # before the pool forks: its children share the frozen objects' pages


@worker_init.connect
def _check_database_pool(sender: object, **_: Any) -> None:
    """A thread pool's tasks share one process's database connections: each task thread holds one
    while its answer's own calls (on the database threads, core/db.py) need another, so a pool no
    larger than the thread count could leave every connection held and each task waiting for one."""
    if not isinstance(sender, WorkController) or not issubclass(get_implementation(sender.pool_cls), ThreadTaskPool):
        return
    threads, pool = sender.concurrency, settings.DATABASE_POOL_MAX_SIZE
    if pool and isinstance(threads, int) and pool <= threads:
        # SystemExit: Celery logs any Exception a signal handler raises and starts the worker anyway.
        raise SystemExit(
            f"DATABASE_POOL_MAX_SIZE ({pool}) must exceed this worker's --concurrency ({threads}) with --pool threads: "
            "each task thread holds a connection while its answer needs more (docs/operations.md)."
        )


@worker_process_shutdown.connect
def _close_database_pool(**_: Any) -> None:
    for connection in connections.all(initialized_only=True):
        if close_pool := getattr(connection, "close_pool", None):
            close_pool()


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
