"""The one interface every messaging app implements, and the mechanics the apps share.

An adapter knows one app's wire format and nothing else: it checks a webhook's handshake and
signature, turns a payload into normalised `Event`s and sends replies. Storing events,
binding chats to conversations and generating answers live in `integrations.services` and
`integrations.tasks`, once for every app.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from assistant.models import Channel
from integrations.delivery import ApiClient, ApiFailure, SendError
from integrations.events import Event, malformed_event
from integrations.splitting import TextLimit
from media.voice import AudioFormat

SIGNATURE_PREFIX = "sha256="
Model = TypeVar("Model", bound=BaseModel)


class PayloadError(ValueError):
    """A part of a signed delivery whose JSON is not in the shape the app documents."""


class Wire(BaseModel):
    """A piece of an app's payload: fields we do not read are ignored, as apps add fields often."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def validate_payload(model: type[Model], payload: Any) -> Model:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise PayloadError(f"{model.__name__}: {where}: {first['msg']}") from None


def parse_each(app: Channel, items: Iterable[Any], parse: Callable[[Any], list[Event]]) -> list[Event]:
    """The events of every item, each parsed on its own: an item not in the documented shape becomes
    one IGNORED event carrying it, and the items around it are still parsed."""
    events: list[Event] = []
    for item in items:
        try:
            events += parse(item)
        except ValueError as exc:  # PayloadError, and pydantic's ValidationError, are ValueErrors
            events.append(malformed_event(app, exc, item))
    return events


def unusable_answer(app: Channel, detail: str) -> SendError:
    """An app's success answer that lacks what it documents (a media answer without its URL)."""
    return SendError(app, ApiFailure(200, "unusable_answer", detail, transient=False))


def without_mention(text: str, handle: str) -> str:
    """`text` without `@handle` (case-insensitive), or the text as it was if nothing else is left."""
    if not handle:
        return text
    bare = re.sub(rf"(?<![\w/])@{re.escape(handle)}\b", "", text, flags=re.IGNORECASE)
    return re.sub(r"[ \t]{2,}", " ", bare).strip() or text


def secret_matches(given: str | None, secrets: Sequence[str]) -> bool:
    """Whether `given` equals one of `secrets`, in constant time; every secret is compared, so the
    time taken tells nothing about which one (or how much of one) matched."""
    if not given:
        return False
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(given.encode(), secret.encode())
    return matched


def hmac_signature_valid(body: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """Meta's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed by the app secret>`,
    checked against every configured app secret (several apps, or an old and a new one during rotation)."""
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = [hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() for secret in secrets]
    return secret_matches(header.removeprefix(SIGNATURE_PREFIX).lower(), expected)


class MessagingAdapter(ABC):
    app: ClassVar[Channel]
    text_limit: ClassVar[TextLimit]
    # How long the app shows "typing…" after one request: long answers send it again before then.
    typing_lasts_seconds: ClassVar[float]
    voice_format: ClassVar[AudioFormat]  # the audio the app plays, as voice replies are sent in it

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    @property
    @abstractmethod
    def configured(self) -> bool:
        """Every credential the app needs is set."""

    @abstractmethod
    def handshake(self, query: Mapping[str, str]) -> str | None:
        """The body to answer a subscription check with, or None when it must be refused."""

    @abstractmethod
    def signature_valid(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Whether the delivery comes from the app (checked on the raw body, before parsing)."""

    @abstractmethod
    def parse(self, payload: Any) -> list[Event]:
        """Every event of a delivery, in order. Never raises: what is not in the shape the app
        documents becomes an IGNORED event (`parse_each`), so one bad event loses no other."""

    @abstractmethod
    def send_text(self, event: Event, text: str, *, quote: bool = False) -> str:
        """Send text (within `text_limit`) to where `event` came from, threaded under the event's
        message when `quote` and the app supports it; returns the app's id of the sent message."""

    @abstractmethod
    def send_image(self, event: Event, url: str, caption: str) -> str:
        """Send the image at `url` (public HTTPS) with a caption; returns the app's message id."""

    @abstractmethod
    def send_voice(self, event: Event, audio: bytes) -> str:
        """Send `audio` (in `voice_format`) as a voice note; returns the app's message id."""

    @abstractmethod
    def media_url(self, event: Event) -> str:
        """Where the file of a PHOTO or VOICE event is downloaded from, asking the app where it must
        (SendError when it refuses)."""

    @property
    def media_client(self) -> ApiClient:
        """The client that downloads media files: the app's own, with its credentials."""
        return self.client

    @abstractmethod
    def keep_typing(self, event: Event) -> None:
        """Show "typing…" again while a long answer is still being written."""

    @abstractmethod
    def acknowledge(self, event: Event) -> None:
        """Show the person their message was seen and an answer is coming (read receipt, typing)."""
