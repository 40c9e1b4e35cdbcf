"""Run the whole product on one machine: content guard, embedded model, Celery workers and ASGI web server.

Used by `make run`. Each process is the same one production runs separately (docker-compose
wires those); this command only starts them together, waits until the guard and the model answer,
prints the URL, and stops them all on Ctrl-C or SIGTERM. The embedded guard runs in its own process
(safety/guard_server.py), which the workers and the web server reach as production reaches vLLM,
so neither loads the classifier; not when the operator set SAFETY_GUARD_BASE_URL or
SAFETY_GUARD_GGUF, nor when SAFETY_CHECKS is off.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from urllib.error import URLError
from urllib.parse import urlsplit
from urllib.request import urlopen

from django.core.management.base import BaseCommand, CommandError

from assistant.conf import model_settings
from core.websocket import WEBSOCKET_MAX_FRAME_BYTES
from safety.conf import safety_settings

# The guard trains its classifier on a machine's first start (minutes on two cores; loads in seconds after).
START_TIMEOUT_SECONDS = 180


class Command(BaseCommand):
    help = "Start the content guard, the embedded model, the Celery workers and the web server."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-model", action="store_true", help="use a model service already at MODEL_BASE_URL")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        children: dict[str, subprocess.Popen[bytes]] = {}
        signal.signal(signal.SIGTERM, _interrupt)
        self.child_env = dict(os.environ)
        try:
            if runs_the_embedded_guard():
                self.child_env["SAFETY_GUARD_BASE_URL"] = self._start_guard(children)
                judges = safety_settings().embedded_checks_answers
                self.child_env["SAFETY_GUARD_JUDGES_ANSWERS"] = str(judges).lower()
            if not options["no_model"]:
                model_base_url = model_settings().base_url
                model_url = urlsplit(model_base_url)
                if model_url.hostname not in {"127.0.0.1", "localhost"} or model_url.port is None:
                    raise CommandError("MODEL_BASE_URL must be http://127.0.0.1:PORT/v1 for the embedded model.")
                children["model"] = self._spawn("model", "-m", "model_service.embedded", "--port", str(model_url.port))
                self._wait_until_answers("model", model_base_url.rstrip("/") + "/models", children["model"])
            children["worker"] = self._spawn("worker", "-m", "celery", "-A", "config", "worker",
                                             "-Q", "default,search,code,media", "--concurrency", "2", "--beat",
                                             "--loglevel", "INFO")  # fmt: skip
            # Uploaded documents and the facts taken after each answer (a model call of up to a minute
            # on a laptop) wait here, never in front of a search, a title or a messaging reply.
            children["documents"] = self._spawn("documents", "-m", "celery", "-A", "config", "worker",
                                                "-Q", "documents", "--concurrency", "1", "-n", "documents@%h",
                                                "--loglevel", "INFO")  # fmt: skip
            children["imagine"] = self._spawn("imagine", "-m", "celery", "-A", "config", "worker", "-Q", "imagine",
                                              "--pool", "threads", "--concurrency", "4", "-n", "imagine@%h",
                                              "--loglevel", "INFO")  # fmt: skip
            children["web"] = self._spawn("web", "-m", "uvicorn", "config.asgi:application", "--host", options["host"],
                                          "--port", str(options["port"]), "--lifespan", "on",
                                          "--ws-max-size", str(WEBSOCKET_MAX_FRAME_BYTES),
                                          # Frames are ~100 bytes: deflating each costs CPU and saves
                                          # nothing; browsers then send uncompressed frames.
                                          "--ws-per-message-deflate", "false")  # fmt: skip
            local_host = "127.0.0.1" if options["host"] in {"0.0.0.0", "::"} else options["host"]
            self._wait_until_answers("web", f"http://{local_host}:{options['port']}/healthz", children["web"])
            self.stdout.write(
                self.style.SUCCESS(f"\nThe assistant is ready at http://{options['host']}:{options['port']}/\n")
            )
            self.stdout.flush()
            while all(child.poll() is None for child in children.values()):
                time.sleep(0.5)
            name, failed = next((name, child) for name, child in children.items() if child.poll() is not None)
            raise CommandError(f"The {name} process exited with code {failed.returncode}; stopped the others.")
        except KeyboardInterrupt:
            self.stdout.write("Stopping…")
        finally:
            _stop_all(list(children.values()))

    def _start_guard(self, children: dict[str, subprocess.Popen[bytes]]) -> str:
        """Start the embedded guard's server and wait until it answers; its base URL."""
        port = str(safety_settings().embedded_guard_port)
        children["guard"] = self._spawn("guard", "-m", "safety.guard_server", "--port", port)
        self._wait_until_answers("guard", f"http://127.0.0.1:{port}/health", children["guard"])
        return f"http://127.0.0.1:{port}/v1"

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        self.stdout.write(f"starting {name}: python {' '.join(args)}")
        self.stdout.flush()
        return subprocess.Popen([sys.executable, *args], env=self.child_env)

    def _wait_until_answers(self, name: str, url: str, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CommandError(f"The {name} process exited while starting.")
            try:
                with urlopen(url, timeout=1):
                    return
            except (URLError, OSError):
                time.sleep(0.2)
        raise CommandError(f"The {name} process did not answer at {url} within {START_TIMEOUT_SECONDS}s.")


def runs_the_embedded_guard() -> bool:
    """Whether the checks need the embedded guard: they are on and no other guard is configured."""
    configured = safety_settings()
    return configured.checks and not (configured.guard_base_url or configured.guard_gguf)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (docker stop, systemd) ends the command the way Ctrl-C does."""
    raise KeyboardInterrupt


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    """Stop the web server first (no new turns), then the workers, the model and the guard, each
    after the one before has ended: a worker finishing its task still has the model to talk to."""
    for child in reversed(children):
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
