"""Web search's settings: one `SearchSettings`, read from Django settings by `search_settings()`.

Each field is the Django setting `SEARCH_<FIELD>` and its default is stated here only; config/settings.py
reads the environment variables of the operators' settings and takes their defaults from this class.
The defaults keep a search under about 7 s in the worst case (provider 3 s, then pages 4 s; shared
links are fetched while the provider searches), inside the answer's SEARCH_TIMEOUT_SECONDS (8 s).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout: float
    read_timeout: float
    deadline: float
    max_bytes: int
    max_redirects: int
    per_host: int
    allowed_hosts: tuple[str, ...]
    user_agent: str


def _host_list(value: str | Iterable[str]) -> tuple[str, ...]:
    """A list, or one comma-separated string, of `host` / `host:port` entries, compared in lower case."""
    values = value.split(",") if isinstance(value, str) else value
    return tuple(v.strip().lower() for v in values if v.strip())


class SearchSettings(BaseModel):
    model_config = ConfigDict(
        alias_generator=lambda field: f"SEARCH_{field.upper()}", from_attributes=True, frozen=True
    )

    timeout_seconds: float = 8.0  # the longest an answer waits for search before going on without sources
    max_sources: int = 3  # sources per answer
    # `local` (the SQLite FTS5 index), `searxng` or `brave`.
    provider: Annotated[str, AfterValidator(lambda name: name.strip().lower())] = "local"
    index_path: Path | None = None  # the local FTS5 index file (`manage.py search_index`); None: see index_path()
    searxng_url: Annotated[str, AfterValidator(lambda url: url.rstrip("/"))] = ""  # SearXNG with the JSON format on
    brave_api_key: str = Field("", repr=False)  # Brave Search API subscription token
    brave_url: str = "https://api.search.brave.com/res/v1/web/search"  # Brave's web search endpoint
    provider_timeout_seconds: float = 3.0  # one request to SearXNG or Brave, in total
    connect_timeout_seconds: float = 2.0  # connecting to a page's server
    read_timeout_seconds: float = 3.0  # the longest silence while reading a page
    fetch_deadline_seconds: float = 4.0  # one page with its redirects, in total (a server that drips bytes)
    fetch_max_bytes: int = 2_000_000  # bytes read from one page; the rest is ignored
    fetch_max_redirects: int = 5  # redirect hops followed, each checked again
    fetch_per_host: int = 2  # pages fetched at once from one host
    # `host` / `host:port` entries exempt from the fetcher's private-address and port rules (tests, intranets).
    fetch_allowed_hosts: Annotated[tuple[str, ...], BeforeValidator(_host_list)] = ()
    user_agent: str = "llama-assistant-search/0.1"  # sent with every fetch
    source_chars: int = 1500  # characters of a source's best passages given to the model
    embedding_threads: int = 1  # threads of one MiniLM call (worker concurrency gives parallelism)
    max_shared_urls: int = 3  # links of one message that are fetched
    cache_seconds: int = 600  # how long an outcome stays in the Django cache (0: never cached; failures never are)
    wolfram_app_id: str = ""  # Wolfram Alpha AppID; unset uses the local sympy evaluator
    wolfram_url: str = "https://www.wolframalpha.com/api/v1/llm-api"  # Wolfram Alpha's LLM API
    math_time_limit_seconds: float = 5.0  # one math evaluation, Wolfram Alpha request or sympy run

    @property
    def fetch_limits(self) -> FetchLimits:
        return FetchLimits(
            connect_timeout=self.connect_timeout_seconds,
            read_timeout=self.read_timeout_seconds,
            deadline=self.fetch_deadline_seconds,
            max_bytes=self.fetch_max_bytes,
            max_redirects=self.fetch_max_redirects,
            per_host=self.fetch_per_host,
            allowed_hosts=self.fetch_allowed_hosts,
            user_agent=self.user_agent,
        )


@functools.cache
def search_settings() -> SearchSettings:
    """Read once per process, and again after a setting changes (tests)."""
    return SearchSettings.model_validate(settings)


@receiver(setting_changed)
def _reread_settings(**kwargs: object) -> None:
    search_settings.cache_clear()


def index_path() -> Path:
    """SEARCH_INDEX_PATH, else `search-index.sqlite3` in VAR_DIR: each deployment (and test server) has its own."""
    return search_settings().index_path or Path(settings.VAR_DIR) / "search-index.sqlite3"
