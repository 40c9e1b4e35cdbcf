"""Photos and voice messages sent from the web chat, and answers read aloud (docs/subsystems/media.md,
"The web chat").

An upload (`POST /api/attachments`) is judged by its bytes with the media caps, then read on the `media`
worker exactly as a messaging app's photo or voice note is (this process decodes nothing), and kept as
a `MessageAttachment` of its owner (assistant/chat/attachments.py: the file in Django's storage). A chat
`message` frame naming it (`attachment_id`) claims it for that message's client id, so it is used once
(a retry of the same message finds it again), and the turn goes through the door with the same
`Attachment` the messaging apps build. The stored user message keeps it, so the thread shows the
picture or the clip after a reload.

`GET /api/messages/<id>/speech` reads an answer aloud (MP3, made on the `media` worker), kept per answer
in `AnswerSpeech` so a second click costs nothing.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from django.db import IntegrityError, models, transaction
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils import translation

from assistant.chat import selectors
from assistant.chat.attachments import MessageAttachment, store
from assistant.chat.attachments import keep_with as keep_with  # the consumer keeps a claimed one with its message
from assistant.door import Attachment, AttachmentKind
from assistant.models import Message, User
from assistant.web.schemas import AttachmentOut
from core.errors import AssistantError, ErrorCode
from core.event_loop import run_sync
from core.http import json_api, method_not_allowed, shape_response
from core.limits import count_upload
from media.conf import media_settings
from media.intake import SNIFF_BYTES, read_capped, sniff
from media.intake import Kind as MediaKind
from media.service import hear_voice_on_worker, prepare_photo_on_worker, speak_on_worker
from media.voice import AudioFormat

MULTIPART_OVERHEAD_BYTES = 64 * 1024  # the form's boundaries and headers around the file
PRIVATE_FILE_SECONDS = 3600  # a stored photo or clip never changes: the browser may keep it this long
NOT_FOUND_DETAIL = "That photo or voice message does not exist."
REFUSED_DETAIL = "That photo or voice message was refused by the safety check, so it was not kept."


def for_turn(attachment: MessageAttachment) -> Attachment:
    """The turn's attachment, the same as a messaging app's photo or voice note."""
    if attachment.kind == MessageAttachment.Kind.PHOTO:
        return Attachment(
            AttachmentKind.PHOTO,
            attachment.reading,
            photo_text=attachment.photo_text,
            image=attachment.read_file(),  # for a vision model (MODEL_VISION_BASE_URL)
            image_type=attachment.media_type,
        )
    return Attachment(
        AttachmentKind.VOICE,
        attachment.reading,
        language=attachment.language,
        language_detected=attachment.language_detected,
    )


class AnswerSpeech(models.Model):
    """An answer read aloud, made once and played as often as asked."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="speech")
    data = models.BinaryField()
    media_type = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "assistant"


def attachment_shape(attachment: MessageAttachment) -> AttachmentOut:
    photo = attachment.kind == MessageAttachment.Kind.PHOTO
    return AttachmentOut(
        id=attachment.pk,
        kind=attachment.kind,
        url=f"/api/attachments/{attachment.pk}/file",
        reading=attachment.reading if photo else None,
        transcript=None if photo else attachment.reading,
        language=None if photo else attachment.language or None,
        duration=attachment.duration,
    )


def attachments_of(message_ids: list[int]) -> dict[int, AttachmentOut]:
    """The attachment of each of these user messages that has one, for the thread."""
    found = MessageAttachment.objects.filter(message_id__in=message_ids, refused=False)
    return {attachment.message_id: attachment_shape(attachment) for attachment in found}


# --- uploads -----------------------------------------------------------------------------------------


def store_upload(*, owner: User, chunks: Iterator[bytes], declared: str) -> MessageAttachment:
    """Sniff, cap and read an upload on the `media` worker; stored only once every check has passed.
    Raises intake's and the worker's AssistantErrors, EMPTY_TEXT for a recording with no words heard."""
    head = b""
    for chunk in chunks:  # enough bytes to know the kind, and so which cap applies
        head += chunk
        if len(head) >= SNIFF_BYTES:
            break
    kind = sniff(head[:SNIFF_BYTES]).kind
    data, media_type = read_capped(itertools.chain([head], chunks), kind, declared=declared)
    if kind is MediaKind.PHOTO:
        photo = run_sync(prepare_photo_on_worker(data, declared=declared))
        return store(
            owner=owner,
            kind=MessageAttachment.Kind.PHOTO,
            data=photo.data,
            media_type=photo.media_type.mime,
            reading=photo.reading.description(),
            photo_text="\n".join(line.text for line in photo.reading.lines),
        )
    heard = run_sync(hear_voice_on_worker(data, declared=declared, language=owner.language or None))
    if not heard.text.strip():
        raise AssistantError(ErrorCode.EMPTY_TEXT, "No words were heard in the voice message: record it again.")
    return store(
        owner=owner,
        kind=MessageAttachment.Kind.VOICE,
        data=data,
        media_type=media_type.mime,
        reading=heard.text.strip(),
        language=heard.language,
        language_detected=heard.language_detected,
        duration=heard.seconds,
    )


def _owned(owner: User, attachment_id: int) -> MessageAttachment:
    try:
        return MessageAttachment.objects.get(pk=attachment_id, owner=owner)
    except MessageAttachment.DoesNotExist:
        raise AssistantError(ErrorCode.NOT_FOUND, NOT_FOUND_DETAIL) from None


# --- a message that carries one ----------------------------------------------------------------------


def claim(*, owner: User, attachment_id: int, client_id: str, text: str) -> MessageAttachment:
    """The owner's attachment, reserved for the message `client_id` (the same message sent again gets
    it again). Raises NOT_FOUND for anyone else's or none, ATTACHMENT_USED once another message has it,
    INVALID_FRAME for typed text sent with a voice message (its words are the message)."""
    with transaction.atomic():
        attachment = _owned(owner, attachment_id)
        MessageAttachment.objects.filter(pk=attachment.pk, client_id__isnull=True).update(client_id=client_id)
        attachment.refresh_from_db(fields=["client_id"])
    if attachment.client_id != client_id:
        raise AssistantError(
            ErrorCode.ATTACHMENT_USED, "That photo or voice message was already sent; attach it again to resend it."
        )
    if attachment.kind == MessageAttachment.Kind.VOICE and text.strip():
        release(attachment)
        raise AssistantError(ErrorCode.INVALID_FRAME, "text: a voice message is sent on its own, without typed text.")
    return attachment


def release(attachment: MessageAttachment) -> None:
    """A claimed attachment whose message was refused (a limit, a quota) can be sent again."""
    MessageAttachment.objects.filter(pk=attachment.pk, message__isnull=True).update(client_id=None)


# --- answers read aloud --------------------------------------------------------------------------------

_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_CITATION = re.compile(r"\[\d+\]")
_MARKUP = re.compile(r"[*_#>`|~]+")
_SENTENCE_END = re.compile(r"[.!?]\s")


def speakable(text: str, max_chars: int) -> str:
    """An answer as words to read: code blocks, citation numbers and markdown signs left out (they are
    on screen), cut after the last whole sentence within `max_chars`."""
    words = _MARKUP.sub("", _CITATION.sub("", _LINK.sub(r"\1", _CODE_BLOCK.sub(" ", text))))
    words = re.sub(r"[ \t]+", " ", words).strip()
    if len(words) <= max_chars:
        return words
    cut = words[:max_chars]
    ends = [match.end() for match in _SENTENCE_END.finditer(cut)]
    return cut[: ends[-1]].strip() if ends else cut


def answer_speech(*, user: User, message_id: int, language: str) -> AnswerSpeech:
    """The answer read aloud as MP3: the kept one, or made on the `media` worker and kept. Raises
    NOT_FOUND (not the person's answer), TURN_IN_PROGRESS (still being written), EMPTY_TEXT (no words)."""
    answer = selectors.answer_for(user=user, message_id=message_id)
    kept = AnswerSpeech.objects.filter(message=answer).first()
    if kept is not None:
        return kept
    if not answer.is_final:
        raise AssistantError(ErrorCode.TURN_IN_PROGRESS, "That answer is still being written: listen once it ends.")
    text = speakable(answer.content, media_settings().speech_max_chars)
    if answer.status == Message.Status.BLOCKED or not text:
        raise AssistantError(ErrorCode.EMPTY_TEXT, "That answer has no words to read aloud.")
    speech = run_sync(speak_on_worker(text, language=language, audio_format=AudioFormat.MP3))
    try:
        return AnswerSpeech.objects.create(message=answer, data=speech.data, media_type=speech.media_type)
    except IntegrityError:  # a second click made it meanwhile: theirs is the same answer read
        return AnswerSpeech.objects.get(message=answer)


# --- REST views ---------------------------------------------------------------------------------------


@json_api
def attachment_collection(request: HttpRequest) -> HttpResponse:
    """POST (multipart, field `file`): a photo or a voice message, read before the answer is stored."""
    if request.method != "POST":
        return method_not_allowed("POST")
    count_upload(request)
    caps = media_settings()
    cap = max(caps.photo_max_bytes, caps.voice_max_bytes)
    if int(request.META.get("CONTENT_LENGTH") or 0) > cap + MULTIPART_OVERHEAD_BYTES:  # refused before reading
        raise AssistantError(ErrorCode.FILE_TOO_LARGE, f"The file is larger than {cap / 2**20:g} MB.")
    if not request.content_type.startswith("multipart/form-data") or "file" not in request.FILES:
        raise AssistantError(
            ErrorCode.INVALID_FRAME, "Send the photo or recording as multipart/form-data in a field named `file`."
        )
    upload = request.FILES["file"]
    # What the browser says it is, checked against the bytes: its type when it names a kind, else the name.
    content_type = upload.content_type or ""
    declared = content_type if content_type.startswith(("image/", "audio/")) else upload.name or ""
    attachment = store_upload(owner=request.user, chunks=iter(upload.chunks()), declared=declared)
    return shape_response(attachment_shape(attachment), status=201)


@json_api
def attachment_file(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    """The photo or the recording itself, to its owner only."""
    if request.method != "GET":
        return method_not_allowed("GET")
    attachment = _owned(request.user, attachment_id)
    if attachment.refused:
        raise AssistantError(ErrorCode.NOT_FOUND, REFUSED_DETAIL)
    return _private(FileResponse(attachment.file.open("rb"), content_type=attachment.media_type))


@json_api
def message_speech(request: HttpRequest, message_id: int) -> HttpResponseBase:
    """One of the person's answers read aloud (MP3)."""
    if request.method != "GET":
        return method_not_allowed("GET")
    language = (request.user.language or translation.get_language() or "en")[:2]
    speech = answer_speech(user=request.user, message_id=message_id, language=language)
    return _private(HttpResponse(bytes(speech.data), content_type=speech.media_type))


def _private(response: HttpResponseBase) -> HttpResponseBase:
    """One of the person's own files: kept by their browser only, never sniffed as another type."""
    response["Cache-Control"] = f"private, max-age={PRIVATE_FILE_SECONDS}"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    return response
