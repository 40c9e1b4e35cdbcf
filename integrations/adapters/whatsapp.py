"""WhatsApp Cloud API: webhooks `entry[].changes[].value` with `messages` and `statuses`, replies with
`POST /{version}/{phone_number_id}/messages`.

Senders are identified by their business-scoped user id (BSUID, `from_user_id` / `contacts[].user_id`)
when Meta sends one; people who adopted a username may come with that id only, no phone number.
Replies go to the phone number when there is one (`to`), as Meta recommends, else to the BSUID
(`recipient`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from assistant.models import Channel
from integrations import conf
from integrations.adapters.base import Wire, validate_payload
from integrations.adapters.meta import MetaAdapter
from integrations.events import Event, EventKind, text_event
from integrations.splitting import TextLimit, characters

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


class Interactive(Wire):
    type: str
    button_reply: Choice | None = None
    list_reply: Choice | None = None


class Button(Wire):
    text: str
    payload: str = ""


class Reaction(Wire):
    message_id: str
    emoji: str = ""  # absent when the reaction is removed


class Context(Wire):
    id: str = ""  # the message this one replies to


class Message(Wire):
    id: str
    type: str
    sender_phone: str = Field("", alias="from")
    from_user_id: str = ""
    text: Body | None = None
    interactive: Interactive | None = None
    button: Button | None = None
    reaction: Reaction | None = None
    context: Context | None = None


class Error(Wire):
    code: int | str
    title: str = ""


class Status(Wire):
    id: str
    status: str  # sent, delivered, read, failed
    recipient_id: str = ""
    recipient_user_id: str = ""
    errors: list[Error] = []


class Value(Wire):
    contacts: list[Contact] = []
    messages: list[Message] = []
    statuses: list[Status] = []


class Change(Wire):
    field: str
    value: dict[str, Any]


class Entry(Wire):
    changes: list[Change] = []


class Payload(Wire):
    object: str
    entry: list[Entry]


# --- adapter --------------------------------------------------------------------------------------


def _is_phone_number(address: str) -> bool:
    return address.isdigit()


class WhatsAppAdapter(MetaAdapter):
    app = Channel.WHATSAPP
    text_limit = TextLimit(4096, characters)
    typing_lasts_seconds = 25  # Cloud API: the typing indicator shows for up to 25 seconds

    @classmethod
    def from_settings(cls) -> WhatsAppAdapter:
        return cls(conf.integrations_settings().whatsapp)

    def parse(self, payload: Any) -> list[Event]:
        events: list[Event] = []
        for entry in validate_payload(Payload, payload).entry:
            for change in entry.changes:
                if change.field == "messages":  # account and template updates are not conversations
                    value = validate_payload(Value, change.value)
                    events += [self._message_event(m, value.contacts) for m in value.messages]
                    events += [self._status_event(s) for s in value.statuses]
        return events

    def _message_event(self, message: Message, contacts: list[Contact]) -> Event:
        contact = next(
            (c for c in contacts if (c.user_id and c.user_id == message.from_user_id) or
             (c.wa_id and c.wa_id == message.sender_phone)),
            contacts[0] if contacts else Contact(),
        )  # fmt: skip
        bsuid = message.from_user_id or contact.user_id
        phone = message.sender_phone or contact.wa_id
        sender = bsuid or phone
        fields = {
            "app": self.app,
            "key": message.id,
            "chat_id": sender,
            "sender_id": sender,
            "reply_to": phone or bsuid,
            "message_id": message.id,
            "sender_name": contact.profile.name,
            "legacy_sender_id": phone if bsuid and phone else "",
        }
        if message.text is not None:
            return text_event(text=message.text.body, **fields)
        if message.interactive is not None and (
            choice := message.interactive.button_reply or message.interactive.list_reply
        ):
            return text_event(text=choice.title, **fields)
        if message.button is not None:
            return text_event(text=message.button.text, **fields)
        if message.reaction is not None:
            return Event(kind=EventKind.REACTION, detail=message.reaction.emoji, **fields)
        return Event(kind=EventKind.UNSUPPORTED, detail=message.type, **fields)

    def _status_event(self, status: Status) -> Event:
        recipient = status.recipient_user_id or status.recipient_id
        return Event(
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

    # --- sending ------------------------------------------------------------------------------------

    def _send(self, event: Event, content: dict[str, Any], quote: bool) -> str:
        address = "to" if _is_phone_number(event.reply_to) else "recipient"
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", address: event.reply_to, **content}
        if quote and event.message_id:
            body["context"] = {"message_id": event.message_id}
        sent = self.client.post(self.messages_url, body).get("messages") or [{}]
        return str(sent[0].get("id", ""))

    def send_text(self, event: Event, text: str, *, quote: bool = False) -> str:
        return self._send(event, {"type": "text", "text": {"body": text, "preview_url": False}}, quote)

    def send_image(self, event: Event, url: str, caption: str) -> str:
        return self._send(event, {"type": "image", "image": {"link": url, "caption": caption}}, quote=False)

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
