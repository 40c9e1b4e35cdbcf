"""`search.tasks` through a real Celery worker on queue `search` (Redis broker and result backend),
searching the SearXNG contract fake and fetching pages from the loopback web server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings

from search.sources import SearchOutcome
from tests.search.pages import BREAD_TEXT
from tests.support.deployment import RedisSlot, redis_url
from tests.support.fake_web import FakeWeb, Result
from tests.support.processes import product_env, running, worker_command

pytestmark = pytest.mark.live

TASK_TIMEOUT = 90  # the first task also pays for the worker's start and the MiniLM model's load


@pytest.fixture(scope="module")
def site() -> Iterator[FakeWeb]:
    with FakeWeb() as web:
        web.add(
            "/bread",
            f"<html><head><title>Bread</title></head><body><article><p>{BREAD_TEXT}</p></article></body></html>",
        )
        web.results = [Result("Why sourdough rises", web.url("/bread"), "Wild yeast")]
        yield web


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("search-worker")


@pytest.fixture(scope="module")
def client(site: FakeWeb, var_dir: Path) -> Iterator[Celery]:
    """A search worker (as docker-compose's worker runs it) and a Celery client routed like the product."""
    broker = backend = redis_url(RedisSlot.SEARCH_WORKER)  # queue keys never meet "celery-task-meta-…"
    redis.Redis.from_url(broker).flushdb()
    env = product_env(
        var_dir,
        CELERY_BROKER_URL=broker,
        CELERY_RESULT_BACKEND=backend,
        HF_HUB_OFFLINE="1",
        SEARCH_PROVIDER="searxng",
        SEARCH_SEARXNG_URL=site.url("/searxng"),
        SEARCH_FETCH_ALLOWED_HOSTS=site.host,
        SEARCH_CACHE_SECONDS="0",
    )
    app = Celery("search-tests", broker=broker, backend=backend, set_as_current=False)
    app.conf.task_routes = settings.CELERY_TASK_ROUTES
    with running(worker_command(queues=("search",)), env=env, log=var_dir / "worker.log"):
        yield app
    app.close()


def test_search_web_returns_sources_from_the_web_server(client: Celery, site: FakeWeb, var_dir: Path) -> None:
    result = client.send_task("search.tasks.search_web", args=["why does sourdough rise", [], 3])
    outcome = SearchOutcome.from_json(result.get(timeout=TASK_TIMEOUT))
    assert "loading the ranking model" in (var_dir / "worker.log").read_text()  # at start, not in the first search
    assert outcome.error == ""
    [source] = outcome.sources
    assert (source.title, source.url) == ("Why sourdough rises", site.url("/bread"))
    assert BREAD_TEXT in source.text


def test_search_web_reports_a_provider_quota_error_as_words(client: Celery, site: FakeWeb) -> None:
    site.provider_failures.append(429)
    result = client.send_task("search.tasks.search_web", args=["bread", [site.url("/bread")]])
    outcome = SearchOutcome.from_json(result.get(timeout=TASK_TIMEOUT))
    assert "quota or rate limit" in outcome.error
    assert [s.url for s in outcome.sources] == [site.url("/bread")]


def test_solve_math_answers_on_the_search_queue(client: Celery) -> None:
    assert client.send_task("search.tasks.solve_math", args=["solve x^2 = 9"]).get(timeout=TASK_TIMEOUT) == (
        "x = -3; x = 3"
    )


def test_tasks_are_routed_to_the_search_queue(client: Celery) -> None:
    assert client.amqp.router.route({}, "search.tasks.search_web")["queue"].name == "search"
