"""Files and live memory notes in the web app, in a real browser (Debian chromium via Playwright)
against the real product with a Celery worker on queue `documents`: a file attached to a new chat
(button and drop) is read and cited by file and page without a link, a refused file says why, My
files lists and deletes, a file of My files is used in the open chat without being read again, and
a fact taken from an exchange shows "Memory updated" as it happens.

The model is the contract fake of vLLM, scripted per request: the answer, then (for memory) the
extraction's JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.chat_page import ANSWER_TIMEOUT_MS, ask, current_conversation_id, open_chat, session_client
from tests.e2e.servers import CHUNK_CHARS
from tests.support.chat_client import ServerAddress
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.processes import free_port, migrate, product_env, running, web_server_command, worker_command

pytestmark = pytest.mark.e2e

Screenshot = Callable[[Page, str], Path]
READ_TIMEOUT_MS = 60_000  # the worker embeds the file's passages with MiniLM on two busy cores
NOTES = "Quarterly notes.\n\nThe operating margin grew to 12 percent in the third quarter.\n"


class KnowledgeServer(NamedTuple):
    address: ServerAddress
    model: FakeOpenAI


def reply(text: str) -> Reply:
    return Reply(texts=[text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeServer]:
    """The web server and a worker on queue `documents` sharing one embedded-mode folder; facts are
    taken from exchanges (KNOWLEDGE_EXTRACTION_MODEL) by the same fake model."""
    var_dir = tmp_path_factory.mktemp("documents-web")
    with FakeOpenAI(default=reply("I have nothing to add.")) as model:
        env = product_env(
            var_dir,
            MODEL_BASE_URL=model.base_url,
            ASSISTANT_MODEL_TITLES="false",
            KNOWLEDGE_EXTRACTION_MODEL="assistant.engine.turns.memory_model",
        )
        migrate(env)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        worker = worker_command(queues=("documents",), concurrency=2, pool="threads")
        with (
            running(worker, env=env, log=var_dir / "documents-worker.log"),
            running(web_server_command(port), env=env, ready_url=f"{url}/healthz", log=var_dir / "web.log"),
        ):
            yield KnowledgeServer(ServerAddress(url, env=env), model)


def drop_file(page: Page, name: str, text: str) -> None:
    """Drops a text file on the chat, as a person drags one from their desktop."""
    page.evaluate(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, { type: "text/plain" }));
            const main = document.getElementById("main");
            main.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
            main.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        }""",
        [name, text],
    )


def test_a_file_attached_to_a_new_chat_is_read_and_cited_by_file_and_page(
    page: Page, server: KnowledgeServer, screenshot: Screenshot, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text(NOTES, encoding="utf-8")
    open_chat(page, server.address)
    page.get_by_test_id("attach-input").set_input_files(notes)  # what the attach button's dialog fills in

    chip = page.get_by_test_id("file-chip").filter(has_text="notes.txt")
    expect(chip).to_have_attribute("data-status", "ready", timeout=READ_TIMEOUT_MS)
    expect(chip.get_by_test_id("file-chip-state")).to_have_text("Ready · 1 page")
    conversation_id = current_conversation_id(page)  # the file made the new chat a conversation
    expect(page.get_by_test_id("conversation-item")).to_have_count(1)

    server.model.script(reply("The margin grew to 12 percent [1]."))
    answer = ask(page, "How much did the margin grow?")
    expect(answer).to_have_attribute("data-status", "complete", timeout=ANSWER_TIMEOUT_MS)
    source = answer.get_by_test_id("sources").locator("li")
    expect(source).to_have_text("notes.txt, p. 1")
    expect(source.locator("a")).to_have_count(0)
    expect(answer.locator(".citation-file")).to_have_attribute("title", "notes.txt, p. 1")
    screenshot(page, "cited")

    page.reload()  # the chips come back with the conversation
    expect(page.get_by_test_id("file-chip")).to_have_count(1)
    with session_client(page, server.address) as client:
        stored = client.get("/api/documents", params={"conversation_id": conversation_id}).json()["documents"]
    assert [(d["name"], d["status"]) for d in stored] == [("notes.txt", "ready")]


def test_a_refused_file_says_why_and_my_files_deletes(page: Page, server: KnowledgeServer, tmp_path: Path) -> None:
    open_chat(page, server.address)
    ask(page, "Hello")
    drop_file(page, "notes.txt", NOTES)
    binary = tmp_path / "program.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    page.get_by_test_id("attach-input").set_input_files(binary)

    refused = page.get_by_test_id("file-chip").filter(has_text="program.bin")
    expect(refused).to_have_attribute("data-status", "failed")
    expect(refused.get_by_test_id("file-chip-state")).not_to_have_text("This file could not be read.")
    refused.get_by_test_id("file-chip-remove").click()
    expect(refused).to_have_count(0)
    expect(page.get_by_test_id("file-chip").filter(has_text="notes.txt")).to_have_attribute(
        "data-status", "ready", timeout=READ_TIMEOUT_MS
    )

    page.get_by_test_id("settings-open").click()
    row = page.get_by_test_id("files-item").filter(has_text="notes.txt")
    expect(row).to_contain_text("Ready · 1 page")
    row.get_by_test_id("files-delete").click()
    expect(page.get_by_test_id("files-item")).to_have_count(0)
    expect(page.get_by_test_id("files-status")).to_have_text("Deleted notes.txt.")
    with session_client(page, server.address) as client:
        assert client.get("/api/documents").json()["documents"] == []


def test_a_file_from_my_files_is_used_in_the_open_chat(page: Page, server: KnowledgeServer) -> None:
    open_chat(page, server.address)
    with session_client(page, server.address) as client:  # a file of the library: in no conversation
        library = client.post("/api/documents", files={"file": ("notes.txt", NOTES.encode())}).json()
        wait_until_read(client, library["id"])
    ask(page, "Hello")
    conversation_id = current_conversation_id(page)
    expect(page.get_by_test_id("file-chip")).to_have_count(0)

    page.get_by_test_id("settings-open").click()
    row = page.get_by_test_id("files-item").filter(has_text="notes.txt")
    row.get_by_test_id("files-use").click()
    expect(page.get_by_test_id("files-status")).to_have_text("notes.txt is now in this chat.")
    expect(page.get_by_test_id("files-item")).to_have_count(2)  # the library's file and the chat's copy
    copy_row = page.get_by_test_id("files-item").filter(has_not=page.get_by_test_id("files-use"))
    expect(copy_row).to_contain_text("Ready · 1 page")
    expect(copy_row).to_contain_text("In this chat")
    expect(page.get_by_test_id("files-use")).to_have_count(1)  # the library's file can be used again
    page.get_by_test_id("settings-close").click()

    chip = page.get_by_test_id("file-chip")
    expect(chip).to_have_attribute("data-status", "ready")  # read once, at upload: nothing to wait for
    expect(chip.get_by_test_id("file-chip-state")).to_have_text("Ready · 1 page")
    with session_client(page, server.address) as client:
        in_chat = client.get("/api/documents", params={"conversation_id": conversation_id}).json()["documents"]
    assert [(d["name"], d["status"]) for d in in_chat] == [("notes.txt", "ready")]
    assert in_chat[0]["id"] != library["id"]


def wait_until_read(client: httpx.Client, document_id: int) -> None:
    deadline = time.monotonic() + READ_TIMEOUT_MS / 1000
    while client.get(f"/api/documents/{document_id}").json()["status"] == "pending":
        assert time.monotonic() < deadline, "the worker did not read the file"
        time.sleep(0.2)


def test_memory_updated_appears_under_the_answer_as_the_worker_keeps_the_fact(
    page: Page, server: KnowledgeServer, screenshot: Screenshot
) -> None:
    open_chat(page, server.address)
    extraction = json.dumps([{"fact": "Is vegetarian.", "subject": "diet", "category": "none"}])
    server.model.script(reply("Then let me suggest a lentil soup."), Reply(texts=[extraction]))
    answer = ask(page, "I'm vegetarian. What should I cook tonight?")

    note = answer.get_by_test_id("memory-updated")
    expect(note).to_have_text("Memory updated: Is vegetarian. Manage memory", timeout=ANSWER_TIMEOUT_MS)
    screenshot(page, "live-note")
    note.get_by_test_id("memory-updated-open").click()
    expect(page.get_by_test_id("memory-item")).to_have_count(1)
    expect(page.get_by_test_id("memory-item")).to_contain_text("Is vegetarian.")
