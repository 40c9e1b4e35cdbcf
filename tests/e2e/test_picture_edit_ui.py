"""A picture's Edit button in the chat thread, in a real browser (Debian chromium via Playwright)
against the real product: uvicorn and a Celery imagine worker with the built-in tiny random pipeline
(the `imagine_server` fixture; for a sent photo also a worker on queue `media` and the contract fake
of vLLM). The button puts the composer into editing that picture; the message sent then names it
(`edit_picture_of`), and the stored message keeps it (`edits_picture_of`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.chat_page import ANSWER_TIMEOUT_MS, ask, current_conversation_id, open_chat, stored_messages
from tests.e2e.page_checks import PHONE, serious_violations, small_targets
from tests.e2e.servers import media_web_server
from tests.media.support import text_photo
from tests.support.chat_client import ServerAddress
from tests.support.processes import running, worker_command

pytestmark = pytest.mark.e2e

RENDER_TIMEOUT_MS = 120_000  # a render while the worker is busy, on 2 shared cores
READ_TIMEOUT_MS = 120_000  # the media worker starts, loads OCR and reads a photo on two busy cores
EDIT_COMMAND = "/imagine edit "
PHOTO_ANSWER = "A ticket for platform 7."


@pytest.fixture(scope="module")
def photo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    """The web server with a media worker that reads photos and an imagine worker that edits them."""
    var_dir = tmp_path_factory.mktemp("picture-edit-web")
    imagine_worker = worker_command(queues=("imagine",), pool="threads")
    with (
        media_web_server(var_dir, PHOTO_ANSWER) as server,
        running(imagine_worker, env=server.env, log=var_dir / "imagine-worker.log"),
    ):
        yield server


def messages(page: Page, role: str) -> Locator:
    return page.locator(f"[data-testid=message][data-role={role}]")


def imagined(page: Page, prompt: str) -> Locator:
    """Sends `/imagine <prompt>` and waits for the finished answer showing its picture."""
    answer = ask(page, "/imagine " + prompt)
    expect(answer.locator("[data-testid=thread-image] img")).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    expect(answer).to_have_attribute("data-status", "complete")
    return answer


def user_messages_stored(page: Page, server: ServerAddress) -> list[dict]:
    stored = stored_messages(page, server, current_conversation_id(page))
    return [message for message in stored if message["role"] == "user"]


def test_the_edit_button_restyles_that_picture_and_the_thread_says_so_after_a_reload(
    page: Page, imagine_server: ServerAddress
) -> None:
    open_chat(page, imagine_server)
    first = imagined(page, "a red boat")
    first_id = int(first.get_attribute("data-message-id") or "")
    src = first.locator("[data-testid=thread-image] img").get_attribute("src")

    first.get_by_test_id("picture-edit").click()
    chip = page.get_by_test_id("picture-edit-chip")
    expect(chip).to_be_visible()
    expect(chip.locator("img")).to_have_attribute("src", src or "")
    composer = page.get_by_test_id("composer")
    expect(composer).to_have_value(EDIT_COMMAND)
    expect(composer).to_be_focused()
    assert composer.evaluate("(box) => box.selectionStart") == len(EDIT_COMMAND)

    page.keyboard.type("make it watercolour")
    page.keyboard.press("Enter")
    expect(chip).to_be_hidden()
    expect(messages(page, "assistant")).to_have_count(2)
    edited = messages(page, "assistant").last
    expect(edited).to_have_attribute("data-message-id", re.compile(r"^\d+$"), timeout=RENDER_TIMEOUT_MS)
    expect(edited.locator("[data-testid=thread-image] img")).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    expect(edited).to_have_attribute("data-status", "complete")

    asked, edit = user_messages_stored(page, imagine_server)
    assert asked["edits_picture_of"] is None
    assert edit["content"] == "/imagine edit make it watercolour"
    assert edit["edits_picture_of"] == first_id

    page.reload()
    expect(messages(page, "user")).to_have_count(2)
    expect(messages(page, "user").first.get_by_test_id("picture-edit-of")).to_have_count(0)
    line = messages(page, "user").last.get_by_test_id("picture-edit-of")
    expect(line).to_have_text("Edit of an earlier picture")
    line.click()
    shown = page.locator(f"[data-testid=message][data-message-id='{first_id}']")
    expect(shown).to_have_class(re.compile(r"\bhighlighted\b"))
    expect(shown).to_be_focused()
    expect(shown).to_be_in_viewport()


def test_closing_the_chip_sends_the_next_message_without_the_picture(page: Page, imagine_server: ServerAddress) -> None:
    open_chat(page, imagine_server)
    first = imagined(page, "a red boat")
    chip = page.get_by_test_id("picture-edit-chip")
    composer = page.get_by_test_id("composer")

    first.get_by_test_id("picture-edit").click()
    expect(chip).to_be_visible()
    composer.press("Escape")
    expect(chip).to_be_hidden()

    first.get_by_test_id("picture-edit").click()
    expect(chip).to_be_visible()
    expect(composer).to_have_value(EDIT_COMMAND)  # the command is not typed twice
    page.get_by_test_id("picture-edit-cancel").click()
    expect(chip).to_be_hidden()
    expect(composer).to_be_focused()

    # Without the chip this is the plain command: it restyles the newest picture, named by nobody.
    composer.fill("/imagine edit make it blue")
    composer.press("Enter")
    expect(messages(page, "assistant")).to_have_count(2)
    expect(messages(page, "assistant").last.locator("[data-testid=thread-image] img")).to_be_visible(
        timeout=RENDER_TIMEOUT_MS
    )
    assert [message["edits_picture_of"] for message in user_messages_stored(page, imagine_server)] == [None, None]
    expect(messages(page, "user").get_by_test_id("picture-edit-of")).to_have_count(0)

    messages(page, "assistant").last.get_by_test_id("picture-edit").click()
    expect(chip).to_be_visible()
    page.get_by_test_id("new-chat").click()
    expect(chip).to_be_hidden()


def test_a_shared_page_shows_the_picture_without_an_edit_button(page: Page, imagine_server: ServerAddress) -> None:
    open_chat(page, imagine_server)
    expect(imagined(page, "a red boat").get_by_test_id("picture-edit")).to_be_visible()
    page.get_by_test_id("share-open").click()
    page.get_by_test_id("share-create").click()
    link = page.get_by_test_id("share-link")
    expect(link).to_have_value(re.compile(r"/share/[\w-]+$"))

    page.goto(link.input_value())
    expect(page.get_by_test_id("shared-messages")).to_have_attribute("data-rendered", "true")
    expect(page.get_by_test_id("thread-image").locator("img")).to_be_visible()
    expect(page.get_by_test_id("thread-image-download")).to_be_visible()
    expect(page.get_by_test_id("picture-edit")).to_have_count(0)


def test_a_sent_photo_is_edited_with_its_own_edit_button(
    page: Page, photo_server: ServerAddress, tmp_path: Path
) -> None:
    photo = tmp_path / "ticket.png"
    photo.write_bytes(text_photo(["Platform 7 Coach 12"]))
    open_chat(page, photo_server)
    page.get_by_test_id("photo-input").set_input_files(str(photo))
    expect(page.get_by_test_id("media-chip")).to_have_attribute("data-status", "ready", timeout=READ_TIMEOUT_MS)
    page.get_by_test_id("composer").fill("Which platform?")
    page.get_by_test_id("send").click()
    question = messages(page, "user").last
    expect(question).to_have_attribute("data-message-id", re.compile(r"^\d+$"), timeout=ANSWER_TIMEOUT_MS)
    expect(messages(page, "assistant").last).to_have_attribute("data-status", "complete", timeout=ANSWER_TIMEOUT_MS)
    photo_message_id = int(question.get_attribute("data-message-id") or "")

    question.get_by_test_id("sent-photo").get_by_test_id("picture-edit").click()
    expect(page.get_by_test_id("picture-edit-chip")).to_be_visible()
    page.keyboard.type("make it watercolour")
    page.keyboard.press("Enter")
    edited = messages(page, "assistant").last
    expect(edited.locator("[data-testid=thread-image] img")).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    expect(edited).to_have_attribute("data-status", "complete")

    edit = user_messages_stored(page, photo_server)[-1]
    assert edit["edits_picture_of"] == photo_message_id


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_edit_button_and_the_chip_pass_axe_and_fit_a_finger(
    browser: Browser, imagine_server: ServerAddress, scheme: str
) -> None:
    # axe is injected as an inline script, which the page's CSP refuses: this context ignores the CSP.
    context = browser.new_context(**PHONE, color_scheme=scheme, bypass_csp=True)
    try:
        page = context.new_page()
        open_chat(page, imagine_server)
        imagined(page, "a red boat").get_by_test_id("picture-edit").click()
        expect(page.get_by_test_id("picture-edit-chip")).to_be_visible()

        assert serious_violations(page) == []
        assert small_targets(page, "[data-testid=thread-image]") == []
        assert small_targets(page, "[data-testid=picture-edit-chip]") == []
    finally:
        context.close()
