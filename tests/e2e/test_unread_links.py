"""A shared link that could not be read, in a real browser: the page names the link and says why,
instead of reporting a failed web search. The web server has a real `search` worker (the SSRF-safe
fetcher refuses the private address before any connection); the model is the contract fake of vLLM."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.chat_page import ANSWER_TIMEOUT_MS, FINISHED, ask, current_conversation_id, open_chat, stored_messages
from tests.e2e.servers import web_server
from tests.support.chat_client import ServerAddress
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.processes import running, worker_command

pytestmark = pytest.mark.e2e

PRIVATE_LINK = "http://10.0.0.1/admin"
REASON = "10.0.0.1 points to a private address"


@pytest.fixture(scope="module")
def search_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    var_dir = tmp_path_factory.mktemp("unread-links-web")
    with (
        FakeOpenAI(default=Reply(texts=("I could not open that page.",))) as model,
        # The worker starts alongside: on a busy machine the first search waits for it, not 8 s.
        web_server(var_dir, MODEL_BASE_URL=model.base_url, SEARCH_TIMEOUT_SECONDS="120") as server,
        running(worker_command(queues=("search",)), env=server.env, log=var_dir / "search-worker.log"),
    ):
        yield server


def test_a_link_that_could_not_be_read_says_which_and_why(page: Page, search_server: ServerAddress) -> None:
    open_chat(page, search_server)
    answer = ask(page, f"Summarise {PRIVATE_LINK} please")
    expect(answer).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)
    unread = answer.get_by_test_id("unread-links")
    expect(unread).to_contain_text("I could not read the link you shared")
    expect(unread.locator("li")).to_have_text([f"10.0.0.1: {REASON}"])
    expect(answer.locator(".search-error")).to_have_count(0)  # the search itself did not fail
    stored = stored_messages(page, search_server, current_conversation_id(page))[-1]
    assert stored["unread_links"] == [{"url": PRIVATE_LINK, "reason": REASON}]

    page.reload()  # the same note, from what the REST API stored
    expect(page.get_by_test_id("unread-links").locator("li")).to_have_text(
        [f"10.0.0.1: {REASON}"], timeout=ANSWER_TIMEOUT_MS
    )
