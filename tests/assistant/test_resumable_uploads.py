"""Resumable uploads from the web chat (assistant/web/uploads.py, docs/protocol.md "Resumable uploads"):
an upload of a photo or a recorded voice message created with its declared size and type, its bytes sent
in chunks at an offset (a wrong offset is a 409 naming the server's), refused at its first bytes when they
are not what it says, past its cap or its declared size, invisible to anyone but its owner, expired after
a day, and finished into the same attachment as `POST /api/attachments` makes, once however often it is
finished. The finishing tests read the photo, or hear the voice message, on a real `media` worker (Celery
on Redis)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings

from assistant.chat import services
from assistant.chat.attachments import MessageAttachment
from assistant.models import User
from assistant.web.uploads import MAX_CHUNK_BYTES, MAX_OPEN_UPLOADS, ResumableUpload, UploadChunk
from media.intake import Kind
from media.voice import AudioFormat, synthesize
from tests.media.support import running_media_worker, text_photo

pytestmark = pytest.mark.django_db(transaction=True)

PNG_HEAD = b"\x89PNG\r\n\x1a\n" + bytes(range(56))  # a PNG's signature and 56 more bytes: 64 in all
RECORDER_TYPE = "audio/webm;codecs=opus"  # what Chrome's MediaRecorder says of a voice message (recorder.js)
WORKER_START_SECONDS = 90  # the first task waits for the worker to start (Django, Celery, OCR imports)


@pytest.fixture
def person() -> User:
    return services.create_guest()


@pytest.fixture
def client(person: User) -> Client:
    browser = Client()
    browser.force_login(person)
    return browser


def create(client: Client, size: int, type: str = "image/png", name: str = "photo.png") -> Any:
    return client.post("/api/uploads", {"size": size, "type": type, "name": name}, content_type="application/json")


def send(client: Client, upload_id: str, offset: int, chunk: bytes) -> Any:
    return client.patch(
        f"/api/uploads/{upload_id}",
        chunk,
        content_type="application/offset+octet-stream",
        headers={"Upload-Offset": str(offset)},
    )


def received(upload_id: str) -> bytes:
    """The bytes the server holds, in order."""
    chunks = UploadChunk.objects.filter(upload_id=upload_id).order_by("offset").values_list("data", flat=True)
    return b"".join(bytes(data) for data in chunks)


def error_of(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# --- creating ------------------------------------------------------------------------------------------


def test_an_upload_starts_at_offset_zero(client: Client) -> None:
    response = create(client, 1000)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["size"], body["offset"]) == (1000, 0)
    assert response["Location"] == f"/api/uploads/{body['id']}"
    asked = client.get(f"/api/uploads/{body['id']}")
    assert (asked.status_code, asked.json()["offset"], asked["Upload-Offset"]) == (200, 0, "0")


@pytest.mark.parametrize(
    ("size", "type", "name", "status", "code"),
    [
        (20 * 2**20 + 1, "image/jpeg", "big.jpg", 413, "file_too_large"),  # past the photo cap, declared
        (1000, "application/pdf", "notes.pdf", 415, "unsupported_file_type"),
        (1000, "", "archive.zip", 415, "unsupported_file_type"),
        (0, "image/png", "empty.png", 400, "invalid_frame"),
    ],
)
def test_what_cannot_be_a_photo_or_voice_message_is_refused_at_creation(
    client: Client, size: int, type: str, name: str, status: int, code: str
) -> None:
    assert error_of(create(client, size, type, name)) == (status, code)
    assert not ResumableUpload.objects.exists()


def test_the_voice_cap_applies_to_audio(client: Client, settings: Settings) -> None:
    settings.MEDIA_VOICE_MAX_BYTES = 1000
    assert error_of(create(client, 1001, "audio/ogg", "voice.ogg")) == (413, "file_too_large")
    assert create(client, 1001, "image/png").status_code == 201


def test_a_recording_declared_by_its_recorders_type_alone_is_a_voice_message(
    client: Client, settings: Settings
) -> None:
    settings.MEDIA_VOICE_MAX_BYTES = 5000  # a photo of this size would pass: the voice cap is the one applied
    settings.MEDIA_PHOTO_MAX_BYTES = 10_000

    created = create(client, 4000, RECORDER_TYPE, "")
    too_long = create(client, 5001, RECORDER_TYPE, "")

    assert created.status_code == 201, created.content
    assert ResumableUpload.objects.get(pk=created.json()["id"]).kind == Kind.AUDIO
    assert error_of(too_long) == (413, "file_too_large")
    assert error_of(create(client, 4000, "", "")) == (415, "unsupported_file_type")  # a recorder that names no type


def test_a_person_keeps_a_few_unfinished_uploads_and_the_oldest_goes(client: Client) -> None:
    ids = [create(client, 100).json()["id"] for _ in range(MAX_OPEN_UPLOADS + 1)]

    assert client.get(f"/api/uploads/{ids[0]}").status_code == 404
    assert all(client.get(f"/api/uploads/{upload_id}").status_code == 200 for upload_id in ids[1:])


# --- sending ----------------------------------------------------------------------------------------------


def test_chunks_at_the_offset_are_received_in_order(client: Client) -> None:
    data = PNG_HEAD + b"a" * 100 + b"b" * 36
    upload_id = create(client, len(data)).json()["id"]

    first = send(client, upload_id, 0, data[:100])
    second = send(client, upload_id, 100, data[100:])

    assert (first.status_code, first.json()["offset"], first["Upload-Offset"]) == (200, 100, "100")
    assert (second.status_code, second.json()["offset"]) == (200, 200)
    assert received(upload_id) == data
    assert client.get(f"/api/uploads/{upload_id}").json()["offset"] == 200


def test_a_chunk_at_another_offset_is_a_409_naming_the_servers(client: Client) -> None:
    data = PNG_HEAD + b"x" * 136
    upload_id = create(client, len(data)).json()["id"]
    send(client, upload_id, 0, data[:100])

    ahead = send(client, upload_id, 150, data[150:])
    again = send(client, upload_id, 0, data[:100])  # a retry whose first answer was lost

    for response in (ahead, again):
        assert error_of(response) == (409, "upload_offset_mismatch")
        assert response["Upload-Offset"] == "100"
        assert "100 bytes" in response.json()["error"]["detail"]
    assert received(upload_id) == data[:100]  # the first bytes were received once


def test_a_png_called_a_voice_message_is_refused_at_its_first_chunk(client: Client) -> None:
    photo = text_photo(["not a voice"])
    upload_id = create(client, len(photo), "", "voice.ogg").json()["id"]

    response = send(client, upload_id, 0, photo[:256])

    assert error_of(response) == (415, "file_type_mismatch")
    assert not ResumableUpload.objects.exists()
    assert not UploadChunk.objects.exists()
    assert client.get(f"/api/uploads/{upload_id}").status_code == 404  # the rest is never asked for


def test_bytes_that_are_no_photo_are_refused_as_soon_as_they_arrive(client: Client) -> None:
    upload_id = create(client, 1000, "image/png").json()["id"]

    assert error_of(send(client, upload_id, 0, b"%PDF-1.7\n" + b"0" * 100)) == (415, "unsupported_file_type")
    assert not ResumableUpload.objects.exists()


def test_first_bytes_in_small_chunks_are_judged_once_there_are_enough(client: Client) -> None:
    upload_id = create(client, 1000, "audio/ogg", "voice.ogg").json()["id"]

    assert send(client, upload_id, 0, PNG_HEAD[:8]).status_code == 200  # 8 bytes say nothing yet
    assert error_of(send(client, upload_id, 8, PNG_HEAD[8:])) == (415, "file_type_mismatch")


def test_bytes_past_the_declared_size_are_refused_and_the_upload_removed(client: Client) -> None:
    upload_id = create(client, 100).json()["id"]

    assert error_of(send(client, upload_id, 0, PNG_HEAD + b"z" * 37)) == (413, "file_too_large")
    assert not ResumableUpload.objects.exists()
    assert not UploadChunk.objects.exists()


def test_a_chunk_needs_its_offset_bytes_and_a_bounded_size(client: Client) -> None:
    upload_id = create(client, 2 * MAX_CHUNK_BYTES).json()["id"]
    no_offset = client.patch(f"/api/uploads/{upload_id}", PNG_HEAD, content_type="application/offset+octet-stream")

    assert error_of(no_offset) == (400, "invalid_frame")
    assert error_of(send(client, upload_id, 0, b"")) == (400, "invalid_frame")
    assert error_of(send(client, upload_id, 0, PNG_HEAD + bytes(MAX_CHUNK_BYTES))) == (413, "body_too_large")
    assert client.get(f"/api/uploads/{upload_id}").json()["offset"] == 0


# --- whose, how long ---------------------------------------------------------------------------------------


def test_another_persons_upload_is_not_found_and_left_alone(client: Client) -> None:
    upload_id = create(client, 1000).json()["id"]
    send(client, upload_id, 0, PNG_HEAD)
    stranger = Client()
    stranger.force_login(services.create_guest())

    assert error_of(stranger.get(f"/api/uploads/{upload_id}")) == (404, "not_found")
    assert error_of(send(stranger, upload_id, 64, b"x" * 10)) == (404, "not_found")
    assert error_of(stranger.post(f"/api/uploads/{upload_id}/finish")) == (404, "not_found")
    assert error_of(stranger.delete(f"/api/uploads/{upload_id}")) == (404, "not_found")
    assert received(upload_id) == PNG_HEAD
    assert error_of(client.get(f"/api/uploads/{uuid.uuid4()}")) == (404, "not_found")


def test_an_expired_upload_is_gone_and_removed_by_the_next_creation(client: Client) -> None:
    upload_id = create(client, 1000).json()["id"]
    send(client, upload_id, 0, PNG_HEAD)
    a_day_later = timezone.now() - timedelta(seconds=1)
    ResumableUpload.objects.filter(pk=upload_id).update(expires_at=a_day_later)  # its 24 hours have passed

    assert error_of(client.get(f"/api/uploads/{upload_id}")) == (404, "not_found")
    assert error_of(send(client, upload_id, 64, b"x")) == (404, "not_found")
    assert UploadChunk.objects.filter(upload_id=upload_id).exists()
    create(client, 1000)
    assert not ResumableUpload.objects.filter(pk=upload_id).exists()
    assert not UploadChunk.objects.filter(upload_id=upload_id).exists()


def test_an_upload_lives_a_day(client: Client) -> None:
    body = create(client, 1000).json()
    expires_in = ResumableUpload.objects.get(pk=body["id"]).expires_at - timezone.now()
    assert timedelta(hours=23, minutes=59) < expires_in <= timedelta(hours=24)


def test_a_given_up_upload_is_removed_with_its_bytes(client: Client) -> None:
    upload_id = create(client, 1000).json()["id"]
    send(client, upload_id, 0, PNG_HEAD)

    assert client.delete(f"/api/uploads/{upload_id}").status_code == 204
    assert not UploadChunk.objects.exists()
    assert client.get(f"/api/uploads/{upload_id}").status_code == 404


def test_finishing_before_every_byte_is_here_is_refused(client: Client) -> None:
    upload_id = create(client, 1000).json()["id"]
    send(client, upload_id, 0, PNG_HEAD)

    response = client.post(f"/api/uploads/{upload_id}/finish")

    assert error_of(response) == (400, "invalid_frame")
    assert "64 of 1000 bytes" in response.json()["error"]["detail"]
    assert not MessageAttachment.objects.exists()


def test_a_finish_no_worker_answers_keeps_the_upload_to_finish_again(client: Client, settings: Settings) -> None:
    settings.MEDIA_WAIT_SECONDS = 0.5  # no `media` worker runs in this test
    data = text_photo(["Gate B22"])
    upload_id = create(client, len(data)).json()["id"]
    send(client, upload_id, 0, data)

    assert error_of(client.post(f"/api/uploads/{upload_id}/finish")) == (503, "worker_unavailable")
    assert received(upload_id) == data  # nothing lost: the same finish may succeed later
    assert ResumableUpload.objects.get(pk=upload_id).status == ResumableUpload.Status.RECEIVING
    assert not MessageAttachment.objects.exists()


# --- finishing (a real `media` worker) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def media_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with running_media_worker(tmp_path_factory.mktemp("media-worker")):
        yield


@pytest.fixture
def patient(media_worker: None, settings: Settings) -> None:
    settings.MEDIA_WAIT_SECONDS = WORKER_START_SECONDS


def uploaded(client: Client, data: bytes, chunk_bytes: int = 4096, type: str = "image/png", name: str = "") -> str:
    upload_id = create(client, len(data), type, name).json()["id"]
    for offset in range(0, len(data), chunk_bytes):
        assert send(client, upload_id, offset, data[offset : offset + chunk_bytes]).status_code == 200
    return upload_id


@pytest.mark.live
def test_a_finished_upload_is_the_attachment_a_one_shot_post_makes(client: Client, patient: None) -> None:
    upload_id = uploaded(client, text_photo(["Platform 7 Coach 12"]))

    first = client.post(f"/api/uploads/{upload_id}/finish")
    second = client.post(f"/api/uploads/{upload_id}/finish")  # its answer was lost: asked again

    assert first.status_code == 201, first.content
    body = first.json()
    assert set(body) == {"id", "kind", "url", "reading", "transcript", "language", "duration"}
    assert body["kind"] == "photo"
    assert "Platform7" in "".join(body["reading"].split())
    assert (second.status_code, second.json()) == (200, body)
    assert MessageAttachment.objects.count() == 1
    assert not UploadChunk.objects.exists()  # only the attachment is kept
    assert client.get(body["url"])["Content-Type"].startswith("image/")
    assert error_of(send(client, upload_id, 0, b"x")) == (409, "upload_offset_mismatch")


@pytest.mark.live
def test_a_photo_that_does_not_decode_is_refused_and_its_upload_removed(client: Client, patient: None) -> None:
    upload_id = uploaded(client, PNG_HEAD + b"\x00" * 5000)

    response = client.post(f"/api/uploads/{upload_id}/finish")

    assert error_of(response) == (422, "broken_file")
    assert not ResumableUpload.objects.exists()
    assert not MessageAttachment.objects.exists()


@pytest.mark.live
def test_a_voice_message_uploaded_in_chunks_is_heard_and_kept(client: Client, patient: None) -> None:
    spoken = synthesize("what is the weather like in paris today", language="en", audio_format=AudioFormat.OGG_OPUS)
    upload_id = uploaded(client, spoken.data, 1024, RECORDER_TYPE)  # the page declares the recorder's type

    finished = client.post(f"/api/uploads/{upload_id}/finish")

    assert finished.status_code == 201, finished.content
    body = finished.json()
    assert (body["kind"], body["reading"], body["language"]) == ("voice", None, "en")
    assert "weather" in body["transcript"].split()
    assert 1.5 < body["duration"] < 6
    assert client.post(f"/api/uploads/{upload_id}/finish").json() == body  # asked again: the same one
    served = client.get(body["url"])
    assert served["Content-Type"] == "audio/ogg"
    assert b"".join(served.streaming_content) == spoken.data  # the recording as it was sent
    assert MessageAttachment.objects.get().kind == MessageAttachment.Kind.VOICE
    assert not UploadChunk.objects.exists()
