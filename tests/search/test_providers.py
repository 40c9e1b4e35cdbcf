"""Providers against contract fakes of SearXNG's JSON API and the Brave Search API, and the local index."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from search.extract import Document
from search.index import LocalIndex, match_expression
from search.providers import (
    BraveProvider,
    LocalIndexProvider,
    ProviderError,
    SearchResult,
    SearxngProvider,
    configured_provider,
)
from tests.support.fake_web import BRAVE_TOKEN, FakeWeb, Result

RESULTS = [
    Result("How <b>volcanoes</b> form", "https://example.org/volcanoes", "Magma rises &amp; <strong>erupts</strong>"),
    Result("Volcano - Wikipedia", "https://en.wikipedia.org/wiki/Volcano", "A volcano is a rupture in the crust"),
    Result("Not a web link", "ftp://example.org/file", "dropped"),
    Result("Third", "https://example.com/3", "third result"),
]


@pytest.fixture
def searxng(web: FakeWeb) -> SearxngProvider:
    web.results = RESULTS
    return SearxngProvider(web.url("/searxng"))


@pytest.fixture
def brave(web: FakeWeb) -> BraveProvider:
    web.results = RESULTS
    return BraveProvider(BRAVE_TOKEN, web.url("/brave/res/v1/web/search"))


async def test_searxng_results_are_parsed_to_plain_text(searxng: SearxngProvider, web: FakeWeb) -> None:
    """Contract test: SearXNG's /search?format=json answer shape."""
    results = await searxng.search("how do volcanoes form", 3)
    assert results == [
        SearchResult("How volcanoes form", "https://example.org/volcanoes", "Magma rises & erupts"),
        SearchResult(
            "Volcano - Wikipedia", "https://en.wikipedia.org/wiki/Volcano", "A volcano is a rupture in the crust"
        ),
        SearchResult("Third", "https://example.com/3", "third result"),
    ]
    [request] = web.seen("/searxng/search")
    assert request.query == {"q": ["how do volcanoes form"], "format": ["json"]}


async def test_brave_results_are_parsed_and_the_token_is_sent(brave: BraveProvider, web: FakeWeb) -> None:
    """Contract test: Brave's web.results[] with title/url/description, X-Subscription-Token header."""
    results = await brave.search("volcanoes", 2)
    assert [r.url for r in results] == ["https://example.org/volcanoes", "https://en.wikipedia.org/wiki/Volcano"]
    assert results[0].snippet == "Magma rises & erupts"
    [request] = web.seen("/brave/res/v1/web/search")
    assert request.headers["x-subscription-token"] == BRAVE_TOKEN
    assert request.query == {"q": ["volcanoes"], "count": ["2"]}


async def test_brave_quota_errors_say_so(brave: BraveProvider, web: FakeWeb) -> None:
    web.provider_failures.append(429)
    with pytest.raises(ProviderError, match=r"Brave Search refused the search: its quota or rate limit is used up"):
        await brave.search("volcanoes", 3)


async def test_searxng_rate_limit_says_so(searxng: SearxngProvider, web: FakeWeb) -> None:
    web.provider_failures.append(429)
    with pytest.raises(ProviderError, match=r"quota or rate limit.*HTTP 429"):
        await searxng.search("volcanoes", 3)


async def test_server_errors_and_bad_tokens_are_provider_errors(web: FakeWeb, searxng: SearxngProvider) -> None:
    web.provider_failures.append(502)
    with pytest.raises(ProviderError, match=r"SearXNG answered with an error \(HTTP 502\)"):
        await searxng.search("volcanoes", 3)
    wrong_token = BraveProvider("wrong", web.url("/brave/res/v1/web/search"))
    with pytest.raises(ProviderError, match=r"HTTP 422"):
        await wrong_token.search("volcanoes", 3)


async def test_searxng_without_the_json_format_is_a_provider_error(web: FakeWeb, searxng: SearxngProvider) -> None:
    """A SearXNG whose settings do not enable `json` answers 403."""
    web.searxng_json_enabled = False
    with pytest.raises(ProviderError, match="HTTP 403"):
        await searxng.search("volcanoes", 3)


async def test_an_unreachable_provider_is_a_provider_error(settings: Settings) -> None:
    settings.SEARCH_PROVIDER_TIMEOUT_SECONDS = 1
    with pytest.raises(ProviderError, match="SearXNG could not be reached"):
        await SearxngProvider("http://127.0.0.1:9").search("volcanoes", 3)


def test_configured_provider_follows_the_setting(settings: Settings, tmp_path: Path) -> None:
    settings.SEARCH_INDEX_PATH = tmp_path / "index.sqlite3"
    settings.SEARCH_PROVIDER = "local"
    assert isinstance(configured_provider(), LocalIndexProvider)
    settings.SEARCH_PROVIDER = "searxng"
    settings.SEARCH_SEARXNG_URL = ""
    with pytest.raises(ProviderError, match="SEARCH_SEARXNG_URL is empty"):
        configured_provider()
    settings.SEARCH_PROVIDER = "brave"
    settings.SEARCH_BRAVE_API_KEY = "key"
    assert isinstance(configured_provider(), BraveProvider)
    settings.SEARCH_PROVIDER = "bing"
    with pytest.raises(ProviderError, match="unknown SEARCH_PROVIDER"):
        configured_provider()


def test_fts_queries_are_quoted_words() -> None:
    assert match_expression('volcano OR "x" NEAR(a b) title:* -- ; DROP') == (
        '"volcano" OR "or" OR "x" OR "near" OR "a" OR "b" OR "title" OR "drop"'
    )
    assert match_expression("?!") == ""


async def test_the_local_index_finds_pages_by_their_words(tmp_path: Path) -> None:
    index = LocalIndex(tmp_path / "index.sqlite3")
    index.add(
        [
            Document("Volcanoes", "https://example.org/v", "Magma rises through the crust and erupts as lava."),
            Document("Sourdough", "https://example.org/s", "Wild yeast ferments the dough; bacteria make it sour."),
            Document("Lava lamps", "https://example.org/l", "A lamp with wax that rises and falls."),
        ]
    )
    index.add([Document("Volcanoes, revised", "https://example.org/v", "Volcanoes erupt magma. Magma is molten rock.")])
    assert index.count() == 3
    results = await LocalIndexProvider(index).search("how does magma erupt?", 5)
    assert results[0].url == "https://example.org/v"
    assert results[0].title == "Volcanoes, revised"
    assert results[0].text == "Volcanoes erupt magma. Magma is molten rock."
    assert "magma" in results[0].snippet.lower()
    assert await LocalIndexProvider(index).search("quantum chromodynamics", 5) == []
