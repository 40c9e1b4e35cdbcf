"""Normalised inbound events: what every adapter's `parse` turns an app's webhook payload into.

One delivery can hold many events (Meta batches entries and changes). Each event has a `key` that is
unique within its app and stable across redeliveries (the app's message, status or update id), so
storing events under (app, key) makes ingestion idempotent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from django.db import models

from assistant.models import Channel
from imagine.commands import imagine_prompt

NUL_TEXT = "text with a NUL character"  # an UNSUPPORTED event's detail, answered with the NUL refusal


class EventKind(models.TextChoices):
    TEXT = "text"  # a question to answer (typed text, a button or list choice, a postback, an edit)
    IMAGINE = "imagine"  # "/imagine <prompt>"
    UNSUPPORTED = "unsupported"  # media, location, contacts…: answered with a polite sentence
    STATUS = "status"  # sent / delivered / read / failed, for a message the assistant sent
    REACTION = "reaction"
    DELETED = "deleted"

    @property
    def needs_reply(self) -> bool:
        return self in {EventKind.TEXT, EventKind.IMAGINE, EventKind.UNSUPPORTED}


@dataclass(frozen=True, kw_only=True)
class Event:
    app: Channel
    kind: EventKind
    key: str  # unique within the app, the same in every redelivery
    chat_id: str  # the conversation on the app's side: the person in a 1:1 chat, the group on Telegram
    sender_id: str  # the person, by their most stable id (WhatsApp: the business-scoped user id)
    reply_to: str  # where replies go: a phone number, a business-scoped id, a page-scoped id, a chat id
    message_id: str = ""  # the app's id of the message (read receipts, threading the reply)
    sender_name: str = ""
    text: str = ""  # TEXT: the question; IMAGINE: the prompt
    detail: str = ""  # UNSUPPORTED: the content type; STATUS: the status; REACTION: the emoji
    error_code: str = ""  # STATUS failed: the app's error code
    legacy_sender_id: str = ""  # WhatsApp: the phone number a sender was known by before their BSUID
    callback_query_id: str = ""  # Telegram: the pressed button to answer

    def as_json(self) -> dict[str, Any]:
        """The event as stored; a NUL in a name or id (PostgreSQL cannot store one) becomes U+FFFD."""
        return {name: _storable(value) for name, value in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(**{**data, "app": Channel(data["app"]), "kind": EventKind(data["kind"])})


def _storable(value: Any) -> Any:
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


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
