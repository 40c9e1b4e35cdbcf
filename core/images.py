"""A picture as every surface refers to it, shared by the chat engine and Imagine."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ImageRef(BaseModel):
    """A picture an answer shows: the final render of `/imagine <prompt>`. `url` serves it to the
    conversation's owner only (a share page links it through its share token instead)."""

    model_config = ConfigDict(frozen=True)

    id: int
    url: str
    prompt: str  # the picture's alt text
    width: int
    height: int
