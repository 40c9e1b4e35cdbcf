"""The web chat wire contract: every WebSocket frame as a typed model.

Client frames are validated on the way in (`parse_client_frame`); server frames are
built from these models and serialised on the way out (`ServerFrame.dump`).
`docs/protocol.md` documents the same shapes for client authors.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from assistant.errors import AssistantError, ErrorCode

MAX_CLIENT_ID_CHARS = 64


class FinishReason(StrEnum):
    STOP = "stop"
    LENGTH = "length"
    CANCELLED = "cancelled"
    ERROR = "error"
    INTERRUPTED = "interrupted"
    BLOCKED = "blocked"


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- client → server -------------------------------------------------------------


class MessageFrame(_Frame):
    """Send a user message; starts an answer."""

    type: Literal["message"]
    conversation_id: int | None = None
    text: str
    client_id: Annotated[str, Field(min_length=1, max_length=MAX_CLIENT_ID_CHARS)]


class StopFrame(_Frame):
    """Stop the answer that is streaming; the partial answer is kept."""

    type: Literal["stop"]
    message_id: int


class RegenerateFrame(_Frame):
    """Answer the last user message of a conversation again."""

    type: Literal["regenerate"]
    conversation_id: int


class ResumeFrame(_Frame):
    """After a reconnect: replay an answer's frames after `after_seq`, then follow it live."""

    type: Literal["resume"]
    message_id: int
    after_seq: Annotated[int, Field(ge=0)] = 0


ClientFrame = Annotated[MessageFrame | StopFrame | RegenerateFrame | ResumeFrame, Field(discriminator="type")]
CLIENT_FRAME_TYPES = ("message", "stop", "regenerate", "resume")
_client_frame_adapter: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


class FrameError(AssistantError):
    """A client frame that cannot be accepted."""


# PostgreSQL text cannot hold a NUL character: storing one fails the whole request. Every channel
# refuses it where it parses, as a client error.
NUL_REFUSAL = "Text may not contain NUL (\\u0000) characters."


def contains_nul(value: object) -> bool:
    """Whether a parsed JSON value holds a NUL character in any string inside it."""
    if isinstance(value, str):
        return "\x00" in value
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(contains_nul(item) for item in items)


def parse_client_frame(raw: str) -> MessageFrame | StopFrame | RegenerateFrame | ResumeFrame:
    """Validate one text frame from the browser, or raise FrameError with a precise reason."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise FrameError(ErrorCode.INVALID_JSON, f"Frame is not valid JSON: {exc.msg}.") from exc
    if not isinstance(data, dict):
        raise FrameError(ErrorCode.INVALID_FRAME, "Frame must be a JSON object.")
    if contains_nul(data):
        raise FrameError(ErrorCode.INVALID_FRAME, NUL_REFUSAL)
    frame_type = data.get("type")
    if frame_type not in CLIENT_FRAME_TYPES:
        raise FrameError(
            ErrorCode.UNKNOWN_TYPE,
            f"Unknown frame type {frame_type!r}; expected one of {', '.join(CLIENT_FRAME_TYPES)}.",
        )
    try:
        return _client_frame_adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"][1:]) or "frame"
        raise FrameError(ErrorCode.INVALID_FRAME, f"{where}: {first['msg']}.") from exc


# --- server → client -------------------------------------------------------------


class ServerFrame(_Frame):
    def dump(self) -> str:
        return self.model_dump_json()


class AckFrame(ServerFrame):
    """The user message is stored and an answer has started."""

    type: Literal["ack"] = "ack"
    client_id: str | None
    conversation_id: int
    user_message_id: int
    message_id: int


class TokenFrame(ServerFrame):
    """Text appended to an answer. `seq` counts a message's frames from 1 with no gaps."""

    type: Literal["token"] = "token"
    message_id: int
    seq: int
    text: str


class Usage(BaseModel):
    model_config = ConfigDict(frozen=True)

    prompt_tokens: int
    completion_tokens: int


class SourceRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: int  # what the answer cites as [number]
    title: str
    url: str


class SearchFrame(ServerFrame):
    """The answer's web grounding: `searching` when it starts, then `done` with the sources (an
    empty list and `error` when search failed; the answer still comes). Not numbered: a resuming
    socket gets the latest state again before the replayed tokens."""

    type: Literal["search"] = "search"
    message_id: int
    status: Literal["searching", "done"]
    query: str
    urls: list[str] = []
    sources: list[SourceRef] = []
    error: str | None = None


class CodeWarning(BaseModel):
    model_config = ConfigDict(frozen=True)

    rule: str
    severity: str
    line: int
    description: str


class BlockedFrame(ServerFrame):
    """The safety check refused this turn: the answer shown so far (if any) is retracted and
    `detail` is shown instead. `done` (finish_reason `blocked`) follows."""

    type: Literal["blocked"] = "blocked"
    message_id: int
    detail: str


class ImageRef(BaseModel):
    """A picture an answer shows: the final render of `/imagine <prompt>`. `url` serves it to the
    conversation's owner only (a share page links it through its share token instead)."""

    model_config = ConfigDict(frozen=True)

    id: int
    url: str
    prompt: str  # the picture's alt text
    width: int
    height: int


class DoneFrame(ServerFrame):
    """The answer ended; `seq` is the last token frame's number. A `blocked` answer's text is
    `error` (the refusal), whatever its token frames held. An answer to `/imagine` has no text and
    carries its picture in `image`."""

    type: Literal["done"] = "done"
    message_id: int
    seq: int
    finish_reason: FinishReason
    usage: Usage
    error: str | None = None
    error_code: ErrorCode | None = None  # set with `error`: what kind of failure, for programs
    invalid_citations: list[int] = []  # [n] in the answer with no source n: shown unlinked
    code_warnings: list[CodeWarning] = []  # Code Shield findings in the answer's code blocks
    image: ImageRef | None = None


class ErrorFrame(ServerFrame):
    """A request that was refused; the socket stays open and nothing stored changed."""

    type: Literal["error"] = "error"
    code: ErrorCode
    detail: str
    client_id: str | None = None
    retry_after: int | None = None  # seconds, for rate_limited and quota_exceeded
