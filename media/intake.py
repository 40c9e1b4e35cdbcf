"""Media intake: what a photo or a voice note is, judged by its bytes, and whether it may be kept.

Two halves, because the web process never decodes audio or images:
- `MediaBuffer` / `read_capped` / `accept` (any process): bytes read with a cap, the type sniffed from
  the first bytes (never the name), the declared kind compared with the content's.
- `clean_photo` / `decode_voice` (the `media` worker): the pixel count read from the header before any
  decoding (decompression bombs), a full decode (truncated files), metadata dropped on re-encoding
  (EXIF, GPS, XMP, comments), the photo kept scaled down to what the vision model uses, the duration
  capped both from the header and while decoding (a header can lie).
Each refusal is an AssistantError with its own code; nothing is returned, so nothing is stored, half.
"""

from __future__ import annotations

import enum
import io
import mimetypes
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from core.errors import AssistantError, ErrorCode
from media.conf import media_settings
from media.processes import ToolFailed, ffmpeg, probe

SNIFF_BYTES = 64  # every signature below is found within the first 64 bytes
SPEECH_SAMPLE_RATE = 16_000  # what the recognisers take: 16 kHz, mono, 16-bit PCM
_PCM_BYTES_PER_SECOND = SPEECH_SAMPLE_RATE * 2


class Kind(enum.StrEnum):
    PHOTO = "photo"
    AUDIO = "audio"


@dataclass(frozen=True)
class MediaType:
    mime: str
    kind: Kind
    demuxer: str = ""  # ffmpeg's input format for audio, forced so it never guesses from the content again


JPEG = MediaType("image/jpeg", Kind.PHOTO)
PNG = MediaType("image/png", Kind.PHOTO)
GIF = MediaType("image/gif", Kind.PHOTO)
WEBP = MediaType("image/webp", Kind.PHOTO)
OGG = MediaType("audio/ogg", Kind.AUDIO, "ogg")  # WhatsApp's and Telegram's voice notes (Opus)
WEBM = MediaType("audio/webm", Kind.AUDIO, "matroska")  # Chrome's and Firefox's MediaRecorder (Opus)
MP3 = MediaType("audio/mpeg", Kind.AUDIO, "mp3")
AAC = MediaType("audio/aac", Kind.AUDIO, "aac")  # ADTS, as WhatsApp sends `audio/aac`
MP4_AUDIO = MediaType("audio/mp4", Kind.AUDIO, "mov")  # M4A; Safari's MediaRecorder
THREE_GP = MediaType("audio/3gpp", Kind.AUDIO, "mov")
WAV = MediaType("audio/wav", Kind.AUDIO, "wav")
AMR = MediaType("audio/amr", Kind.AUDIO, "amr")  # WhatsApp accepts `audio/amr`

_ISO_BRANDS_3GP = (b"3gp", b"3g2")
_ISO_BRANDS_HEIF = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif")


def sniff(head: bytes) -> MediaType:
    """The media type of a file from its first bytes. Raises UNSUPPORTED_FILE_TYPE for anything else
    (a ZIP archive is refused here, by its signature, and never inflated)."""
    if found := _sniff_photo(head) or _sniff_audio(head):
        return found
    raise AssistantError(ErrorCode.UNSUPPORTED_FILE_TYPE, _unsupported_sentence(head))


def _sniff_photo(head: bytes) -> MediaType | None:
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return None


def _sniff_audio(head: bytes) -> MediaType | None:
    if head.startswith(b"OggS"):
        return OGG
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return WEBM
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head.startswith(b"#!AMR"):
        return AMR
    if head.startswith(b"ID3"):
        return MP3
    if head[4:8] == b"ftyp" and not head[8:12].startswith(_ISO_BRANDS_HEIF):
        return THREE_GP if head[8:12].startswith(_ISO_BRANDS_3GP) else MP4_AUDIO
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # MPEG audio frame sync: layer bits 00 are AAC's ADTS header, anything else is MP1/2/3.
        return AAC if head[1] & 0x06 == 0 else MP3
    return None


def _unsupported_sentence(head: bytes) -> str:
    if not head:
        return "The file is empty."
    if head.startswith(b"PK\x03\x04"):
        return "A ZIP archive is not a photo or a voice note, so it was not opened."
    if head[4:8] == b"ftyp":
        return "HEIC and AVIF photos are not supported yet: please send a JPEG or PNG."
    return "This is not a photo (JPEG, PNG, GIF, WebP) or a voice note (OGG, WebM, MP3, M4A, AAC, AMR, WAV)."


class MediaBuffer:
    """A file read piece by piece: refused as soon as it passes its cap, or as soon as its first bytes
    show it is not a `kind` at all, so a wrong or oversized file is never read whole."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        configured = media_settings()
        self.limit = configured.photo_max_bytes if kind is Kind.PHOTO else configured.voice_max_bytes
        self._data = bytearray()
        self.media_type: MediaType | None = None

    def add(self, chunk: bytes) -> None:
        if len(self._data) + len(chunk) > self.limit:
            raise AssistantError(
                ErrorCode.FILE_TOO_LARGE,
                f"The {self.kind} is larger than {self.limit / 2**20:g} MB, so it was not kept.",
            )
        self._data += chunk
        if self.media_type is None and len(self._data) >= SNIFF_BYTES:
            self.media_type = _of_kind(sniff(bytes(self._data[:SNIFF_BYTES])), self.kind)

    def finish(self) -> tuple[bytes, MediaType]:
        """The whole file and its type (a file shorter than SNIFF_BYTES is sniffed here)."""
        data = bytes(self._data)
        return data, self.media_type or _of_kind(sniff(data), self.kind)


def read_capped(chunks: Iterable[bytes], kind: Kind, *, declared: str = "") -> tuple[bytes, MediaType]:
    """Read an upload or a download of a `kind` (see MediaBuffer); `declared` is the file name or the
    content type its sender gave, checked against the content (see `accept`)."""
    buffer = MediaBuffer(kind)
    for chunk in chunks:
        buffer.add(chunk)
    data, media_type = buffer.finish()
    _check_declared(media_type, declared)
    return data, media_type


def accept(data: bytes, kind: Kind, *, declared: str = "") -> MediaType:
    """`read_capped` for bytes already in memory."""
    return read_capped([data], kind, declared=declared)[1]


def _of_kind(media_type: MediaType, kind: Kind) -> MediaType:
    if media_type.kind is not kind:
        raise AssistantError(
            ErrorCode.FILE_TYPE_MISMATCH, f"A {kind} was expected, but this file is {media_type.mime}."
        )
    return media_type


def _check_declared(media_type: MediaType, declared: str) -> None:
    """A name or content type that says another kind (a PNG named `.ogg`) is refused: the sender is
    mistaken or lying, and neither the name nor the content can be trusted to mean what the user meant.
    Within a kind the content decides (a JPEG named `.png` is a JPEG)."""
    declared_mime = declared if "/" in declared else mimetypes.guess_type(f"x{Path(declared).suffix}")[0] or ""
    declared_kind = {"image": Kind.PHOTO, "audio": Kind.AUDIO}.get(declared_mime.split("/")[0])
    if declared_kind is not None and declared_kind is not media_type.kind:
        raise AssistantError(
            ErrorCode.FILE_TYPE_MISMATCH, f"The file is called {declared!r}, but its content is {media_type.mime}."
        )


# --- the worker's half -------------------------------------------------------------------------------


JPEG_QUALITY = 85  # 30 % smaller than 90 on a grainy phone photo at 1120 pixels, with no visible loss


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes  # the photo kept and sent on: re-encoded from the pixels alone (no EXIF, GPS, XMP, ICC or
    # comments), its longer side at most MEDIA_PHOTO_MAX_SIDE
    media_type: MediaType  # JPEG; PNG for a PNG with transparency or smaller as PNG (a screenshot)
    width: int  # of `data`
    height: int
    image: Image.Image  # the decoded pixels at full resolution, upright, for OCR (small print needs them)


def clean_photo(data: bytes, media_type: MediaType) -> CleanPhoto:
    """Decode a photo that `accept` took, turned upright by its EXIF orientation, and re-encode it
    without metadata and scaled down (see `scaled_down`). Raises IMAGE_TOO_MANY_PIXELS (from the header,
    before decoding) or BROKEN_FILE."""
    configured = media_settings()
    try:
        with Image.open(io.BytesIO(data), formats=[media_type.mime.split("/")[1].upper()]) as opened:
            if opened.width * opened.height > configured.photo_max_pixels:
                raise _too_many_pixels(f"{opened.width}×{opened.height} pixels", configured.photo_max_pixels)
            opened.load()  # the first frame only: an animation's other frames are never decoded
            upright = ImageOps.exif_transpose(opened)
    except Image.DecompressionBombError as error:  # Pillow's own guard, far above ours, fires while opening
        raise _too_many_pixels("far too many pixels", configured.photo_max_pixels) from error
    except (OSError, SyntaxError, ValueError) as error:  # UnidentifiedImageError is an OSError
        raise AssistantError(
            ErrorCode.BROKEN_FILE, "The photo is damaged or cut short, so it could not be read."
        ) from error
    pixels = _pixels_only(upright)
    kept = scaled_down(pixels, configured.photo_max_side)
    encoded, kept_type = _encode(kept, media_type)
    return CleanPhoto(encoded, kept_type, *kept.size, image=pixels)


def scaled_down(image: Image.Image, max_side: int) -> Image.Image:
    """`image` with its longer side at most `max_side`, its aspect kept (Lanczos); itself when it fits.
    Llama 3.2 Vision's processor fits a photo into at most 4 tiles of 560×560 (a 4:3 or 16:9 photo into
    1120×1120), so any pixel past 1120 on the longer side is bytes on the wire and in storage, not sight."""
    longer = max(image.size)
    if longer <= max_side:
        return image
    width, height = (max(1, round(side * max_side / longer)) for side in image.size)
    return image.resize((width, height), Image.Resampling.LANCZOS)


def _too_many_pixels(size: str, max_pixels: int) -> AssistantError:
    return AssistantError(
        ErrorCode.IMAGE_TOO_MANY_PIXELS, f"The photo has {size}; at most {max_pixels / 1e6:g} million are taken."
    )


def _pixels_only(image: Image.Image) -> Image.Image:
    """A new image holding the pixels and nothing else, in RGB (RGBA when it has transparency)."""
    mode = "RGBA" if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info else "RGB"
    converted = image.convert(mode)
    return Image.frombytes(mode, converted.size, converted.tobytes())


def _encode(pixels: Image.Image, source: MediaType) -> tuple[bytes, MediaType]:
    """JPEG; a PNG stays PNG when it has transparency (JPEG has none) or when PNG is the smaller, as for
    a screenshot's flat colours and sharp text, which JPEG would also blur."""
    if source is not PNG:
        return _saved(pixels.convert("RGB"), "JPEG", quality=JPEG_QUALITY), JPEG
    png = _saved(pixels, "PNG")
    if pixels.mode == "RGBA":
        return png, PNG
    jpeg = _saved(pixels, "JPEG", quality=JPEG_QUALITY)
    return (png, PNG) if len(png) <= len(jpeg) else (jpeg, JPEG)


def _saved(pixels: Image.Image, image_format: str, **options: int) -> bytes:
    out = io.BytesIO()
    pixels.save(out, format=image_format, **options)
    return out.getvalue()


@dataclass(frozen=True)
class VoicePcm:
    pcm: bytes  # 16 kHz, mono, signed 16-bit little-endian
    seconds: float
    codec: str  # ffmpeg's name of the codec it was sent in (opus, aac, mp3, amrnb…)


def decode_voice(data: bytes, media_type: MediaType) -> VoicePcm:
    """Decode a voice note that `accept` took to the recognisers' PCM. Raises AUDIO_TOO_LONG (from the
    header, or while decoding when the header says nothing or lies) or BROKEN_FILE."""
    max_seconds = media_settings().voice_max_seconds
    with tempfile.TemporaryDirectory(prefix="media-") as folder:
        path = Path(folder, "voice")
        path.write_bytes(data)
        facts = probe(str(path))
        if facts.audio_codec is None:
            raise AssistantError(ErrorCode.BROKEN_FILE, "The voice note has no sound in it that could be read.")
        if facts.duration_seconds is not None and facts.duration_seconds > max_seconds:
            raise _too_long(facts.duration_seconds, max_seconds)
        pcm = _decode(path, media_type, limit_seconds=max_seconds)
    seconds = len(pcm) / _PCM_BYTES_PER_SECOND
    if seconds > max_seconds:
        raise _too_long(seconds, max_seconds)
    if not pcm:
        raise AssistantError(ErrorCode.BROKEN_FILE, "The voice note is empty or damaged.")
    return VoicePcm(pcm=pcm, seconds=seconds, codec=facts.audio_codec)


def _decode(path: Path, media_type: MediaType, *, limit_seconds: float) -> bytes:
    """At most a little more than `limit_seconds` are decoded, whatever the header claimed."""
    try:
        return ffmpeg(
            "-protocol_whitelist", "file",  # a playlist-like input can never make ffmpeg fetch anything
            "-f", media_type.demuxer, "-i", str(path),
            "-map", "0:a:0", "-t", f"{limit_seconds + 1:g}",
            "-ac", "1", "-ar", str(SPEECH_SAMPLE_RATE), "-f", "s16le", "-",
        )  # fmt: skip
    except ToolFailed as error:
        raise AssistantError(ErrorCode.BROKEN_FILE, "The voice note is damaged or cut short.") from error


def _too_long(seconds: float, max_seconds: float) -> AssistantError:
    return AssistantError(
        ErrorCode.AUDIO_TOO_LONG,
        f"The voice note is {seconds / 60:.0f} minutes long; at most {max_seconds / 60:g} minutes are taken.",
    )
