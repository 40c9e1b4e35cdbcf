"""Main-text extraction with trafilatura: the article stays, menus, banners and footers go."""

from __future__ import annotations

from search.extract import extract
from search.fetch import Page
from tests.search.pages import ARTICLE, BOILERPLATE, BREAD_TEXT, VOLCANO_PARAGRAPHS


def page(text: str, content_type: str = "text/html") -> Page:
    return Page(url="https://example.org/a", content_type=content_type, text=text, truncated=False)


def test_an_article_keeps_its_paragraphs_and_loses_navigation() -> None:
    document = extract(page(ARTICLE))
    assert document.title == "How volcanoes form"
    for paragraph in VOLCANO_PARAGRAPHS:
        assert paragraph in document.text
    for boilerplate in ("Subscribe now", "Sign in", "Copyright 2026", "Cookie settings", "celebrity diets"):
        assert boilerplate not in document.text


def test_a_boilerplate_heavy_page_yields_only_its_article() -> None:
    document = extract(page(BOILERPLATE))
    assert BREAD_TEXT in document.text
    assert len(document.text) < len(BREAD_TEXT) * 1.5
    for boilerplate in ("cookies", "newsletter", "Category 7", "Related post", "Share on"):
        assert boilerplate not in document.text


def test_plain_text_is_kept_as_is_with_its_first_line_as_title() -> None:
    document = extract(page("\nRelease notes\n\nVersion 2 fixes the bug.\n", "text/plain"))
    assert document.title == "Release notes"
    assert document.text == "Release notes\n\nVersion 2 fixes the bug."


def test_a_page_with_no_text_has_an_empty_text_and_its_url_as_title() -> None:
    document = extract(page("<html><body><img src='x.png'></body></html>"))
    assert document.text == ""
    assert document.title == "https://example.org/a"
