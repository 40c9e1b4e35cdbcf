"""Splitting a long answer into messages that each fit an app's limit.

Cuts fall on the best boundary that fits: a paragraph break, then a line break, then the end of a
sentence, then a space, so no word or URL (which holds no space) is ever broken. Fenced code blocks
are never cut at a boundary inside them; a block too long for one message is cut at a line end and
its fence is closed and opened again, so each message renders as code. Only a single "word" longer
than the whole limit is cut mid-way, as nothing else can fit it.

Limits are measured the way each app counts (`Measure`): characters, UTF-8 bytes or UTF-16 units.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

Measure = Callable[[str], int]

_BOUNDARIES = (
    re.compile(r"\n[ \t]*\n"),  # paragraph
    re.compile(r"\n"),  # line
    re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”’)\]]))\s+"),  # end of a sentence, after any closing quote
    re.compile(r"\s+"),  # between words
)
_FENCE = re.compile(r"^```[^\n]*$", re.MULTILINE)
_CLOSING_FENCE = "\n```"


def characters(text: str) -> int:
    return len(text)


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class TextLimit:
    size: int
    measure: Measure = characters

    def fits(self, text: str) -> bool:
        return self.measure(text) <= self.size


def split_text(text: str, limit: TextLimit) -> list[str]:
    """`text` as consecutive messages, each within `limit`; empty text gives no message."""
    parts: list[str] = []
    rest = text.strip()
    while rest and not limit.fits(rest):
        part, rest = _cut(rest, limit)
        parts.append(part)
        rest = rest.lstrip()  # a message never starts with the whitespace it was cut at
    if rest:
        parts.append(rest)
    return parts


def _cut(text: str, limit: TextLimit) -> tuple[str, str]:
    window = _longest_fitting_prefix(text, limit)
    fences = _fence_spans(text)
    for boundary in _BOUNDARIES:
        cut = _last_boundary(text, window, boundary, fences)
        if cut is not None:
            start, end = cut
            return text[:start].rstrip(), text[end:]
    fence = next(((s, e) for s, e in fences if s < window <= e), None)
    if fence is not None and (cut_in_code := _cut_inside_code(text, fence, limit)) is not None:
        return cut_in_code
    return text[:window], text[window:]  # one word longer than the limit


def _longest_fitting_prefix(text: str, limit: TextLimit) -> int:
    """The largest n with text[:n] within the limit (measures grow with the prefix: binary search)."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if limit.fits(text[:middle]):
            low = middle
        else:
            high = middle - 1
    return low


def _fence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every fenced code block, from its opening ``` line to the end of its closing one."""
    markers = list(_FENCE.finditer(text))
    spans = []
    for opening, closing in zip(markers[::2], markers[1::2], strict=False):
        spans.append((opening.start(), closing.end()))
    if len(markers) % 2:
        spans.append((markers[-1].start(), len(text)))  # an unclosed fence runs to the end
    return spans


def _inside(position: int, spans: list[tuple[int, int]]) -> bool:
    return any(start < position < end for start, end in spans)


def _last_boundary(
    text: str, window: int, boundary: re.Pattern[str], fences: list[tuple[int, int]]
) -> tuple[int, int] | None:
    """The last boundary that ends a non-empty part within the window and is not inside code."""
    found = None
    for match in boundary.finditer(text, 0, window + 1):
        if match.start() > 0 and not _inside(match.start(), fences):
            found = match.start()
    if found is None:
        return None
    end = boundary.match(text, found)  # the whole separator, also where it runs past the window
    return found, end.end() if end else found


def _cut_inside_code(text: str, fence: tuple[int, int], limit: TextLimit) -> tuple[str, str] | None:
    """Cut a too-long code block at its last line end that fits with a closing fence added, and open
    the fence again (with its language) at the start of the rest."""
    start, _ = fence
    opening = text[start : text.index("\n", start) if "\n" in text[start:] else len(text)]
    window = _longest_fitting_prefix(text, TextLimit(limit.size - limit.measure(_CLOSING_FENCE), limit.measure))
    line_end = text.rfind("\n", start + len(opening) + 1, window + 1)
    if line_end <= start + len(opening):
        return None  # a single line longer than the limit
    return text[:line_end] + _CLOSING_FENCE, f"{opening}\n{text[line_end + 1 :]}"
