"""Running untrusted Python in a bubblewrap sandbox (standard library only, no settings: see conf.py).

The sandbox sees a read-only /usr and the Python installation (the venv and its base), a fresh /proc
and a minimal /dev, and one writable place: its working directory, a size-limited tmpfs at
/sandbox that is also HOME and TMPDIR. No network (its own empty network namespace), no other
process (its own PID namespace), none of the worker's environment, no project file.

Two ways in, picked by who runs the worker:
- as root (this project's development machines): bwrap sets the namespaces up as root, then
  `setpriv` drops to an unprivileged user with no capabilities. The sandbox's user must not be root:
  Linux does not apply RLIMIT_NPROC to root, and a fork bomb would go unchecked.
- as an ordinary user (the production image): bwrap makes an unprivileged user namespace.
Either way the launcher (launcher.py) starts the program with the CPU, memory, process, file size
limits set, and the worker here enforces a wall-clock deadline above the launcher's own and caps
what it reads back.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import functools
import json
import os
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from code_interpreter.results import CodeInterpreterUnavailable, ExecutionResult, Limit, SandboxImage, media_type_of

WORKDIR = "/sandbox"
LAUNCHER = Path(__file__).with_name("launcher.py")
LAUNCHER_IN_SANDBOX = "/opt/launcher.py"
SYSTEM_DIRS = ("/bin", "/lib", "/lib32", "/lib64", "/sbin")  # symlinks into /usr on merged-/usr systems
# Beyond the launcher's own deadline: time for it to kill what is left and report the images.
DEADLINE_GRACE_SECONDS = 5.0
DRAIN_SECONDS = 2.0  # reading what is left in the pipes once the sandbox is killed
READ_CHUNK = 65536
# How bwrap and setpriv begin their own error messages: the sandbox was not made, the code did not run.
SETUP_ERROR_PREFIXES = ("bwrap:", "setpriv:")
# One thread each for numerical libraries: threads count against the process limit and the memory.
SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORKDIR,
    "TMPDIR": WORKDIR,
    "LANG": "C.UTF-8",
    "MPLBACKEND": "Agg",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


@dataclass(frozen=True)
class SandboxLimits:
    cpu_seconds: int
    wall_seconds: float
    memory_bytes: int  # address space of each process
    processes: int  # processes and threads of the sandbox's user
    disk_bytes: int  # the working directory's tmpfs (and so the largest file)
    output_bytes: int  # of stdout, and again of stderr; the middle of a longer stream is left out
    max_images: int
    max_image_bytes: int


def bwrap_arguments(
    *,
    limits: SandboxLimits,
    interpreter: str,
    python_roots: tuple[str, ...],
    code_fd: int,
    report_fd: int,
    sandbox_uid: int | None,
) -> list[str]:
    """bwrap's command line after the program's name. `sandbox_uid` set: bwrap runs as root and drops to that user;
    None: bwrap runs as the worker's (unprivileged) user in a user namespace."""
    config = {**dataclasses.asdict(limits), "report_fd": report_fd}
    return [
        *_namespaces(privileged=sandbox_uid is not None),
        *_filesystem(python_roots, code_fd=code_fd, disk_bytes=limits.disk_bytes),
        "--chdir",
        WORKDIR,
        "--clearenv",
        *(arg for name, value in SANDBOX_ENV.items() for arg in ("--setenv", name, value)),
        "--",
        *_drop_to(sandbox_uid),
        interpreter,
        "-I",
        "-S",  # the launcher needs only the standard library
        LAUNCHER_IN_SANDBOX,
        json.dumps(config),
    ]


def _namespaces(*, privileged: bool) -> list[str]:
    common = ["--die-with-parent", "--new-session"]
    if not privileged:
        return [*common, "--unshare-all"]  # user, network, PID, IPC, UTS and cgroup namespaces
    separate = ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    # Only to let setpriv change user; setpriv then drops every capability.
    return [*common, *separate, "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]


def _filesystem(python_roots: tuple[str, ...], *, code_fd: int, disk_bytes: int) -> list[str]:
    binds = ["/usr", *(root for root in python_roots if not _is_within(root, "/usr"))]
    args = [*_parent_dirs([*binds, LAUNCHER_IN_SANDBOX])]
    for path in binds:
        args += ["--ro-bind", path, path]
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(disk_bytes), "--tmpfs", WORKDIR]
    args += ["--perms", "0444", "--ro-bind-data", str(code_fd), f"{WORKDIR}/main.py"]
    args += ["--ro-bind", str(LAUNCHER), LAUNCHER_IN_SANDBOX]
    # bwrap's own root and /dev are tmpfs that the sandbox's user could fill, outside the size limit.
    return [*args, "--remount-ro", "/dev", "--remount-ro", "/"]


def _parent_dirs(paths: list[str]) -> Iterator[str]:
    """`--dir` for every directory above the mount points, world-readable: bwrap would make them 0700,
    and the unprivileged user could not reach the Python installation below."""
    parents = sorted({str(p) for path in paths for p in PurePosixPath(path).parents if str(p) != "/"})
    for parent in parents:
        if not _is_within(parent, "/usr"):
            yield from ("--perms", "0755", "--dir", parent)


def _is_within(path: str, root: str) -> bool:
    return PurePosixPath(path).is_relative_to(root)


def _drop_to(sandbox_uid: int | None) -> list[str]:
    if sandbox_uid is None:
        return []
    user = [f"--reuid={sandbox_uid}", f"--regid={sandbox_uid}", "--clear-groups"]
    return ["/usr/bin/setpriv", *user, "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]


@functools.cache
def python_roots(interpreter: str) -> tuple[str, ...]:
    """The directories `interpreter` runs from: its prefix (a venv) and its base installation."""
    asked = [interpreter, "-I", "-c", "import sys; print(sys.prefix); print(sys.base_prefix)"]
    try:
        lines = subprocess.run(asked, capture_output=True, text=True, check=True, timeout=30).stdout.splitlines()
    except (OSError, subprocess.SubprocessError) as error:
        raise CodeInterpreterUnavailable(f"the interpreter {interpreter} does not run: {error}") from error
    return tuple(dict.fromkeys(lines))


class CappedStream:
    """Keeps the first and last halves of `limit` bytes of a stream, and counts what it left out."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()
        self.left_out = 0

    def write(self, data: bytes) -> None:
        room = self.limit // 2 - len(self.head)
        self.head += data[:room]
        self.tail += data[max(room, 0) :]
        excess = len(self.tail) - (self.limit - self.limit // 2)
        if excess > 0:
            del self.tail[:excess]
            self.left_out += excess

    def text(self) -> str:
        cut = f"\n[… {self.left_out} bytes left out …]\n" if self.left_out else ""
        return bytes(self.head).decode(errors="replace") + cut + bytes(self.tail).decode(errors="replace")


class ReportBuffer:
    """The launcher's report, refused whole once it passes `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.too_large = False

    def write(self, data: bytes) -> None:
        if len(self.data) + len(data) > self.limit:
            self.too_large = True
        if not self.too_large:
            self.data += data


def run_in_sandbox(code: str, limits: SandboxLimits, *, interpreter: str, sandbox_uid: int) -> ExecutionResult:
    """Run `code` as a Python program in a new sandbox; block until it ends or its time is up.
    `sandbox_uid`: the user the program runs as when the worker itself is root.
    Raises CodeInterpreterUnavailable when no sandbox could be made (the code then did not run)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise CodeInterpreterUnavailable("bubblewrap (bwrap) is not installed")
    started = time.monotonic()
    stdout, stderr = CappedStream(limits.output_bytes), CappedStream(limits.output_bytes)
    report = ReportBuffer(limits.max_images * (limits.max_image_bytes * 4 // 3 + 4096) + 65536)
    code_fd = _memory_file(code.encode())
    report_read, report_write = os.pipe()
    arguments = bwrap_arguments(
        limits=limits,
        interpreter=interpreter,
        python_roots=python_roots(interpreter),
        code_fd=code_fd,
        report_fd=report_write,
        sandbox_uid=sandbox_uid if os.geteuid() == 0 else None,
    )
    try:
        process = subprocess.Popen(
            [bwrap, *arguments],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(code_fd, report_write),
            env={"PATH": SANDBOX_ENV["PATH"]},  # bwrap's own PID 1 keeps this environment: nothing of ours
            start_new_session=True,
        )
    finally:
        os.close(code_fd)
        os.close(report_write)
    with os.fdopen(report_read, "rb") as report_pipe:
        assert process.stdout is not None
        assert process.stderr is not None
        streams = {process.stdout: stdout, process.stderr: stderr, report_pipe: report}
        killed = _pump(process, streams, deadline=started + limits.wall_seconds + DEADLINE_GRACE_SECONDS)
    return _result(
        limits,
        stdout=stdout,
        stderr=stderr,
        report=_parsed(report),
        killed=killed,
        returncode=process.returncode,
        duration_ms=(time.monotonic() - started) * 1000,
    )


def _memory_file(data: bytes) -> int:
    """An fd of an anonymous file holding `data`, read from the start by bwrap (--ro-bind-data)."""
    fd = os.memfd_create("main.py")
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _pump(process: subprocess.Popen[bytes], streams: dict[IO[bytes], Any], *, deadline: float) -> bool:
    """Read every stream into its buffer until all end; past `deadline`, kill the sandbox and read what
    is left. Whether it had to be killed."""
    killed = False
    with selectors.DefaultSelector() as selector:
        for stream, buffer in streams.items():
            selector.register(stream, selectors.EVENT_READ, buffer)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if killed:
                    break
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # bwrap; --die-with-parent takes the namespace down
                killed, deadline = True, time.monotonic() + DRAIN_SECONDS
                continue
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, READ_CHUNK)
                if chunk:
                    key.data.write(chunk)
                else:
                    selector.unregister(key.fileobj)
    process.wait()
    return killed


def _parsed(report: ReportBuffer) -> dict[str, Any] | None:
    if report.too_large or not report.data:
        return None
    try:
        parsed = json.loads(report.data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _result(
    limits: SandboxLimits,
    *,
    stdout: CappedStream,
    stderr: CappedStream,
    report: dict[str, Any] | None,
    killed: bool,
    returncode: int,
    duration_ms: float,
) -> ExecutionResult:
    error_text = stderr.text()
    if report is None and not killed and returncode != 0 and error_text.startswith(SETUP_ERROR_PREFIXES):
        raise CodeInterpreterUnavailable(error_text.strip())
    report = report or {}
    exit_code = report.get("exit_code") if isinstance(report.get("exit_code"), int) else None
    if start_error := str(report.get("start_error") or ""):
        error_text += start_error + "\n"
    images, images_left_out = _checked_images(report, limits)
    limits_hit = _limits_hit(
        exit_code=exit_code,
        timed_out=killed or report.get("timed_out") is True,
        error_text=error_text,
        output_cut=bool(stdout.left_out or stderr.left_out),
    )
    notes = [_note(limit, limits) for limit in limits_hit]
    if not report and not killed:
        notes.append("The sandbox ended before it reported how the program ended.")
    if images_left_out:
        notes.append(
            f"{images_left_out} image file(s) not returned: at most {limits.max_images} PNG or JPEG files "
            f"of up to {limits.max_image_bytes // 1024} KB each."
        )
    return ExecutionResult(
        stdout=stdout.text(),
        stderr=error_text,
        exit_code=exit_code,
        limits_hit=limits_hit,
        images=images,
        notes=tuple(notes),
        duration_ms=round(duration_ms, 1),
    )


def _note(limit: Limit, limits: SandboxLimits) -> str:
    mib = 2**20
    return {
        Limit.TIME: f"Stopped: it ran past the time limit of {limits.wall_seconds:g} s.",
        Limit.CPU: f"Stopped: it used up its {limits.cpu_seconds} s of CPU time.",
        Limit.MEMORY: f"Out of memory: each process may use {limits.memory_bytes // mib} MiB.",
        Limit.PROCESSES: f"No more processes or threads could start (at most {limits.processes}).",
        Limit.DISK: f"Out of disk space: the working directory holds {limits.disk_bytes // mib} MiB.",
        Limit.OUTPUT: f"Output cut: a stream keeps its first and last {limits.output_bytes // 2} bytes.",
    }[limit]


# Recognised in the program's error text; a program can print these itself, which only misleads it.
_ERROR_SIGNS = {
    Limit.MEMORY: ("MemoryError",),
    Limit.PROCESSES: ("BlockingIOError: [Errno 11]", "can't start new thread"),
    Limit.DISK: ("[Errno 28]", "[Errno 27]"),
}


def _limits_hit(*, exit_code: int | None, timed_out: bool, error_text: str, output_cut: bool) -> tuple[Limit, ...]:
    hit = [Limit.TIME] if timed_out else []
    if exit_code == -signal.SIGXCPU:
        hit.append(Limit.CPU)
    hit += [limit for limit, signs in _ERROR_SIGNS.items() if any(sign in error_text for sign in signs)]
    if output_cut:
        hit.append(Limit.OUTPUT)
    return tuple(hit)


def _checked_images(report: dict[str, Any], limits: SandboxLimits) -> tuple[tuple[SandboxImage, ...], int]:
    """The report's images that are what they claim (PNG or JPEG, within the limits); how many were not."""
    listed = report.get("images") if isinstance(report.get("images"), list) else []
    images = []
    for entry in listed:
        image = _image(entry, limits.max_image_bytes)
        if image is not None and len(images) < limits.max_images:
            images.append(image)
    left_out = report.get("images_left_out")
    return tuple(images), (left_out if isinstance(left_out, int) else 0) + len(listed) - len(images)


def _image(entry: Any, max_bytes: int) -> SandboxImage | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not isinstance(entry.get("data"), str):
        return None
    try:
        data = base64.b64decode(entry["data"], validate=True)
    except binascii.Error:
        return None
    media_type = media_type_of(data)
    if media_type is None or len(data) > max_bytes:
        return None
    return SandboxImage(name=PurePosixPath(entry["name"]).name[:100], media_type=media_type, data=data)
