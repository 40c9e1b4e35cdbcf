"""Messenger and Instagram: the same Messenger Platform webhooks (`entry[].messaging[]`) and Send API
(`POST /{version}/{page or account id}/messages`), with different objects, limits and credentials.

Each `messaging` item is one event, parsed on its own. Messages, postbacks and edits are questions, and
so is a message whose first attachment is an `image` (not a sticker) or an `audio` clip, downloaded
from the attachment's own URL (without the page token: it is a signed CDN link);
deletions and reactions are recorded against the message they name; echoes of our own messages,
read and delivery receipts, and events the assistant does not act on (`app_roles`,
`policy-enforcement`, `optin`, …, which may have no `sender`) are stored as ignored, with the name
of the event as the reason.

Voice replies are uploaded with the Attachment Upload API (`POST /{version}/me/message_attachments`,
multipart `message` and `filedata`, answering `{"attachment_id"}`) and sent as an `audio` attachment
by that id.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from assistant.models import Channel
from integrations import conf
from integrations.adapters.base import PayloadError, Wire, parse_each, unusable_answer, validate_payload
from integrations.adapters.meta import MetaAdapter, read_graph_error
from integrations.delivery import ApiClient
from integrations.events import Event, EventKind, ignored_event, malformed_event, media_event, text_event
from integrations.splitting import TextLimit, characters, utf8_bytes
from media.voice import AudioFormat

ANSWERED_FIELDS = ("message", "postback", "message_edit", "reaction")  # the fields of the events acted on
ENVELOPE_FIELDS = frozenset({"sender", "recipient", "timestamp"})
MEDIA_KINDS = {"image": EventKind.PHOTO, "audio": EventKind.VOICE}  # attachments the assistant reads

# --- wire shapes --------------------------------------------------------------------------------


class Party(Wire):
    id: str


class AttachmentPayload(Wire):
    url: str = ""
    sticker_id: int | None = None  # a sticker comes as an `image` with this


class Attachment(Wire):
    type: str  # image, audio, video, file, location, fallback, share, ig_reel…
    payload: AttachmentPayload | None = None

    @property
    def kind(self) -> str:
        """The content as the reply names it: a sticker is not a photo, a `file` is a document."""
        if self.payload is not None and self.payload.sticker_id is not None:
            return "sticker"
        return "document" if self.type == "file" else self.type

    @property
    def url(self) -> str:
        return self.payload.url if self.payload is not None else ""


class Message(Wire):
    mid: str
    text: str | None = None
    attachments: list[Attachment] = []
    is_echo: bool = False
    is_deleted: bool = False
    is_unsupported: bool = False


class Postback(Wire):
    mid: str = ""
    title: str | None = None  # null for some buttons: the payload is the text then
    payload: str | None = None


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
    messaging: list[Any] = []  # parsed one by one
    standby: list[Any] = []  # events of a thread another app controls (handover protocol)


class Payload(Wire):
    object: str
    entry: list[Entry]


def _event_name(item: dict[str, Any]) -> str:
    """The field that says what a `messaging` item is: `message`, `read`, `app_roles`…"""
    acted_on = next((name for name in ANSWERED_FIELDS if name in item), None)
    return acted_on or next((name for name in item if name not in ENVELOPE_FIELDS), "empty")


def _sender_id(item: Any) -> str:
    sender = item.get("sender") if isinstance(item, dict) else None
    return str(sender.get("id", "")) if isinstance(sender, dict) else ""


# --- adapter --------------------------------------------------------------------------------------


class MessengerAdapter(MetaAdapter):
    app = Channel.MESSENGER
    text_limit = TextLimit(2000, characters)
    typing_lasts_seconds = 20  # Meta: typing_on ends after 20 seconds or with the next message
    # Meta takes any file "up to 25MB" whose Content-Type is audio, naming audio/mp3 as the example.
    voice_format = AudioFormat.MP3
    voice_file: ClassVar[tuple[str, str]] = ("reply.mp3", "audio/mpeg")  # file name, content type
    upload_fields: ClassVar[dict[str, str]] = {}  # form fields an upload adds for this app
    webhook_object: ClassVar[str] = "page"

    @classmethod
    def from_settings(cls) -> MessengerAdapter:
        return cls(conf.integrations_settings().messenger)

    def parse(self, payload: Any) -> list[Event]:
        try:
            parsed = validate_payload(Payload, payload)
            if parsed.object != self.webhook_object:
                raise PayloadError(f"object is {parsed.object!r}, expected {self.webhook_object!r}")
        except PayloadError as exc:
            return [malformed_event(self.app, exc, payload)]
        events: list[Event] = []
        for entry in parsed.entry:
            events += parse_each(self.app, entry.messaging, self._item_events)
            events += [ignored_event(self.app, "standby", item, sender_id=_sender_id(item)) for item in entry.standby]
        return events

    def _item_events(self, item: Any) -> list[Event]:
        if not isinstance(item, dict):
            raise PayloadError(f"a messaging event is {type(item).__name__}, not an object")
        name = _event_name(item)
        if name not in ANSWERED_FIELDS:  # receipts, app_roles, policy-enforcement, optin, referral…
            return [ignored_event(self.app, name, item, sender_id=_sender_id(item))]
        parsed = validate_payload(Messaging, item)
        if parsed.message is not None and parsed.message.is_echo:  # our own reply, sent back to us
            return [ignored_event(self.app, "echo", item, sender_id=parsed.recipient.id)]
        return [self._event(parsed)]

    def _event(self, item: Messaging) -> Event:
        person = item.sender.id
        fields = {"app": self.app, "chat_id": person, "sender_id": person, "reply_to": person}
        if (message := item.message) is not None:
            return self._message_event(message, fields)
        if (postback := item.postback) is not None:
            key = postback.mid or f"postback:{person}:{item.timestamp}"
            text = postback.title or postback.payload or ""
            return text_event(key=key, message_id=postback.mid, text=text, **fields)
        if (edit := item.message_edit) is not None:
            key = f"edit:{edit.mid}:{edit.num_edit}"
            return text_event(key=key, message_id=edit.mid, original_id=edit.mid, text=edit.text, **fields)
        if (reaction := item.reaction) is not None:
            key = f"reaction:{reaction.mid}:{person}:{item.timestamp}"
            emoji = reaction.emoji if reaction.action == "react" else ""
            return Event(kind=EventKind.REACTION, key=key, original_id=reaction.mid, detail=emoji, **fields)
        raise PayloadError(f"{', '.join(ANSWERED_FIELDS)}: all null")

    def _message_event(self, message: Message, fields: dict[str, Any]) -> Event:
        ids = {"key": message.mid, "message_id": message.mid}
        if message.is_deleted:
            key = f"deleted:{message.mid}"
            return Event(kind=EventKind.DELETED, original_id=message.mid, **{**ids, "key": key}, **fields)
        if message.text and not message.is_unsupported:
            return text_event(text=message.text, **ids, **fields)
        first = message.attachments[0] if message.attachments else None
        if first is not None and first.url and (kind := MEDIA_KINDS.get(first.kind)) is not None:
            return media_event(kind, media=first.url, caption=message.text or "", **ids, **fields)
        kinds = ",".join(a.kind for a in message.attachments) or "unsupported"
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

    def send_voice(self, event: Event, audio: bytes) -> str:
        """Uploaded first, then sent as an `audio` attachment by the id the upload answered."""
        attachment = {"type": "audio", "payload": {"attachment_id": self._upload_audio(audio)}}
        return self._send_message(event, {"attachment": attachment})

    def _upload_audio(self, audio: bytes) -> str:
        """The attachment id of `audio`, uploaded as reusable: Meta sends an upload to recipients only
        then (the id lapses after 90 days; each reply uploads its own). `me` is the token's Page, which
        owns the upload even where the sender id names an Instagram account."""
        message = {"attachment": {"type": "audio", "payload": {"is_reusable": True}}}
        name, content_type = self.voice_file
        uploaded = self.client.post_file(
            f"{self.graph_url}/me/message_attachments",
            {**self.upload_fields, "message": json.dumps(message)},
            {"filedata": (name, audio, content_type)},
        )
        attachment_id = uploaded.get("attachment_id")
        if not isinstance(attachment_id, str) or not attachment_id:
            raise unusable_answer(self.app, "attachment upload: no attachment_id in the answer")
        return attachment_id

    def media_url(self, event: Event) -> str:
        return event.media  # the attachment's URL, as the webhook gave it

    @property
    def media_client(self) -> ApiClient:
        """Attachments are signed CDN links: fetched without the page's token, which stays with the Graph API."""
        return ApiClient(self.app, read_graph_error)

    def acknowledge(self, event: Event) -> None:
        # One sender action per request.
        self._send(event, {"sender_action": "mark_seen"})
        self.keep_typing(event)

    def keep_typing(self, event: Event) -> None:
        self._send(event, {"sender_action": "typing_on"})


class InstagramAdapter(MessengerAdapter):
    """Voice replies: Meta's Instagram upload page lets audio (and video, not images) be uploaded from
    a server with `platform=instagram`, and lists audio as "aac, m4a, wav, mp4", up to 25MB: hence
    M4A, MP3 not being listed. That page words the send of an uploaded file as a `MEDIA_SHARE` with
    `payload.id`, the shape of a shared post; the reply uses the Messenger Platform's `audio`
    attachment by `attachment_id`, which the same Send API documents for uploaded files."""

    app = Channel.INSTAGRAM
    # Meta: "Message text must be UTF-8 and be a 1000 bytes or less".
    text_limit = TextLimit(1000, utf8_bytes)
    voice_format = AudioFormat.M4A
    voice_file = ("reply.m4a", "audio/mp4")
    upload_fields = {"platform": "instagram"}
    webhook_object = "instagram"

    @classmethod
    def from_settings(cls) -> InstagramAdapter:
        return cls(conf.integrations_settings().instagram)
