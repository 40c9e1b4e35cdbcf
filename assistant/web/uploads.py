"""Resumable uploads of photos and voice messages from the web chat (docs/protocol.md, "Resumable
uploads"; docs/subsystems/media.md).

A small protocol in tus 1.0's manner on the REST error shape: the browser creates an upload (declared
size, type and name, checked against the media caps at once), sends its bytes in chunks at an offset
(`PATCH` with `Upload-Offset`; a wrong offset is a 409 carrying the server's offset in the same header),
asks the offset after a reload (`GET`), and finishes it: the bytes go to `store_upload`, exactly as a
one-shot `POST /api/attachments`, and the answer is the same attachment.

The received bytes are rows of the database, one per chunk, written in the same transaction as the new
offset: every web process sees them (a temporary folder is per process, or per pod), and a chunk is
either wholly received or not at all. The first bytes are sniffed as soon as they arrive, so a PNG named
`.ogg` is refused before the rest is sent. A refused upload is removed with its bytes; a finished one
drops its bytes and keeps only its attachment, so finishing again answers the same attachment. Uploads
expire after UPLOAD_LIFETIME; expired ones are removed whenever someone creates an upload.
"""

from __future__ import annotations

import mimetypes
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from django.db import models, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field

from assistant.chat.attachments import MessageAttachment
from assistant.models import User
from assistant.web.attachments import attachment_shape, store_upload
from core.errors import DEPENDENCY_ERRORS, AssistantError, ErrorCode
from core.http import json_api, method_not_allowed, parse_body, refusal, shape_response
from core.limits import count_upload
from media.conf import media_settings
from media.intake import SNIFF_BYTES, Kind, accept

UPLOAD_LIFETIME = timedelta(hours=24)
MAX_CHUNK_BYTES = 2**20  # the browser sends 256 KiB; a larger body is refused before it is read
MAX_OPEN_UPLOADS = 3  # per person: creating one more drops the oldest unfinished one
FINISH_POLL_SECONDS = 0.25  # a second `finish` waits for the first one's attachment at this pace
OFFSET_HEADER = "Upload-Offset"
NOT_FOUND_DETAIL = "That upload does not exist or has expired: choose the file again."
# A refusal that says nothing about the file: the same finish may succeed later.
_PASSING_REFUSALS = frozenset({ErrorCode.WORKER_UNAVAILABLE, ErrorCode.SERVICE_UNAVAILABLE})


class ResumableUpload(models.Model):
    """A photo or voice message on its way, chunk by chunk, to becoming its owner's MessageAttachment."""

    class Status(models.TextChoices):
        RECEIVING = "receiving"
        FINISHING = "finishing"  # one request is having it read; a second finish waits for it
        FINISHED = "finished"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="resumable_uploads")
    kind = models.CharField(max_length=8, choices=[(kind.value, kind.value) for kind in Kind])
    declared = models.CharField(max_length=255)  # the type, else the name: checked against the content
    size = models.PositiveBigIntegerField()
    offset = models.PositiveBigIntegerField(default=0)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RECEIVING)
    finishing_since = models.DateTimeField(null=True, blank=True)
    attachment = models.OneToOneField(
        MessageAttachment, on_delete=models.SET_NULL, null=True, blank=True, related_name="upload"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        app_label = "assistant"
        indexes = [models.Index(fields=["expires_at"], name="upload_expiry")]
        constraints = [
            models.CheckConstraint(condition=models.Q(offset__lte=models.F("size")), name="offset_within_size")
        ]


class UploadChunk(models.Model):
    """Bytes of an upload from `offset` on; an offset is received once (the unique constraint)."""

    upload = models.ForeignKey(ResumableUpload, on_delete=models.CASCADE, related_name="chunks")
    offset = models.PositiveBigIntegerField()
    data = models.BinaryField()

    class Meta:
        app_label = "assistant"
        constraints = [models.UniqueConstraint(fields=["upload", "offset"], name="one_chunk_per_offset")]


# --- wire shapes ----------------------------------------------------------------------------------


class UploadBody(BaseModel):
    """POST /api/uploads: what the browser says of the file; its bytes decide in the end."""

    model_config = ConfigDict(extra="forbid")
    size: int = Field(gt=0)
    type: str = Field("", max_length=100)  # the file's content type, as the browser gives it
    name: str = Field("", max_length=255)


class UploadOut(BaseModel):
    """An upload: `offset` bytes of `size` received; send the next chunk at `offset`."""

    id: uuid.UUID
    size: int
    offset: int
    expires_at: datetime


class OffsetMismatch(AssistantError):
    """A chunk sent at another offset than the server's, which the 409 carries in `Upload-Offset`."""

    def __init__(self, offset: int) -> None:
        super().__init__(
            ErrorCode.UPLOAD_OFFSET_MISMATCH, f"The server has {offset} bytes of this upload: send from there."
        )
        self.offset = offset


# --- services -----------------------------------------------------------------------------------


def create_upload(*, owner: User, size: int, content_type: str, name: str) -> ResumableUpload:
    """A new upload of a photo or a voice message of `size` bytes. Raises UNSUPPORTED_FILE_TYPE when
    neither the type nor the name says photo or audio, FILE_TOO_LARGE past that kind's cap."""
    declared = content_type if content_type.startswith(("image/", "audio/")) else name
    kind = _declared_kind(declared)
    limits = media_settings()
    cap = limits.photo_max_bytes if kind is Kind.PHOTO else limits.voice_max_bytes
    if size > cap:
        raise AssistantError(ErrorCode.FILE_TOO_LARGE, f"The {kind} is larger than {cap / 2**20:g} MB.")
    now = timezone.now()
    ResumableUpload.objects.filter(expires_at__lte=now).delete()
    _drop_oldest_open(owner)
    return ResumableUpload.objects.create(
        owner=owner, kind=kind, declared=declared, size=size, expires_at=now + UPLOAD_LIFETIME
    )


def _declared_kind(declared: str) -> Kind:
    mime = declared if "/" in declared else mimetypes.guess_type(f"x{Path(declared).suffix}")[0] or ""
    kind = {"image": Kind.PHOTO, "audio": Kind.AUDIO}.get(mime.split("/")[0])
    if kind is None:
        raise AssistantError(
            ErrorCode.UNSUPPORTED_FILE_TYPE, "Only a photo or a voice message can be uploaded here (say its type)."
        )
    return kind


def _drop_oldest_open(owner: User) -> None:
    unfinished = ResumableUpload.objects.filter(owner=owner).exclude(status=ResumableUpload.Status.FINISHED)
    surplus = list(unfinished.order_by("-created_at").values_list("pk", flat=True)[MAX_OPEN_UPLOADS - 1 :])
    ResumableUpload.objects.filter(pk__in=surplus).delete()


def upload_of(*, owner: User, upload_id: uuid.UUID) -> ResumableUpload:
    """The owner's unexpired upload; anyone else's, an expired one or none is NOT_FOUND."""
    found = ResumableUpload.objects.filter(pk=upload_id, owner=owner, expires_at__gt=timezone.now()).first()
    if found is None:
        raise AssistantError(ErrorCode.NOT_FOUND, NOT_FOUND_DETAIL)
    return found


def receive_chunk(*, owner: User, upload_id: uuid.UUID, offset: int, chunk: bytes) -> ResumableUpload:
    """Keep `chunk` at `offset`. Raises OffsetMismatch when the server has another offset (a chunk sent
    twice is received once); refuses the whole upload, removing it, for bytes past the declared size or
    first bytes that are not the declared kind (FILE_TOO_LARGE, UNSUPPORTED_FILE_TYPE, FILE_TYPE_MISMATCH)."""
    if not chunk:
        raise AssistantError(ErrorCode.INVALID_FRAME, "body: send at least one byte.")
    with transaction.atomic():
        upload = _receiving(owner, upload_id)
        if offset != upload.offset:
            raise OffsetMismatch(upload.offset)
        problem = _problem_with(upload, chunk)
        if problem is None:
            _append(upload, chunk)
        else:
            upload.delete()
    if problem is not None:
        raise problem
    return upload


def _receiving(owner: User, upload_id: uuid.UUID) -> ResumableUpload:
    """The upload, locked for this transaction (PostgreSQL: one chunk at a time)."""
    uploads = ResumableUpload.objects.select_for_update()
    upload = uploads.filter(pk=upload_id, owner=owner, expires_at__gt=timezone.now()).first()
    if upload is None:
        raise AssistantError(ErrorCode.NOT_FOUND, NOT_FOUND_DETAIL)
    if upload.status != ResumableUpload.Status.RECEIVING:
        raise OffsetMismatch(upload.offset)  # all of it is here: nothing more to send
    return upload


def _problem_with(upload: ResumableUpload, chunk: bytes) -> AssistantError | None:
    """Why these bytes are refused, or None: past the declared size, or first bytes of another kind."""
    end = upload.offset + len(chunk)
    if end > upload.size:
        return AssistantError(
            ErrorCode.FILE_TOO_LARGE, f"The file is longer than the {upload.size} bytes declared, so it was not kept."
        )
    if upload.offset < SNIFF_BYTES and (end >= SNIFF_BYTES or end == upload.size):
        head = b"".join(bytes(data) for data in upload.chunks.order_by("offset").values_list("data", flat=True))
        try:
            accept((head + chunk)[:SNIFF_BYTES], Kind(upload.kind), declared=upload.declared)
        except AssistantError as refused:
            return refused
    return None


def _append(upload: ResumableUpload, chunk: bytes) -> None:
    """The chunk and its new offset, in the caller's transaction; a request that moved the offset
    meanwhile (SQLite locks no row) wins, and this one is told the offset."""
    moved = ResumableUpload.objects.filter(pk=upload.pk, offset=upload.offset).update(offset=upload.offset + len(chunk))
    if not moved:
        raise OffsetMismatch(ResumableUpload.objects.get(pk=upload.pk).offset)
    UploadChunk.objects.create(upload=upload, offset=upload.offset, data=chunk)
    upload.offset += len(chunk)


def finish_upload(*, owner: User, upload_id: uuid.UUID) -> tuple[MessageAttachment, bool]:
    """The upload read and kept as a MessageAttachment, and whether this call made it (False: an earlier
    finish did, and this is the same attachment). Raises NOT_FOUND, INVALID_FRAME while bytes are missing,
    and store_upload's refusals, after which the upload is gone (except the worker's being unavailable)."""
    deadline = time.monotonic() + media_settings().wait_seconds + 10
    while True:
        upload = upload_of(owner=owner, upload_id=upload_id)
        if upload.status == ResumableUpload.Status.FINISHED:
            if upload.attachment is None:  # deleted since, with the message it was sent with
                raise AssistantError(ErrorCode.NOT_FOUND, NOT_FOUND_DETAIL)
            return upload.attachment, False
        if upload.offset < upload.size:
            raise AssistantError(
                ErrorCode.INVALID_FRAME, f"The upload has {upload.offset} of {upload.size} bytes: send the rest first."
            )
        if _claim(upload):
            return _read_and_keep(upload), True
        if time.monotonic() > deadline:
            raise AssistantError(ErrorCode.WORKER_UNAVAILABLE, "The file is still being read: try again in a moment.")
        time.sleep(FINISH_POLL_SECONDS)


def _claim(upload: ResumableUpload) -> bool:
    """Whether this request is the one to have it read: a finish whose request died long ago is taken over."""
    abandoned = timezone.now() - timedelta(seconds=media_settings().wait_seconds + 10)
    claimable = models.Q(status=ResumableUpload.Status.RECEIVING) | models.Q(
        status=ResumableUpload.Status.FINISHING, finishing_since__lt=abandoned
    )
    return bool(
        ResumableUpload.objects.filter(claimable, pk=upload.pk).update(
            status=ResumableUpload.Status.FINISHING, finishing_since=timezone.now()
        )
    )


def _read_and_keep(upload: ResumableUpload) -> MessageAttachment:
    try:
        with transaction.atomic():  # the attachment exists only together with the finished upload
            attachment = store_upload(owner=upload.owner, chunks=_bytes_of(upload), declared=upload.declared)
            try:
                upload.chunks.all().delete()
                ResumableUpload.objects.filter(pk=upload.pk).update(
                    status=ResumableUpload.Status.FINISHED, attachment=attachment
                )
            except BaseException:
                attachment.file.delete(save=False)  # its row is rolled back: no file without it
                raise
    except AssistantError as refused:
        if refused.code in _PASSING_REFUSALS:
            _release(upload)
        else:
            upload.delete()
        raise
    except DEPENDENCY_ERRORS:
        _release(upload)
        raise
    return attachment


def _bytes_of(upload: ResumableUpload) -> Iterator[bytes]:
    for chunk_id in upload.chunks.order_by("offset").values_list("pk", flat=True):
        yield bytes(UploadChunk.objects.values_list("data", flat=True).get(pk=chunk_id))


def _release(upload: ResumableUpload) -> None:
    ResumableUpload.objects.filter(pk=upload.pk).update(status=ResumableUpload.Status.RECEIVING, finishing_since=None)


def cancel_upload(*, owner: User, upload_id: uuid.UUID) -> None:
    """The upload and its bytes removed; a finished one's attachment stays (a message may carry it)."""
    upload_of(owner=owner, upload_id=upload_id).delete()


# --- REST views ---------------------------------------------------------------------------------


def _shape(upload: ResumableUpload) -> UploadOut:
    return UploadOut(id=upload.pk, size=upload.size, offset=upload.offset, expires_at=upload.expires_at)


def _with_offset(response: HttpResponse, offset: int) -> HttpResponse:
    response[OFFSET_HEADER] = str(offset)
    return response


@json_api
def upload_collection(request: HttpRequest) -> HttpResponse:
    """POST (JSON {size, type, name}): start an upload."""
    if request.method != "POST":
        return method_not_allowed("POST")
    body = parse_body(request, UploadBody)
    count_upload(request)  # once per upload: its chunks and a retried finish are not counted again
    upload = create_upload(owner=request.user, size=body.size, content_type=body.type, name=body.name)
    response = shape_response(_shape(upload), status=201)
    response["Location"] = f"/api/uploads/{upload.pk}"
    return _with_offset(response, upload.offset)


@json_api
def upload_detail(request: HttpRequest, upload_id: uuid.UUID) -> HttpResponse:
    """GET: how far it got; PATCH (raw bytes, `Upload-Offset`): the next chunk; DELETE: give it up."""
    if request.method == "GET":
        upload = upload_of(owner=request.user, upload_id=upload_id)
        return _with_offset(shape_response(_shape(upload)), upload.offset)
    if request.method == "PATCH":
        return _patch(request, upload_id)
    if request.method == "DELETE":
        cancel_upload(owner=request.user, upload_id=upload_id)
        return HttpResponse(status=204)
    return method_not_allowed("GET, PATCH, DELETE")


def _patch(request: HttpRequest, upload_id: uuid.UUID) -> HttpResponse:
    offset_header = request.headers.get(OFFSET_HEADER, "")
    if not (offset_header.isascii() and offset_header.isdigit()):
        raise AssistantError(ErrorCode.INVALID_FRAME, f"{OFFSET_HEADER}: the byte offset of this chunk is required.")
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_CHUNK_BYTES:  # refused before reading
        raise AssistantError(ErrorCode.BODY_TOO_LARGE, f"Send chunks of at most {MAX_CHUNK_BYTES} bytes.")
    try:
        upload = receive_chunk(owner=request.user, upload_id=upload_id, offset=int(offset_header), chunk=request.body)
    except OffsetMismatch as mismatch:
        return _with_offset(refusal(mismatch), mismatch.offset)
    return _with_offset(shape_response(_shape(upload)), upload.offset)


@json_api
def upload_finish(request: HttpRequest, upload_id: uuid.UUID) -> HttpResponse:
    """POST: every byte is here; read it as `POST /api/attachments` does (201), or again the same (200)."""
    if request.method != "POST":
        return method_not_allowed("POST")
    attachment, made = finish_upload(owner=request.user, upload_id=upload_id)
    return shape_response(attachment_shape(attachment), status=201 if made else 200)
