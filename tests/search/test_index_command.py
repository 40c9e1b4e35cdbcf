"""`manage.py search_index` fills the local index from a folder or a sitemap; search then finds the pages."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings

from search import conf
from search.index import LocalIndex
from search.service import gather
from tests.search.pages import ARTICLE, BOILERPLATE, BREAD_TEXT
from tests.support.fake_web import FakeWeb


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("search_index", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_folder_is_indexed_and_searched(search_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "site"
    (folder / "guides").mkdir(parents=True)
    (folder / "volcanoes.html").write_text(ARTICLE)
    (folder / "guides" / "bread.htm").write_text(BOILERPLATE)
    notes = "Notes on Crème brûlée\n\nCaramelise the sugar. " + "Crème brûlée, crème à la française, très légère. " * 4
    (folder / "notes.txt").write_bytes(notes.encode("latin-1"))
    (folder / "image.png").write_bytes(b"\x89PNG")
    out, _ = run("--folder", str(folder), "--base-url", "https://intranet.example/docs/")
    assert "indexed 3 files" in out
    assert "3 pages in" in out

    outcome = gather("why does sourdough taste sour", max_sources=1)
    assert outcome.error == ""
    [source] = outcome.sources
    assert source.url == "https://intranet.example/docs/guides/bread.htm"
    assert source.title == "Why sourdough rises"
    assert BREAD_TEXT in source.text
    [notes] = LocalIndex(conf.index_path()).search("caramelise", 1)
    assert notes.title == "Notes on Crème brûlée"


def test_without_a_base_url_files_get_file_urls(search_settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Lighthouses guide ships at night.")
    run("--folder", str(tmp_path))
    [hit] = LocalIndex(conf.index_path()).search("lighthouses", 1)
    assert hit.url == (tmp_path / "a.txt").as_uri()


def test_a_sitemap_and_a_sitemap_index_are_indexed(search_settings: Settings, web: FakeWeb) -> None:
    web.add("/pages/bread", BOILERPLATE)
    pages = f"<urlset><url><loc>{web.url('/article')}</loc></url><url><loc>{web.url('/pages/bread')}</loc></url>"
    pages += f"<url><loc>{web.url('/gone')}</loc></url><url><loc>http://10.0.0.1/private</loc></url></urlset>"
    web.add("/sitemap-pages.xml", pages, "application/xml")
    web.add(
        "/sitemap.xml", f"<sitemapindex><sitemap><loc>{web.url('/sitemap-pages.xml')}</loc></sitemap></sitemapindex>"
    )
    # application/xml is not a web page to the fetcher: the index points at a text/xml copy.
    web.add("/sitemap-pages.xml", pages, "text/plain")
    out, err = run("--clear", "--sitemap", web.url("/sitemap.xml"))
    assert "indexed 2 pages" in out
    assert "/gone: the page answered with HTTP 404" in err
    assert "10.0.0.1/private: 10.0.0.1 points to a private address" in err
    assert [h.url for h in LocalIndex(conf.index_path()).search("sourdough", 5)] == [web.url("/pages/bread")]


def test_an_unreadable_sitemap_is_a_command_error(search_settings: Settings, web: FakeWeb) -> None:
    with pytest.raises(CommandError, match="could not read the sitemap"):
        run("--sitemap", web.url("/missing.xml"))


def test_clear_empties_the_index(search_settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Lighthouses guide ships at night.")
    run("--folder", str(tmp_path))
    out, _ = run("--clear")
    assert "0 pages in" in out


def test_nothing_to_do_is_a_command_error(search_settings: Settings) -> None:
    with pytest.raises(CommandError, match="give --folder, --sitemap or --clear"):
        run()
