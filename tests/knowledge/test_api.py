"""REST of the knowledge store over Django's test client: owner scoping, caps and errors in the
project's JSON shape. Uploads run the extraction task eagerly, in this process (a real worker runs
it in tests/knowledge/test_worker.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from assistant.chat.services import create_conversation
from assistant.models import User
from config.celery import app as celery_app
from knowledge import memory, services
from knowledge.memory import Fact, Source
from knowledge.models import Document, DocumentChunk, MemoryItem
from knowledge.retrieval import document_passages
from tests.knowledge.builders import pdf_bytes, zip_bomb
from tests.knowledge.conftest import ANSWER_QUESTION, PAGES, ready_document


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False


def stored(owner: User, text: str, subject: str = "") -> MemoryItem:
    fact = Fact(fact=text, subject=subject)
    source = Source(channel="whatsapp", message_id=9)
    return memory.remember(owner_id=owner.pk, fact=fact, source=source, content_check=lambda _t: True).item


def error_code(response) -> str:
    return response.json()["error"]["code"]


def error_detail(response) -> str:
    return response.json()["error"]["detail"]


def upload(client: Client, data: bytes, name: str, **fields: str):
    return client.post("/api/documents", {"file": SimpleUploadedFile(name, data), **fields})


def test_memory_lists_every_item_with_its_source(owner: User, client_of: Callable[[User], Client]) -> None:
    item = stored(owner, "Lives in Porto.", "home city")
    body = client_of(owner).get("/api/memory").json()
    assert body["enabled"] is True
    [listed] = body["items"]
    assert listed["id"] == item.pk
    assert (listed["text"], listed["subject"], listed["sensitive_category"]) == ("Lives in Porto.", "home city", None)
    assert (listed["source"]["channel"], listed["source"]["message_id"]) == ("whatsapp", 9)


def test_memory_edit_delete_clear_and_switch(owner: User, client_of: Callable[[User], Client]) -> None:
    client = client_of(owner)
    first, second = stored(owner, "Lives in Porto.", "home city"), stored(owner, "Likes jazz.", "music")
    edited = client.patch(f"/api/memory/{first.pk}", json.dumps({"text": "  Lives in Braga. "}), "application/json")
    assert (edited.status_code, edited.json()["text"]) == (200, "Lives in Braga.")
    assert client.delete(f"/api/memory/{second.pk}").status_code == 204
    assert [i["text"] for i in client.get("/api/memory").json()["items"]] == ["Lives in Braga."]
    assert client.delete("/api/memory").status_code == 204
    assert client.get("/api/memory").json()["items"] == []
    switched = client.patch("/api/memory/settings", json.dumps({"enabled": False}), "application/json")
    assert switched.json() == {"enabled": False}
    assert client.get("/api/memory/settings").json() == {"enabled": False}


def test_another_users_memory_is_not_found(owner: User, stranger: User, client_of: Callable[[User], Client]) -> None:
    theirs = stored(stranger, "Likes opera.")
    client = client_of(owner)
    for response in (
        client.patch(f"/api/memory/{theirs.pk}", json.dumps({"text": "Hacked."}), "application/json"),
        client.delete(f"/api/memory/{theirs.pk}"),
        client.delete("/api/memory/99999999999999999999"),
    ):
        assert response.status_code == 404
        assert error_code(response) == "not_found"
    client.delete("/api/memory")
    assert MemoryItem.objects.get(pk=theirs.pk).text == "Likes opera."


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{", 400, "invalid_json"),
        ('{"text": ""}', 400, "invalid_frame"),
        ('{"text": "x", "extra": 1}', 400, "invalid_frame"),
        (json.dumps({"text": "x" * 301}), 400, "invalid_frame"),
        ('{"text": "a\\u0000b"}', 400, "invalid_frame"),
    ],
)
def test_bad_memory_edits_are_refused_and_keep_the_item(
    owner: User, client_of: Callable[[User], Client], body: str, status: int, code: str
) -> None:
    item = stored(owner, "Lives in Porto.")
    response = client_of(owner).patch(f"/api/memory/{item.pk}", body, "application/json")
    assert (response.status_code, error_code(response)) == (status, code)
    assert MemoryItem.objects.get(pk=item.pk).text == "Lives in Porto."


def test_unauthenticated_and_wrong_methods(db) -> None:
    anonymous = Client()
    assert error_code(anonymous.get("/api/memory")) == "unauthenticated"
    assert anonymous.get("/api/documents").status_code == 401


def test_wrong_method_names_the_allowed_ones(owner: User, client_of: Callable[[User], Client]) -> None:
    response = client_of(owner).put("/api/documents")
    assert (response.status_code, response["Allow"]) == (405, "GET, POST")


def test_upload_is_extracted_and_listed_with_progress(
    owner: User, client_of: Callable[[User], Client], eager_tasks: None
) -> None:
    client = client_of(owner)
    chat, other_chat = create_conversation(user=owner), create_conversation(user=owner)
    accepted = upload(client, pdf_bytes(PAGES), "harbour.pdf", conversation_id=str(chat.pk))
    assert accepted.status_code == 202
    assert (accepted.json()["status"], accepted.json()["media_type"]) == ("pending", "application/pdf")
    document = client.get(f"/api/documents/{accepted.json()['id']}").json()
    assert (document["status"], document["progress"], document["pages"], document["error"]) == ("ready", 100, 4, None)
    listed = client.get(f"/api/documents?conversation_id={chat.pk}").json()["documents"]
    assert [d["id"] for d in listed] == [document["id"]]
    assert client.get(f"/api/documents?conversation_id={other_chat.pk}").json()["documents"] == []
    assert client.delete(f"/api/documents/{document['id']}").status_code == 204
    assert client.get("/api/documents").json()["documents"] == []


def test_encrypted_upload_fails_with_a_clear_error(
    owner: User, client_of: Callable[[User], Client], eager_tasks: None
) -> None:
    client = client_of(owner)
    accepted = upload(client, pdf_bytes(PAGES, password="pw"), "locked.pdf")
    document = client.get(f"/api/documents/{accepted.json()['id']}").json()
    assert (document["status"], document["error"]) == ("failed", "encrypted_file")


@pytest.mark.parametrize(
    ("data", "name", "status", "code"),
    [
        (zip_bomb(uncompressed_mb=30), "cv.docx", 413, "file_too_large"),
        (bytes(range(256)) * 8, "photo.png", 415, "unsupported_file_type"),
        (b"PK\x03\x04broken", "cv.docx", 422, "broken_file"),
    ],
)
def test_refused_uploads_store_nothing(
    owner: User, client_of: Callable[[User], Client], data: bytes, name: str, status: int, code: str
) -> None:
    response = upload(client_of(owner), data, name)
    assert (response.status_code, error_code(response)) == (status, code)
    assert not Document.objects.exists()


def test_upload_over_the_size_cap_is_refused(owner: User, client_of: Callable[[User], Client], settings) -> None:
    settings.KNOWLEDGE_MAX_FILE_BYTES = 1000
    response = upload(client_of(owner), b"a" * 1001, "big.txt")
    assert (response.status_code, error_code(response)) == (413, "file_too_large")
    far_too_big = upload(client_of(owner), b"a" * 100_000, "bigger.txt")
    assert (far_too_big.status_code, error_code(far_too_big)) == (413, "file_too_large")


def test_upload_needs_a_file_field_and_a_valid_conversation(owner: User, client_of: Callable[[User], Client]) -> None:
    client = client_of(owner)
    no_file = client.post("/api/documents", {"name": "x"})
    assert (no_file.status_code, error_code(no_file)) == (400, "invalid_frame")
    as_json = client.post("/api/documents", "{}", "application/json")
    assert error_code(as_json) == "invalid_frame"
    bad_conversation = upload(client, b"text", "a.txt", conversation_id="twelve")
    assert (bad_conversation.status_code, error_code(bad_conversation)) == (400, "invalid_frame")
    assert not Document.objects.exists()


def test_another_users_document_is_not_found(
    owner: User, stranger: User, client_of: Callable[[User], Client], eager_tasks: None
) -> None:
    theirs = upload(client_of(stranger), b"Their private notes.", "notes.txt").json()["id"]
    client = client_of(owner)
    assert error_code(client.get(f"/api/documents/{theirs}")) == "not_found"
    assert client.delete(f"/api/documents/{theirs}").status_code == 404
    assert client.get("/api/documents").json()["documents"] == []
    assert Document.objects.filter(pk=theirs).exists()


def attach(client: Client, document_id: int, body: object):
    return client.post(f"/api/documents/{document_id}/attach", json.dumps(body), "application/json")


def test_upload_to_another_users_conversation_is_not_found(
    owner: User, stranger: User, client_of: Callable[[User], Client]
) -> None:
    theirs = create_conversation(user=stranger)
    response = upload(client_of(owner), b"My notes.", "notes.txt", conversation_id=str(theirs.pk))
    assert (response.status_code, error_code(response)) == (404, "not_found")
    assert not Document.objects.exists()


def test_a_library_file_is_used_in_a_chat_without_reading_it_again(
    owner: User, client_of: Callable[[User], Client]
) -> None:
    library = ready_document(owner, "pdf")
    chat = create_conversation(user=owner)
    client = client_of(owner)

    used = attach(client, library.pk, {"conversation_id": chat.pk})
    assert used.status_code == 200
    copy = used.json()
    assert copy["id"] != library.pk
    assert (copy["conversation_id"], copy["status"], copy["pages"], copy["name"]) == (chat.pk, "ready", 4, "report.pdf")
    kept = ("page", "ordinal", "text", "tokens", "embedding")
    assert list(DocumentChunk.objects.filter(document_id=copy["id"]).values_list(*kept)) == list(
        library.chunks.values_list(*kept)
    )
    found = document_passages(owner_id=owner.pk, question=ANSWER_QUESTION, token_budget=500, conversation_id=chat.pk)
    best = found[0]
    assert (best.document_id, best.page) == (copy["id"], 3)

    again = attach(client, library.pk, {"conversation_id": chat.pk})
    assert (again.status_code, again.json()["id"]) == (200, copy["id"])
    assert attach(client, copy["id"], {"conversation_id": chat.pk}).json()["id"] == copy["id"]
    assert Document.objects.count() == 2

    assert client.delete(f"/api/conversations/{chat.pk}").status_code == 204  # its copy goes with it
    assert list(Document.objects.values_list("pk", flat=True)) == [library.pk]
    assert library.chunks.count() == 4


def test_a_file_already_uploaded_to_the_chat_is_not_copied(owner: User, client_of: Callable[[User], Client]) -> None:
    chat = create_conversation(user=owner)
    library = ready_document(owner, "docx")
    in_chat = ready_document(owner, "docx", conversation_id=chat.pk)
    response = attach(client_of(owner), library.pk, {"conversation_id": chat.pk})
    assert (response.status_code, response.json()["id"]) == (200, in_chat.pk)
    assert Document.objects.count() == 2


def test_attach_refuses_others_unready_files_and_bad_bodies(
    owner: User, stranger: User, client_of: Callable[[User], Client]
) -> None:
    client = client_of(owner)
    chat, their_chat = create_conversation(user=owner), create_conversation(user=stranger)
    mine, theirs = ready_document(owner, "pdf"), ready_document(stranger, "pdf")
    pending = services.create_document(owner_id=owner.pk, name="later.txt", data=b"Not read yet.")
    failed = services.create_document(owner_id=owner.pk, name="locked.pdf", data=pdf_bytes(["x"], password="pw"))
    services.process_document(failed.pk)

    for document_id, body, status, code in [
        (theirs.pk, {"conversation_id": chat.pk}, 404, "not_found"),
        (mine.pk, {"conversation_id": their_chat.pk}, 404, "not_found"),
        (99999999, {"conversation_id": chat.pk}, 404, "not_found"),
        (pending.pk, {"conversation_id": chat.pk}, 409, "document_not_ready"),
        (failed.pk, {"conversation_id": chat.pk}, 409, "document_not_ready"),
        (mine.pk, {}, 400, "invalid_frame"),
        (mine.pk, {"conversation_id": chat.pk, "name": "x"}, 400, "invalid_frame"),
        (mine.pk, {"conversation_id": "twelve"}, 400, "invalid_frame"),
    ]:
        response = attach(client, document_id, body)
        assert (response.status_code, error_code(response)) == (status, code), (document_id, body)
    assert "still being read" in error_detail(attach(client, pending.pk, {"conversation_id": chat.pk}))
    assert client.get(f"/api/documents/{mine.pk}/attach").status_code == 405
    assert Document.objects.filter(conversation_id__isnull=False).count() == 0
