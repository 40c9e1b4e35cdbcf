"""Running ffmpeg and espeak-ng: every decode and encode of audio happens in these child processes,
with a time limit, inputs and outputs in a private temporary folder (MP4 and M4A need seekable files)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

import imageio_ffmpeg

from core.errors import AssistantError, ErrorCode
from media.conf import media_settings

# `ffmpeg -i FILE` with no output prints what it found to stderr, then exits 1: ffprobe's facts
# without a second binary (imageio-ffmpeg ships ffmpeg alone).
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_AUDIO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Audio: (\w+)")


class ToolFailed(Exception):
    """ffmpeg or espeak-ng exited with an error; the message is the end of what it printed."""


@dataclass(frozen=True)
class Probe:
    duration_seconds: float | None  # None: the container does not say (a raw stream)
    audio_codec: str | None  # ffmpeg's name of the first audio stream's codec; None: there is none


def ffmpeg_path() -> str:
    return media_settings().ffmpeg or imageio_ffmpeg.get_ffmpeg_exe()


def run_tool(command: list[str], *, stdin: bytes = b"") -> bytes:
    """Run `command`, return its stdout. Raises ToolFailed on a non-zero exit (and see `_run`)."""
    done = _run(command, stdin=stdin)
    if done.returncode != 0:
        raise ToolFailed(done.stderr.decode("utf-8", "replace")[-2000:])
    return done.stdout


def _run(command: list[str], *, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Raises SERVICE_UNAVAILABLE when the tool runs past MEDIA_PROCESS_TIMEOUT or is not installed."""
    timeout = media_settings().process_timeout
    try:
        return subprocess.run(command, input=stdin, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise AssistantError(
            ErrorCode.SERVICE_UNAVAILABLE, f"Processing the media took longer than {timeout:g} s; please try again."
        ) from error
    except FileNotFoundError as error:
        raise AssistantError(ErrorCode.SERVICE_UNAVAILABLE, f"{command[0]} is not installed on this server.") from error


def ffmpeg(*arguments: str, stdin: bytes = b"") -> bytes:
    return run_tool([ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", *arguments], stdin=stdin)


def probe(path: str) -> Probe:
    """What ffmpeg reads from the container's header, without decoding any audio."""
    # Without an output ffmpeg exits 1 after printing what it found: the exit status means nothing here.
    report = _run([ffmpeg_path(), "-hide_banner", "-nostdin", "-protocol_whitelist", "file", "-i", path])
    text = report.stderr.decode("utf-8", "replace")
    duration = _DURATION.search(text)
    codec = _AUDIO_STREAM.search(text)
    seconds = int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3]) if duration else None
    return Probe(duration_seconds=seconds, audio_codec=codec[1] if codec else None)
