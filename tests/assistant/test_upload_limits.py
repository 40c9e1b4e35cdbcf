"""Web uploads are counted against the `upload` limits before anything is read: a photo or voice message
sent in one piece, a resumable upload when it is created (its chunks and a retried finish are not counted
again), and a document."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from pytest_django.fixtures import Settings

from assistant.chat import services
from tests.media.support import text_photo

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(settings: Settings) -> Client:
    cache.clear()
    settings.ASSISTANT_RATE_LIMITS = {**settings.ASSISTANT_RATE_LIMITS, "upload_per_user": "2/3600"}
    settings.MEDIA_WAIT_SECONDS = 1  # no media worker runs: a photo that gets past the limit is not read
    browser = Client()
    browser.force_login(services.create_guest())
    return browser


def photo_upload(client: Client) -> Any:
    return client.post("/api/attachments", {"file": SimpleUploadedFile("p.png", text_photo(["Hi"]), "image/png")})


def resumable_upload(client: Client) -> Any:
    body = {"size": 1000, "type": "image/png", "name": "p.png"}
    return client.post("/api/uploads", body, content_type="application/json")


def document_upload(client: Client) -> Any:
    return client.post("/api/documents", {"file": SimpleUploadedFile("notes.txt", b"Gate B22 closes at 09:40.")})


def assert_limited(response: Any) -> None:
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "rate_limited"
    assert int(response["Retry-After"]) > 0


def test_every_kind_of_upload_counts_against_one_limit(client: Client) -> None:
    first, second = photo_upload(client), resumable_upload(client)

    assert first.status_code == 503  # counted, then not read: the worker is away
    assert second.status_code == 201
    assert_limited(document_upload(client))
    assert_limited(photo_upload(client))
    assert_limited(resumable_upload(client))


def test_the_chunks_of_an_upload_are_not_counted(client: Client) -> None:
    created = resumable_upload(client).json()
    chunk = text_photo(["Hi"])[:500]
    sent = client.patch(
        f"/api/uploads/{created['id']}", chunk, content_type="application/offset+octet-stream",
        headers={"Upload-Offset": "0"},
    )  # fmt: skip

    assert sent.status_code == 200, sent.content
    assert resumable_upload(client).status_code == 201  # the second upload: chunks were not counted
    assert_limited(resumable_upload(client))
