"""Every setting of web search, read from `django.conf.settings` here and nowhere else.

Settings are read on every call, so tests and operators can change them without re-importing.
The defaults keep a search under about 7 s in the worst case (provider 3 s, then pages 4 s; shared
links are fetched while the provider searches), inside the answer's SEARCH_TIMEOUT_SECONDS (8 s).

| setting | default | meaning |
| --- | --- | --- |
| `SEARCH_PROVIDER` | `"local"` | `local` (the SQLite FTS5 index), `searxng` or `brave` |
| `SEARCH_INDEX_PATH` | `VAR_DIR / "search-index.sqlite3"` | the local index file, filled by `manage.py search_index` |
| `SEARCH_SEARXNG_URL` | `""` | base URL of a SearXNG instance with the JSON format enabled |
| `SEARCH_BRAVE_API_KEY` | `""` | Brave Search API subscription token |
| `SEARCH_BRAVE_URL` | `"https://api.search.brave.com/res/v1/web/search"` | Brave's web search endpoint |
| `SEARCH_PROVIDER_TIMEOUT_SECONDS` | `3.0` | one request to SearXNG or Brave, in total |
| `SEARCH_CONNECT_TIMEOUT_SECONDS` | `2.0` | connecting to a page's server |
| `SEARCH_READ_TIMEOUT_SECONDS` | `3.0` | the longest silence while reading a page |
| `SEARCH_FETCH_DEADLINE_SECONDS` | `4.0` | one page with its redirects, in total (a server that drips bytes) |
| `SEARCH_FETCH_MAX_BYTES` | `2_000_000` | bytes read from one page; the rest is ignored |
| `SEARCH_FETCH_MAX_REDIRECTS` | `5` | redirect hops followed, each checked again |
| `SEARCH_FETCH_PER_HOST` | `2` | pages fetched at once from one host |
| `SEARCH_FETCH_ALLOWED_HOSTS` | `[]` | `host` / `host:port` entries exempt from the address and port rules |
| `SEARCH_USER_AGENT` | `"llama-assistant-search/0.1"` | sent with every fetch |
| `SEARCH_SOURCE_CHARS` | `1500` | characters of a source's best passages given to the model |
| `SEARCH_EMBEDDING_THREADS` | `1` | torch threads for MiniLM in a process (worker concurrency gives parallelism) |
| `SEARCH_MAX_SHARED_URLS` | `3` | links of one message that are fetched |
| `SEARCH_CACHE_SECONDS` | `600` | how long an outcome stays in the Django cache (0: never cached) |
| `SEARCH_WOLFRAM_APP_ID` | `""` | Wolfram Alpha AppID; unset uses the local sympy evaluator |
| `SEARCH_WOLFRAM_URL` | `"https://www.wolframalpha.com/api/v1/llm-api"` | Wolfram Alpha's LLM API |
| `SEARCH_MATH_TIME_LIMIT_SECONDS` | `5.0` | one math evaluation, Wolfram Alpha request or sympy run |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


def _text(name: str, default: str = "") -> str:
    return str(getattr(settings, name, default))


def _number(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def _list(name: str) -> tuple[str, ...]:
    value = getattr(settings, name, ())
    values = value.split(",") if isinstance(value, str) else list(value)
    return tuple(v.strip().lower() for v in values if v.strip())


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


def fetch_limits() -> FetchLimits:
    return FetchLimits(
        connect_timeout=_number("SEARCH_CONNECT_TIMEOUT_SECONDS", 2.0),
        read_timeout=_number("SEARCH_READ_TIMEOUT_SECONDS", 3.0),
        deadline=_number("SEARCH_FETCH_DEADLINE_SECONDS", 4.0),
        max_bytes=int(_number("SEARCH_FETCH_MAX_BYTES", 2_000_000)),
        max_redirects=int(_number("SEARCH_FETCH_MAX_REDIRECTS", 5)),
        per_host=int(_number("SEARCH_FETCH_PER_HOST", 2)),
        allowed_hosts=_list("SEARCH_FETCH_ALLOWED_HOSTS"),
        user_agent=_text("SEARCH_USER_AGENT", "llama-assistant-search/0.1"),
    )


def provider_name() -> str:
    return _text("SEARCH_PROVIDER", "local").strip().lower()


def index_path() -> Path:
    default = Path(getattr(settings, "VAR_DIR", ".")) / "search-index.sqlite3"
    return Path(getattr(settings, "SEARCH_INDEX_PATH", default))


def searxng_url() -> str:
    return _text("SEARCH_SEARXNG_URL").rstrip("/")


def brave_api_key() -> str:
    return _text("SEARCH_BRAVE_API_KEY")


def brave_url() -> str:
    return _text("SEARCH_BRAVE_URL", "https://api.search.brave.com/res/v1/web/search")


def provider_timeout() -> float:
    return _number("SEARCH_PROVIDER_TIMEOUT_SECONDS", 3.0)


def source_chars() -> int:
    return int(_number("SEARCH_SOURCE_CHARS", 1500))


def embedding_threads() -> int:
    return int(_number("SEARCH_EMBEDDING_THREADS", 1))


def max_shared_urls() -> int:
    return int(_number("SEARCH_MAX_SHARED_URLS", 3))


def cache_seconds() -> int:
    return int(_number("SEARCH_CACHE_SECONDS", 600))


def wolfram_app_id() -> str:
    return _text("SEARCH_WOLFRAM_APP_ID")


def wolfram_url() -> str:
    return _text("SEARCH_WOLFRAM_URL", "https://www.wolframalpha.com/api/v1/llm-api")


def math_time_limit() -> float:
    return _number("SEARCH_MATH_TIME_LIMIT_SECONDS", 5.0)
