"""Search and safety through the real processes: a uvicorn web server, a Celery worker on the
`default` and `search` queues (the embedded filesystem broker and file result backend) and the
embedded model. Pages come from the loopback web server; the guard is vLLM's completions API
served by the Llama Guard contract fake (production's guard needs a GPU): contract tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from tests.support.chat_client import ChatSession, ServerAddress, ask
from tests.support.fake_guard import FakeGuard, GuardReply
from tests.support.fake_web import FakeWeb
from tests.support.processes import free_port, migrate, product_env, running, web_server_command, worker_command

# One event loop for the module: the guard fake runs in it while the web server calls it.
pytestmark = [pytest.mark.live, pytest.mark.asyncio(loop_scope="module")]

ARTICLE = """<html><head><title>Port Vell reopens</title></head><body><nav>Home | News | About</nav>
<article><h1>Port Vell reopens</h1><p>The old harbour of Port Vell reopened on Monday after two years
of repairs, the city council said. Ferries to the islands resume next week.</p>
<p>The repairs cost 40 million euros and replaced the breakwater.</p></article>
<footer>Copyright News</footer></body></html>"""


@dataclass(frozen=True)
class Stack:
    server: ServerAddress
    web: FakeWeb
    guard: FakeGuard


@pytest.fixture(scope="module")
def web() -> Iterator[FakeWeb]:
    with FakeWeb() as pages:
        yield pages


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(embedded_model: str, web: FakeWeb, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with FakeGuard(default=GuardReply("safe")) as guard:
        var_dir = tmp_path_factory.mktemp("grounded")
        env = product_env(
            var_dir,
            MODEL_BASE_URL=embedded_model,
            MODEL_MAX_TOKENS="48",
            ASSISTANT_MODEL_TITLES="false",
            SEARCH_FETCH_ALLOWED_HOSTS=web.host,
            SEARCH_CACHE_SECONDS="0",
            SEARCH_TIMEOUT_SECONDS="60",  # a cold worker loads the ranking model on this busy machine
            SAFETY_GUARD_BASE_URL=guard.base_url,
            SAFETY_FAIL_CLOSED="true",
        )
        migrate(env)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        worker = worker_command(queues=("default", "search"))
        with (
            running(worker, env=env, log=var_dir / "worker.log"),
            running(web_server_command(port), env=env, ready_url=f"{url}/healthz", log=var_dir / "web.log"),
        ):
            yield Stack(ServerAddress(url, env=env), web, guard)


async def test_a_shared_link_is_read_by_the_worker_and_cited(stack: Stack) -> None:
    link = stack.web.add("/port-vell", ARTICLE)
    async with ChatSession(stack.server) as session:
        socket = await session.connect()
        ack = await ask(socket, f"What does this article say? {link}")
        frames = await socket.until_done(ack["message_id"])
        messages = await session.messages(ack["conversation_id"])
    searches = [f for f in frames if f["type"] == "search"]
    assert [f["status"] for f in searches] == ["searching", "done"]
    assert searches[0]["urls"] == [link]
    assert searches[-1]["sources"] == [{"number": 1, "title": "Port Vell reopens", "url": link}]
    assert frames.index(searches[-1]) < next(i for i, f in enumerate(frames) if f["type"] == "token")
    assert frames[-1]["finish_reason"] in {"stop", "length"}
    assert messages[-1]["sources"] == [{"number": 1, "title": "Port Vell reopens", "url": link}]
    assert len(stack.web.seen("/port-vell")) == 1


async def test_a_link_to_a_private_address_is_refused_and_the_answer_still_comes(stack: Stack) -> None:
    private = "http://169.254.169.254/latest/meta-data/"
    async with ChatSession(stack.server) as session:
        socket = await session.connect()
        ack = await ask(socket, f"Summarise {private}")
        frames = await socket.until_done(ack["message_id"])
    done_search = [f for f in frames if f["type"] == "search"][-1]
    assert done_search["sources"] == []
    [unread] = done_search["unread_links"]
    assert unread["url"] == private
    assert "169.254.169.254 points to" in unread["reason"]
    assert done_search["error"] is None  # the link was refused; no search failed
    assert any(f["type"] == "token" for f in frames)


async def test_an_unsafe_question_is_blocked_and_queued_for_review(stack: Stack) -> None:
    stack.guard.script(GuardReply("unsafe\nS9"))
    async with ChatSession(stack.server) as session:
        socket = await session.connect()
        ack = await ask(socket, "A question the guard refuses")
        frames = await socket.until_done(ack["message_id"])
        messages = await session.messages(ack["conversation_id"])
    blocked = next(f for f in frames if f["type"] == "blocked")
    done = frames[-1]
    assert not any(f["type"] == "token" for f in frames)
    assert done["finish_reason"] == "blocked"
    assert done["error"] == blocked["detail"]
    assert messages[-1]["status"] == "blocked"
    assert messages[-1]["content"] == blocked["detail"]
    assert "User" in stack.guard.requests[-1].prompt_text


async def test_an_unsafe_answer_is_retracted(stack: Stack) -> None:
    stack.guard.script(GuardReply("safe"), GuardReply("unsafe\nS1"))
    async with ChatSession(stack.server) as session:
        socket = await session.connect()
        ack = await ask(socket, "Tell me about ferries.")
        frames = await socket.until_done(ack["message_id"])
        messages = await session.messages(ack["conversation_id"])
    assert [f["type"] for f in frames][-2:] == ["blocked", "done"]
    assert frames[-1]["finish_reason"] == "blocked"
    assert messages[-1]["status"] == "blocked"
    assert messages[-1]["content"] == frames[-1]["error"]  # the streamed text is not kept
