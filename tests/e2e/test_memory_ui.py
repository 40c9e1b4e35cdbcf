"""Memory and temporary chats in the web app, in a real browser (Debian chromium via Playwright)
against the real product: Settings → Memory (where each fact came from, edit in place, delete,
clear all with Undo, the switch, linking a messaging app), the "Memory updated" note under the
answer that taught a fact, and temporary chats that are marked as such, never listed and not kept.

Facts are taught with "remember that …", which the pipeline answers without the model; the model
is the contract fake of vLLM for everything else."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.chat_page import ANSWER_TIMEOUT_MS, ask, open_chat, session_client
from tests.e2e.servers import scripted_web_server
from tests.support.chat_client import ServerAddress

pytestmark = pytest.mark.e2e

Screenshot = Callable[[Page, str], Path]
ANSWER = "Noted, thank you."
SERVER_DELETE_SECONDS = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    with scripted_web_server(tmp_path_factory.mktemp("memory-web"), ANSWER) as address:
        yield address


def stored_memory(page: Page, server: ServerAddress) -> dict:
    with session_client(page, server) as client:
        response = client.get("/api/memory")
    response.raise_for_status()
    return response.json()


def stored_facts(page: Page, server: ServerAddress) -> list[str]:
    return [item["text"] for item in stored_memory(page, server)["items"]]


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """The server acts after the page (the Undo time, a closed socket): poll it for a while."""
    deadline = time.monotonic() + SERVER_DELETE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.25)


def memory_row(page: Page, text: str) -> Locator:
    """The item whose fact holds `text` (its source line may name a chat with the same words)."""
    return page.get_by_test_id("memory-item").filter(has=page.get_by_test_id("memory-text").filter(has_text=text))


def teach(page: Page, fact: str) -> Locator:
    answer = ask(page, f"Remember that {fact}")
    expect(answer).to_contain_text(fact, timeout=ANSWER_TIMEOUT_MS)
    return answer


def test_the_answer_that_taught_a_fact_says_so_and_opens_settings_memory_at_it(
    page: Page, server: ServerAddress, screenshot: Screenshot
) -> None:
    open_chat(page, server)
    teach(page, "I am vegetarian.")
    expect(page.locator("[data-testid=message][data-role=assistant]")).to_have_count(1)

    page.reload()  # the note comes back with the stored message
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    note = page.get_by_test_id("memory-updated")
    expect(note).to_have_count(1)
    expect(note).to_contain_text("Memory updated: I am vegetarian.")
    screenshot(page, "note")

    said_in = page.url  # the conversation, #c=<id>
    page.get_by_test_id("memory-updated-open").click()
    expect(page.get_by_test_id("settings-dialog")).to_be_visible()
    row = memory_row(page, "I am vegetarian.")
    expect(row).to_be_focused()
    expect(row).to_have_class(re.compile(r"memory-item-revealed"))
    # Named by the conversation's title, with a link that opens it.
    expect(row.get_by_test_id("memory-source")).to_contain_text(re.compile(r"From “Remember that I am .+”, .+"))

    page.get_by_test_id("settings-close").click()
    page.keyboard.press("Control+k")  # a new chat
    expect(page.locator("[data-testid=message][data-role=assistant]")).to_have_count(0)
    page.get_by_test_id("settings-open").click()
    memory_row(page, "I am vegetarian.").get_by_test_id("memory-source-open").click()
    expect(page.get_by_test_id("settings-dialog")).to_be_hidden()
    expect(page).to_have_url(said_in)
    expect(page.locator("[data-testid=message][data-role=assistant]")).to_contain_text("I am vegetarian.")


def test_settings_memory_edits_deletes_clears_with_undo_and_switches_off(
    page: Page, server: ServerAddress, screenshot: Screenshot
) -> None:
    open_chat(page, server)
    teach(page, "I am vegetarian.")
    teach(page, "I live in Lisbon.")
    page.get_by_test_id("settings-open").click()
    expect(page.get_by_test_id("memory-item")).to_have_count(2)
    expect(page.get_by_test_id("memory-enabled")).to_be_checked()

    memory_row(page, "vegetarian").get_by_test_id("memory-edit").click()
    page.get_by_test_id("memory-input").fill("I eat fish.")
    page.get_by_test_id("memory-input").press("Escape")  # ends the edit, not the dialog
    expect(page.get_by_test_id("settings-dialog")).to_be_visible()
    expect(memory_row(page, "I am vegetarian.")).to_have_count(1)
    memory_row(page, "vegetarian").get_by_test_id("memory-edit").click()
    page.get_by_test_id("memory-input").fill("I am vegan.")
    page.get_by_test_id("memory-input").press("Enter")
    expect(memory_row(page, "I am vegan.")).to_have_count(1)
    assert sorted(stored_facts(page, server)) == ["I am vegan.", "I live in Lisbon."]

    memory_row(page, "Lisbon").get_by_test_id("memory-delete").click()
    expect(page.get_by_test_id("memory-item")).to_have_count(1)
    expect(page.get_by_test_id("memory-status")).to_contain_text("Forgot “I live in Lisbon.”")
    assert stored_facts(page, server) == ["I am vegan."]

    page.get_by_test_id("memory-clear").click()
    expect(page.get_by_test_id("memory-item")).to_have_count(0)
    expect(page.get_by_test_id("memory-empty")).to_be_visible()
    screenshot(page, "cleared")
    page.get_by_test_id("memory-undo").click()
    expect(page.get_by_test_id("memory-item")).to_have_count(1)
    assert stored_facts(page, server) == ["I am vegan."], "nothing is forgotten before the Undo time ends"

    page.get_by_test_id("memory-clear").click()
    page.get_by_test_id("settings-close").click()  # closing the dialog ends the Undo time
    wait_for(lambda: stored_facts(page, server) == [], "Clear all reached the server")

    page.get_by_test_id("settings-open").click()
    expect(page.get_by_test_id("memory-empty")).to_be_visible()
    page.get_by_test_id("memory-enabled").uncheck()
    expect(page.get_by_test_id("memory-status")).to_contain_text("Memory is off")
    assert stored_memory(page, server)["enabled"] is False
    page.get_by_test_id("settings-close").click()
    refused = ask(page, "Remember that I like tea.")
    expect(refused).to_contain_text("Memory is off", timeout=ANSWER_TIMEOUT_MS)
    assert stored_facts(page, server) == []


def test_a_guest_is_told_to_sign_up_and_an_account_gets_a_link_code(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    page.get_by_test_id("settings-open").click()
    expect(page.get_by_test_id("memory-link-create")).to_have_count(0)
    expect(page.get_by_test_id("memory-link-signup")).to_have_attribute("href", "/accounts/signup/")
    page.get_by_test_id("settings-close").click()

    page.goto(server.url + "/accounts/signup/")
    page.get_by_label("Username").fill("linker")
    page.locator("input[name=password1]").fill("a linking passphrase 7")
    page.locator("input[name=password2]").fill("a linking passphrase 7")
    page.get_by_test_id("signup-submit").click()
    open_chat(page, server)
    page.get_by_test_id("settings-open").click()
    page.get_by_test_id("memory-link-create").click()
    expect(page.get_by_test_id("memory-link-code")).to_contain_text(
        re.compile(r"Send /link [A-Z0-9]{8} in the messaging app before .+\.")
    )


def test_a_temporary_chat_is_marked_never_listed_and_gone_when_the_page_closes(
    page: Page, server: ServerAddress, screenshot: Screenshot
) -> None:
    open_chat(page, server)
    banner = page.get_by_test_id("temporary-banner")
    toggle = page.get_by_test_id("temporary-toggle")
    expect(banner).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(banner).to_be_visible()
    screenshot(page, "armed")

    answer = ask(page, "Remember that I am a pilot.")
    expect(answer).to_contain_text("This is a temporary chat", timeout=ANSWER_TIMEOUT_MS)
    expect(banner).to_contain_text("not kept")
    expect(toggle).to_be_hidden()
    expect(page.locator("#conversation-title")).to_have_text("Temporary chat")
    assert "#c=" not in page.url, "a reload could not open a temporary chat again"
    screenshot(page, "temporary")
    with session_client(page, server) as client:
        listed = client.get("/api/conversations").json()["conversations"]
    assert len(listed) == 1, "the server holds it while the socket is open"
    expect(page.get_by_test_id("conversation-item")).to_have_count(0)
    assert stored_facts(page, server) == [], "a temporary chat keeps no memory"

    page.get_by_test_id("new-chat").click()
    expect(banner).to_be_hidden()
    expect(toggle).to_have_attribute("aria-pressed", "false")

    with session_client(page, server) as client:
        page.close()
        wait_for(
            lambda: client.get("/api/conversations").json()["conversations"] == [],
            "the temporary chat was deleted with its socket",
        )
