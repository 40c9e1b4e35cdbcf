"""An answer's frames: the typed events every listener of an answer receives (sockets through the
channel layer, `/v1` through a local queue), and the numbered token frames as (content,
frame_ends): the one representation that the generating process, the database and every resuming
socket share. `docs/protocol.md` documents the same shapes for client authors."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

from core.errors import ErrorCode
from core.images import ImageRef


class FinishReason(StrEnum):
    STOP = "stop"
    LENGTH = "length"
    CANCELLED = "cancelled"
    ERROR = "error"
    INTERRUPTED = "interrupted"
    BLOCKED = "blocked"


class ServerFrame(BaseModel):
    """A frame the server sends, serialised on the way out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def dump(self) -> str:
        return self.model_dump_json()


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


class UnreadLink(BaseModel):
    """A link the person shared that could not be read, and why, in plain (English) words."""

    url: str
    reason: str


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
    error: str | None = None  # the search itself failed
    unread_links: list[UnreadLink] = []  # shared links that could not be read (the search may have worked)


class QueuedFrame(ServerFrame):
    """The answer waits for the model (assistant/engine/admission.py): `position` streams must end
    before it starts (the people ahead of it; 1: it is next). Sent again when the position changes,
    never after the first token; not numbered: a resuming socket gets the latest one again while the
    answer still waits."""

    type: Literal["queued"] = "queued"
    message_id: int
    position: int


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


class DoneFrame(ServerFrame):
    """The answer ended; `seq` is the last token frame's number. A `blocked` answer's text is
    `error` (the refusal), whatever its token frames held. An answer to `/imagine` has no text and
    carries its picture in `image`; pictures the model's code saved (the code interpreter) come in
    `code_images`, shown after the text."""

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
    code_images: list[str] = []  # PNG/JPEG data URLs

    @property
    def failed(self) -> bool:
        """It ended in an error; a blocked answer is an answer (its text is the refusal)."""
        return bool(self.error) and self.finish_reason != FinishReason.BLOCKED


class MemoryItemRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int  # the item in `/api/memory`
    text: str


class MemoryUpdatedFrame(ServerFrame):
    """The person's memory kept facts from an exchange: the user's message `user_message_id`, which
    the answer `message_id` replied to (new facts, or ones that replaced what they contradict). Sent to
    every chat socket of the person after the answer's `done`, once a worker has read the exchange."""

    type: Literal["memory_updated"] = "memory_updated"
    message_id: int
    user_message_id: int
    items: list[MemoryItemRef]


class MemoryConsentAsk(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str  # the fact as it would be kept
    token: str  # sent back to `POST /api/memory` to keep it


class MemoryConsentFrame(ServerFrame):
    """Sensitive facts (health, religion…) noticed in an exchange and kept nowhere: the page asks
    whether to remember each, and a yes sends its token to `POST /api/memory`. Sent like
    `memory_updated`, to every chat socket of the person."""

    type: Literal["memory_consent"] = "memory_consent"
    message_id: int
    user_message_id: int
    facts: list[MemoryConsentAsk]


AnswerFrame = TokenFrame | SearchFrame | QueuedFrame | BlockedFrame | DoneFrame
UnnumberedFrame = SearchFrame | QueuedFrame | BlockedFrame  # outside the numbered sequence: the latest wins


def frames_after(content: str, frame_ends: Sequence[int], after_seq: int) -> list[tuple[int, str]]:
    """(seq, text) of every frame numbered above `after_seq`; frame n is content[ends[n-2]:ends[n-1]]."""
    starts = [0, *frame_ends]
    return [(seq, content[starts[seq - 1] : starts[seq]]) for seq in range(after_seq + 1, len(frame_ends) + 1)]
