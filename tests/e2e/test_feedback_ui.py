"""Thumbs up and down under answers in a real browser (Debian chromium via Playwright) against the
real product: a thumbs down with a reason is stored, survives a reload, and can be taken back; the
controls pass axe in both themes and are finger-sized on a phone.

The model is the contract fake of vLLM (tests/e2e/servers.py): a scripted answer arrives at once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.chat_page import (
    ANSWER_TIMEOUT_MS,
    FINISHED,
    ask,
    current_conversation_id,
    open_chat,
    stored_messages,
)
from tests.e2e.page_checks import PHONE, serious_violations, small_targets
from tests.e2e.servers import scripted_web_server
from tests.support.chat_client import ServerAddress

pytestmark = pytest.mark.e2e

Screenshot = Callable[[Page, str], Path]
QUESTION = "How many legs does a spider have?"
ANSWER = "A spider has six legs."
COMMENT = "Spiders have eight legs."
FEEDBACK_URL = re.compile(r"/api/messages/\d+/feedback$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    with scripted_web_server(tmp_path_factory.mktemp("feedback-web"), ANSWER) as address:
        yield address


def answered(page: Page, server: ServerAddress):
    open_chat(page, server)
    answer = ask(page, QUESTION)
    expect(answer).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)
    return answer


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_thumbs_down_with_a_reason_survives_a_reload_and_can_be_taken_back(
    browser: Browser, server: ServerAddress, scheme: str, screenshot: Screenshot
) -> None:
    # axe is injected as an inline script, which the page's CSP refuses: this context ignores the CSP.
    context = browser.new_context(color_scheme=scheme, bypass_csp=True)
    try:
        page = context.new_page()
        answer = answered(page, server)
        down, up = answer.get_by_test_id("feedback-down"), answer.get_by_test_id("feedback-up")
        expect(down).to_have_attribute("aria-pressed", "false")

        with page.expect_response(FEEDBACK_URL):
            down.click()
        expect(down).to_have_attribute("aria-pressed", "true")
        expect(answer.get_by_test_id("feedback-form")).to_be_visible()
        expect(answer.get_by_test_id("feedback-reason-not_accurate")).to_be_focused()
        answer.get_by_test_id("feedback-reason-not_accurate").check()
        answer.get_by_test_id("feedback-comment").fill(COMMENT)
        assert serious_violations(page) == [], "the reason panel open"
        screenshot(page, f"feedback-reason-{scheme}")
        with page.expect_response(FEEDBACK_URL) as sent:
            answer.get_by_test_id("feedback-send").click()
        assert sent.value.status == 200
        expect(answer.get_by_test_id("feedback-form")).to_be_hidden()
        expect(down).to_be_focused()
        expect(answer.get_by_test_id("feedback-status")).to_have_text("Thanks for your feedback.")

        stored = stored_messages(page, server, current_conversation_id(page))[-1]["feedback"]
        assert (stored["rating"], stored["reason"], stored["comment"]) == ("down", "not_accurate", COMMENT)

        page.reload()
        answer = page.locator("[data-testid=message][data-role=assistant]").last
        down, up = answer.get_by_test_id("feedback-down"), answer.get_by_test_id("feedback-up")
        expect(down).to_have_attribute("aria-pressed", "true")
        expect(up).to_have_attribute("aria-pressed", "false")
        assert serious_violations(page) == [], "a rated answer"

        with page.expect_response(FEEDBACK_URL) as cleared:
            down.click()  # pressing the pressed thumb again takes the rating back
        assert cleared.value.status == 204
        expect(down).to_have_attribute("aria-pressed", "false")
        expect(answer.get_by_test_id("feedback-form")).to_be_hidden()
        assert stored_messages(page, server, current_conversation_id(page))[-1]["feedback"] is None
    finally:
        context.close()


def test_a_thumbs_up_replaces_a_thumbs_down_and_the_thumbs_are_finger_sized(
    browser: Browser, server: ServerAddress
) -> None:
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        answer = answered(page, server)
        down, up = answer.get_by_test_id("feedback-down"), answer.get_by_test_id("feedback-up")
        with page.expect_response(FEEDBACK_URL):
            down.click()
        expect(answer.get_by_test_id("feedback-form")).to_be_visible()
        # The thumbs and the panel's buttons; a reason's target is its whole label, 44 px tall.
        assert small_targets(page, "[data-role=assistant] :is(.feedback, .feedback-buttons)") == []
        label_heights = answer.locator(".feedback-reason").evaluate_all(
            "(labels) => labels.map((label) => label.getBoundingClientRect().height)"
        )
        assert len(label_heights) == 4
        assert min(label_heights) >= 44

        with page.expect_response(FEEDBACK_URL):
            up.click()
        expect(up).to_have_attribute("aria-pressed", "true")
        expect(down).to_have_attribute("aria-pressed", "false")
        expect(answer.get_by_test_id("feedback-form")).to_be_hidden()
        stored = stored_messages(page, server, current_conversation_id(page))[-1]["feedback"]
        assert (stored["rating"], stored["reason"]) == ("up", None)
    finally:
        context.close()
