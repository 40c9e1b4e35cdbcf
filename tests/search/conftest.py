"""Fixtures of the search tests: the loopback web server and settings that allow it (and only it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from pytest_django.fixtures import Settings

from tests.search.pages import ARTICLE, BOILERPLATE
from tests.support.fake_web import FakeWeb


@pytest.fixture
def web() -> Iterator[FakeWeb]:
    with FakeWeb() as server:
        server.add("/article", ARTICLE)
        server.add("/boilerplate", BOILERPLATE)
        yield server


@pytest.fixture
def search_settings(settings: Settings, web: FakeWeb, tmp_path: Path) -> Iterator[Settings]:
    """Search settings for a test: the web server allow-listed, an index file of its own, no cache, short limits."""
    settings.SEARCH_FETCH_ALLOWED_HOSTS = [web.host]
    settings.SEARCH_INDEX_PATH = tmp_path / "index.sqlite3"
    settings.SEARCH_CACHE_SECONDS = 0
    settings.SEARCH_CONNECT_TIMEOUT_SECONDS = 1.0
    settings.SEARCH_READ_TIMEOUT_SECONDS = 1.0
    settings.SEARCH_FETCH_DEADLINE_SECONDS = 3.0
    cache.clear()
    yield settings
    cache.clear()
