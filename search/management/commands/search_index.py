"""Fill the local search index (the embedded default provider) from a folder or a sitemap.

    manage.py search_index --folder docs/ --base-url https://intranet.example/docs/
    manage.py search_index --sitemap https://example.org/sitemap.xml
    manage.py search_index --clear

Folders: .html/.htm/.txt/.md files, their main text extracted like fetched pages. Sitemaps: every
<loc> (one level of sitemap index followed), fetched with the same SSRF-checked fetcher as search,
so an intranet host must be listed in SEARCH_FETCH_ALLOWED_HOSTS.
"""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.core.management.base import BaseCommand, CommandError, CommandParser

from search import conf
from search.extract import Document, extract
from search.fetch import TEXT_TYPES, XML_TYPES, FetchError, Page, SafeFetcher, decode_body
from search.index import LocalIndex
from search.service import fetch_documents

SUFFIXES = {".html": "text/html", ".htm": "text/html", ".txt": "text/plain", ".md": "text/plain"}
SITEMAP_TYPES = TEXT_TYPES | XML_TYPES
LOC = re.compile(r"<loc>\s*(.*?)\s*</loc>", re.IGNORECASE | re.DOTALL)


def folder_documents(folder: Path, base_url: str) -> list[Document]:
    """Each file's main text; a file is read only up to SEARCH_FETCH_MAX_BYTES, like a fetched page."""
    max_bytes = conf.search_settings().fetch_max_bytes
    documents = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()):
        relative = path.relative_to(folder).as_posix()
        url = base_url + quote(relative) if base_url else path.resolve().as_uri()
        page = Page(
            url=url,
            content_type=SUFFIXES[path.suffix.lower()],
            text=decode_body(_head(path, max_bytes)),
            truncated=False,
        )
        if (document := extract(page)).text:
            documents.append(document)
    return documents


def _head(path: Path, max_bytes: int) -> bytes:
    with path.open("rb") as file:
        return file.read(max_bytes)


def sitemap_locations(xml: str) -> list[str]:
    return [html.unescape(location) for location in LOC.findall(xml)]


async def sitemap_documents(sitemap_url: str, limit: int) -> tuple[list[Document], list[str]]:
    """The documents of a sitemap's pages, and the failures as "url: reason" lines."""
    async with SafeFetcher() as fetcher:
        sitemap = await fetcher.fetch(sitemap_url, SITEMAP_TYPES)
        locations = sitemap_locations(sitemap.text)
        if "<sitemapindex" in sitemap.text.lower():
            fetches = (fetcher.fetch(url, SITEMAP_TYPES) for url in locations)
            children = await asyncio.gather(*fetches, return_exceptions=True)
            locations = [loc for child in children if isinstance(child, Page) for loc in sitemap_locations(child.text)]
        locations = list(dict.fromkeys(locations))[:limit]
        outcomes = await fetch_documents(fetcher, locations)
    documents = [outcome for outcome in outcomes if isinstance(outcome, Document)]
    failures = [
        f"{url}: {outcome}" for url, outcome in zip(locations, outcomes, strict=True) if isinstance(outcome, FetchError)
    ]
    return documents, failures


class Command(BaseCommand):
    help = "Fill the local search index from a folder of HTML/text files or from a sitemap URL."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--folder", type=Path, help="a folder of .html, .htm, .txt and .md files")
        parser.add_argument("--base-url", default="", help="the folder's URL on the web (default: file:// URLs)")
        parser.add_argument("--sitemap", help="a sitemap.xml (or sitemap index) URL")
        parser.add_argument("--limit", type=int, default=1000, help="most pages taken from a sitemap")
        parser.add_argument("--clear", action="store_true", help="empty the index first")

    def handle(self, *args: Any, **options: Any) -> None:
        index = LocalIndex(conf.index_path())
        if options["clear"]:
            index.clear()
        if options["folder"]:
            self._index_folder(index, options["folder"], options["base_url"])
        if options["sitemap"]:
            self._index_sitemap(index, options["sitemap"], options["limit"])
        if not (options["folder"] or options["sitemap"] or options["clear"]):
            raise CommandError("give --folder, --sitemap or --clear")
        self.stdout.write(f"{index.count()} pages in {index.path}")

    def _index_folder(self, index: LocalIndex, folder: Path, base_url: str) -> None:
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder")
        added = index.add(folder_documents(folder, base_url))
        self.stdout.write(f"indexed {added} files from {folder}")

    def _index_sitemap(self, index: LocalIndex, url: str, limit: int) -> None:
        try:
            documents, failures = asyncio.run(sitemap_documents(url, limit))
        except FetchError as error:
            raise CommandError(f"could not read the sitemap {url}: {error}") from error
        for failure in failures:
            self.stderr.write(f"skipped {failure}")
        self.stdout.write(f"indexed {index.add(documents)} pages from {url}")
