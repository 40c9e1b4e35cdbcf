"""The auto-mode rule for time-sensitive questions, and links found in a message."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pytest_django.fixtures import Settings

from search.decide import looks_time_sensitive, shared_urls

NOW = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "What's the weather in Lisbon tomorrow?",
        "latest news about the Mars mission",
        "Who won the match yesterday?",
        "bitcoin price",
        "What is the exchange rate for euros to yen right now",
        "best laptops of 2026",
        "election results",
        "What happened this week?",
    ],
)
def test_time_sensitive_questions_are_searched(text: str) -> None:
    assert looks_time_sensitive(text, now=NOW)


@pytest.mark.parametrize(
    "text",
    [
        "How do volcanoes form?",
        "Write a poem about the sea",
        "Explain recursion to a child",
        "What happened in 1969?",
        "Translate 'good morning' into French",
    ],
)
def test_timeless_questions_are_not(text: str) -> None:
    assert not looks_time_sensitive(text, now=NOW)


def test_last_year_counts_as_recent_but_older_years_do_not() -> None:
    assert looks_time_sensitive("films of 2025", now=NOW)
    assert not looks_time_sensitive("films of 2019", now=NOW)


def test_urls_in_order_without_duplicates_or_sentence_punctuation() -> None:
    text = (
        "Look at https://example.org/post/1, and (http://news.example.com/a?b=1&c=2). "
        "Again: https://example.org/post/1! Also https://en.wikipedia.org/wiki/Python_(programming_language)."
    )
    assert shared_urls(text, limit=10) == [
        "https://example.org/post/1",
        "http://news.example.com/a?b=1&c=2",
        "https://en.wikipedia.org/wiki/Python_(programming_language)",
    ]


def test_only_http_links_are_taken() -> None:
    assert shared_urls("ftp://files.example.com file:///etc/passwd javascript:alert(1) http:// https://", limit=5) == []


def test_links_are_capped_by_the_setting(settings: Settings) -> None:
    settings.SEARCH_MAX_SHARED_URLS = 2
    text = " ".join(f"https://example.com/{i}" for i in range(5))
    assert shared_urls(text) == ["https://example.com/0", "https://example.com/1"]
