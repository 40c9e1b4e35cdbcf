"""The code interpreter's settings: one `CodeInterpreterSettings`, read from Django settings by
`code_interpreter_settings()`.

Each field is the Django setting `CODE_INTERPRETER_<FIELD>` and its default is stated here only. The
limits keep one run of model-written code small beside a chat turn: a chart or a calculation takes
well under a second of CPU and a few hundred MB; what goes beyond is more likely a mistake (or an
attack) than a need. Why each is enforced the way it is: docs/subsystems/code_interpreter.md.
"""

from __future__ import annotations

import functools
import sys

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from pydantic import BaseModel, ConfigDict

from code_interpreter.sandbox import SandboxLimits

MIB = 2**20


class CodeInterpreterSettings(BaseModel):
    model_config = ConfigDict(
        alias_generator=lambda field: f"CODE_INTERPRETER_{field.upper()}", from_attributes=True, frozen=True
    )

    cpu_seconds: int = 10  # CPU time of each process: SIGXCPU, then SIGKILL a second later
    wall_seconds: float = 15.0  # the program and everything it started, from start to end
    memory_mib: int = 512  # address space of each process (numpy with its imports takes about 100)
    processes: int = 16  # processes and threads of the sandbox's user at once
    disk_mib: int = 64  # the working directory (a tmpfs, so this is memory too)
    output_bytes: int = 16_384  # of stdout, and of stderr: the model reads them, so they cost context
    max_images: int = 4  # PNG or JPEG files returned from the working directory
    max_image_bytes: int = 2_000_000  # larger images are left out, with a note
    interpreter: str = ""  # the Python that runs the code; "": the worker's own (its venv's packages)
    sandbox_uid: int = 65534  # the user the code runs as when the worker runs as root (nobody)
    # How long a caller waits for the worker: the wall-clock limit, sandbox start and a queue's delay.
    wait_seconds: float = 30.0

    @property
    def limits(self) -> SandboxLimits:
        return SandboxLimits(
            cpu_seconds=self.cpu_seconds,
            wall_seconds=self.wall_seconds,
            memory_bytes=self.memory_mib * MIB,
            processes=self.processes,
            disk_bytes=self.disk_mib * MIB,
            output_bytes=self.output_bytes,
            max_images=self.max_images,
            max_image_bytes=self.max_image_bytes,
        )

    @property
    def interpreter_path(self) -> str:
        return self.interpreter or sys.executable


@functools.cache
def code_interpreter_settings() -> CodeInterpreterSettings:
    """Read once per process, and again after a setting changes (tests)."""
    return CodeInterpreterSettings.model_validate(settings)


@receiver(setting_changed)
def _reread_settings(**kwargs: object) -> None:
    code_interpreter_settings.cache_clear()
