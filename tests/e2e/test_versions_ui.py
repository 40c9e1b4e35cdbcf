"""Message versions in a real browser (Debian chromium via Playwright) against the real product: a
regenerated answer is version 2/2 and version 1/2 comes back, also after a reload; an edited message
starts a branch, and switching the message back shows the earlier branch whole.

The model is the contract fake of vLLM (tests/e2e/servers.py): what is tested here is the page, and
a scripted answer arrives at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.chat_page import ANSWER_TIMEOUT_MS, FINISHED, ask, current_conversation_id, open_chat, stored_messages
from tests.e2e.page_checks import PHONE, serious_violations, small_targets
from tests.e2e.servers import scripted_web_server
from tests.support.chat_client import ServerAddress

pytestmark = pytest.mark.e2e

ANSWER = "Green, like a fern."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    with scripted_web_server(tmp_path_factory.mktemp("versions-web"), ANSWER) as address:
        yield address


def messages(page: Page, role: str) -> Locator:
    return page.locator(f"[data-testid=message][data-role={role}]")


def finished(answer: Locator) -> None:
    expect(answer).to_have_attribute("data-status", FINISHED, timeout=ANSWER_TIMEOUT_MS)


def test_regenerate_keeps_the_first_answer_one_switch_away(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    first = ask(page, "Name a colour.")
    finished(first)
    first_id = first.get_attribute("data-message-id")

    page.get_by_test_id("regenerate").click()
    answer = messages(page, "assistant")
    # The first answer stays on screen, dimmed, until the server takes the regeneration.
    expect(answer).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    expect(answer).not_to_have_attribute("data-message-id", first_id, timeout=ANSWER_TIMEOUT_MS)
    finished(answer)
    expect(answer.get_by_test_id("version-label")).to_have_text("2/2")
    expect(answer.get_by_test_id("version-next")).to_be_disabled()

    answer.get_by_test_id("version-previous").click()
    expect(messages(page, "assistant")).to_have_attribute("data-message-id", first_id)
    expect(messages(page, "assistant").get_by_test_id("version-label")).to_have_text("1/2")
    expect(messages(page, "assistant").get_by_test_id("version-switcher")).to_have_attribute(
        "aria-label", "Version 1 of 2"
    )

    page.reload()
    expect(messages(page, "assistant")).to_have_attribute("data-message-id", first_id)
    expect(messages(page, "assistant").get_by_test_id("version-label")).to_have_text("1/2")
    stored = stored_messages(page, server, current_conversation_id(page))
    assert [m["id"] for m in stored][1] == int(first_id)
    assert len(stored[1]["versions"]) == 2


def test_an_edit_starts_a_branch_and_switching_back_shows_the_first(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    finished(ask(page, "Name a colour."))
    finished(ask(page, "And another one?"))
    conversation_id = current_conversation_id(page)
    before = [m["id"] for m in stored_messages(page, server, conversation_id)]

    question = messages(page, "user").first
    question.get_by_test_id("message-edit").click()
    field = question.get_by_test_id("message-edit-text")
    expect(field).to_be_focused()
    expect(field).to_have_value("Name a colour.")
    field.fill("Name a fruit.")
    question.get_by_test_id("message-edit-save").click()

    expect(messages(page, "user")).to_have_count(1)
    expect(messages(page, "user").locator(".content")).to_have_text("Name a fruit.")
    finished(messages(page, "assistant"))
    edited = messages(page, "user")
    expect(edited.get_by_test_id("version-label")).to_have_text("2/2")

    edited.get_by_test_id("version-previous").click()
    expect(messages(page, "user")).to_have_count(2)
    expect(messages(page, "user").first.locator(".content")).to_have_text("Name a colour.")
    expect(messages(page, "user").first.get_by_test_id("version-label")).to_have_text("1/2")
    assert [m["id"] for m in stored_messages(page, server, conversation_id)] == before


def test_an_edit_is_cancelled_with_escape_and_sends_nothing(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    finished(ask(page, "Name a colour."))
    question = messages(page, "user")
    question.get_by_test_id("message-edit").click()
    question.get_by_test_id("message-edit-text").fill("Something else")
    question.get_by_test_id("message-edit-text").press("Escape")

    expect(question.get_by_test_id("message-edit-form")).to_have_count(0)
    expect(question.locator(".content")).to_have_text("Name a colour.")
    expect(question.get_by_test_id("message-edit")).to_be_focused()
    assert len(stored_messages(page, server, current_conversation_id(page))) == 2


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_switcher_and_the_edit_form_pass_axe_and_fit_a_finger(
    browser: Browser, server: ServerAddress, scheme: str
) -> None:
    # axe is injected as an inline script, which the page's CSP refuses: this context ignores the CSP.
    context = browser.new_context(**PHONE, color_scheme=scheme, bypass_csp=True)
    try:
        page = context.new_page()
        open_chat(page, server)
        finished(ask(page, "Name a colour."))
        page.get_by_test_id("regenerate").click()
        expect(page.get_by_test_id("version-label")).to_have_text("2/2", timeout=ANSWER_TIMEOUT_MS)
        messages(page, "user").get_by_test_id("message-edit").click()
        expect(page.get_by_test_id("message-edit-form")).to_be_visible()

        assert serious_violations(page) == []
        assert small_targets(page, ".messages") == []
    finally:
        context.close()
