"""Photos, voice messages and answers read aloud in the web app, in a real browser (Debian chromium via
Playwright, its fake microphone for recording) against the real product with a Celery worker on queue
`media`: a PNG attached with the photo button shows its thumbnail, is sent and answered, and stays in the
thread after a reload; the speaker button plays an answer; a recorded voice message is sent as its
transcript with a clip to play. The model is the contract fake of vLLM."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from media.voice import EspeakSpeaker
from tests.e2e.chat_page import ANSWER_TIMEOUT_MS, open_chat
from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.e2e.servers import media_web_server
from tests.media.support import text_photo
from tests.support.chat_client import ServerAddress

pytestmark = pytest.mark.e2e

Screenshot = Callable[[Page, str], Path]
ANSWER = "Your ticket says platform 7."
READ_TIMEOUT_MS = 120_000  # the worker starts, loads OCR and reads the photo on two busy cores


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    with media_web_server(tmp_path_factory.mktemp("media-web"), ANSWER) as server:
        yield server


@pytest.fixture
def microphone_page(browser: Browser, tmp_path: Path) -> Iterator[Page]:
    """A browser whose microphone is Chromium's fake device playing a sentence espeak-ng speaks, allowed to record."""
    spoken = tmp_path / "question.wav"
    spoken.write_bytes(EspeakSpeaker().speak("what is the weather like today", language="en"))
    flags = [*CHROMIUM_FLAGS, "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={spoken}"]
    listening = browser.browser_type.launch(executable_path=CHROMIUM, args=flags, headless=True)
    yield listening.new_context(permissions=["microphone"]).new_page()
    listening.close()


def test_a_photo_is_attached_sent_and_shown(page: Page, server: ServerAddress, tmp_path: Path, screenshot: Screenshot):
    photo = tmp_path / "ticket.png"
    photo.write_bytes(text_photo(["Platform 7 Coach 12"]))
    open_chat(page, server)

    page.get_by_test_id("photo-input").set_input_files(str(photo))
    expect(page.get_by_test_id("media-thumbnail")).to_be_visible()
    chip = page.get_by_test_id("media-chip")
    expect(chip).to_have_attribute("data-status", "ready", timeout=READ_TIMEOUT_MS)
    expect(chip).to_contain_text("printed text")  # the OCR stand-in says what it reads
    expect(page.get_by_test_id("send")).to_be_enabled()
    page.get_by_test_id("composer").fill("Which platform?")
    page.get_by_test_id("send").click()

    expect(page.get_by_test_id("media-preview")).to_be_hidden()
    question = page.locator("[data-testid=message][data-role=user]").last
    expect(question.get_by_test_id("sent-photo").locator("img")).to_have_attribute("src", re.compile(r"^/api/"))
    expect(question).to_contain_text("Which platform?")
    answer = page.locator("[data-testid=message][data-role=assistant]").last
    expect(answer).to_have_attribute("data-status", "complete", timeout=ANSWER_TIMEOUT_MS)
    expect(answer).to_contain_text(ANSWER)
    screenshot(page, "photo-sent")

    page.reload()
    question = page.locator("[data-testid=message][data-role=user]").last
    expect(question.get_by_test_id("sent-photo")).to_be_visible()
    expect(question).not_to_contain_text("[photo]")
    natural_width = question.get_by_test_id("sent-photo").locator("img").evaluate("img => img.naturalWidth")
    assert natural_width == 1000  # the stored, cleaned photo was served to its owner


def test_the_speaker_button_plays_an_answer(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    page.get_by_test_id("composer").fill("Where do I go?")
    page.get_by_test_id("send").click()
    answer = page.locator("[data-testid=message][data-role=assistant]").last
    expect(answer).to_have_attribute("data-status", "complete", timeout=ANSWER_TIMEOUT_MS)

    answer.get_by_test_id("speak").click()

    audio = page.get_by_test_id("answer-audio")
    expect(audio).to_have_attribute("src", re.compile(r"^blob:"), timeout=READ_TIMEOUT_MS)
    page.wait_for_function("() => document.querySelector('[data-testid=answer-audio]').duration > 1")


def test_a_voice_message_is_recorded_and_sent(microphone_page: Page, server: ServerAddress) -> None:
    page = microphone_page
    open_chat(page, server)

    page.get_by_test_id("record").click()
    expect(page.get_by_test_id("recording-time")).to_contain_text("0:0")
    page.wait_for_timeout(3000)
    page.get_by_test_id("record-stop").click()

    question = page.locator("[data-testid=message][data-role=user]").last
    expect(question.get_by_test_id("sent-voice").locator("audio")).to_have_attribute(
        "src", re.compile(r"^/api/attachments/\d+/file$"), timeout=READ_TIMEOUT_MS
    )
    answer = page.locator("[data-testid=message][data-role=assistant]").last
    expect(answer).to_have_attribute("data-status", "complete", timeout=ANSWER_TIMEOUT_MS)
