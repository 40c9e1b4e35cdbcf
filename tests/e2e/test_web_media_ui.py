"""Photos, voice messages and answers read aloud in the web app, in a real browser (Debian chromium via
Playwright, its fake microphone for recording) against the real product with a Celery worker on queue
`media`: a PNG attached with the photo button, pasted into the message box or dropped on the chat shows
its thumbnail, is sent and answered, and stays in the thread after a reload; the speaker button plays an
answer; a recorded voice message is sent as its transcript with a clip to play, both still there after a
reload, and the page says the embedded recogniser hears English only; a voice upload cut by a reload goes
on from the server's offset and is sent once. The model is the contract fake of vLLM."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from media.voice import EspeakSpeaker
from tests.e2e.chat_page import ANSWER_TIMEOUT_MS, current_conversation_id, open_chat, stored_messages
from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.e2e.servers import media_web_server
from tests.media.support import text_photo
from tests.support.chat_client import ServerAddress

pytestmark = pytest.mark.e2e

Screenshot = Callable[[Page, str], Path]
ANSWER = "Your ticket says platform 7."
READ_TIMEOUT_MS = 120_000  # the worker starts, loads OCR and reads the photo on two busy cores
ENGLISH_ONLY = "understands English only"  # the embedded recogniser's limit, as the page words it


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
    page = listening.new_context(permissions=["microphone"]).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    listening.close()
    assert errors == [], f"the page raised script errors: {errors}"


def with_photo(page: Page, photo: bytes, script: str) -> bool:
    """Runs `script`, a function of a DataTransfer holding `photo` as a PNG File named ticket.png (what
    the operating system hands the browser for a copied or dragged picture); returns what it returns."""
    return page.evaluate(
        """([encoded, script]) => {
            const bytes = Uint8Array.from(atob(encoded), (char) => char.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "ticket.png", { type: "image/png" }));
            return new Function("transfer", script)(transfer);
        }""",
        [base64.b64encode(photo).decode(), script],
    )


def send_the_ready_photo(page: Page, caption: str) -> None:
    """The photo in the composer is read (the OCR stand-in says what it reads), sent with `caption`, shown
    in the thread and answered."""
    chip = page.get_by_test_id("media-chip")
    expect(page.get_by_test_id("media-thumbnail")).to_be_visible()
    expect(chip).to_have_attribute("data-status", "ready", timeout=READ_TIMEOUT_MS)
    expect(chip).to_contain_text("printed text")
    page.get_by_test_id("composer").fill(caption)
    page.get_by_test_id("send").click()

    expect(page.get_by_test_id("media-preview")).to_be_hidden()
    question = page.locator("[data-testid=message][data-role=user]").last
    expect(question.get_by_test_id("sent-photo").locator("img")).to_have_attribute("src", re.compile(r"^/api/"))
    expect(question).to_contain_text(caption)
    answer = page.locator("[data-testid=message][data-role=assistant]").last
    expect(answer).to_have_attribute("data-status", "complete", timeout=ANSWER_TIMEOUT_MS)
    expect(answer).to_contain_text(ANSWER)


def served(page: Page, path: str) -> list:
    """[status, content type, bytes] of `path` fetched by the page itself, with its session."""
    return page.evaluate(
        """async (path) => {
            const response = await fetch(path);
            const body = await response.arrayBuffer();
            return [response.status, response.headers.get("content-type"), body.byteLength];
        }""",
        path,
    )


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


def test_a_pasted_photo_is_attached_sent_and_shown(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)
    composer = page.get_by_test_id("composer")
    composer.focus()

    taken = with_photo(
        page,
        text_photo(["Platform 7 Coach 12"]),
        """const paste = new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true });
        document.getElementById("composer").dispatchEvent(paste);
        return paste.defaultPrevented;""",
    )

    assert taken  # the page took the picture: its file name is not pasted as text
    send_the_ready_photo(page, "Which platform?")
    page.reload()
    expect(page.locator("[data-testid=message][data-role=user]").last.get_by_test_id("sent-photo")).to_be_visible()


def test_a_dropped_photo_is_attached_sent_and_shown(page: Page, server: ServerAddress) -> None:
    open_chat(page, server)

    taken = with_photo(
        page,
        text_photo(["Platform 7 Coach 12"]),
        """const main = document.getElementById("main");
        main.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        const drop = new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true });
        main.dispatchEvent(drop);
        return drop.defaultPrevented;""",
    )

    assert taken
    expect(page.locator("#main")).not_to_have_class(re.compile(r"\bdropping\b"))
    send_the_ready_photo(page, "Which coach?")
    expect(page.get_by_test_id("file-chip")).to_have_count(0)  # a photo to send, not a document to read
    page.reload()
    expect(page.locator("[data-testid=message][data-role=user]").last.get_by_test_id("sent-photo")).to_be_visible()


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
    recording = page.get_by_test_id("recording-time")
    expect(recording).to_contain_text("0:0")
    expect(recording).to_contain_text(ENGLISH_ONLY)  # said before a word is spoken
    page.wait_for_timeout(3000)
    finished = r"/api/uploads/[0-9a-f-]+/finish$"  # sent in resumable chunks, then read on the worker
    with page.expect_response(lambda response: re.search(finished, response.url), timeout=READ_TIMEOUT_MS) as read:
        page.get_by_test_id("record-stop").click()
    assert read.value.status == 201
    heard = read.value.json()
    assert heard["kind"] == "voice"
    assert "weather" in heard["transcript"].split(), heard["transcript"]

    question = page.locator("[data-testid=message][data-role=user]").last
    clip = question.get_by_test_id("sent-voice")
    expect(clip.locator("audio")).to_have_attribute("src", heard["url"])
    expect(clip).to_contain_text(ENGLISH_ONLY)
    expect(question).to_contain_text(heard["transcript"])
    answer = page.locator("[data-testid=message][data-role=assistant]").last
    expect(answer).to_have_attribute("data-status", "complete", timeout=ANSWER_TIMEOUT_MS)
    expect(page.get_by_test_id("media-preview")).to_be_hidden()

    page.reload()
    question = page.locator("[data-testid=message][data-role=user]").last
    audio = question.get_by_test_id("sent-voice").locator("audio")
    expect(audio).to_have_attribute("src", heard["url"])
    expect(question).to_contain_text(heard["transcript"])
    status, content_type, size = served(page, heard["url"])
    assert (status, content_type.split(";")[0]) == (200, "audio/webm")  # the recording as Chrome made it
    assert size > 1000
    page.wait_for_function("audio => audio.readyState >= 1 && audio.error === null", arg=audio.element_handle())


def test_a_voice_upload_cut_by_a_reload_goes_on_and_is_sent_once(microphone_page: Page, server: ServerAddress) -> None:
    page = microphone_page
    created: list[str] = []  # the uploads the page started
    chunks_received: list[int] = []  # the chunks that reached the server, by their offset
    holding = {"chunks": True}

    def cut_before_the_chunks(route: Route) -> None:
        """Until the page has reloaded, every chunk fails as if the connection dropped."""
        request = route.request
        if request.method == "POST" and request.url.endswith("/api/uploads"):
            created.append(request.url)
        if request.method != "PATCH":
            return route.continue_()
        if holding["chunks"]:
            return route.abort()
        chunks_received.append(int(request.headers["upload-offset"]))
        return route.continue_()

    open_chat(page, server)
    page.route(re.compile(r"/api/uploads"), cut_before_the_chunks)
    page.get_by_test_id("record").click()
    page.wait_for_timeout(3000)
    page.get_by_test_id("record-stop").click()
    voice_chip = page.get_by_test_id("voice-chip")
    expect(voice_chip).to_contain_text("trying again")  # the chunk failed: the page waits, then tries again
    assert (len(created), chunks_received) == (1, [])

    page.reload()
    holding["chunks"] = False

    answer = page.locator("[data-testid=message][data-role=assistant]").last
    expect(answer).to_have_attribute("data-status", "complete", timeout=READ_TIMEOUT_MS + ANSWER_TIMEOUT_MS)
    assert (len(created), chunks_received) == (1, [0])  # the same upload, from the server's offset
    expect(voice_chip).to_have_count(0)
    question = page.locator("[data-testid=message][data-role=user]").last
    expect(question.get_by_test_id("sent-voice").locator("audio")).to_have_attribute(
        "src", re.compile(r"^/api/attachments/\d+/file$")
    )
    sent = [
        message for message in stored_messages(page, server, current_conversation_id(page)) if message["role"] == "user"
    ]
    assert len(sent) == 1
    assert sent[0]["attachment"]["kind"] == "voice"
    assert sent[0]["content"] == sent[0]["attachment"]["transcript"] != ""
    expect(question).to_contain_text(sent[0]["content"])

    page.reload()  # sent: nothing comes back to send again
    expect(page.locator("[data-testid=message][data-role=user]")).to_have_count(1)
    expect(page.get_by_test_id("media-preview")).to_be_hidden()
