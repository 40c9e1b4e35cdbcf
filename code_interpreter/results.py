"""What one run of the model's code gives back: `ExecutionResult`, plain data that crosses the
Celery result backend as JSON (`to_json` / `from_json`)."""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass
from typing import Any

MEDIA_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


class CodeInterpreterUnavailable(Exception):
    """The code could not be run at all (no bubblewrap, namespaces refused, no worker answered):
    the model's code is not at fault, and nothing of it ran outside a sandbox."""


class Limit(enum.StrEnum):
    """A limit the code ran into; the sandbox stopped it, or a call inside it failed."""

    TIME = "time"  # wall-clock time
    CPU = "cpu"  # CPU seconds
    MEMORY = "memory"  # address space
    PROCESSES = "processes"  # processes and threads
    DISK = "disk"  # the working directory's size
    OUTPUT = "output"  # stdout or stderr was cut


def media_type_of(data: bytes) -> str | None:
    """image/png or image/jpeg by the file's first bytes; None for anything else."""
    return next((media for magic, media in MEDIA_TYPES.items() if data.startswith(magic)), None)


@dataclass(frozen=True)
class SandboxImage:
    name: str  # the file's name in the working directory
    media_type: str  # image/png or image/jpeg
    data: bytes

    @property
    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode()}"


@dataclass(frozen=True)
class ExecutionResult:
    stdout: str
    stderr: str  # the program's stderr: an uncaught exception's traceback ends up here
    exit_code: int | None  # negative: killed by that signal; None: the sandbox gave no status
    limits_hit: tuple[Limit, ...] = ()
    images: tuple[SandboxImage, ...] = ()
    notes: tuple[str, ...] = ()  # what the sandbox did to the run (limits, cut output, images left out)
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.limits_hit

    def ipython_output(self) -> str:
        """The text the model reads as the `ipython` result: output, errors, then the sandbox's notes."""
        parts = [self.stdout.rstrip("\n")] if self.stdout.strip() else []
        if self.stderr.strip():
            parts.append(f"[stderr]\n{self.stderr.rstrip()}")
        if self.exit_code not in (0, None) and not self.limits_hit:
            parts.append(f"[exit status {self.exit_code}]")
        parts.extend(f"[{note}]" for note in self.notes)
        if self.images:
            names = ", ".join(image.name for image in self.images)
            parts.append(f"[images shown to the user: {names}]")
        return "\n".join(parts) or "[no output]"

    def to_json(self) -> dict[str, Any]:
        return {
            "stdout": self.stdout,
            "stderr": self.stderr,
            "exit_code": self.exit_code,
            "limits_hit": [limit.value for limit in self.limits_hit],
            "images": [
                {"name": i.name, "media_type": i.media_type, "data": base64.b64encode(i.data).decode()}
                for i in self.images
            ],
            "notes": list(self.notes),
            "duration_ms": self.duration_ms,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExecutionResult:
        images = tuple(
            SandboxImage(name=i["name"], media_type=i["media_type"], data=base64.b64decode(i["data"]))
            for i in data["images"]
        )
        return cls(
            stdout=data["stdout"],
            stderr=data["stderr"],
            exit_code=data["exit_code"],
            limits_hit=tuple(Limit(limit) for limit in data["limits_hit"]),
            images=images,
            notes=tuple(data["notes"]),
            duration_ms=data["duration_ms"],
        )
