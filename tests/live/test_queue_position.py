"""Fairness at the model, end to end: a real uvicorn web process that may stream one answer at a
time (MODEL_MAX_CONCURRENT_STREAMS=1) and refuses a person's second answer while one streams
(ASSISTANT_CONCURRENT_ANSWERS=refuse), real WebSockets, two people.

The model service is a contract test: vLLM's completions API served by tests/support/fake_openai.py,
a real HTTP server on loopback whose paced replies stand in for a busy GPU server and spend none of
this machine's CPU, so who waits for whom depends on the web process alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.chat_page import ask as ask_on_page
from tests.e2e.chat_page import open_chat
from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.support.chat_client import ChatSession, ChatSocket, ServerAddress, ask, joined_tokens, message_frame
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.processes import free_ports, migrate, product_env, running, web_server_command

pytestmark = pytest.mark.live

STORY = Reply(texts=(" word",) * 40, stall_between=0.05)  # about two seconds of streaming
QUICK = Reply(texts=("Yes", ", it is."))
LONG_STORY = Reply(texts=(" word",) * 100, stall_between=0.05)  # about five seconds: the note shows after one


@pytest.fixture(scope="module")
def web(
    service_settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerAddress, int]]:
    """The web process (embedded services, then the production ones: PostgreSQL and Redis) and the
    loopback port where each test puts its model server."""
    model_port, web_port = free_ports(2)
    var_dir = tmp_path_factory.mktemp("queue")
    env = product_env(
        var_dir,
        MODEL_BASE_URL=f"http://127.0.0.1:{model_port}/v1",
        MODEL_MAX_CONCURRENT_STREAMS="1",
        ASSISTANT_CONCURRENT_ANSWERS="refuse",
        ASSISTANT_MODEL_TITLES="false",
        SAFETY_CHECKS="false",  # the content guard has no say in who waits; loading it only slows the start
        **service_settings,
    )
    migrate(env)
    url = f"http://127.0.0.1:{web_port}"
    with running(web_server_command(web_port), env=env, ready_url=f"{url}/healthz", log=var_dir / "web.log"):
        yield ServerAddress(url, env=env), model_port


def of_type(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [frame for frame in frames if frame["type"] == kind]


async def first_token(socket: ChatSocket) -> dict[str, Any]:
    frame = await socket.recv()
    assert frame["type"] == "token", frame
    return frame


async def test_a_second_persons_answer_is_told_its_place_then_answered(web: tuple[ServerAddress, int]) -> None:
    server, model_port = web
    async with (
        FakeOpenAI(STORY, default=QUICK, port=model_port) as model,
        ChatSession(server) as ada,
        ChatSession(server) as bo,
    ):
        ada_socket, bo_socket = await ada.connect(), await bo.connect()
        story = await ask(ada_socket, "Tell me a story.")
        await first_token(ada_socket)
        question = await ask(bo_socket, "Name a colour.")
        requests = await model.until_requests(2)
        story_sent_first = requests[0].texts_sent
        frames = await bo_socket.until_done(question["message_id"])
        story_frames = await ada_socket.until_done(story["message_id"])
        stored = (await bo.messages(question["conversation_id"]))[-1]

    assert story_sent_first == len(STORY.texts)  # the model got the question once the story ended
    queued = of_type(frames, "queued")
    assert queued
    assert {frame["position"] for frame in queued} == {1}  # one person ahead: the story
    assert all(frame["message_id"] == question["message_id"] for frame in queued)
    assert frames.index(queued[-1]) < frames.index(of_type(frames, "token")[0])
    assert joined_tokens(frames, question["message_id"])[1] == "Yes, it is."
    assert (stored["status"], stored["content"]) == ("complete", "Yes, it is.")
    assert not of_type(story_frames, "queued")


async def test_a_socket_that_resumes_while_the_answer_waits_is_told_its_place(web: tuple[ServerAddress, int]) -> None:
    server, model_port = web
    async with (
        FakeOpenAI(STORY, default=QUICK, port=model_port),
        ChatSession(server) as ada,
        ChatSession(server) as bo,
    ):
        ada_socket = await ada.connect()
        await ask(ada_socket, "Tell me a story.")
        await first_token(ada_socket)
        first_socket = await bo.connect()
        question = await ask(first_socket, "Name a colour.")
        assert (await first_socket.recv())["type"] == "queued"
        await first_socket.close()  # the page reloads while the answer waits

        second_socket = await bo.connect()
        await second_socket.send({"type": "resume", "message_id": question["message_id"], "after_seq": 0})
        frames = await second_socket.until_done(question["message_id"])

    assert frames[0] == {"type": "queued", "message_id": question["message_id"], "position": 1}
    assert joined_tokens(frames, question["message_id"])[1] == "Yes, it is."


async def test_refuse_policy_refuses_a_persons_second_answer_and_stores_nothing(
    web: tuple[ServerAddress, int],
) -> None:
    server, model_port = web
    async with FakeOpenAI(STORY, default=QUICK, port=model_port), ChatSession(server) as ada:
        socket = await ada.connect()
        story = await ask(socket, "Tell me a story.")
        await first_token(socket)
        refused_frame = message_frame("And name a colour.")
        await socket.send(refused_frame)
        refusal = await socket.recv()
        while refusal["type"] == "token":
            refusal = await socket.recv()
        conversations = (await ada.api("GET", "/api/conversations")).json()["conversations"]
        await socket.until_done(story["message_id"])
        again = await ask(socket, "And name a colour.")
        done = (await socket.until_done(again["message_id"]))[-1]

    assert (refusal["type"], refusal["code"], refusal["client_id"]) == (
        "error",
        "answer_in_progress",
        refused_frame["client_id"],
    )
    assert (
        refusal["detail"] == "Another of your answers is still being written. Wait for it or stop it, then send again."
    )
    assert [c["id"] for c in conversations] == [story["conversation_id"]]
    assert done["finish_reason"] == "stop"


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's chromium, as in tests/e2e; each page gets a profile (a guest) of its own."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


def new_page(browser: Browser, errors: list[str]) -> Page:
    page = browser.new_context().new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


@pytest.mark.e2e
def test_the_page_says_how_many_people_are_ahead_then_shows_the_answer(
    web: tuple[ServerAddress, int], browser: Browser
) -> None:
    server, model_port = web
    errors: list[str] = []
    with FakeOpenAI(LONG_STORY, default=QUICK, port=model_port):
        storyteller, asker = new_page(browser, errors), new_page(browser, errors)
        open_chat(storyteller, server)
        open_chat(asker, server)
        story = ask_on_page(storyteller, "Tell me a story.")
        expect(story.locator(".content")).to_contain_text("word")
        answer = ask_on_page(asker, "Name a colour.")
        note = answer.get_by_test_id("queue-note")

        expect(note).to_have_text("Waiting for the model — 1 person ahead")
        expect(answer.get_by_test_id("typing")).to_be_hidden()
        expect(answer.locator(".content")).to_have_text("Yes, it is.", timeout=15_000)
        expect(note).to_be_hidden()
    assert errors == []
