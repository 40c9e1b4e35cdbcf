"""The wire shapes of `/api/memory` and `/api/documents`: request bodies the views validate, and the
answers they serialise (`model_dump(mode="json")`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from core.ids import RowId
from knowledge.memory import MAX_FACT_CHARS
from knowledge.models import Document, SensitiveCategory

# --- request bodies ----------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemoryEdit(_Body):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_FACT_CHARS)]


class MemorySwitch(_Body):
    enabled: bool


class MemoryConsent(_Body):
    """Yes to "Remember that …?": the token of a `memory_consent` frame."""

    token: Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class UploadFields(_Body):
    """The form fields beside the file of a multipart upload."""

    conversation_id: RowId | None = None


class DocumentFilter(_Body):
    conversation_id: RowId | None = None


class DocumentAttach(_Body):
    """Use one of the person's ready files in this conversation of theirs."""

    conversation_id: RowId


# --- answers -----------------------------------------------------------------------------------


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemorySource(_Shape):
    channel: str
    message_id: int | None
    conversation_id: int | None  # the conversation it was said in (null: typed in Settings, or not recorded)
    at: str


class MemoryOut(_Shape):
    id: int
    text: str
    subject: str
    sensitive_category: SensitiveCategory | None
    source: MemorySource
    created_at: str
    updated_at: str


class MemoryList(_Shape):
    enabled: bool
    items: list[MemoryOut]


class MemorySettingsOut(_Shape):
    enabled: bool


class LinkCodeOut(_Shape):
    code: str  # sent as `/link CODE` in the messaging chat to link; shown once
    expires_at: str


class DocumentOut(_Shape):
    id: int
    name: str
    media_type: str
    size: int
    pages: int
    conversation_id: int | None
    status: Document.Status
    progress: int  # percent
    error: str | None  # the error code of a failed document
    error_detail: str | None
    created_at: str


class DocumentList(_Shape):
    documents: list[DocumentOut]
