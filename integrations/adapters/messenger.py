"""Messenger and Instagram: the same Messenger Platform webhooks (`entry[].messaging[]`) and Send API
(`POST /{version}/{page or account id}/messages`), with different objects, limits and credentials.

Echoes of our own messages are dropped; read and delivery receipts carry only watermarks about our
own messages, so they are dropped too; deleted messages and reactions are recorded.
"""

from __future__ import annotations

from typing import Any, ClassVar

from assistant.models import Channel
from integrations import conf
from integrations.adapters.base import PayloadError, Wire, validate_payload
from integrations.adapters.meta import MetaAdapter
from integrations.events import Event, EventKind, text_event
from integrations.splitting import TextLimit, characters, utf8_bytes

# --- wire shapes --------------------------------------------------------------------------------


class Party(Wire):
    id: str


class Attachment(Wire):
    type: str


class Message(Wire):
    mid: str
    text: str = ""
    attachments: list[Attachment] = []
    is_echo: bool = False
    is_deleted: bool = False
    is_unsupported: bool = False


class Postback(Wire):
    mid: str = ""
    title: str = ""
    payload: str = ""


class Reaction(Wire):
    mid: str
    action: str = "react"  # or "unreact"
    emoji: str = ""


class Edit(Wire):
    mid: str
    text: str = ""
    num_edit: int = 0


class Messaging(Wire):
    sender: Party
    recipient: Party
    timestamp: int = 0
    message: Message | None = None
    postback: Postback | None = None
    reaction: Reaction | None = None
    message_edit: Edit | None = None


class Entry(Wire):
    id: str = ""
    messaging: list[Messaging] = []


class Payload(Wire):
    object: str
    entry: list[Entry]


# --- adapter --------------------------------------------------------------------------------------


class MessengerAdapter(MetaAdapter):
    app = Channel.MESSENGER
    text_limit = TextLimit(2000, characters)
    typing_lasts_seconds = 20  # Meta: typing_on ends after 20 seconds or with the next message
    webhook_object: ClassVar[str] = "page"

    @classmethod
    def from_settings(cls) -> MessengerAdapter:
        return cls(conf.integrations_settings().messenger)

    def parse(self, payload: Any) -> list[Event]:
        parsed = validate_payload(Payload, payload)
        if parsed.object != self.webhook_object:
            raise PayloadError(f"object is {parsed.object!r}, expected {self.webhook_object!r}")
        return [event for entry in parsed.entry for item in entry.messaging if (event := self._event(item)) is not None]

    def _event(self, item: Messaging) -> Event | None:
        person = item.sender.id
        fields = {"app": self.app, "chat_id": person, "sender_id": person, "reply_to": person}
        if (message := item.message) is not None:
            return self._message_event(message, fields)
        if (postback := item.postback) is not None:
            key = postback.mid or f"postback:{person}:{item.timestamp}"
            return text_event(key=key, message_id=postback.mid, text=postback.title or postback.payload, **fields)
        if (edit := item.message_edit) is not None:
            return text_event(key=f"edit:{edit.mid}:{edit.num_edit}", message_id=edit.mid, text=edit.text, **fields)
        if (reaction := item.reaction) is not None:
            key = f"reaction:{reaction.mid}:{person}:{item.timestamp}"
            emoji = reaction.emoji if reaction.action == "react" else ""
            return Event(kind=EventKind.REACTION, key=key, message_id=reaction.mid, detail=emoji, **fields)
        return None  # read and delivery receipts, and anything we do not act on

    def _message_event(self, message: Message, fields: dict[str, Any]) -> Event | None:
        if message.is_echo:
            return None  # our own reply, sent back to us
        ids = {"key": message.mid, "message_id": message.mid}
        if message.is_deleted:
            return Event(kind=EventKind.DELETED, **{**ids, "key": f"deleted:{message.mid}"}, **fields)
        if message.text and not message.is_unsupported:
            return text_event(text=message.text, **ids, **fields)
        kinds = ",".join(a.type for a in message.attachments) or "unsupported"
        return Event(kind=EventKind.UNSUPPORTED, detail=kinds, **ids, **fields)

    # --- sending ------------------------------------------------------------------------------------

    def _send(self, event: Event, fields: dict[str, Any]) -> dict[str, Any]:
        return self.client.post(self.messages_url, {"recipient": {"id": event.reply_to}, **fields})

    def _send_message(self, event: Event, message: dict[str, Any]) -> str:
        return str(self._send(event, {"messaging_type": "RESPONSE", "message": message}).get("message_id", ""))

    def send_text(self, event: Event, text: str, *, quote: bool = False) -> str:
        """`quote` is ignored: these chats are one to one, so every reply already answers the person."""
        return self._send_message(event, {"text": text})

    def send_image(self, event: Event, url: str, caption: str) -> str:
        """The Send API has no image caption: the caption follows as a text message."""
        message_id = self._send_message(event, {"attachment": {"type": "image", "payload": {"url": url}}})
        if caption:
            self.send_text(event, caption)
        return message_id

    def acknowledge(self, event: Event) -> None:
        # One sender action per request.
        self._send(event, {"sender_action": "mark_seen"})
        self.keep_typing(event)

    def keep_typing(self, event: Event) -> None:
        self._send(event, {"sender_action": "typing_on"})


class InstagramAdapter(MessengerAdapter):
    app = Channel.INSTAGRAM
    # Meta: "Message text must be UTF-8 and be a 1000 bytes or less".
    text_limit = TextLimit(1000, utf8_bytes)
    webhook_object = "instagram"

    @classmethod
    def from_settings(cls) -> InstagramAdapter:
        return cls(conf.integrations_settings().instagram)
