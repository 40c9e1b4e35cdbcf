"""Normalised inbound events: what every adapter's `parse` turns an app's webhook payload into.

One delivery can hold many events (Meta batches entries and changes). Each event has a `key` that is
unique within its app and stable across redeliveries (the app's message, status or update id), so
storing events under (app, key) makes ingestion idempotent. A delivery is parsed event by event: an
event the assistant does not act on, or one not in the shape the app documents, becomes an IGNORED
event that keeps the app's own JSON and says why, and the rest of the delivery is still answered.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from django.db import models

from assistant.models import Channel
from imagine.commands import imagine_prompt

NUL_TEXT = "text with a NUL character"  # an UNSUPPORTED event's detail, answered with the NUL refusal
MALFORMED = "malformed"  # the start of an IGNORED event's reason when the app's JSON is not as documented
_ESCAPED_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")  # `\u0000` in JSON text, not `\\u0000`


class EventKind(models.TextChoices):
    TEXT = "text"  # a question to answer (typed text, a button, list or flow reply, a postback), or an edit of one
    IMAGINE = "imagine"  # "/imagine <prompt>"
    PHOTO = "photo"  # a photo (`media`), with its caption as the question (`text`)
    VOICE = "voice"  # a voice note or another audio file (`media`), transcribed and answered
    UNSUPPORTED = "unsupported"  # stickers, video, documents, location…: answered with a sentence for each
    STATUS = "status"  # sent / delivered / read / failed, for a message the assistant sent
    REACTION = "reaction"  # an emoji on a message (`original_id`); never answered
    DELETED = "deleted"  # the sender revoked a message (`original_id`): its stored text is removed
    IGNORED = "ignored"  # kept as the app sent it (`raw`), with the reason (`detail`); never answered

    @property
    def needs_handling(self) -> bool:
        """Whether the reply task takes the event: to answer it, or to apply it to the message it revokes."""
        return self.is_question or self == EventKind.DELETED

    @property
    def is_question(self) -> bool:
        return self in {EventKind.TEXT, EventKind.IMAGINE, EventKind.PHOTO, EventKind.VOICE, EventKind.UNSUPPORTED}

    @property
    def has_media(self) -> bool:
        return self in {EventKind.PHOTO, EventKind.VOICE}


@dataclass(frozen=True, kw_only=True)
class Event:
    app: Channel
    kind: EventKind
    key: str  # unique within the app, the same in every redelivery
    chat_id: str  # the conversation on the app's side: the person in a 1:1 chat, the group in a group
    sender_id: str  # the person, by their most stable id (WhatsApp: the business-scoped user id)
    reply_to: str  # where replies go: a phone number, a business-scoped id, a page-scoped id, a chat id
    message_id: str = ""  # the app's id of the message (read receipts, threading the reply)
    sender_name: str = ""
    text: str = ""  # TEXT: the question; IMAGINE: the prompt; PHOTO: the caption
    detail: str = ""  # UNSUPPORTED: the content type; STATUS: the status; REACTION: the emoji; IGNORED: why
    # PHOTO, VOICE: the app's handle of the file (a WhatsApp media id, a Telegram file_id, a Messenger or
    # Instagram attachment URL) and the content type the app declared for it ("" when it gave none).
    media: str = ""
    media_type: str = ""
    error_code: str = ""  # STATUS failed: the app's error code
    legacy_sender_id: str = ""  # WhatsApp: the phone number a sender was known by before their BSUID
    callback_query_id: str = ""  # Telegram: the pressed button to answer
    # The app's id of the earlier message this event edits (a question kind), revokes (DELETED) or
    # reacts to (REACTION); empty for a new message.
    original_id: str = ""
    raw: Any = None  # IGNORED: the app's JSON of the event, so that nothing delivered is lost

    @property
    def is_edit(self) -> bool:
        return self.kind.is_question and bool(self.original_id)

    def as_json(self) -> dict[str, Any]:
        """The event as stored; a NUL anywhere (PostgreSQL cannot store one) becomes U+FFFD. Done by
        the C JSON encoder and decoder, not a recursion in Python: `raw` may nest as deep as an
        app's JSON did."""
        text = json.dumps(vars(self))
        return json.loads(_ESCAPED_NUL.sub(r"\1\\ufffd", text))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(**{**data, "app": Channel(data["app"]), "kind": EventKind(data["kind"])})


def text_event(**fields: Any) -> Event:
    """A typed message: `/imagine <prompt>` becomes an IMAGINE event, anything else a TEXT event.
    Text with a NUL character is refused as every surface refuses it (answered with why)."""
    text = str(fields.pop("text")).strip()
    if "\x00" in text:
        return Event(kind=EventKind.UNSUPPORTED, detail=NUL_TEXT, **fields)
    prompt = imagine_prompt(text)
    if prompt is not None:
        return Event(kind=EventKind.IMAGINE, text=prompt, **fields)
    return Event(kind=EventKind.TEXT, text=text, **fields)


def media_event(kind: EventKind, *, media: str, media_type: str = "", caption: str = "", **fields: Any) -> Event:
    """A photo or a voice note; a caption with a NUL character is refused as typed text is."""
    caption = caption.strip()
    if "\x00" in caption:
        return Event(kind=EventKind.UNSUPPORTED, detail=NUL_TEXT, **fields)
    return Event(kind=kind, media=media, media_type=media_type, text=caption, **fields)


def ignored_event(app: Channel, reason: str, raw: Any, *, sender_id: str = "") -> Event:
    """An event kept but not acted on. Its key is a digest of the app's JSON: a redelivery (the same
    bytes) stores nothing new, and two different events never share a key."""
    canonical = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    return Event(
        app=app,
        kind=EventKind.IGNORED,
        key=f"ignored:{digest}",
        chat_id=sender_id,
        sender_id=sender_id,
        reply_to=sender_id,
        detail=reason[:500],
        raw=raw,
    )


def malformed_event(app: Channel, error: Exception, raw: Any) -> Event:
    return ignored_event(app, f"{MALFORMED}: {error}", raw)
