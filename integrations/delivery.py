"""Sending one request to an app's API, with retries for transient failures only.

Rate limits and server errors are retried with exponential backoff, honouring the app's own wait
(a Retry-After header, or Telegram's `parameters.retry_after`); permanent failures (an invalid token,
a closed 24-hour window, a blocked bot) fail at once. Every failure is logged with the app's code.
Each app reads its own error body (`ErrorReader`), the loop is shared.

Every `ApiClient` of a process with the same headers and timeout sends through one HTTP client
(`shared_http_client`): building one costs ~19 ms of CPU (its TLS context loads the CA bundle),
which a worker paid for every reply, and a client kept between replies keeps its connections to
the app's API open instead of a TCP and TLS handshake per reply.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from integrations import conf

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiFailure:
    """What an app said when it refused a request."""

    status: int  # HTTP status; 0 when no response came (a network error)
    code: str  # the app's own error code ("131047", "190", "429"), or the status
    detail: str
    transient: bool
    retry_after: float | None = None  # seconds the app asked us to wait


class SendError(Exception):
    def __init__(self, app: str, failure: ApiFailure) -> None:
        super().__init__(f"{app}: {failure.code} {failure.detail}")
        self.app = app
        self.failure = failure

    @property
    def transient(self) -> bool:
        return self.failure.transient


ErrorReader = Callable[[httpx.Response], ApiFailure]


def retry_after_header(response: httpx.Response) -> float | None:
    try:
        return max(float(response.headers["retry-after"]), 0.0)
    except (KeyError, ValueError):
        return None  # absent, or an HTTP date: fall back to our own backoff


def response_json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


_HttpKey = tuple[int, tuple[tuple[str, str], ...], float]  # process id, headers, timeout
_http_clients: dict[_HttpKey, httpx.Client] = {}
_http_clients_lock = threading.Lock()  # the reply and its "typing…" thread may ask at once


def shared_http_client(headers: dict[str, str], timeout_seconds: float) -> httpx.Client:
    """This process's HTTP client for these headers (an app's token) and timeout; httpx clients are
    safe to share between threads. Keyed by process too: a forked worker process must not send on
    its parent's connections."""
    key = (os.getpid(), tuple(sorted(headers.items())), timeout_seconds)
    with _http_clients_lock:
        if key not in _http_clients:
            _http_clients[key] = httpx.Client(headers=headers, timeout=timeout_seconds)
        return _http_clients[key]


class ApiClient:
    """POSTs JSON to one app's API, GETs its JSON and streams its files. `sleep` is a parameter so
    tests can observe the waits."""

    def __init__(
        self,
        app: str,
        read_error: ErrorReader,
        *,
        headers: dict[str, str] | None = None,
        settings: conf.Delivery | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.app = app
        self.read_error = read_error
        self.headers = headers or {}
        self.settings = settings or conf.integrations_settings().delivery
        self.sleep = sleep

    @property
    def http(self) -> httpx.Client:
        # Looked up on first use: the webhook's fast path, which only verifies and parses, never builds one.
        return shared_http_client(self.headers, self.settings.timeout_seconds)

    def post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """The app's JSON answer; SendError once retries are spent or on a permanent failure."""
        return self._with_retries("POST", url, {"json": body})

    def get(self, url: str) -> dict[str, Any]:
        """The app's JSON answer to a GET (a media file's URL); retried as `post` is."""
        return self._with_retries("GET", url, {})

    def post_file(self, url: str, fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> dict[str, Any]:
        """A multipart upload (`files`: field → (file name, bytes, content type)); retried as `post` is."""
        return self._with_retries("POST", url, {"data": fields, "files": files})

    @contextmanager
    def stream(self, url: str) -> Iterator[Iterator[bytes]]:
        """A file's bytes as they arrive, for a reader that stops at its cap (closing the connection);
        tried once: SendError when the app refuses it or the connection fails."""
        try:
            with self.http.stream("GET", url) as response:
                if not response.is_success:
                    response.read()
                    raise SendError(self.app, self.read_error(response))
                yield response.iter_bytes()
        except httpx.TransportError as exc:
            raise SendError(self.app, _network_failure(exc)) from exc

    def _with_retries(self, method: str, url: str, content: dict[str, Any]) -> dict[str, Any]:
        """`content`: httpx's keyword arguments for the request's body (`json`, or `data` and `files`)."""
        attempt = 0
        while True:
            attempt += 1
            result = self._try(method, url, content)
            if not isinstance(result, ApiFailure):
                return result
            failure = result
            logger.warning(
                "%s %s failed (attempt %d/%d): code %s, HTTP %s: %s",
                self.app, method, attempt, self.settings.attempts, failure.code, failure.status, failure.detail,
            )  # fmt: skip
            if not failure.transient or attempt >= self.settings.attempts:
                raise SendError(self.app, failure)
            self.sleep(self._wait(attempt, failure))

    def _try(self, method: str, url: str, content: dict[str, Any]) -> dict[str, Any] | ApiFailure:
        try:
            response = self.http.request(method, url, **content)
        except httpx.TransportError as exc:
            return _network_failure(exc)
        if response.is_success:
            return response_json(response)
        return self.read_error(response)

    def _wait(self, attempt: int, failure: ApiFailure) -> float:
        backoff = self.settings.backoff_seconds * 2 ** (attempt - 1)
        wanted = failure.retry_after if failure.retry_after is not None else backoff
        return min(wanted, self.settings.max_backoff_seconds)


def _network_failure(exc: httpx.TransportError) -> ApiFailure:
    return ApiFailure(0, "network", f"{type(exc).__name__}: {exc}", transient=True)
