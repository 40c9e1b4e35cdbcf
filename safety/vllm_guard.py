"""Llama Guard 3 served by vLLM, through the OpenAI completions API.

The prompt goes to `/completions` (not `/chat/completions`) as the token ids of
`llama_guard.guard_prompt_segments` (its template tokenized once), so the model reads exactly that
prompt whatever chat template the server holds: one `<|begin_of_text|>` (vLLM adds nothing to a token
prompt), and the conversation as plain-text tokens.
The guard is built once per process but may serve several event loops (a Celery task runs its own),
and an HTTP connection belongs to the loop that opened it: each loop gets its own client.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx

from model_service.tokens import Tokenizer, encode, llama3_tokenizer
from safety.llama_guard import guard_dialogue, guard_prompt_frame, parse_response
from safety.verdict import GuardUnavailable, Verdict

_CONNECT_TIMEOUT = 2.0


@dataclass(frozen=True)
class _LoopConnections:
    """One event loop's client, and the gate that keeps at most as many checks in flight as it has
    connections. The others wait at the gate, in order, rather than in httpcore's pool, which scans its
    whole wait queue against every connection on each change: with 2,000 answers starting at once that
    scan was 42 % of a web process's CPU."""

    client: httpx.AsyncClient
    gate: asyncio.Semaphore


class VllmGuard:
    name = "llama-guard-vllm"

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        categories: Iterable[str],
        api_key: str = "",
        timeout: float = 10.0,
        max_connections: int = 16,
        transport: httpx.AsyncBaseTransport | None = None,
        tokenizer: Tokenizer | None = None,  # Llama Guard 3's own: the Llama 3 tokenizer
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer or llama3_tokenizer()
        self.categories = tuple(categories)
        self.timeout = timeout
        self.max_connections = max_connections
        self._client_options = {
            "base_url": base_url.rstrip("/"),
            "headers": {"Authorization": f"Bearer {api_key}"} if api_key else {},
            "timeout": httpx.Timeout(timeout, connect=min(_CONNECT_TIMEOUT, timeout)),
            "limits": httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            "transport": transport,
        }
        self._frames: dict[bool, tuple[list[int], list[int]]] = {}  # by `agent`
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopConnections] = (
            weakref.WeakKeyDictionary()
        )

    def _connections(self) -> _LoopConnections:
        loop = asyncio.get_running_loop()
        if loop not in self._loops:
            client = httpx.AsyncClient(**self._client_options)
            self._loops[loop] = _LoopConnections(client, asyncio.Semaphore(self.max_connections))
        return self._loops[loop]

    async def aclose(self) -> None:
        """Close this event loop's client."""
        if connections := self._loops.pop(asyncio.get_running_loop(), None):
            await connections.client.aclose()

    def request_body(self, conversation: Sequence[tuple[str, str]], *, agent: bool) -> dict[str, object]:
        before, after = self._frame_ids(agent)
        return {
            "model": self.model,
            "prompt": [*before, *self.tokenizer.encode_text(guard_dialogue(conversation, agent=agent)), *after],
            "max_tokens": 10,
            "temperature": 0,
        }

    def _frame_ids(self, agent: bool) -> tuple[list[int], list[int]]:
        """The prompt's tokens before and after its dialogue: tokenizing the whole template took most of
        the CPU a check costs its caller."""
        if agent not in self._frames:
            before, after = guard_prompt_frame(agent=agent, categories=frozenset(self.categories))
            self._frames[agent] = encode(before, self.tokenizer), encode(after, self.tokenizer)
        return self._frames[agent]

    async def check(self, conversation: Sequence[tuple[str, str]], *, agent: bool) -> Verdict:
        body = self.request_body(conversation, agent=agent)
        connections = self._connections()
        await self._wait_for_a_connection(connections.gate)
        try:
            response = await connections.client.post("/completions", json=body)
        except httpx.HTTPError as error:
            raise GuardUnavailable(f"guard request failed: {type(error).__name__}: {error}") from error
        finally:
            connections.gate.release()
        if response.status_code != 200:
            raise GuardUnavailable(f"guard answered HTTP {response.status_code}: {response.text[:200]}")
        return parse_response(_completion_text(response), categories=self.categories)

    async def _wait_for_a_connection(self, gate: asyncio.Semaphore) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await gate.acquire()
        except TimeoutError:
            raise GuardUnavailable(
                f"guard busy: no free connection (of {self.max_connections}) for {self.timeout:g} s"
            ) from None


def _completion_text(response: httpx.Response) -> str:
    try:
        return response.json()["choices"][0]["text"]
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise GuardUnavailable(f"guard reply is not a completion: {response.text[:200]!r}") from error
