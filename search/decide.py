"""Deciding to search in auto mode when the model cannot call `brave_search` itself, and finding shared links.

The time-sensitive rule (documented for users and operators): a message is searched when it asks
about something that changes with time, that is when it contains

- a word about the present or recent past or near future: today, tonight, now, currently, current,
  latest, recent, recently, this week/month/year, yesterday, tomorrow, breaking, upcoming, so far;
- a kind of question whose answer changes: news, weather, forecast, score(s), price(s), stock(s),
  exchange rate, election, who won, release date, schedule, live;
- or a year from last year on (e.g. "2026"), since the model's knowledge ends before it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from search.conf import search_settings

TIME_WORDS = re.compile(
    r"\b(today|tonight|now|currently|current|latest|recent|recently|yesterday|tomorrow|breaking|upcoming"
    r"|this (?:week|weekend|month|year|season)|so far|right now|as of)\b"
    r"|\b(news|headlines?|weather|forecasts?|scores?|prices?|stocks?|exchange rates?|elections?|who won"
    r"|release dates?|schedules?|live|standings)\b",
    re.IGNORECASE,
)
YEAR = re.compile(r"\b(20\d\d)\b")
URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
TRAILING_PUNCTUATION = ".,;:!?'\")]}>"


def looks_time_sensitive(text: str, *, now: datetime | None = None) -> bool:
    """True when `text` asks about something that changes with time (the rule in this module's docstring)."""
    if TIME_WORDS.search(text):
        return True
    this_year = (now or datetime.now(UTC)).year
    return any(int(year) >= this_year - 1 for year in YEAR.findall(text))


def _trim(url: str) -> str:
    """A URL without the punctuation that ends the sentence around it; balanced brackets stay."""
    while url and url[-1] in TRAILING_PUNCTUATION:
        closing = url[-1]
        opening = {")": "(", "]": "[", "}": "{"}.get(closing)
        if opening and url.count(opening) >= url.count(closing):
            break
        url = url[:-1]
    return url


def shared_urls(text: str, *, limit: int | None = None) -> list[str]:
    """The http(s) URLs in a user message, in order, without duplicates, at most SEARCH_MAX_SHARED_URLS."""
    cap = search_settings().max_shared_urls if limit is None else limit
    found = (_trim(match) for match in URL.findall(text))
    unique = list(dict.fromkeys(url for url in found if "://" in url and url.split("://", 1)[1]))
    return unique[:cap]
