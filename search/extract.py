"""Main text of a fetched page, with trafilatura: the article, not the menus, ads and footers."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import trafilatura

from search.fetch import Page

TITLE_CHARS = 200
HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


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


def extract_html(markup: str, url: str) -> Document:
    found = trafilatura.bare_extraction(markup, url=url, with_metadata=True, include_comments=False)
    text = (found.text if found else "") or ""
    title = (found.title if found else "") or _html_title(markup)
    return Document(title=(title or url)[:TITLE_CHARS], url=url, text=text.strip())


def extract(page: Page) -> Document:
    if page.content_type == "text/plain":
        return Document(title=(_first_line(page.text) or page.url)[:TITLE_CHARS], url=page.url, text=page.text.strip())
    return extract_html(page.text, page.url)
