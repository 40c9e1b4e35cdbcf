"""Main text of a fetched page, with trafilatura: the article, not the menus, ads and footers.

What a reader never sees is removed first (`search.hidden`), and so are invisible characters that
spell text (Unicode tag characters, which can smuggle instructions past a person reading the page).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import trafilatura

from search.fetch import Page
from search.hidden import drop_hidden, parse

TITLE_CHARS = 200
HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
INVISIBLE_CHARACTERS = re.compile("[\U000e0000-\U000e007f]")  # Unicode tags: invisible copies of ASCII


@dataclass(frozen=True)
class Document:
    title: str
    url: str
    text: str


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _html_title(markup: str) -> str:
    match = HTML_TITLE.search(markup)
    return " ".join(html.unescape(match.group(1)).split()) if match else ""


def visible_text(text: str) -> str:
    return INVISIBLE_CHARACTERS.sub("", text).strip()


def _extraction(markup: str, url: str) -> trafilatura.settings.Document | None:
    document = parse(markup)
    if document is None:
        return None
    return trafilatura.bare_extraction(drop_hidden(document), url=url, with_metadata=True, include_comments=False)


def extract_html(markup: str, url: str) -> Document:
    found = _extraction(markup, url)
    text = (found.text if found else "") or ""
    title = (found.title if found else "") or _html_title(markup)
    return Document(title=visible_text(title or url)[:TITLE_CHARS], url=url, text=visible_text(text))


def extract(page: Page) -> Document:
    if page.content_type == "text/plain":
        text = visible_text(page.text)
        return Document(title=(_first_line(text) or page.url)[:TITLE_CHARS], url=page.url, text=text)
    return extract_html(page.text, page.url)
