"""One way to write a loopback fake: a real HTTP/1.1 server (uvicorn) on 127.0.0.1, in a thread of its own.

A fake of a third-party service subclasses `LoopbackServer`, declares `routes` (path → handler) and
overrides `fallback` for every other path (and `handle`, to see every request first). A handler is a
coroutine that gets an `Exchange`: the request, and the means to answer it whole (`respond`,
`respond_json`), streamed (`start`, `write`, `finish`), slowly (`pause`) or not at all (`hang_up`).
uvicorn parses requests and frames responses (content-length or chunked, keep-alive), so clients'
sockets, timeouts and decoders are exercised against a real server, and no fake handles HTTP bytes.

    with FakeWeb() as web: ...            # tests without an event loop
    async with FakeOpenAI() as fake: ...  # the same server, started off the test's event loop

The server runs in its own thread and event loop, so a test's loop may block without stalling it;
a fake's recorded requests are plain lists, written there and read by the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Self
from urllib.parse import parse_qs

import uvicorn

Handler = Callable[["Exchange"], Awaitable[None]]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# The fakes this replaced kept an idle connection open until the client closed it; a server closing
# idle connections under a client's pool is a race of its own, which no test scripts.
KEEP_ALIVE_SECONDS = 3600
START_TIMEOUT_SECONDS = 10


class ClientGone(Exception):
    """The client closed the connection before the answer was complete."""


class Exchange:
    """One request and its answer. Header names are in lower case; `path` is as sent (not unquoted)."""

    def __init__(self, scope: Scope, body: bytes, send: Send, disconnected: asyncio.Future[Any], server: _Uvicorn):
        self.method: str = scope["method"]
        self.path: str = scope["raw_path"].decode("latin-1")
        self.query: dict[str, list[str]] = parse_qs(scope["query_string"].decode("latin-1"))
        self.headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        self.body = body
        self.client: tuple[str, int] = scope["client"]  # (address, port): the port tells the TCP connection
        self._send = send
        self._disconnected = disconnected
        self._server = server

    def json_or_text(self) -> Any:
        """The body parsed as JSON; its text when it is not JSON; None when there is none."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return self.body.decode("utf-8", "replace")

    async def respond(
        self, status: int, body: bytes, content_type: str = "", headers: Mapping[str, str] | None = None
    ) -> None:
        """A whole answer with a content-length (and no content-type when `content_type` is empty)."""
        fields = {"content-type": content_type} if content_type else {}
        await self.start(status, {**fields, "content-length": str(len(body)), **(headers or {})})
        await self._send({"type": "http.response.body", "body": body})

    async def respond_json(self, status: int, body: object, headers: Mapping[str, str] | None = None) -> None:
        """`body` serialized as JSON; a str is sent as it is (a scripted body need not be valid JSON)."""
        text = body if isinstance(body, str) else json.dumps(body)
        await self.respond(status, text.encode("utf-8"), "application/json", headers)

    async def start(self, status: int, headers: Mapping[str, str]) -> None:
        """Send the status and headers now; without a content-length the body is chunked."""
        encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        await self._send({"type": "http.response.start", "status": status, "headers": encoded})

    async def write(self, data: bytes) -> None:
        """One piece of the body (one HTTP chunk when chunked)."""
        if self._disconnected.done():
            raise ClientGone
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def finish(self) -> None:
        await self._send({"type": "http.response.body", "body": b""})

    async def pause(self, seconds: float) -> None:
        """Wait, unless the client hangs up first (then ClientGone)."""
        done, _ = await asyncio.wait({self._disconnected}, timeout=seconds)
        if done:
            raise ClientGone

    async def hang_up(self) -> None:
        """Close the connection now, before or in the middle of the answer, as a crashing server does.
        ASGI has no message for it, so this is the one place a fake reaches the socket (uvicorn's transport)."""
        for connection in list(self._server.server_state.connections):
            if connection.client == self.client:
                connection.transport.close()
        # Once uvicorn has seen the connection go, it neither answers 500 nor logs the unfinished answer.
        await asyncio.wait({self._disconnected})


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, stopped from another thread at once: it waits for `stop` instead of checking a
    flag every 0.1 s, and hangs up on the connections still open instead of draining them. Like
    `Exchange.hang_up`, this reaches into the server's state (its connections and their transports),
    which is why uvicorn is pinned in requirements.txt."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        await self.on_tick(0)  # the Date and Server headers of every answer
        self.ready.set()
        await self._stopping.wait()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stopping.set)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for listener in self.servers:
            listener.close()
        for connection in list(self.server_state.connections):
            connection.transport.close()
        await asyncio.gather(*self.server_state.tasks)  # handlers see the hang-up (ClientGone) and return


class LoopbackServer:
    """A real HTTP server on 127.0.0.1 (`port`: any free one when 0), for the duration of a `with` or `async with`."""

    def __init__(self, port: int = 0, routes: Mapping[str, Handler] | None = None) -> None:
        self.listen_port = port
        self.routes = routes or {}
        self._port: int | None = None
        self._server: _Uvicorn | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._port is not None, "start the server first"
        return self._port

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, exchange: Exchange) -> None:
        """Answer one request with its route's handler, or `fallback`."""
        await self.routes.get(exchange.path, self.fallback)(exchange)

    async def fallback(self, exchange: Exchange) -> None:
        await exchange.respond(404, b"Not found", "text/plain")

    # --- lifecycle ---------------------------------------------------------------------------------

    def serve(self) -> Self:
        """Listen now and serve in a thread of its own until `shutdown`."""
        listener = socket.create_server(("127.0.0.1", self.listen_port))  # SO_REUSEADDR: a fixed port is reusable
        self._port = listener.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            interface="asgi3",
            lifespan="off",
            ws="none",
            proxy_headers=False,  # scope["client"] stays the peer's address, which `hang_up` looks for
            access_log=False,
            log_level="warning",
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
        self._server = _Uvicorn(config)
        name = f"{type(self).__name__}:{self._port}"
        self._thread = threading.Thread(target=self._server.run, args=([listener],), name=name, daemon=True)
        self._thread.start()
        if not self._server.ready.wait(START_TIMEOUT_SECONDS):
            raise RuntimeError(f"{name} did not start")
        return self

    def shutdown(self) -> None:
        """Stop listening, hang up on every open connection and wait for the thread to end."""
        assert self._server is not None, "start the server first"
        assert self._thread is not None
        self._server.stop()
        self._thread.join()

    async def start(self) -> Self:
        """`serve`, from async code without blocking its event loop."""
        return await asyncio.to_thread(self.serve)

    async def close(self) -> None:
        await asyncio.to_thread(self.shutdown)

    def __enter__(self) -> Self:
        return self.serve()

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- ASGI ----------------------------------------------------------------------------------------

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self._server is not None
        with contextlib.suppress(ClientGone):  # nobody is left to answer
            body = await _read_body(receive)
            # Once the body is read, `receive` answers only when the client hangs up (or the answer is complete).
            disconnected = asyncio.ensure_future(receive())
            try:
                await self.handle(Exchange(scope, body, send, disconnected, self._server))
            finally:
                disconnected.cancel()


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body
