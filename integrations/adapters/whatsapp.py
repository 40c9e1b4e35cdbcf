"""WhatsApp Cloud API: webhooks `entry[].changes[].value` with `messages` and `statuses`, replies with
`POST /{version}/{phone_number_id}/messages`.

Senders are identified by their business-scoped user id (BSUID, `from_user_id` / `contacts[].user_id`)
when Meta sends one; people who adopted a username may come with that id only, no phone number.
Replies go to the phone number when there is one (`to`), as Meta recommends, else to the BSUID
(`recipient`); in a group (a message with `group_id`) they go to the group.

Each change, message and status is parsed on its own. Text, button, list and flow replies are
questions, and so are `image` messages (the caption is the question) and `audio` messages (voice
notes, `voice: true`, and audio files), downloaded by media id (`media_url`); `edit` and `revoke`
messages and reactions name the message they change. In a group, only messages that mention the
business number (`@<display number>`, in the text or a photo's caption) or reply to one of its
messages are kept, as in Telegram groups; the rest of the group's chatter is not stored.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from pydantic import Field

from assistant.models import Channel
from integrations import conf
from integrations.adapters.base import (
    PayloadError,
    Wire,
    parse_each,
    unusable_answer,
    validate_payload,
    without_mention,
)
from integrations.adapters.meta import MetaAdapter
from integrations.events import Event, EventKind, ignored_event, malformed_event, media_event, text_event
from integrations.splitting import TextLimit, characters
from media.voice import AudioFormat

VALUE_FIELDS = frozenset({"messaging_product", "metadata", "contacts", "messages", "statuses"})
# Messages that change an earlier one or carry no content a person sent: never answered "text only".
# An `unsupported` message names its type in `unsupported.type`; edits have come that way too.
NOT_NEW_CONTENT = frozenset({"edit", "revoke", "reaction", "pin", "keep_in_chat", "poll_update", "system",
                             "request_welcome", ""})  # fmt: skip
KEPT_IN_GROUPS_UNADDRESSED = frozenset({"reaction", "revoke"})  # they carry no words, only the message they name

# --- wire shapes --------------------------------------------------------------------------------


class Profile(Wire):
    name: str = ""


class Contact(Wire):
    profile: Profile = Profile()
    wa_id: str = ""
    user_id: str = ""  # BSUID


class Body(Wire):
    body: str


class Choice(Wire):
    id: str = ""
    title: str


class FlowReply(Wire):
    """`nfm_reply`: a completed WhatsApp Flow; its answers are the JSON string `response_json`."""

    name: str = ""
    body: str = ""
    response_json: str = "{}"


class Interactive(Wire):
    type: str
    button_reply: Choice | None = None
    list_reply: Choice | None = None
    nfm_reply: FlowReply | None = None


class Button(Wire):
    text: str
    payload: str = ""


class Reaction(Wire):
    message_id: str
    emoji: str = ""  # absent when the reaction is removed


class Context(Wire):
    id: str = ""  # the message this one replies to
    sender: str = Field("", alias="from")  # who sent that message


class Captioned(Wire):
    caption: str = ""


class MediaFile(Wire):
    """`image` / `audio`: the media id to download, with what Meta says it is."""

    id: str
    mime_type: str = ""
    caption: str = ""  # images
    voice: bool = False  # audio: a voice note recorded in the app, not a file


class EditedMessage(Wire):
    """An edit's new content: a message without an id or a sender of its own."""

    type: str = ""
    text: Body | None = None
    image: Captioned | None = None
    video: Captioned | None = None
    document: Captioned | None = None

    @property
    def words(self) -> str:
        media = self.image or self.video or self.document
        return self.text.body if self.text else media.caption if media else ""


class Edit(Wire):
    original_message_id: str
    message: EditedMessage


class Revoke(Wire):
    original_message_id: str


class UnsupportedType(Wire):
    type: str = ""


class Message(Wire):
    id: str
    type: str
    sender_phone: str = Field("", alias="from")
    from_user_id: str = ""
    group_id: str = ""
    text: Body | None = None
    image: MediaFile | None = None
    audio: MediaFile | None = None
    interactive: Interactive | None = None
    button: Button | None = None
    reaction: Reaction | None = None
    context: Context | None = None
    edit: Edit | None = None
    revoke: Revoke | None = None
    unsupported: UnsupportedType | None = None


class Error(Wire):
    code: int | str
    title: str = ""


class Status(Wire):
    id: str
    status: str  # sent, delivered, read, failed
    recipient_id: str = ""
    recipient_user_id: str = ""
    errors: list[Error] = []


class Metadata(Wire):
    display_phone_number: str = ""


class Value(Wire):
    metadata: Metadata = Metadata()
    contacts: list[Any] = []
    messages: list[Any] = []  # parsed one by one, as are statuses
    statuses: list[Any] = []


class Change(Wire):
    field: str
    value: dict[str, Any]


class Entry(Wire):
    changes: list[Any] = []


class Payload(Wire):
    object: str
    entry: list[Entry]


# --- reading ----------------------------------------------------------------------------------------


def _is_phone_number(address: str) -> bool:
    return address.isdigit()


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def _contacts(raw: list[Any]) -> list[Contact]:
    """The contacts that parse: a contact only adds a name and ids, the message has its sender."""
    contacts = []
    for item in raw:
        try:
            contacts.append(validate_payload(Contact, item))
        except PayloadError:
            continue
    return contacts


def _flow_text(reply: FlowReply) -> str:
    """A flow's answers as `field: value` lines (its flow token left out), else its body ("Sent")."""
    try:
        answers = json.loads(reply.response_json)
    except ValueError:
        answers = None
    if not isinstance(answers, dict):
        return reply.body
    lines = [
        f"{name}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}"
        for name, value in answers.items()
        if name != "flow_token" and value not in ("", None)
    ]
    return "\n".join(lines) or reply.body


def _words(message: Message) -> str | None:
    """The text a question carries: typed, a button, list or flow reply, or an edit's new text."""
    if message.text is not None:
        return message.text.body
    if (interactive := message.interactive) is not None:
        choice = interactive.button_reply or interactive.list_reply
        return choice.title if choice else _flow_text(interactive.nfm_reply) if interactive.nfm_reply else None
    if message.button is not None:
        return message.button.text
    if message.edit is not None:
        return message.edit.message.words or None
    return None


def _media(message: Message) -> tuple[EventKind, MediaFile] | None:
    if message.type == "image" and message.image is not None:
        return EventKind.PHOTO, message.image
    if message.type == "audio" and message.audio is not None:
        return EventKind.VOICE, message.audio
    return None


def _addressed(message: Message, business_number: str) -> bool:
    """Whether a group message is for the assistant: a reply to one of its messages, or a mention
    (in the text, or in a photo's caption)."""
    if message.context is not None and _digits(message.context.sender) == business_number:
        return True
    words = _words(message) or (message.image.caption if message.image else "")
    return bool(business_number) and f"@{business_number}" in words


# --- adapter --------------------------------------------------------------------------------------


class WhatsAppAdapter(MetaAdapter):
    app = Channel.WHATSAPP
    text_limit = TextLimit(4096, characters)
    typing_lasts_seconds = 25  # Cloud API: the typing indicator shows for up to 25 seconds
    voice_format = AudioFormat.OGG_OPUS  # an `audio` message of OGG/Opus shows as a voice note

    @classmethod
    def from_settings(cls) -> WhatsAppAdapter:
        return cls(conf.integrations_settings().whatsapp)

    def parse(self, payload: Any) -> list[Event]:
        try:
            entries = validate_payload(Payload, payload).entry
        except PayloadError as exc:
            return [malformed_event(self.app, exc, payload)]
        return parse_each(self.app, [change for entry in entries for change in entry.changes], self._change_events)

    def _change_events(self, raw: Any) -> list[Event]:
        change = validate_payload(Change, raw)
        if change.field != "messages":  # account, template and phone number updates
            return [ignored_event(self.app, change.field, raw)]
        value = validate_payload(Value, change.value)
        contacts = _contacts(value.contacts)
        business_number = _digits(value.metadata.display_phone_number)

        def message_events(item: Any) -> list[Event]:
            return self._message_events(item, contacts, business_number)

        events = parse_each(self.app, value.messages, message_events)
        events += parse_each(self.app, value.statuses, self._status_events)
        others = [name for name in change.value if name not in VALUE_FIELDS]  # `errors`, and fields added later
        return events + [ignored_event(self.app, name, {name: change.value[name]}) for name in others]

    def _message_events(self, raw: Any, contacts: list[Contact], business_number: str) -> list[Event]:
        message = validate_payload(Message, raw)
        kept_anyway = not message.group_id or message.type in KEPT_IN_GROUPS_UNADDRESSED
        if not (kept_anyway or _addressed(message, business_number)):
            return []  # group chatter not addressed to the assistant: not even stored
        fields = self._fields(message, contacts)
        return [self._message_event(message, fields, raw, business_number)]

    def _fields(self, message: Message, contacts: list[Contact]) -> dict[str, Any]:
        contact = next(
            (c for c in contacts if (c.user_id and c.user_id == message.from_user_id) or
             (c.wa_id and c.wa_id == message.sender_phone)),
            contacts[0] if contacts else Contact(),
        )  # fmt: skip
        bsuid = message.from_user_id or contact.user_id
        phone = message.sender_phone or contact.wa_id
        sender = bsuid or phone
        return {
            "app": self.app,
            "key": message.id,
            "chat_id": message.group_id or sender,
            "sender_id": sender,
            "reply_to": message.group_id or phone or bsuid,
            "message_id": message.id,
            "sender_name": contact.profile.name,
            # A person's own chat follows them from phone number to BSUID; a group's chats are the group's.
            "legacy_sender_id": phone if bsuid and phone and not message.group_id else "",
        }

    def _message_event(self, message: Message, fields: dict[str, Any], raw: Any, business_number: str) -> Event:
        if (words := _words(message)) is not None:
            original_id = message.edit.original_message_id if message.edit else ""
            return text_event(text=without_mention(words, business_number), original_id=original_id, **fields)
        if message.reaction is not None:
            reaction = message.reaction
            return Event(kind=EventKind.REACTION, original_id=reaction.message_id, detail=reaction.emoji, **fields)
        if message.revoke is not None:
            return Event(kind=EventKind.DELETED, original_id=message.revoke.original_message_id, **fields)
        if (media := _media(message)) is not None:
            kind, file = media
            caption = without_mention(file.caption, business_number)
            return media_event(kind, media=file.id, media_type=file.mime_type, caption=caption, **fields)
        return self._without_words(message, fields, raw)

    def _without_words(self, message: Message, fields: dict[str, Any], raw: Any) -> Event:
        """Stickers, video, documents and the like get a sentence each; what is no new content is ignored."""
        unsupported = message.type == "unsupported"
        content = (message.unsupported.type if message.unsupported else "") if unsupported else message.type
        if content in NOT_NEW_CONTENT or message.type in {"interactive", "edit"}:  # these carried no words
            reason = f"unsupported: {content or 'unnamed'}" if unsupported else content
            return ignored_event(self.app, reason, raw, sender_id=fields["sender_id"])
        return Event(kind=EventKind.UNSUPPORTED, detail=content, **fields)

    def _status_events(self, raw: Any) -> list[Event]:
        status = validate_payload(Status, raw)
        recipient = status.recipient_user_id or status.recipient_id
        event = Event(
            app=self.app,
            kind=EventKind.STATUS,
            key=f"{status.id}:{status.status}",  # one message goes through several statuses
            chat_id=recipient,
            sender_id=recipient,
            reply_to=status.recipient_id or recipient,
            message_id=status.id,
            detail=status.status,
            error_code=str(status.errors[0].code) if status.errors else "",
        )
        return [event]

    # --- sending ------------------------------------------------------------------------------------

    def _send(self, event: Event, content: dict[str, Any], quote: bool) -> str:
        body = {"messaging_product": "whatsapp", **_recipient(event), **content}
        if quote and event.message_id:
            body["context"] = {"message_id": event.message_id}
        sent = self.client.post(self.messages_url, body).get("messages") or [{}]
        return str(sent[0].get("id", ""))

    def send_text(self, event: Event, text: str, *, quote: bool = False) -> str:
        return self._send(event, {"type": "text", "text": {"body": text, "preview_url": False}}, quote)

    def send_image(self, event: Event, url: str, caption: str) -> str:
        return self._send(event, {"type": "image", "image": {"link": url, "caption": caption}}, quote=False)

    def send_voice(self, event: Event, audio: bytes) -> str:
        """`POST /{phone-number-id}/media` (multipart: `file`, `type`, `messaging_product`) answers
        `{"id"}`; the voice note is then sent as an `audio` message with that id."""
        fields = {"messaging_product": "whatsapp", "type": "audio/ogg"}
        uploaded = self.client.post_file(
            f"{self.graph_url}/{self.settings.sender_id}/media", fields, {"file": ("reply.ogg", audio, "audio/ogg")}
        )
        media_id = uploaded.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise unusable_answer(self.app, "media upload: no id in the answer")
        return self._send(event, {"type": "audio", "audio": {"id": media_id}}, quote=False)

    def media_url(self, event: Event) -> str:
        """`GET /{version}/{media-id}` answers `{"url", "mime_type", "sha256", "file_size", "id"}`; the URL
        (valid for 5 minutes) is then fetched with the same access token."""
        url = self.client.get(f"{self.graph_url}/{quote(event.media, safe='')}").get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise unusable_answer(self.app, f"media {event.media}: no URL in the answer")
        return url

    def keep_typing(self, event: Event) -> None:
        self.acknowledge(event)  # the Cloud API shows typing only together with a read receipt

    def acknowledge(self, event: Event) -> None:
        """One request marks the message read (blue ticks) and shows typing for up to 25 seconds."""
        self.client.post(
            self.messages_url,
            {
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": event.message_id,
                "typing_indicator": {"type": "text"},
            },
        )


def _recipient(event: Event) -> dict[str, str]:
    if event.chat_id != event.sender_id:
        return {"recipient_type": "group", "to": event.reply_to}
    address = "to" if _is_phone_number(event.reply_to) else "recipient"
    return {"recipient_type": "individual", address: event.reply_to}
