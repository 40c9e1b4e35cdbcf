"""Documents built in the test, with the libraries' own writers (no files checked in)."""

from __future__ import annotations

import io
import zipfile

import docx
import pptx
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

LINE_HEIGHT = 14


def _pdf_string(line: str) -> bytes:
    escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"({escaped}) Tj T*".encode("latin-1")


def pdf_bytes(pages: list[str], *, password: str = "") -> bytes:
    """A PDF with one page per text (Helvetica, one text line per line), optionally encrypted."""
    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for text in pages:
        page = writer.add_blank_page(612, 792)
        content = DecodedStreamObject()
        lines = b" ".join(_pdf_string(line) for line in text.splitlines())
        content.set_data(b"BT /F1 11 Tf %d TL 72 720 Td " % LINE_HEIGHT + lines + b" ET")
        page[NameObject("/Contents")] = writer._add_object(content)
        fonts = DictionaryObject({NameObject("/F1"): font})
        page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    if password:
        writer.encrypt(user_password=password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(pages: list[str]) -> bytes:
    """A Word file with an explicit page break between the texts."""
    document = docx.Document()
    for number, text in enumerate(pages):
        if number:
            document.add_page_break()
        for line in text.splitlines():
            document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx_bytes(slides: list[str]) -> bytes:
    """A presentation with one slide per text: its first line the title, the rest the body."""
    presentation = pptx.Presentation()
    layout = presentation.slide_layouts[1]  # title and content
    for text in slides:
        title, _, body = text.partition("\n")
        slide = presentation.slides.add_slide(layout)
        slide.shapes.title.text = title
        slide.placeholders[1].text_frame.text = body
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def zip_bomb(uncompressed_mb: int) -> bytes:
    """A zip shaped like a DOCX whose document part is megabytes of zeros (compressing ~1000:1)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as part:
            zeros = bytes(1024 * 1024)
            for _ in range(uncompressed_mb):
                part.write(zeros)
    return out.getvalue()
