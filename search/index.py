"""The local search index: one SQLite FTS5 table of page texts, in a file under VAR_DIR.

It is the embedded default provider, filled by an operator with `manage.py search_index` from a
folder of HTML/text files or from a sitemap. Every process opens the file for each call, so a
refill is seen at once; SQLite's WAL journal lets searches read while the command writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from search.extract import Document
from search.ranking import words

SNIPPET_TOKENS = 32
SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS pages
USING fts5(url UNINDEXED, title, body, tokenize = 'porter unicode61 remove_diacritics 2')
"""


@dataclass(frozen=True)
class IndexHit:
    title: str
    url: str
    snippet: str
    text: str


def match_expression(query: str) -> str:
    """The query's words as quoted FTS5 terms joined by OR: typed operators or quotes stay plain words."""
    return " OR ".join(f'"{word}"' for word in dict.fromkeys(words(query)))


class LocalIndex:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=20)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(SCHEMA)
            with connection:  # one transaction: committed on success, rolled back on error
                yield connection

    def add(self, documents: Iterable[Document]) -> int:
        """Store each document's text (replacing an earlier copy of the same URL); returns how many."""
        count = 0
        with self._connection() as connection:
            for document in documents:
                connection.execute("DELETE FROM pages WHERE url = ?", (document.url,))
                connection.execute(
                    "INSERT INTO pages (url, title, body) VALUES (?, ?, ?)",
                    (document.url, document.title, document.text),
                )
                count += 1
        return count

    def clear(self) -> None:
        with self._connection() as connection:
            connection.execute("DELETE FROM pages")

    def count(self) -> int:
        with self._connection() as connection:
            return int(connection.execute("SELECT count(*) FROM pages").fetchone()[0])

    def search(self, query: str, limit: int) -> list[IndexHit]:
        """The best `limit` pages for `query`, by FTS5's BM25 with titles weighing more than bodies."""
        expression = match_expression(query)
        if not expression:
            return []
        with self._connection() as connection:
            rows = connection.execute(
                "SELECT title, url, snippet(pages, 2, '', '', '…', ?), body FROM pages WHERE pages MATCH ?"
                " ORDER BY bm25(pages, 0.0, 4.0, 1.0) LIMIT ?",
                (SNIPPET_TOKENS, expression, limit),
            ).fetchall()
        return [IndexHit(title=row[0], url=row[1], snippet=row[2], text=row[3]) for row in rows]
