"""Honest waiting in a real browser: when the model is busy with someone else, the page says so and
says where the person stands in line, then the note goes away as the answer begins.

The model is the contract fake of vLLM (tests/support/fake_openai.py), answering slowly, and the web
server lets one answer stream at a time (MODEL_MAX_CONCURRENT_STREAMS=1): a second person waits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.chat_page import ANSWER_TIMEOUT_MS, FINISHED, ask, open_chat
from tests.e2e.servers import web_server
from tests.support.chat_client import ServerAddress
from tests.support.fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.e2e

# Long enough that the second person's wait outlasts the second after which the page speaks of it.
SLOW_CHUNKS = ["word "] * 40
SECONDS_BETWEEN_CHUNKS = 0.1


@pytest.fixture(scope="module")
def one_stream_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    var_dir: Path = tmp_path_factory.mktemp("waiting-web")
    with (
        FakeOpenAI(default=Reply(texts=SLOW_CHUNKS, stall_between=SECONDS_BETWEEN_CHUNKS)) as model,
        web_server(var_dir, MODEL_BASE_URL=model.base_url, MODEL_MAX_CONCURRENT_STREAMS="1") as server,
    ):
        yield server


def test_a_second_person_sees_their_place_in_line_until_their_answer_starts(
    browser: Browser, one_stream_server: ServerAddress
) -> None:
    first, second = browser.new_page(), browser.new_page()  # two contexts: two guests
    try:
        open_chat(first, one_stream_server)
        open_chat(second, one_stream_server)
        first_answer = ask(first, "Tell me a long story.")
        second_answer = ask(second, "And me another one.")

        note = second_answer.get_by_test_id("queue-note")
        expect(note).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
        expect(note).to_have_text("Waiting for the model — 1 person ahead")
        expect(first_answer.get_by_test_id("queue-note")).to_be_hidden()

        expect(first_answer).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)
        expect(second_answer).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)
        expect(note).to_be_hidden()
        expect(second_answer.locator(".content")).to_contain_text("word word")
    finally:
        first.context.close()
        second.context.close()
