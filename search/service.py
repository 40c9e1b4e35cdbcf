"""Grounding a question: search, fetch the pages concurrently, extract, rank passages, check them
for injected instructions, cache.

`gather` is the one entry point (the Celery task `search.tasks.search_web` calls it). It never
raises for network or provider trouble: the outcome then carries `error` in plain words, and the
cause is logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.cache import cache

from safety.injection import find_injection, withhold
from search.conf import search_settings
from search.extract import Document, extract
from search.fetch import FetchError, SafeFetcher
from search.providers import ProviderError, SearchResult, configured_provider
from search.ranking import select_passages
from search.sources import WITHHELD_NOTE, SearchOutcome, Source

logger = logging.getLogger(__name__)

# Part of the cache key: outcomes cached before sources were checked for injected instructions are not reused.
OUTCOME_FORMAT = 3


@dataclass(frozen=True)
class _Collected:
    documents: list[Document]  # shared links first, then search results, in provider order
    problems: list[str]  # plain words, one per failure of the search the user should hear about
    unread: dict[str, str]  # shared links that could not be read, with why


async def fetch_document(fetcher: SafeFetcher, url: str) -> Document:
    """The extracted main text at `url`; FetchError when the page cannot be used."""
    document = extract(await fetcher.fetch(url))
    if not document.text:
        raise FetchError("the page has no readable text")
    return document


async def fetch_documents(fetcher: SafeFetcher, urls: Sequence[str]) -> list[Document | FetchError]:
    """Each URL's document or the reason it failed, fetched concurrently (the fetcher limits each host)."""
    outcomes = await asyncio.gather(*(fetch_document(fetcher, url) for url in urls), return_exceptions=True)
    documents: list[Document | FetchError] = []
    for url, outcome in zip(urls, outcomes, strict=True):
        if isinstance(outcome, FetchError):
            logger.warning("fetch %s failed: %s", url, outcome)
        elif isinstance(outcome, BaseException):
            raise outcome  # a bug, not the page's fault
        documents.append(outcome)
    return documents


def _result_document(result: SearchResult, fetched: Document | FetchError | None) -> Document | None:
    """A search result's fetched page, else its stored text or snippet (better than nothing)."""
    if isinstance(fetched, Document):
        return Document(title=result.title or fetched.title, url=result.url, text=fetched.text)
    text = result.text or result.snippet
    return Document(title=result.title, url=result.url, text=text) if text else None


async def _search_results(query: str, limit: int, problems: list[str]) -> list[SearchResult]:
    try:
        return await configured_provider().search(query, limit)
    except ProviderError as error:
        logger.warning("search for %r failed: %s", query, error)
        problems.append(f"Web search failed: {error}.")
        return []


async def _result_pages(fetcher: SafeFetcher, results: list[SearchResult]) -> dict[str, Document | FetchError]:
    """The fetched page of each result whose text the provider does not hold, by URL."""
    urls = [r.url for r in results if not r.text]
    return dict(zip(urls, await fetch_documents(fetcher, urls), strict=True))


async def _collect(query: str, urls: Sequence[str], max_sources: int) -> _Collected:
    problems: list[str] = []
    async with SafeFetcher() as fetcher:
        # Shared links are fetched while the provider searches.
        shared = asyncio.ensure_future(fetch_documents(fetcher, urls))
        results = await _search_results(query, max_sources, problems) if query else []
        results = [r for r in results if r.url not in urls]
        pages = await _result_pages(fetcher, results)
        shared_outcomes = await shared
    documents, unread = [], {}
    for url, outcome in zip(urls, shared_outcomes, strict=True):
        if isinstance(outcome, FetchError):
            unread[url] = str(outcome)
        else:
            documents.append(outcome)
    documents.extend(d for r in results if (d := _result_document(r, pages.get(r.url))))
    return _Collected(documents, problems, unread)


def checked_source(title: str, url: str, text: str) -> Source:
    """The source as it may enter a prompt: each sentence of its title or passages that addresses
    instructions to an AI assistant is withheld behind WITHHELD_NOTE, and the source is flagged."""
    title_finding, text_finding = find_injection(title), find_injection(text)
    flags = tuple(dict.fromkeys((*title_finding.kinds, *text_finding.kinds)))
    if not flags:
        return Source(title=title, url=url, text=text)
    withheld = len(title_finding.sentences) + len(text_finding.sentences)
    logger.warning(
        "withheld %d sentence(s) of %s that instruct the assistant (%s)",
        withheld,
        url,
        ", ".join(flags),
        extra={"injection_flags": flags, "source_url": url},
    )
    return Source(
        title=withhold(title, title_finding, WITHHELD_NOTE),
        url=url,
        text=withhold(text, text_finding, WITHHELD_NOTE),
        flags=flags,
    )


def _sources(question: str, documents: list[Document]) -> list[Source]:
    texts = select_passages(question, [d.text for d in documents], search_settings().source_chars)
    return [checked_source(d.title, d.url, text) for d, text in zip(documents, texts, strict=True) if text]


def cache_key(query: str, urls: Sequence[str], max_sources: int, question: str) -> str:
    identity = json.dumps([OUTCOME_FORMAT, search_settings().provider, query, list(urls), max_sources, question])
    return "search:outcome:" + hashlib.sha256(identity.encode()).hexdigest()


def gather(query: str, *, urls: Sequence[str] = (), max_sources: int = 3, question: str = "") -> SearchOutcome:
    """Search the configured provider for `query` (skipped when query is ""), fetch the pages of `urls`
    (links the user shared) and of the top `max_sources` results concurrently, extract, rank passages
    against `question` (default: the query), cache. Never raises for network/provider trouble: the
    outcome's `error` says what failed, in plain words. It runs its own event loop: from async code,
    call it through `asyncio.to_thread` (or the Celery task)."""
    urls = list(dict.fromkeys(urls))
    key = cache_key(query, urls, max_sources, question)
    if cached := cache.get(key):
        return SearchOutcome.from_json(cached)
    collected = asyncio.run(_collect(query, urls, max_sources))
    outcome = SearchOutcome(
        query=query,
        sources=_sources(question or query, collected.documents),
        error=" ".join(collected.problems),
        unread=collected.unread,
    )
    if not outcome.problems and (seconds := search_settings().cache_seconds) > 0:
        cache.set(key, outcome.to_json(), seconds)
    return outcome
