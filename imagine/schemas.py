"""Imagine's REST wire shapes (`/api/imagine`): the body `POST` validates and the answers the views
serialise (`model_dump(mode="json")`). assistant/openapi.py publishes the same classes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.ids import RowId


class ImagineBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str
    size: str | None = None
    conversation_id: RowId | None = None


class ImagineEditBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_id: RowId  # one of the caller's images
    instruction: str  # "make it watercolour"


def _absent_when_none(value: object) -> bool:
    return value is None


class ImagineImageOut(BaseModel):
    # Closed: a field a view sends that is not declared here fails the conformance checks.
    model_config = ConfigDict(extra="forbid")

    id: int
    kind: Literal["image", "clip"]
    prompt: str
    seed: int
    width: int
    height: int
    created: str
    url: str | None = Field(default=None, exclude_if=_absent_when_none)  # an image
    mp4_url: str | None = Field(default=None, exclude_if=_absent_when_none)  # a clip
    gif_url: str | None = Field(default=None, exclude_if=_absent_when_none)
    edited_from: int | None = Field(default=None, exclude_if=_absent_when_none)  # an edit: the original's id


class ImagineGallery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    images: list[ImagineImageOut]


class ImagineRendered(ImagineImageOut):
    ms: float  # time on the worker
