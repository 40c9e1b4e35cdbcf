"""Text out of uploaded files, page by page, and into token-counted chunks.

The type is read from the bytes (magic numbers, zip member names), never from the name: a renamed
file is what it is. Every cap refuses the file with its own code (core/errors.py), and the
archive checks of DOCX and PPTX run on the zip's directory before anything is decompressed.
Pages: a PDF's pages, a PPTX's slides, a DOCX's stretches between explicit page breaks (Word lays
out the rest when it renders, so a file holds no other page numbers), a text file's form feeds.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

import docx
import pptx
import pypdf
import trafilatura
from lxml import html as lxml_html
from pypdf.errors import PyPdfError

from core.errors import AssistantError, ErrorCode
from knowledge.conf import KnowledgeSettings, knowledge_settings
from search import ranking


class MediaType(StrEnum):
    PDF = "application/pdf"
    DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    HTML = "text/html"
    MARKDOWN = "text/markdown"
    TEXT = "text/plain"


# A page break the author put in (Word's own pagination is not stored reliably: it depends on layout).
EXPLICIT_PAGE_BREAK = './/w:br[@w:type="page"]'
ZIP_TYPES = {"word/document.xml": MediaType.DOCX, "ppt/presentation.xml": MediaType.PPTX}
HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL)
# Elements a browser does not show; their text is not the document's (and is where injected text hides).
HIDDEN = (
    "//*[@hidden] | //*[@aria-hidden='true'] | //script | //style | //template | //noscript"
    " | //*[contains(translate(@style, ' ', ''), 'display:none')]"
    " | //*[contains(translate(@style, ' ', ''), 'visibility:hidden')]"
)


@dataclass(frozen=True)
class Extracted:
    media_type: MediaType
    pages: list[str]  # pages[0] is page 1


@dataclass(frozen=True)
class Chunk:
    page: int
    ordinal: int
    text: str
    tokens: int


def refuse(code: ErrorCode, detail: str) -> AssistantError:
    return AssistantError(code, detail)


def sniff(data: bytes, name: str, caps: KnowledgeSettings) -> MediaType:
    """The file's type from its content. The name only tells Markdown from plain text."""
    if data.startswith(b"%PDF-"):
        return MediaType.PDF
    if data.startswith(b"PK\x03\x04"):
        return _zip_type(data, caps)
    if HTML_START.match(data[:4096]):
        return MediaType.HTML
    if b"\x00" in data or not _is_utf8(data):
        raise refuse(
            ErrorCode.UNSUPPORTED_FILE_TYPE, "Upload a PDF, Word (.docx), PowerPoint (.pptx), HTML or text file."
        )
    return MediaType.MARKDOWN if name.lower().endswith((".md", ".markdown")) else MediaType.TEXT


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return True


def _zip_type(data: bytes, caps: KnowledgeSettings) -> MediaType:
    archive = _open_zip(data)
    check_archive(archive, caps)
    names = set(archive.namelist())
    for member, media_type in ZIP_TYPES.items():
        if member in names:
            return media_type
    raise refuse(ErrorCode.UNSUPPORTED_FILE_TYPE, "This archive is not a Word (.docx) or PowerPoint (.pptx) file.")


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, EOFError, ValueError):
        raise refuse(ErrorCode.BROKEN_FILE, "The file is damaged: its archive cannot be read.") from None


def check_archive(archive: zipfile.ZipFile, caps: KnowledgeSettings) -> None:
    """Refuse a zip bomb from its directory alone. The sizes it declares bind what is read later:
    zipfile stops at an entry's declared size and checks its CRC, so a lying entry is a broken file."""
    entries = archive.infolist()
    if len(entries) > caps.max_zip_entries:
        raise refuse(ErrorCode.FILE_TOO_LARGE, f"The archive holds more than {caps.max_zip_entries} files.")
    total = sum(entry.file_size for entry in entries)
    ratio = max((entry.file_size / max(entry.compress_size, 1) for entry in entries), default=0.0)
    if total > caps.max_zip_uncompressed_bytes or ratio > caps.max_zip_ratio:
        raise refuse(
            ErrorCode.FILE_TOO_LARGE, "The file unpacks to far more than its size: it is refused as a zip bomb."
        )


def extract(data: bytes, name: str, caps: KnowledgeSettings | None = None) -> Extracted:
    """The text of each page, or AssistantError with the cap, encryption or damage that stopped it."""
    caps = caps or knowledge_settings()
    if len(data) > caps.max_file_bytes:
        raise refuse(ErrorCode.FILE_TOO_LARGE, f"The file is larger than {caps.max_file_bytes // (1024 * 1024)} MB.")
    media_type = sniff(data, name, caps)
    deadline = time.monotonic() + caps.extraction_seconds
    pages: list[str] = []
    for text in _page_texts(media_type, data, caps):
        if time.monotonic() > deadline:
            raise refuse(
                ErrorCode.EXTRACTION_TIMEOUT, f"Reading the file took longer than {caps.extraction_seconds:g} s."
            )
        pages.append(text.strip())
        _check_size(pages, caps)
    if not any(pages):
        raise refuse(ErrorCode.NO_TEXT, "The file has no text to read (a scanned document needs OCR first).")
    return Extracted(media_type, pages)


def _check_size(pages: list[str], caps: KnowledgeSettings) -> None:
    if len(pages) > caps.max_pages:
        raise refuse(ErrorCode.DOCUMENT_TOO_LONG, f"The document has more than {caps.max_pages} pages.")
    if sum(len(page) for page in pages) > caps.max_characters:
        raise refuse(
            ErrorCode.DOCUMENT_TOO_LONG, f"The document has more than {caps.max_characters:,} characters of text."
        )


def _page_texts(media_type: MediaType, data: bytes, caps: KnowledgeSettings) -> Iterator[str]:
    readers: dict[MediaType, Callable[[bytes, KnowledgeSettings], Iterator[str]]] = {
        MediaType.PDF: _pdf_pages,
        MediaType.DOCX: _docx_pages,
        MediaType.PPTX: _pptx_pages,
        MediaType.HTML: _html_pages,
        MediaType.MARKDOWN: _text_pages,
        MediaType.TEXT: _text_pages,
    }
    try:
        yield from readers[media_type](data, caps)
    except AssistantError:
        raise
    except (PyPdfError, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise refuse(ErrorCode.BROKEN_FILE, f"The file is damaged and cannot be read ({type(exc).__name__}).") from None


def _pdf_pages(data: bytes, caps: KnowledgeSettings) -> Iterator[str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        raise refuse(ErrorCode.ENCRYPTED_FILE, "The PDF is password-protected: upload a copy without the password.")
    if len(reader.pages) > caps.max_pages:  # known before any page is read
        raise refuse(ErrorCode.DOCUMENT_TOO_LONG, f"The document has more than {caps.max_pages} pages.")
    for page in reader.pages:
        yield page.extract_text() or ""


def _docx_pages(data: bytes, _caps: KnowledgeSettings) -> Iterator[str]:
    page: list[str] = []
    for paragraph in docx.Document(io.BytesIO(data)).paragraphs:
        if paragraph.paragraph_format.page_break_before and page:
            yield "\n".join(page)
            page = []
        page.append(paragraph.text)
        if paragraph._p.xpath(EXPLICIT_PAGE_BREAK):  # python-docx has no public API for breaks
            yield "\n".join(page)
            page = []
    yield "\n".join(page)


def _pptx_pages(data: bytes, _caps: KnowledgeSettings) -> Iterator[str]:
    for slide in pptx.Presentation(io.BytesIO(data)).slides:
        yield "\n".join(_shape_texts(slide.shapes))


def _shape_texts(shapes: pptx.shapes.shapetree.SlideShapes) -> Iterator[str]:
    for shape in shapes:
        if shape.has_text_frame:
            yield shape.text_frame.text
        if getattr(shape, "has_table", False):
            yield from (cell.text for row in shape.table.rows for cell in row.cells)
        if hasattr(shape, "shapes"):  # a group
            yield from _shape_texts(shape.shapes)


def _html_pages(data: bytes, _caps: KnowledgeSettings) -> Iterator[str]:
    tree = lxml_html.document_fromstring(data)
    for element in tree.xpath(HIDDEN):
        element.drop_tree()
    visible = lxml_html.tostring(tree, encoding="unicode")
    yield trafilatura.extract(visible, include_comments=False, include_tables=True, favor_recall=True) or ""


def _text_pages(data: bytes, _caps: KnowledgeSettings) -> Iterator[str]:
    yield from data.decode("utf-8-sig").split("\f")


def chunk_pages(pages: list[str], count_tokens: Callable[[str], int], chunk_tokens: int) -> list[Chunk]:
    """Each page cut into chunks of about `chunk_tokens` tokens, never across pages. A chunk is whole
    passages (search/ranking.py's, ≤ 400 characters); the next chunk starts again with the last
    passage of the one before (when the two fit together), so text near a cut is whole in one of them."""
    chunks: list[Chunk] = []
    for number, text in enumerate(pages, start=1):
        for chunk_text in _page_chunks(ranking.split_passages(text), count_tokens, chunk_tokens):
            chunks.append(Chunk(number, len(chunks), chunk_text, count_tokens(chunk_text)))
    return chunks


def _page_chunks(passages: list[str], count_tokens: Callable[[str], int], chunk_tokens: int) -> Iterator[str]:
    current: list[str] = []
    costs: list[int] = []
    has_new_text = False  # the overlap alone is not a chunk
    for passage in passages:
        cost = count_tokens(passage)
        if has_new_text and sum(costs) + cost > chunk_tokens:
            yield " ".join(current)
            # The next chunk starts with this one's last passage, when both passages fit.
            current, costs = (current[-1:], costs[-1:]) if costs[-1] + cost <= chunk_tokens else ([], [])
        current.append(passage)
        costs.append(cost)
        has_new_text = True
    if has_new_text:
        yield " ".join(current)
