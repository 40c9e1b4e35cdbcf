"""Photos and voice notes sent in the messaging apps: downloaded from the app with the caps of
media/intake.py (streamed, judged by content, stopped just past the size cap), read on the `media`
worker (a photo cleaned and read, a voice note transcribed: this process decodes nothing; the cleaned
photo goes with its reading, for a vision model), and the
sentence, in the person's language, for each refusal and for each kind of message not read yet.

Nothing is stored before every check has passed: a refused file leaves no message behind. What passed
is kept with the person's message (`SentMedia`: the cleaned photo, or the recording as sent).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from assistant.chat.attachments import MessageAttachment, store
from assistant.door import Attachment, AttachmentKind
from assistant.models import User
from core.errors import AssistantError, ErrorCode
from core.event_loop import run_sync
from integrations.adapters import MessagingAdapter
from integrations.events import Event, EventKind
from media.conf import media_settings
from media.intake import Kind, MediaType, read_capped
from media.service import hear_voice_on_worker, prepare_photo_on_worker

# The app's names of what the assistant cannot read yet (WhatsApp `type`, Telegram's message field,
# Messenger's attachment `type`), grouped by the sentence each gets.
_VIDEO = frozenset({"video", "video_note", "animation", "ig_reel", "reel"})
_LOCATION = frozenset({"location", "venue"})
_CONTACT = frozenset({"contacts", "contact"})


@dataclass(frozen=True)
class SentMedia:
    """A photo or a voice note as read: the turn's attachment, and the file kept with the message."""

    attachment: Attachment
    data: bytes = field(repr=False)  # the cleaned photo (no EXIF, no location), or the recording as sent
    media_type: str
    seconds: float | None = None  # voice: its length

    def keep(self, *, owner: User, client_id: str) -> MessageAttachment:
        """Stored for `owner` under the message's client id (a re-run of the reply finds it again)."""
        turn = self.attachment
        photo = turn.kind is AttachmentKind.PHOTO
        return store(
            owner=owner,
            kind=MessageAttachment.Kind.PHOTO if photo else MessageAttachment.Kind.VOICE,
            data=self.data,
            media_type=self.media_type,
            reading=turn.reading,
            photo_text=turn.photo_text,
            language=turn.language,
            language_detected=turn.language_detected,
            duration=self.seconds,
            client_id=client_id,
        )


def read_attachment(event: Event, adapter: MessagingAdapter, *, language: str) -> SentMedia:
    """The photo's reading or the voice note's transcript (`language`: the person's, a hint for the
    recogniser), with the file to keep. Raises the intake's and the worker's AssistantErrors, and
    SendError when the app refuses the download."""
    kind = Kind.PHOTO if event.kind == EventKind.PHOTO else Kind.AUDIO
    data, media_type = _download(event, adapter, kind)
    if kind is Kind.PHOTO:
        photo = run_sync(prepare_photo_on_worker(data, declared=media_type.mime))
        printed = "\n".join(line.text for line in photo.reading.lines)
        attachment = Attachment(
            AttachmentKind.PHOTO,
            photo.reading.description(),
            photo_text=printed,
            image=photo.data,
            image_type=photo.media_type.mime,
        )
        return SentMedia(attachment, photo.data, photo.media_type.mime)
    heard = run_sync(hear_voice_on_worker(data, declared=media_type.mime, language=language or None))
    if not heard.text.strip():
        raise AssistantError(ErrorCode.EMPTY_TEXT, "No words were heard in the voice note.")
    attachment = Attachment(
        AttachmentKind.VOICE, heard.text.strip(), language=heard.language, language_detected=heard.language_detected
    )
    return SentMedia(attachment, data, media_type.mime, heard.seconds)


def _download(event: Event, adapter: MessagingAdapter, kind: Kind) -> tuple[bytes, MediaType]:
    """The file, read with the caps of its kind, checked against the type the app declared."""
    with adapter.media_client.stream(adapter.media_url(event)) as chunks:
        return read_capped(chunks, kind, declared=event.media_type)


def refusal_sentence(error: AssistantError, kind: EventKind) -> str:
    """What the person is told when their photo or voice note cannot be read, in the active language."""
    photo = kind == EventKind.PHOTO
    limits = media_settings()
    match error.code:
        case ErrorCode.FILE_TOO_LARGE:
            megabytes = f"{(limits.photo_max_bytes if photo else limits.voice_max_bytes) / 2**20:g}"
            return _("That file is larger than %(megabytes)s MB, so I could not open it.") % {"megabytes": megabytes}
        case ErrorCode.FILE_TYPE_MISMATCH | ErrorCode.UNSUPPORTED_FILE_TYPE:
            if photo:
                return _("I could not open that as a photo: please send a JPEG, PNG, GIF or WebP picture.")
            return _("I could not open that as a voice note: please record it again in the app.")
        case ErrorCode.IMAGE_TOO_MANY_PIXELS:
            return _("That photo has too many pixels for me to read: please send a smaller one.")
        case ErrorCode.BROKEN_FILE:
            return _("That file seems damaged or incomplete, so I could not open it. Could you send it again?")
        case ErrorCode.AUDIO_TOO_LONG:
            minutes = int(limits.voice_max_seconds // 60)
            return _("Your voice note is longer than %(minutes)d minutes: please send a shorter one.") % {
                "minutes": minutes
            }
        case ErrorCode.EMPTY_TEXT:
            return _("I could not make out any words in your voice note. Could you say it again, or type it?")
    return _(
        "I cannot look at photos or listen to voice notes right now. Please try again later, or type your question."
    )


def download_failed_sentence() -> str:
    return _("I could not download what you sent. Could you send it again?")


def unsupported_sentence(detail: str) -> str:
    """The sentence for a kind of message the assistant cannot read yet (`detail`: the app's name of
    it; Messenger lists every attachment, the first decides)."""
    content = detail.split(",")[0]
    if content == "sticker":
        return _("I cannot see stickers yet. Send me a photo, a voice note or a message instead.")
    if content in _VIDEO:
        return _("I cannot watch videos yet. Send me a photo or a voice note, or type your question.")
    if content == "document":
        return _("I cannot read documents sent here yet. Send a photo of the page, or type your question.")
    if content in _LOCATION:
        return _("I cannot use shared locations yet. Type the place you mean, and I will help.")
    if content in _CONTACT:
        return _("I cannot read shared contacts yet. Type what you would like to know.")
    return _("I cannot read this kind of message yet. Send me text, a photo or a voice note instead.")
