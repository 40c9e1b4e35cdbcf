"""The Imagine wire contract on `ws/imagine`: every frame as a typed model.

Client → server: `imagine.prompt` (while typing), `imagine.final` (on submit), `imagine.edit`,
`imagine.animate`.
Server → client: `imagine.image` (a preview, a final render or an edit), `imagine.progress` (an edit
or an animation rendering), `imagine.clip` (an animation), `error`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from core.errors import AssistantError, ErrorCode
from core.ids import RowId
from core.json_input import load_client_json


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def dump(self) -> str:
        return self.model_dump_json(exclude_none=True)


# --- client → server -------------------------------------------------------------


class PromptFrame(_Frame):
    """The prompt as typed so far; sent a few times a second. Later `seq` wins."""

    type: Literal["imagine.prompt"]
    prompt: str
    seq: Annotated[int, Field(ge=0)]
    size: str | None = None


class FinalFrame(_Frame):
    """Render the prompt in full quality and keep it in the gallery (and the conversation)."""

    type: Literal["imagine.final"]
    prompt: str
    seq: Annotated[int, Field(ge=0)]
    size: str | None = None
    conversation_id: RowId | None = None


class EditFrame(_Frame):
    """Restyle a stored image by an instruction ("make it watercolour") and keep the result too."""

    type: Literal["imagine.edit"]
    image_id: RowId
    instruction: str
    seq: Annotated[int, Field(ge=0)]


class AnimateFrame(_Frame):
    """Turn a stored image into a short looping clip."""

    type: Literal["imagine.animate"]
    image_id: RowId


ClientFrame = Annotated[PromptFrame | FinalFrame | EditFrame | AnimateFrame, Field(discriminator="type")]
_client_frame = TypeAdapter(ClientFrame)


def load_json(raw: str | bytes) -> Any:
    """Imagine's clients know one code for anything malformed: `invalid_frame`."""
    try:
        return load_client_json(raw)
    except AssistantError as exc:
        raise AssistantError(ErrorCode.INVALID_FRAME, exc.detail) from None


def parse_client_frame(text: str) -> PromptFrame | FinalFrame | EditFrame | AnimateFrame:
    data = load_json(text)
    try:
        return _client_frame.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "frame"
        raise AssistantError(ErrorCode.INVALID_FRAME, f"{where}: {first['msg']}.") from None


# --- server → client -------------------------------------------------------------


class ImageFrame(_Frame):
    """A rendered image. Previews carry a data: URL and no id; final renders and edits a stored file's
    URL, and an edit the id of the image it restyled (`edited_from`)."""

    type: Literal["imagine.image"] = "imagine.image"
    seq: int
    url: str
    width: int
    height: int
    ms: float  # render time on the worker
    seed: int
    final: bool = False
    image_id: int | None = None
    edited_from: int | None = None


class ProgressFrame(_Frame):
    type: Literal["imagine.progress"] = "imagine.progress"
    image_id: int  # the image being edited or animated
    seq: int | None = None  # an edit's: the `imagine.edit` it answers
    done: int
    total: int


class ClipFrame(_Frame):
    type: Literal["imagine.clip"] = "imagine.clip"
    image_id: int  # the animated image
    clip_id: int
    mp4_url: str
    gif_url: str
    frames: int
    fps: int
    ms: float


class ErrorFrame(_Frame):
    type: Literal["error"] = "error"
    code: str
    detail: str
    seq: int | None = None  # the prompt it answers, when it answers one
    image_id: int | None = None
