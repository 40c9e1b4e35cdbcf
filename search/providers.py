"""Search providers behind one interface: the local SQLite FTS5 index, SearXNG and the Brave Search API.

The provider is the operator's choice (SEARCH_PROVIDER) and its address is configuration, not user
input, so provider requests do not go through the SSRF-checked fetcher (SearXNG usually runs on the
private network). Failures raise ProviderError with plain words for the user.
"""

from __future__ import annotations

import html
import logging
import sqlite3
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import nh3

from search import conf
from search.index import LocalIndex

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    snippet: str
    text: str = ""  # the whole text when the provider holds it (the local index): no fetch needed


class ProviderError(Exception):
    """The provider failed; the message is plain words for the user, the log has the details."""


class SearchProvider(Protocol):
    name: str

    async def search(self, query: str, limit: int) -> list[SearchResult]: ...


def plain_text(markup: str) -> str:
    """Provider snippets carry <strong> highlights and entities; the model gets plain text."""
    return " ".join(html.unescape(nh3.clean(markup, tags=set())).split())


def _raise_for_status(provider: str, response: httpx.Response) -> None:
    if response.status_code == 429:
        logger.warning("%s quota or rate limit: HTTP 429 %s", provider, response.text[:500])
        raise ProviderError(f"{provider} refused the search: its quota or rate limit is used up (HTTP 429)")
    if response.status_code >= 400:
        logger.warning("%s failed: HTTP %s %s", provider, response.status_code, response.text[:500])
        raise ProviderError(f"{provider} answered with an error (HTTP {response.status_code})")


async def _get_json(provider: str, url: str, *, params: dict[str, Any], headers: dict[str, str]) -> Any:
    try:
        async with httpx.AsyncClient(timeout=conf.search_settings().provider_timeout_seconds) as client:
            response = await client.get(url, params=params, headers=headers)
    except httpx.HTTPError as error:
        logger.warning("%s unreachable: %r", provider, error)
        raise ProviderError(f"{provider} could not be reached") from error
    _raise_for_status(provider, response)
    try:
        return response.json()
    except ValueError as error:
        logger.warning("%s sent something that is not JSON: %r", provider, response.text[:500])
        raise ProviderError(f"{provider} sent an answer that could not be read") from error


def _results(items: Any, snippet_key: str, limit: int) -> list[SearchResult]:
    results = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and str(item.get("url", "")).startswith(("http://", "https://")):
            title = plain_text(str(item.get("title", ""))) or str(item["url"])
            results.append(SearchResult(title, str(item["url"]), plain_text(str(item.get(snippet_key, "")))))
    return results[:limit]


class SearxngProvider:
    """A self-hosted SearXNG: `GET {base}/search?q=…&format=json` (the json format must be enabled)."""

    name = "SearXNG"

    def __init__(self, base_url: str) -> None:
        if not base_url:
            raise ProviderError("search is not set up (SEARCH_SEARXNG_URL is empty)")
        self.base_url = base_url

    async def search(self, query: str, limit: int) -> list[SearchResult]:
        params = {"q": query, "format": "json"}
        data = await _get_json(
            self.name, f"{self.base_url}/search", params=params, headers={"Accept": "application/json"}
        )
        return _results(data.get("results") if isinstance(data, dict) else None, "content", limit)


class BraveProvider:
    """The Brave Search API: `GET …/res/v1/web/search?q=…` with `X-Subscription-Token`, results in `web.results`."""

    name = "Brave Search"

    def __init__(self, api_key: str, url: str) -> None:
        if not api_key:
            raise ProviderError("search is not set up (SEARCH_BRAVE_API_KEY is empty)")
        self.api_key, self.url = api_key, url

    async def search(self, query: str, limit: int) -> list[SearchResult]:
        headers = {"Accept": "application/json", "X-Subscription-Token": self.api_key}
        data = await _get_json(self.name, self.url, params={"q": query, "count": limit}, headers=headers)
        web = data.get("web") if isinstance(data, dict) else None
        return _results(web.get("results") if isinstance(web, dict) else None, "description", limit)


class LocalIndexProvider:
    """The embedded default: the SQLite FTS5 index an operator fills with `manage.py search_index`."""

    name = "the local index"

    def __init__(self, index: LocalIndex) -> None:
        self.index = index

    async def search(self, query: str, limit: int) -> list[SearchResult]:
        try:
            hits = self.index.search(query, limit)
        except sqlite3.Error as error:
            logger.warning("local index %s failed: %r", self.index.path, error)
            raise ProviderError("the local search index could not be read") from error
        return [SearchResult(hit.title, hit.url, hit.snippet, hit.text) for hit in hits]


def configured_provider() -> SearchProvider:
    """The provider SEARCH_PROVIDER names; ProviderError when it is unknown or not configured."""
    configured = conf.search_settings()
    name = configured.provider
    if name == "searxng":
        return SearxngProvider(configured.searxng_url)
    if name == "brave":
        return BraveProvider(configured.brave_api_key, configured.brave_url)
    if name == "local":
        return LocalIndexProvider(LocalIndex(conf.index_path()))
    raise ProviderError(f"search is not set up (unknown SEARCH_PROVIDER {name!r})")
