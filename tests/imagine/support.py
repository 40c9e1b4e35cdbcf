"""The imagine worker as production runs it (queue `imagine`, thread pool, one process), on Redis:
a broker database of the test process's own, and one for results and the shared cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from config.celery import app as celery_app
from tests.support.deployment import RedisSlot, redis_url
from tests.support.processes import product_env, running, worker_command

BROKER_URL = redis_url(RedisSlot.WORKER_BROKER)
RESULTS_URL = redis_url(RedisSlot.WORKER_RESULTS)
CACHE_URL = RESULTS_URL  # Django's cache keys (":1:imagine:…") never meet Celery's ("celery-task-meta-…")
WORKER_THREADS = 8


def flush() -> None:
    for url in (BROKER_URL, RESULTS_URL):
        redis.Redis.from_url(url).flushdb()


def worker_args() -> list[str]:
    return worker_command(queues=("imagine",), concurrency=WORKER_THREADS, pool="threads")


@contextmanager
def redis_in_this_process() -> Iterator[None]:
    """Point this process's Celery app at the worker's broker and result backend, then back."""
    before = {"broker_url": celery_app.conf.broker_url, "result_backend": celery_app.conf.result_backend}
    _switch(broker_url=BROKER_URL, result_backend=RESULTS_URL)
    try:
        yield
    finally:
        _switch(**before)


def _switch(**urls: str) -> None:
    """Point the app at other URLs. Celery caches its connection pool, its producer pool and its
    result backend (per thread) from the first use, and has no public way to drop them; earlier
    tests of this process may have used the app, so the caches are reset here. (`app.close()` is
    not enough, and worse: it deregisters the app, so task modules imported later go missing.)"""
    celery_app.conf.update(urls)
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app._backend_cache = None
    celery_app._local = threading.local()


@contextmanager
def imagine_worker(var_dir: Path) -> Iterator[None]:
    """A running imagine worker with its pipeline warm."""
    flush()
    env = product_env(var_dir, CELERY_BROKER_URL=BROKER_URL, CELERY_RESULT_BACKEND=RESULTS_URL, CACHE_URL=CACHE_URL)
    with running(worker_args(), env=env, log=var_dir / "imagine-worker.log"), redis_in_this_process():
        _wait_for_first_render()
        yield


def _wait_for_first_render(timeout: float = 90) -> None:
    from imagine.tasks import render_preview

    request = {"prompt": "warm up", "seed": 1, "width": 256, "height": 256, "steps": 1}
    result = render_preview.delay(request)
    deadline = time.monotonic() + timeout
    while not result.ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the imagine worker rendered nothing within {timeout}s")
        time.sleep(0.1)
    assert result.get()["ok"], result.get()
    result.forget()
