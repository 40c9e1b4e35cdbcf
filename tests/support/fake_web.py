"""A loopback web server for search tests: test pages, and contract fakes of the search APIs.

Pages are registered by path (`web.add`, `web.redirect`); a few paths misbehave on purpose:
`/slow?seconds=N` answers after N seconds, `/drip?seconds=N` sends its body one byte every 0.2 s
for N seconds, `/huge?mb=N` streams N megabytes of HTML.

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

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BRAVE_TOKEN = "test-brave-token"
WOLFRAM_APP_ID = "TEST-APPID"


@dataclass(frozen=True)
class Canned:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
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


class FakeWeb:
    """`with FakeWeb() as web:` serves on `web.base_url` (host `web.host`) until the block ends."""

    def __init__(self) -> None:
        self.pages: dict[str, Canned] = {}
        self.results: list[Result] = []
        self.provider_failures: deque[int] = deque()
        self.searxng_json_enabled = True  # SearXNG's `search.formats` setting lists json
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

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

    def __enter__(self) -> FakeWeb:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


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


def _handler_for(web: FakeWeb) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            headers = {k.lower(): v for k, v in self.headers.items()}
            with web._lock:
                web.requests.append(Seen(parts.path, query, headers))
            route = ROUTES.get(parts.path)
            if route is not None:
                route(self, query)
            elif parts.path in web.pages:
                self.answer(web.pages[parts.path])
            else:
                self.answer(Canned(b"<h1>Not found</h1>", status=404))

        def answer(self, canned: Canned) -> None:
            self.send_response(canned.status)
            self.send_header("Content-Type", canned.content_type)
            self.send_header("Content-Length", str(len(canned.body)))
            for name, value in canned.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(canned.body)

        def answer_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.answer(Canned(data, "application/json", status, headers or {}))

        def slow(self, query: dict[str, list[str]]) -> None:
            time.sleep(float(query.get("seconds", ["5"])[0]))
            self.answer(Canned(b"<html><body><p>Finally here.</p></body></html>"))

        def drip(self, query: dict[str, list[str]]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            deadline = time.monotonic() + float(query.get("seconds", ["5"])[0])
            while time.monotonic() < deadline:
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)

        def huge(self, query: dict[str, list[str]]) -> None:
            megabytes = int(query.get("mb", ["20"])[0])
            paragraph = b"<p>" + b"Lots of words about nothing in particular. " * 20 + b"</p>\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(megabytes * (1 << 20)))
            self.end_headers()
            chunk = (paragraph * (1 + (1 << 16) // len(paragraph)))[: 1 << 16]
            try:
                for _ in range(megabytes * 16):
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading at its cap, as it should

        def provider_failure(self) -> int | None:
            with web._lock:
                return web.provider_failures.popleft() if web.provider_failures else None

        def searxng(self, query: dict[str, list[str]]) -> None:
            if query.get("format") != ["json"] or not web.searxng_json_enabled:
                self.answer(Canned(b"Forbidden", "text/plain", 403))
            elif (status := self.provider_failure()) is not None:
                self.answer(Canned(b"Too Many Requests" if status == 429 else b"Error", "text/plain", status))
            else:
                self.answer_json(200, _searxng_body(query["q"][0], web.results))

        def brave(self, query: dict[str, list[str]]) -> None:
            if self.headers.get("X-Subscription-Token") != BRAVE_TOKEN:
                detail = "The provided subscription token is invalid."
                self.answer_json(422, _brave_error(422, "SUBSCRIPTION_TOKEN_INVALID", detail))
            elif (status := self.provider_failure()) == 429:
                limits = {
                    "X-RateLimit-Limit": "1, 2000",
                    "X-RateLimit-Remaining": "0, 0",
                    "X-RateLimit-Reset": "1, 86400",
                }
                body = _brave_error(429, "RATE_LIMITED", "Request rate limit exceeded for plan.")
                self.answer_json(429, body, limits)
            elif status is not None:
                self.answer_json(status, _brave_error(status, "INTERNAL_ERROR", "Something went wrong."))
            else:
                count = int(query.get("count", ["20"])[0])
                self.answer_json(200, _brave_body(query["q"][0], web.results[:count]))

        def wolfram(self, query: dict[str, list[str]]) -> None:
            question = query.get("input", [""])[0]
            if query.get("appid") != [WOLFRAM_APP_ID]:
                self.answer(Canned(b"Error 1: Invalid appid", "text/plain", 403))
            elif question == "2+2":
                text = (
                    f'Query:\n"{question}"\n\nInput:\n2 + 2\n\nResult:\n4\n\nWolfram|Alpha website result for "2+2":\n'
                )
                self.answer(Canned(text.encode(), "text/plain;charset=utf-8"))
            else:
                text = "Wolfram|Alpha could not understand: " + question + ". Things to try instead:\n2+2\n"
                self.answer(Canned(text.encode(), "text/plain;charset=utf-8", 501))

    ROUTES = {
        "/slow": Handler.slow,
        "/drip": Handler.drip,
        "/huge": Handler.huge,
        "/searxng/search": Handler.searxng,
        "/brave/res/v1/web/search": Handler.brave,
        "/wolfram/api/v1/llm-api": Handler.wolfram,
    }
    return Handler
