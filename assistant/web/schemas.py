"""The REST API's (`/api`) wire shapes: the request bodies its views validate and the answers they
serialise. Each class is both: the views build their JSON from it (`model_dump(mode="json")`) and
assistant/openapi.py publishes its schema, so a shape is defined once."""

from __future__ import annotations

from typing import Any, Literal

from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field

from assistant.engine.frames import MemoryItemRef, UnreadLink
from assistant.models import Message, MessageFeedback, ModerationCase, SearchMode, Theme
from core.images import ImageRef

# --- request bodies ----------------------------------------------------------------------------


class TitleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = ""


class KeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


class ReportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = ""


class FeedbackBody(BaseModel):
    """PUT /api/messages/{id}/feedback: a thumbs up or down; a reason is for a thumbs down only."""

    model_config = ConfigDict(extra="forbid")
    rating: MessageFeedback.Rating
    reason: MessageFeedback.Reason | None = None
    comment: str = ""  # at most FEEDBACK_COMMENT_MAX_CHARS, checked by the service (text_too_long)


# "" follows the browser's Accept-Language; the rest are the page's languages.
LanguageChoice = Literal[("", *(code for code, _ in settings.LANGUAGES))]


class AccountDeletion(BaseModel):
    """DELETE /api/account: the account's own name, typed by the person, confirms it."""

    model_config = ConfigDict(extra="forbid")
    confirm: str = Field(max_length=150)


class SettingsBody(BaseModel):
    """A PATCH names only the settings it changes: the defaults are never written (exclude_unset)."""

    model_config = ConfigDict(extra="forbid")
    search_mode: SearchMode = SearchMode.AUTO
    language: LanguageChoice = ""
    theme: Theme = Theme.SYSTEM
    voice_replies: bool = False


# --- answers -----------------------------------------------------------------------------------


class _Shape(BaseModel):
    # Closed objects: a field a view sends that is not declared here fails the conformance checks.
    model_config = ConfigDict(extra="forbid")


class Conversation(_Shape):
    id: int
    title: str
    share_url: str | None
    created_at: str
    updated_at: str


class ConversationList(_Shape):
    conversations: list[Conversation]


class Source(BaseModel):
    """A numbered web source of an answer; besides `number`, the fields the search provider gave."""

    model_config = ConfigDict(extra="allow")
    number: int
    title: str
    url: str


class Feedback(_Shape):
    """The signed-in person's own rating of an answer."""

    rating: MessageFeedback.Rating
    reason: MessageFeedback.Reason | None
    comment: str
    updated_at: str


class AttachmentOut(_Shape):
    """A photo or voice message sent from the web chat (POST /api/attachments), as the media worker read it."""

    id: int
    kind: Literal["photo", "voice"]
    url: str  # the photo or the recording itself, to its owner only
    reading: str | None  # photo: what the model is told about it (OCR: printed text and basic facts)
    transcript: str | None  # voice: the words heard, which are the message
    language: str | None  # voice: the transcript's language (ISO 639-1)
    duration: float | None  # voice: seconds


class MessageOut(_Shape):
    id: int
    role: Message.Role
    content: str
    status: Message.Status
    seq: int
    finish_reason: str | None
    error: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str | None
    created_at: str
    first_token_ms: int | None
    duration_ms: int | None
    sources: list[Source]
    search_error: str | None
    unread_links: list[UnreadLink] = []  # links shared in the question that could not be read, and why
    invalid_citations: list[int]
    code_warnings: list[dict[str, Any]]
    image: ImageRef | None  # the picture an `/imagine` answer shows
    code_images: list[str]  # PNG/JPEG data URLs of pictures the model's code saved
    # An answer: what the person's memory kept from the message it replies to (the `memory_updated` frame's items).
    memory_updated: list[MemoryItemRef] = []
    # The ids of this message's versions, oldest first, itself included (docs/protocol.md, "Versions").
    versions: list[int] = []
    # A user message: the photo or voice message it was sent with, null when none.
    attachment: AttachmentOut | None = None
    # A user message sent with a picture's Edit button: the message showing that picture, null when none.
    edits_picture_of: int | None = None
    # An answer: the person's thumbs up or down (PUT /api/messages/{id}/feedback), null when none.
    feedback: Feedback | None = None


class MessageList(_Shape):
    messages: list[MessageOut]


class ApiKeyOut(_Shape):
    id: int
    name: str
    prefix: str
    created_at: str
    last_used_at: str | None


class NewApiKey(ApiKeyOut):
    key: str  # the secret, shown this once


class ApiKeyList(_Shape):
    keys: list[ApiKeyOut]


class Report(_Shape):
    report_id: int
    state: ModerationCase.State


class UserSettings(_Shape):
    search_mode: SearchMode
    language: LanguageChoice
    theme: Theme
    voice_replies: bool  # answers are read aloud on the page, and sent as voice notes in the apps
    daily_token_quota: int
    tokens_used_today: int
