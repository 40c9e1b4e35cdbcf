"""The web chat wire contract: every WebSocket frame as a typed model.

Client frames are validated on the way in (`parse_client_frame`); the frames of an answer
(token, search, queued, blocked, done) are the engine's (`assistant.engine.frames`); the socket's own
server frames (ack, error) are here, serialised the same way (`ServerFrame.dump`).
`docs/protocol.md` documents the same shapes for client authors.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from assistant.door import MAX_CLIENT_ID_CHARS
from assistant.engine.frames import ServerFrame
from core.errors import AssistantError, ErrorCode
from core.ids import RowId
from core.json_input import load_client_json


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- client → server -------------------------------------------------------------


class MessageFrame(_Frame):
    """Send a user message; starts an answer."""

    type: Literal["message"]
    conversation_id: RowId | None = None
    text: str
    client_id: Annotated[str, Field(min_length=1, max_length=MAX_CLIENT_ID_CHARS)]
    # Starts a temporary chat (with no conversation_id): no memory is read or kept, and the chat is
    # deleted when this socket closes. Later turns of that chat are temporary whatever they say.
    temporary: bool = False
    # A photo or voice message uploaded first (POST /api/attachments), sent with this message once.
    attachment_id: RowId | None = None
    # `/imagine edit <instruction>` sent with a picture's Edit button: the message showing that picture.
    edit_picture_of: RowId | None = None


class StopFrame(_Frame):
    """Stop the answer that is streaming; the partial answer is kept."""

    type: Literal["stop"]
    message_id: RowId


class RegenerateFrame(_Frame):
    """Answer the last user message of a conversation again."""

    type: Literal["regenerate"]
    conversation_id: RowId


class EditFrame(_Frame):
    """Send `text` as a new version of the shown user message `message_id`; starts an answer in a
    branch of its own. The same limits, quota and client_id idempotency as a message."""

    type: Literal["edit"]
    conversation_id: RowId
    message_id: RowId
    text: str
    client_id: Annotated[str, Field(min_length=1, max_length=MAX_CLIENT_ID_CHARS)]


class SelectVersionFrame(_Frame):
    """Show version `message_id` of a message (and the branch after it) instead of the others."""

    type: Literal["select_version"]
    message_id: RowId


class ResumeFrame(_Frame):
    """After a reconnect: replay an answer's frames after `after_seq`, then follow it live."""

    type: Literal["resume"]
    message_id: RowId
    after_seq: Annotated[int, Field(ge=0)] = 0


AnyClientFrame = MessageFrame | StopFrame | RegenerateFrame | EditFrame | SelectVersionFrame | ResumeFrame
ClientFrame = Annotated[AnyClientFrame, Field(discriminator="type")]
CLIENT_FRAME_TYPES = ("message", "stop", "regenerate", "edit", "select_version", "resume")
_client_frame_adapter: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


class FrameError(AssistantError):
    """A client frame that cannot be accepted."""


def parse_client_frame(raw: str) -> AnyClientFrame:
    """Validate one text frame from the browser, or raise FrameError with a precise reason."""
    try:
        data = load_client_json(raw)
    except AssistantError as exc:
        raise FrameError(exc.code, exc.detail) from None
    if not isinstance(data, dict):
        raise FrameError(ErrorCode.INVALID_FRAME, "Frame must be a JSON object.")
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


class AckFrame(ServerFrame):
    """The user message is stored and an answer has started."""

    type: Literal["ack"] = "ack"
    client_id: str | None
    conversation_id: int
    user_message_id: int
    message_id: int


class VersionSelectedFrame(ServerFrame):
    """The chosen version is stored: the conversation's messages (REST) now show its branch."""

    type: Literal["version_selected"] = "version_selected"
    conversation_id: int
    message_id: int


class ErrorFrame(ServerFrame):
    """A request that was refused; the socket stays open and nothing stored changed."""

    type: Literal["error"] = "error"
    code: ErrorCode
    detail: str
    client_id: str | None = None
    retry_after: int | None = None  # seconds, for rate_limited and quota_exceeded
