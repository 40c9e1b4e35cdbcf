"""Telegram Bot API: webhook updates (`message`, `edited_message`, `callback_query`,
`message_reaction`) checked by the secret token Telegram echoes in `X-Telegram-Bot-Api-Secret-Token`,
replies with `sendMessage`.

An update is one event: a `photo` (the caption is the question) or a `voice` / `audio` message is
downloaded with `getFile` (`media_url`), an edit names the message it changes, a reaction the message it is on, and
any other update (`my_chat_member`, `poll_answer`…) or one not in the documented shape is stored as
ignored. In groups the bot answers only messages addressed to it: a mention of its username, a
command addressed to it, or a reply to one of its messages. Other group messages are not even stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import ConfigDict, Field

from assistant.models import Channel
from integrations import conf
from integrations.adapters.base import (
    MessagingAdapter,
    PayloadError,
    Wire,
    secret_matches,
    unusable_answer,
    validate_payload,
    without_mention,
)
from integrations.delivery import ApiClient, ApiFailure, response_json, retry_after_header
from integrations.events import Event, EventKind, ignored_event, malformed_event, media_event, text_event
from integrations.splitting import TextLimit, utf16_units
from media.conf import media_settings
from media.voice import AudioFormat

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "message_reaction")
PRIVATE_CHAT = "private"
# Message contents the assistant cannot read yet, as Telegram names them, each answered with its sentence.
MEDIA_FIELDS = ("video", "document", "sticker", "animation", "video_note", "location", "venue", "contact", "poll",
                "dice")  # fmt: skip

# --- wire shapes --------------------------------------------------------------------------------


class User(Wire):
    id: int
    is_bot: bool = False
    first_name: str = ""
    username: str = ""


class Chat(Wire):
    id: int
    type: str  # private, group, supergroup, channel


class Entity(Wire):
    type: str
    offset: int
    length: int
    user: User | None = None  # text_mention


class PhotoSize(Wire):
    file_id: str
    width: int = 0
    height: int = 0
    file_size: int | None = None


class AudioFile(Wire):
    """`voice` (recorded in the app, OGG/Opus) or `audio` (a music or audio file)."""

    file_id: str
    mime_type: str = ""
    file_size: int | None = None


class Message(Wire):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)  # media fields vary

    message_id: int
    sender: User | None = Field(None, alias="from")
    chat: Chat
    text: str = ""
    caption: str = ""
    entities: list[Entity] = []
    caption_entities: list[Entity] = []
    reply_to_message: Message | None = None
    photo: list[PhotoSize] = []  # the same photo in several sizes, smallest first
    voice: AudioFile | None = None
    audio: AudioFile | None = None

    @property
    def media(self) -> str:
        extra = self.model_extra or {}
        return next((name for name in MEDIA_FIELDS if name in extra), "unsupported")


class CallbackQuery(Wire):
    id: str
    sender: User = Field(alias="from")
    message: Message | None = None
    data: str = ""


class ReactionType(Wire):
    type: str  # emoji, custom_emoji, paid
    emoji: str = ""


class MessageReaction(Wire):
    chat: Chat
    message_id: int
    user: User | None = None  # absent when a chat reacted anonymously
    new_reaction: list[ReactionType] = []  # empty when the reaction was taken back

    @property
    def emoji(self) -> str:
        return next((reaction.emoji for reaction in self.new_reaction if reaction.emoji), "")


class Update(Wire):
    update_id: int
    message: Message | None = None
    edited_message: Message | None = None
    callback_query: CallbackQuery | None = None
    message_reaction: MessageReaction | None = None


# --- errors ---------------------------------------------------------------------------------------


def read_bot_api_error(response: httpx.Response) -> ApiFailure:
    """`{"ok": false, "error_code": 429, "description": "…", "parameters": {"retry_after": 5}}`."""
    body = response_json(response)
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    retry_after = parameters.get("retry_after")
    return ApiFailure(
        status=response.status_code,
        code=str(body.get("error_code", response.status_code)),
        detail=str(body.get("description") or response.reason_phrase),
        transient=response.status_code == httpx.codes.TOO_MANY_REQUESTS or response.status_code >= 500,
        retry_after=float(retry_after) if isinstance(retry_after, int | float) else retry_after_header(response),
    )


# --- adapter --------------------------------------------------------------------------------------


class TelegramAdapter(MessagingAdapter):
    app = Channel.TELEGRAM
    # "1-4096 characters after entities parsing"; counted in UTF-16 units as Telegram counts text,
    # which is never fewer than characters.
    text_limit = TextLimit(4096, utf16_units)
    typing_lasts_seconds = 5  # Bot API: a chat action shows for 5 seconds or until a message arrives
    voice_format = AudioFormat.OGG_OPUS  # sendVoice: "audio must be in an .OGG file encoded with OPUS"

    def __init__(self, settings: conf.TelegramBot, client: ApiClient | None = None) -> None:
        super().__init__(client or ApiClient(self.app, read_bot_api_error))
        self.settings = settings

    @classmethod
    def from_settings(cls) -> TelegramAdapter:
        return cls(conf.integrations_settings().telegram)

    @property
    def configured(self) -> bool:
        return self.settings.configured

    def method_url(self, method: str) -> str:
        return f"{self.settings.api_base_url}/bot{self.settings.token}/{method}"

    def call(self, method: str, body: dict[str, Any]) -> Any:
        return self.client.post(self.method_url(method), body).get("result")

    def handshake(self, query: Mapping[str, str]) -> str | None:
        return None  # Telegram has no subscription check: set_telegram_webhook registers the URL

    def signature_valid(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return secret_matches(headers.get(SECRET_HEADER), self.settings.webhook_secrets)

    # --- parsing ------------------------------------------------------------------------------------

    def parse(self, payload: Any) -> list[Event]:
        try:
            update = validate_payload(Update, payload)
        except PayloadError as exc:
            return [malformed_event(self.app, exc, payload)]
        key = str(update.update_id)
        if query := update.callback_query:
            if query.message is None:  # a button under an inline-mode message: no chat to answer in
                return [ignored_event(self.app, "callback_query without a message", payload)]
            return [text_event(text=query.data, **self._fields(key, query.message, query.sender),
                               callback_query_id=query.id)]  # fmt: skip
        if reaction := update.message_reaction:
            return [self._reaction_event(key, reaction)]
        if update.message or update.edited_message:
            return self._message_events(key, update, payload)
        name = next((name for name in payload if name != "update_id"), "empty")
        return [ignored_event(self.app, name, payload)]  # my_chat_member, poll_answer, channel_post…

    def _message_events(self, key: str, update: Update, payload: dict[str, Any]) -> list[Event]:
        message = update.message or update.edited_message
        if message is None or message.sender is None or not self._addressed(message):
            return []
        fields = self._fields(key, message, message.sender)
        if update.edited_message is not None:
            if not message.text:
                return [ignored_event(self.app, "edited_message without text", payload)]
            fields["original_id"] = fields["message_id"]  # an edit keeps its message's id
        if message.text:
            return [text_event(text=without_mention(message.text, self.settings.username), **fields)]
        caption = without_mention(message.caption, self.settings.username)
        if message.photo:
            photo = _largest_within(message.photo, media_settings().photo_max_bytes)
            return [media_event(EventKind.PHOTO, media=photo.file_id, caption=caption, **fields)]
        if (audio := message.voice or message.audio) is not None:
            return [media_event(EventKind.VOICE, media=audio.file_id, media_type=audio.mime_type, **fields)]
        return [Event(kind=EventKind.UNSUPPORTED, detail=message.media, **fields)]

    def _reaction_event(self, key: str, reaction: MessageReaction) -> Event:
        sender = str(reaction.user.id) if reaction.user else ""
        chat = str(reaction.chat.id)
        return Event(app=self.app, kind=EventKind.REACTION, key=key, chat_id=chat, sender_id=sender, reply_to=chat,
                     original_id=str(reaction.message_id), detail=reaction.emoji)  # fmt: skip

    def _fields(self, key: str, message: Message, sender: User) -> dict[str, Any]:
        return {
            "app": self.app,
            "key": key,
            "chat_id": str(message.chat.id),
            "sender_id": str(sender.id),
            "reply_to": str(message.chat.id),
            "message_id": str(message.message_id),
            "sender_name": sender.first_name or sender.username,
        }

    def _addressed(self, message: Message) -> bool:
        if message.chat.type == PRIVATE_CHAT:
            return True
        replied = message.reply_to_message
        if replied is not None and replied.sender is not None and str(replied.sender.id) == self.settings.bot_id:
            return True
        text = message.text or message.caption
        for entity in message.entities or message.caption_entities:
            if entity.type == "text_mention" and entity.user and str(entity.user.id) == self.settings.bot_id:
                return True
            if entity.type in {"mention", "bot_command"} and self._names_bot(_entity_text(text, entity)):
                return True
        return False

    def _names_bot(self, mention: str) -> bool:
        name = mention.rpartition("@")[2]
        return bool(self.settings.username) and name.lower() == self.settings.username.lower()

    # --- sending ------------------------------------------------------------------------------------

    def send_text(self, event: Event, text: str, *, quote: bool = False) -> str:
        body: dict[str, Any] = {"chat_id": int(event.reply_to), "text": text}
        if quote and event.message_id:
            body["reply_parameters"] = {"message_id": int(event.message_id), "allow_sending_without_reply": True}
        return str((self.call("sendMessage", body) or {}).get("message_id", ""))

    def send_image(self, event: Event, url: str, caption: str) -> str:
        body = {"chat_id": int(event.reply_to), "photo": url, "caption": caption[:1024]}
        return str((self.call("sendPhoto", body) or {}).get("message_id", ""))

    def acknowledge(self, event: Event) -> None:
        """Telegram has no read receipts; a pressed button must be answered or its spinner stays."""
        if event.callback_query_id:
            self.call("answerCallbackQuery", {"callback_query_id": event.callback_query_id})
        self.keep_typing(event)

    def send_voice(self, event: Event, audio: bytes) -> str:
        """`sendVoice`, multipart: `chat_id` and the `voice` file."""
        sent = self.client.post_file(
            self.method_url("sendVoice"), {"chat_id": event.reply_to}, {"voice": ("reply.ogg", audio, "audio/ogg")}
        )
        return str((sent.get("result") or {}).get("message_id", ""))

    def media_url(self, event: Event) -> str:
        """`getFile` answers `{"file_id", "file_unique_id", "file_size", "file_path"}`; the file is then at
        `/file/bot<token>/<file_path>` for at least an hour."""
        path = (self.call("getFile", {"file_id": event.media}) or {}).get("file_path")
        if not isinstance(path, str) or not path:
            raise unusable_answer(self.app, f"getFile {event.media}: no file_path in the answer")
        return f"{self.settings.api_base_url}/file/bot{self.settings.token}/{path}"

    def keep_typing(self, event: Event) -> None:
        self.call("sendChatAction", {"chat_id": int(event.reply_to), "action": "typing"})

    def set_webhook(self, url: str, *, drop_pending_updates: bool = False) -> None:
        """Register the webhook with the first configured secret; Telegram then sends it on every update."""
        self.call(
            "setWebhook",
            {
                "url": url,
                "secret_token": self.settings.webhook_secrets[0],
                "allowed_updates": list(ALLOWED_UPDATES),
                "drop_pending_updates": drop_pending_updates,
            },
        )


def _largest_within(sizes: list[PhotoSize], max_bytes: int) -> PhotoSize:
    """The largest size of a photo within the download cap (a size of unknown bytes is tried), else the
    smallest, which the download then refuses with why."""
    fitting = [size for size in sizes if size.file_size is None or size.file_size <= max_bytes]
    return max(fitting, key=lambda size: size.width * size.height) if fitting else sizes[0]


def _entity_text(text: str, entity: Entity) -> str:
    """Entity offsets count UTF-16 units."""
    units = text.encode("utf-16-le")
    return units[entity.offset * 2 : (entity.offset + entity.length) * 2].decode("utf-16-le", "replace")
