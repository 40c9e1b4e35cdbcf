"""A loopback web server for search tests: test pages, and contract fakes of the search APIs.

A real HTTP/1.1 server on 127.0.0.1 (uvicorn, through tests/support/loopback.py) standing in for web
pages and search services, which cannot be reached from here. Pages are registered by path
(`web.add`, `web.redirect`); a few paths misbehave on purpose: `/slow?seconds=N` answers after N
seconds, `/drip?seconds=N` sends its body one byte every 0.2 s for N seconds (chunked), `/huge?mb=N`
streams N megabytes of HTML (with their content-length).

It also speaks, by path, the wire formats of three third-party services (contract fakes):

- SearXNG's JSON API, `GET /searxng/search?q=…&format=json`: `{"query", "number_of_results",
  "results": [{"url", "title", "content", "engine", "engines", "positions", "score", "category"}],
  "answers", "corrections", "infoboxes", "suggestions", "unresponsive_engines"}`; 403 when `format`
  is not json or `web.searxng_json_enabled` is off (json is off in SearXNG's default settings);
  its limiter's 429 as plain text.
- The Brave Search API, `GET /brave/res/v1/web/search?q=…&count=…` with `X-Subscription-Token`:
  `{"type": "search", "query": {"original"}, "web": {"type": "search", "results": [{"title", "url",
  "description" (with <strong> highlights), …}]}}`; errors `{"type": "ErrorResponse", "error":
  {"id", "status", "code", "detail", "meta"}}` (422 SUBSCRIPTION_TOKEN_INVALID, 429 RATE_LIMITED
  with X-RateLimit-* headers).
- Wolfram|Alpha's LLM API, `GET /wolfram/api/v1/llm-api?input=…&appid=…`: plain text; 403 for a
  bad AppID, 501 when the input is not understood.

Search results for both search APIs come from `web.results`; `web.provider_failures` holds HTTP
statuses that the next search requests answer with instead.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.support.loopback import Exchange, LoopbackServer

BRAVE_TOKEN = "test-brave-token"
WOLFRAM_APP_ID = "TEST-APPID"


@dataclass(frozen=True)
class Canned:
    body: bytes
    content_type: str = "text/html; charset=utf-8"  # empty: no content-type header
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    title: str
    url: str
    snippet: str


@dataclass(frozen=True)
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case


class FakeWeb(LoopbackServer):
    """`with FakeWeb() as web:` serves on `web.base_url` (host `web.host`) until the block ends."""

    def __init__(self) -> None:
        routes = {
            "/slow": self._slow,
            "/drip": self._drip,
            "/huge": self._huge,
            "/searxng/search": self._searxng,
            "/brave/res/v1/web/search": self._brave,
            "/wolfram/api/v1/llm-api": self._wolfram,
        }
        super().__init__(routes=routes)
        self.pages: dict[str, Canned] = {}
        self.results: list[Result] = []
        self.provider_failures: deque[int] = deque()
        self.searxng_json_enabled = True  # SearXNG's `search.formats` setting lists json
        self.requests: list[Seen] = []
        self._lock = threading.Lock()  # the server's thread records while the test reads

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(
        self, path: str, body: str | bytes, content_type: str = "text/html; charset=utf-8", status: int = 200
    ) -> str:
        data = body.encode() if isinstance(body, str) else body
        self.pages[path] = Canned(data, content_type, status)
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        self.pages[path] = Canned(b"", "text/html", status, {"Location": location})
        return self.url(path)

    def seen(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # --- answering (in the server's thread) ------------------------------------------------------------

    async def handle(self, exchange: Exchange) -> None:
        with self._lock:
            self.requests.append(Seen(exchange.path, exchange.query, exchange.headers))
        await super().handle(exchange)

    async def fallback(self, exchange: Exchange) -> None:
        await _answer(exchange, self.pages.get(exchange.path) or Canned(b"<h1>Not found</h1>", status=404))

    async def _slow(self, exchange: Exchange) -> None:
        await exchange.pause(float(exchange.query.get("seconds", ["5"])[0]))
        await _answer(exchange, Canned(b"<html><body><p>Finally here.</p></body></html>"))

    async def _drip(self, exchange: Exchange) -> None:
        await exchange.start(200, {"content-type": "text/html"})
        deadline = time.monotonic() + float(exchange.query.get("seconds", ["5"])[0])
        while time.monotonic() < deadline:
            await exchange.write(b"x")
            await exchange.pause(0.2)
        await exchange.finish()

    async def _huge(self, exchange: Exchange) -> None:
        megabytes = int(exchange.query.get("mb", ["20"])[0])
        paragraph = b"<p>" + b"Lots of words about nothing in particular. " * 20 + b"</p>\n"
        chunk = (paragraph * (1 + (1 << 16) // len(paragraph)))[: 1 << 16]
        headers = {"content-type": "text/html; charset=utf-8", "content-length": str(megabytes * (1 << 20))}
        await exchange.start(200, headers)
        for _ in range(megabytes * 16):
            await exchange.write(chunk)  # ClientGone ends it: the client stops reading at its cap, as it should
        await exchange.finish()

    def _provider_failure(self) -> int | None:
        return self.provider_failures.popleft() if self.provider_failures else None

    async def _searxng(self, exchange: Exchange) -> None:
        query = exchange.query
        if query.get("format") != ["json"] or not self.searxng_json_enabled:
            await _answer(exchange, Canned(b"Forbidden", "text/plain", 403))
        elif (status := self._provider_failure()) is not None:
            await _answer(exchange, Canned(b"Too Many Requests" if status == 429 else b"Error", "text/plain", status))
        else:
            await exchange.respond_json(200, _searxng_body(query["q"][0], self.results))

    async def _brave(self, exchange: Exchange) -> None:
        if exchange.headers.get("x-subscription-token") != BRAVE_TOKEN:
            detail = "The provided subscription token is invalid."
            await exchange.respond_json(422, _brave_error(422, "SUBSCRIPTION_TOKEN_INVALID", detail))
        elif (status := self._provider_failure()) == 429:
            limits = {
                "X-RateLimit-Limit": "1, 2000",
                "X-RateLimit-Remaining": "0, 0",
                "X-RateLimit-Reset": "1, 86400",
            }
            body = _brave_error(429, "RATE_LIMITED", "Request rate limit exceeded for plan.")
            await exchange.respond_json(429, body, limits)
        elif status is not None:
            await exchange.respond_json(status, _brave_error(status, "INTERNAL_ERROR", "Something went wrong."))
        else:
            count = int(exchange.query.get("count", ["20"])[0])
            await exchange.respond_json(200, _brave_body(exchange.query["q"][0], self.results[:count]))

    async def _wolfram(self, exchange: Exchange) -> None:
        question = exchange.query.get("input", [""])[0]
        if exchange.query.get("appid") != [WOLFRAM_APP_ID]:
            await _answer(exchange, Canned(b"Error 1: Invalid appid", "text/plain", 403))
        elif question == "2+2":
            text = f'Query:\n"{question}"\n\nInput:\n2 + 2\n\nResult:\n4\n\nWolfram|Alpha website result for "2+2":\n'
            await _answer(exchange, Canned(text.encode(), "text/plain;charset=utf-8"))
        else:
            text = "Wolfram|Alpha could not understand: " + question + ". Things to try instead:\n2+2\n"
            await _answer(exchange, Canned(text.encode(), "text/plain;charset=utf-8", 501))


async def _answer(exchange: Exchange, canned: Canned) -> None:
    await exchange.respond(canned.status, canned.body, canned.content_type, canned.headers)


def _searxng_body(query: str, results: list[Result]) -> dict[str, Any]:
    items = [
        {
            "url": r.url,
            "title": r.title,
            "content": r.snippet,
            "engine": "duckduckgo",
            "engines": ["duckduckgo", "brave"],
            "positions": [i + 1],
            "score": 2.0 / (i + 1),
            "category": "general",
        }
        for i, r in enumerate(results)
    ]
    return {
        "query": query,
        "number_of_results": 0,
        "results": items,
        "answers": [],
        "corrections": [],
        "infoboxes": [],
        "suggestions": [],
        "unresponsive_engines": [],
    }


def _brave_body(query: str, results: list[Result]) -> dict[str, Any]:
    items = [
        {
            "title": r.title,
            "url": r.url,
            "description": r.snippet,
            "is_source_local": False,
            "is_source_both": False,
            "language": "en",
            "family_friendly": True,
            "type": "search_result",
            "meta_url": {"scheme": urlsplit(r.url).scheme, "netloc": urlsplit(r.url).netloc},
        }
        for r in results
    ]
    return {
        "type": "search",
        "query": {"original": query, "more_results_available": False},
        "web": {"type": "search", "results": items, "family_friendly": True},
    }


def _brave_error(status: int, code: str, detail: str) -> dict[str, Any]:
    meta = {"plan": "Free", "rate_limit": 1, "rate_current": 1, "quota_limit": 2000, "quota_current": 2000}
    error = {"id": str(uuid.uuid4()), "status": status, "code": code, "detail": detail, "meta": meta}
    return {"type": "ErrorResponse", "error": error, "time": int(time.time())}
