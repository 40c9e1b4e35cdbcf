"""A Celery worker killed with SIGKILL in the middle of a task, on the production broker (Redis)
and database (PostgreSQL): the task is delivered again to the next worker and its effect happens
once. The task here is the conversation title; a paced model server makes it last four seconds. The
worker is docker-compose's `worker`: one process running its tasks on threads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery

from tests.support.deployment import RedisSlot, redis_url
from tests.support.processes import (
    COMPOSE_WORKER_POOL,
    COMPOSE_WORKER_THREADS,
    ROOT,
    free_port,
    migrate,
    product_env,
    running,
    worker_command,
)

pytestmark = pytest.mark.live

BROKER_URL = redis_url(RedisSlot.MODULE_BROKER)  # a database of its own: no other worker takes the task
TITLE_TASK = "assistant.tasks.title_conversation"
PROVISIONAL = "Plan a weekend in Lisbon"
# The paced server streams 16 chunks of " word" at 4 per second.
GENERATED = "word word word word word word word word word word word word word word word word"
COMPOSE_WORKER = worker_command(pool=COMPOSE_WORKER_POOL, concurrency=COMPOSE_WORKER_THREADS)


@pytest.fixture
def environment(postgres_database: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    redis.Redis.from_url(BROKER_URL).flushdb()
    model_port = free_port()
    paced_model = [sys.executable, "-m", "tests.support.fake_openai", "--port", str(model_port)]
    env = product_env(
        tmp_path,
        DATABASE_URL=postgres_database,
        CELERY_BROKER_URL=BROKER_URL,
        CELERY_VISIBILITY_TIMEOUT="3",
        CELERY_REDELIVERY_SCAN_SECONDS="1",
        MODEL_BASE_URL=f"http://127.0.0.1:{model_port}/v1",
        ASSISTANT_MODEL_TITLES="true",
    )
    migrate(env)
    with running([*paced_model, "--tokens", "16", "--rate", "4"], env=env, log=tmp_path / "model.log"):
        yield env


def django_shell(env: dict[str, str], code: str) -> str:
    command = [sys.executable, "manage.py", "shell", "--no-imports", "-c", code]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip()


def conversation_waiting_for_a_title(env: dict[str, str]) -> int:
    return int(
        django_shell(
            env,
            "import uuid; from assistant.models import User, Conversation, Message; "
            "owner = User.objects.create(username=f'fault-{uuid.uuid4().hex[:8]}'); "
            f"c = Conversation.objects.create(owner=owner, title={PROVISIONAL!r}); "
            f"Message.objects.create(conversation=c, role='user', content={PROVISIONAL!r}); print(c.pk)",
        )
    )


def title_of(env: dict[str, str], conversation_id: int) -> str:
    code = f"from assistant.models import Conversation; print(Conversation.objects.get(pk={conversation_id}).title)"
    return django_shell(env, code)


def send_title_task(conversation_id: int) -> None:
    producer = Celery(broker=BROKER_URL, set_as_current=False)
    producer.send_task(TITLE_TASK, args=[conversation_id], queue="default")
    producer.close()


def wait_for_log(log: Path, needle: str, count: int = 1, wait_seconds: float = 60) -> None:
    deadline = time.monotonic() + wait_seconds
    while log.read_text(errors="replace").count(needle) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} did not appear {count}x in {log}:\n{log.read_text()}")
        time.sleep(0.1)


def test_a_task_cut_by_sigkill_runs_again_and_takes_effect_once(environment: dict[str, str], tmp_path: Path) -> None:
    conversation_id = conversation_waiting_for_a_title(environment)
    send_title_task(conversation_id)

    first_log = tmp_path / "worker-1.log"
    with running(COMPOSE_WORKER, env=environment, log=first_log, own_group=True) as first_worker:
        wait_for_log(first_log, f"Task {TITLE_TASK}[")  # received; the model call takes 4 s
        time.sleep(1.0)
        os.killpg(first_worker.pid, signal.SIGKILL)  # the whole container dies: parent and pool child
        first_worker.wait(timeout=10)
    assert title_of(environment, conversation_id) == PROVISIONAL, "the killed task must not have finished"
    assert "succeeded" not in first_log.read_text()

    second_log = tmp_path / "worker-2.log"
    with running(COMPOSE_WORKER, env=environment, log=second_log):
        wait_for_log(second_log, "succeeded")  # delivered again once the visibility timeout passed
        assert title_of(environment, conversation_id) == GENERATED

        # A further delivery of the same task must not apply its effect again: the user renamed it.
        renamed = json.dumps("My Lisbon weekend")
        django_shell(environment, f"from assistant.models import Conversation; "
                     f"Conversation.objects.filter(pk={conversation_id}).update(title={renamed})")  # fmt: skip
        send_title_task(conversation_id)
        wait_for_log(second_log, "succeeded", count=2)
    assert title_of(environment, conversation_id) == "My Lisbon weekend"
