"""What search hands back to the pipeline: sources with their best passages, as plain JSON for Celery."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Stands where a sentence of a source addressed instructions to AI assistants (safety.injection).
WITHHELD_NOTE = "[withheld: instructions to AI assistants]"


@dataclass(frozen=True)
class Source:
    title: str
    url: str
    text: str  # the best passages of the page for the question, joined, at most SEARCH_SOURCE_CHARS
    # Kinds of injected instructions found (safety.injection); each such sentence became WITHHELD_NOTE.
    flags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "url": self.url, "text": self.text, "flags": list(self.flags)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Source:
        flags = tuple(str(flag) for flag in data.get("flags", ()))
        return cls(title=str(data["title"]), url=str(data["url"]), text=str(data["text"]), flags=flags)


@dataclass(frozen=True)
class SearchOutcome:
    query: str
    sources: list[Source] = field(default_factory=list)
    error: str = ""  # plain words for the user when the search itself failed; "" if fine
    # Links the user shared that could not be read, each with why ("the page answered with HTTP 404").
    unread: dict[str, str] = field(default_factory=dict)

    @property
    def problems(self) -> str:
        """Everything that went wrong, in plain words: what the model is told beside the sources."""
        links = [f"I could not read {url}: {reason}." for url, reason in self.unread.items()]
        return " ".join([self.error, *links] if self.error else links)

    def to_json(self) -> dict[str, Any]:
        sources = [s.to_json() for s in self.sources]
        return {"query": self.query, "sources": sources, "error": self.error, "unread": dict(self.unread)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchOutcome:
        sources = [Source.from_json(item) for item in data.get("sources", [])]
        unread = {str(url): str(reason) for url, reason in data.get("unread", {}).items()}
        return cls(query=str(data.get("query", "")), sources=sources, error=str(data.get("error", "")), unread=unread)
