"""How an answer ended, as one type for every surface, and the one place that turns it into what
each surface shows: the socket's `done` frame, the REST message fields and a messaging reply.

An outcome is built twice: live by the runner when the answer ends (`AnswerOutcome`), and from
the stored row for anyone who reads it later (`stored_outcome`); both serialise the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from assistant.engine.frames import CodeWarning, DoneFrame, FinishReason, SearchFrame, SourceRef, UnreadLink, Usage
from assistant.models import Message
from core.errors import ErrorCode
from core.images import ImageRef
from search.sources import Source as WebSource

WEB_SCHEMES = ("https://", "http://")


class Source(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    url: str  # "" unless a web link: a local index may hold file:// pages, never shown as links
    flagged: bool = False  # it held instructions to AI assistants, withheld from the prompt (safety.injection)


class Grounding(BaseModel):
    """An answer's web grounding, as stored in `Message.grounding` and sent in `search` frames."""

    model_config = ConfigDict(frozen=True)

    query: str = ""  # "" when only shared links were read
    urls: list[str] = []
    sources: list[Source] = []
    error: str | None = None  # why the answer has no live results
    unread_links: list[UnreadLink] = []  # shared links that could not be read, and why
    done: bool = False  # the search ended (with or without sources)
    invalid_citations: list[int] = []  # [n] in the answer with no source n

    @classmethod
    def started(cls, query: str, urls: Sequence[str]) -> Grounding:
        return cls(query=query, urls=list(urls))

    @classmethod
    def stored(cls, data: dict[str, Any]) -> Grounding | None:
        return cls.model_validate(data) if data else None

    def finished(self, found: Sequence[WebSource], error: str | None, unread: Mapping[str, str]) -> Grounding:
        """The search ended with these sources (only web links stay links) and these links unread."""
        sources = [
            Source(title=s.title, url=s.url if s.url.startswith(WEB_SCHEMES) else "", flagged=bool(s.flags))
            for s in found
        ]
        unread_links = [UnreadLink(url=url, reason=reason) for url, reason in unread.items()]
        return self.model_copy(update={"sources": sources, "error": error, "unread_links": unread_links, "done": True})

    def numbered_sources(self) -> list[SourceRef]:
        return [SourceRef(number=n, title=s.title, url=s.url) for n, s in enumerate(self.sources, start=1)]

    def search_frame(self, message_id: int) -> SearchFrame:
        return SearchFrame(
            message_id=message_id,
            status="done" if self.done else "searching",
            query=self.query,
            urls=self.urls,
            sources=self.numbered_sources(),
            error=self.error or None,
            unread_links=self.unread_links,
        )


@dataclass(frozen=True)
class BlockedTurn:
    stage: str  # "input", "output" or "code"
    categories: list[str]
    original_text: str  # kept for review only


@dataclass(frozen=True)
class AnswerOutcome:
    """How an answer ended. `content`/`frame_ends` are what is stored (a blocked answer stores its
    refusal); `seq` is how many token frames its listeners were sent, refused or not."""

    status: str  # a Message.Status
    finish_reason: FinishReason
    content: str = ""
    frame_ends: list[int] = field(default_factory=list)
    seq: int | None = None  # None: as many as `frame_ends` holds
    error: str = ""
    error_code: ErrorCode | None = None  # what kind of failure, for programs
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    first_token_ms: int | None = None
    duration_ms: int | None = None
    grounding: Grounding | None = None
    code_warnings: tuple[CodeWarning, ...] = ()
    blocked: BlockedTurn | None = None  # stored for review, never shown
    image: ImageRef | None = None  # the final render answering `/imagine <prompt>`
    code_images: tuple[str, ...] = ()  # data URLs of pictures the model's code saved

    @property
    def sent_frames(self) -> int:
        return len(self.frame_ends) if self.seq is None else self.seq


def stored_outcome(answer: Message, image: ImageRef | None = None) -> AnswerOutcome:
    """The outcome of an answer that has ended, from its row (`image`: its picture, if any)."""
    blocked = answer.status == Message.Status.BLOCKED
    return AnswerOutcome(
        status=answer.status,
        finish_reason=FinishReason(answer.finish_reason or FinishReason.INTERRUPTED),
        content=answer.content,
        frame_ends=list(answer.frame_ends),
        error=answer.content if blocked else answer.error,
        error_code=ErrorCode.BLOCKED if blocked else None,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        first_token_ms=answer.first_token_ms,
        duration_ms=answer.duration_ms,
        grounding=Grounding.stored(answer.grounding),
        code_warnings=tuple(CodeWarning(**finding) for finding in answer.code_findings),
        image=image,
        code_images=tuple(answer.code_images),
    )


def done_frame(message_id: int, outcome: AnswerOutcome) -> DoneFrame:
    grounding = outcome.grounding
    return DoneFrame(
        message_id=message_id,
        seq=outcome.sent_frames,
        finish_reason=outcome.finish_reason,
        usage=Usage(prompt_tokens=outcome.prompt_tokens or 0, completion_tokens=outcome.completion_tokens or 0),
        error=outcome.error or None,
        error_code=outcome.error_code,
        invalid_citations=grounding.invalid_citations if grounding else [],
        code_warnings=list(outcome.code_warnings),
        image=outcome.image,
        code_images=list(outcome.code_images),
    )


def rest_fields(outcome: AnswerOutcome) -> dict[str, Any]:
    """What the REST message shape says about how an answer ended, beside its text and timings."""
    grounding = outcome.grounding
    return {
        "sources": [source.model_dump() for source in grounding.numbered_sources()] if grounding else [],
        "search_error": (grounding.error or None) if grounding else None,
        "unread_links": [link.model_dump() for link in grounding.unread_links] if grounding else [],
        "invalid_citations": grounding.invalid_citations if grounding else [],
        "code_warnings": [warning.model_dump() for warning in outcome.code_warnings],
        "image": outcome.image.model_dump() if outcome.image else None,
        "code_images": list(outcome.code_images),
    }


def text_reply(outcome: AnswerOutcome) -> str | None:
    """The answer as one plain message (messaging apps): the refusal of a blocked answer, or the
    text with its numbered sources as links (they show no side panel); None when there is no text."""
    if outcome.status == Message.Status.BLOCKED:
        return outcome.content
    if outcome.status != Message.Status.COMPLETE or not outcome.content.strip():
        return None
    sources = outcome.grounding.numbered_sources() if outcome.grounding else []
    if not sources:
        return outcome.content
    return outcome.content + "\n\nSources:\n" + "\n".join(_source_line(s) for s in sources)


def _source_line(source: SourceRef) -> str:
    """`[n] title url`; a document passage has no URL (its title names the file and page)."""
    return " ".join(filter(None, (f"[{source.number}]", source.title, source.url)))
