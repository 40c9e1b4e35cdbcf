"""A photo upload survives a reload, in a real browser (Debian chromium via Playwright) against the real
product with a Celery worker on queue `media`: every chunk after the first fails as if the connection
dropped (the chip says it tries again), the page is reloaded, the chip comes back from IndexedDB, and the
upload goes on from the server's offset (the first chunk reaches the server once); a read photo not yet
sent also comes back after a reload; then the message is sent and answered. The model is the contract
fake of vLLM."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import pytest
from PIL import Image
from playwright.sync_api import Page, Route, expect

from tests.e2e.chat_page import ANSWER_TIMEOUT_MS, open_chat
from tests.e2e.servers import media_web_server
from tests.media.support import text_photo
from tests.support.chat_client import ServerAddress

pytestmark = pytest.mark.e2e

ANSWER = "Your ticket says platform 7."
CHUNK_BYTES = 256 * 1024  # what the page sends (resumable_plan.js)
READ_TIMEOUT_MS = 120_000  # the worker starts, loads OCR and reads the photo on two busy cores


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerAddress]:
    with media_web_server(tmp_path_factory.mktemp("resumable-web"), ANSWER) as server:
        yield server


def ticket_photo() -> bytes:
    """A printed line above a band of noise that PNG cannot compress: three chunks' worth of bytes."""
    text = Image.open(io.BytesIO(text_photo(["Platform 7 Coach 12"])))
    band = Image.frombytes("RGB", (text.width, 230), os.urandom(text.width * 230 * 3))
    photo = Image.new("RGB", (text.width, text.height + band.height), "white")
    photo.paste(text, (0, 0))
    photo.paste(band, (0, text.height))
    out = io.BytesIO()
    photo.save(out, format="PNG")
    return out.getvalue()


def test_an_upload_goes_on_after_a_reload_and_the_photo_is_sent(page: Page, server: ServerAddress, tmp_path) -> None:
    photo = tmp_path / "ticket.png"
    photo.write_bytes(ticket_photo())
    assert photo.stat().st_size > 2 * CHUNK_BYTES
    offsets_sent: list[int] = []  # the chunks that reached the server, by their offset
    holding = {"after_first": True}

    def first_chunk_only(route: Route) -> None:
        """Until the page has reloaded, every chunk after the first fails as if the connection dropped."""
        if route.request.method != "PATCH":
            return route.continue_()
        offset = int(route.request.headers["upload-offset"])
        if holding["after_first"] and offset > 0:
            return route.abort()
        offsets_sent.append(offset)
        return route.continue_()

    open_chat(page, server)
    page.route("**/api/uploads/*", first_chunk_only)
    with page.expect_response(lambda response: response.request.method == "PATCH") as first_chunk:
        page.get_by_test_id("photo-input").set_input_files(str(photo))
    assert first_chunk.value.status == 200
    assert first_chunk.value.json()["offset"] == CHUNK_BYTES
    chip = page.get_by_test_id("media-chip")
    expect(chip).to_contain_text("trying again")  # the second chunk failed: the page waits, then tries again
    assert offsets_sent == [0]

    page.reload()
    holding["after_first"] = False

    expect(page.get_by_test_id("media-thumbnail")).to_be_visible()  # the chip is back, from IndexedDB
    expect(chip).to_have_attribute("data-status", "ready", timeout=READ_TIMEOUT_MS)
    assert offsets_sent == [0, CHUNK_BYTES, 2 * CHUNK_BYTES]  # resumed from the server's offset, nothing twice

    page.reload()  # read, not sent yet: it comes back ready
    expect(chip).to_have_attribute("data-status", "ready")
    page.get_by_test_id("composer").fill("Which platform?")
    page.get_by_test_id("send").click()

    expect(page.get_by_test_id("media-preview")).to_be_hidden()
    question = page.locator("[data-testid=message][data-role=user]").last
    expect(question.get_by_test_id("sent-photo")).to_be_visible()
    answer = page.locator("[data-testid=message][data-role=assistant]").last
    expect(answer).to_have_attribute("data-status", "complete", timeout=ANSWER_TIMEOUT_MS)
    expect(answer).to_contain_text(ANSWER)
    page.reload()  # sent: the composer is empty again
    expect(page.locator("[data-testid=message][data-role=user]").last.get_by_test_id("sent-photo")).to_be_visible()
    expect(page.get_by_test_id("media-preview")).to_be_hidden()
