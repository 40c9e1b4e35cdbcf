"""Llama 3.1's `code_interpreter` in the answer's engine: the model's Python, checked by Code Shield,
run on the `code` queue's worker (never in this process), read back by the model as its `ipython`
result and shown to the user as the code, its output and its images.

What the user sees of a run is plain answer text (a fenced `python` block and a fenced output
block, so every channel and every replay shows it) and `CodeImages`, the pictures it saved, which
travel in the `done` frame's `code_images` (docs/protocol.md). docs/subsystems/code_interpreter.md
describes the whole path.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from code_interpreter.results import CodeInterpreterUnavailable, ExecutionResult
from code_interpreter.service import run_python_on_worker
from model_service.llama31 import Llama3Format

if TYPE_CHECKING:
    from assistant.engine.capabilities import Capabilities, CodeScanner
    from assistant.engine.llm import ModelGateway

logger = logging.getLogger(__name__)

# Model calls (web or code) answered in one answer; a further call is shown as text.
MAX_TOOL_ROUNDS = 3
UNAVAILABLE_RESULT = "Error: the code interpreter is unavailable right now, so this code did not run."
# vLLM drops special tokens from the text it streams unless asked not to; without `<|python_tag|>`
# code cannot be told apart from an answer that merely starts with code.
KEEP_SPECIAL_TOKENS: dict[str, object] = {"skip_special_tokens": False}
_BACKTICKS = re.compile(r"`{3,}")


class PythonRunner(Protocol):
    async def run(self, code: str) -> ExecutionResult:
        """Run the code in a sandbox. Raises CodeInterpreterUnavailable when it cannot run at all."""


class WorkerPython:
    """The sandbox on a worker of the `code` queue (CODE_INTERPRETER_WAIT_SECONDS at most)."""

    async def run(self, code: str) -> ExecutionResult:
        return await run_python_on_worker(code)


@dataclass(frozen=True)
class CodeImages:
    """Pictures the model's code saved, as data URLs (PNG or JPEG), shown after the answer."""

    data_urls: tuple[str, ...]


@dataclass(frozen=True)
class CodeRun:
    code: str
    output: str  # the `ipython` result the model reads (capped by the sandbox)
    images: tuple[str, ...] = ()  # data URLs
    refused_rules: tuple[str, ...] = ()  # Code Shield blocked the code: it did not run

    def shown(self) -> str:
        """The code and what it printed, as Markdown to append to the answer."""
        return fenced(self.code, "python") + fenced(self.output, "text") + "\n"


def fenced(content: str, language: str) -> str:
    """A fenced block whose fence is longer than any run of backticks inside it."""
    longest = max((len(run) for run in _BACKTICKS.findall(content)), default=2)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{content.rstrip()}\n{fence}\n"


def offers_code(gateway: ModelGateway, capabilities: Capabilities) -> bool:
    """Offered with Llama 3.1's other built-in tools (MODEL_BUILTIN_TOOLS) when there is a sandbox.
    `Environment: ipython` alone offers it: Meta's system block lists no `code_interpreter`."""
    llama31 = isinstance(gateway.prompt_format, Llama3Format)
    return gateway.builtin_tools and llama31 and capabilities.python is not None


async def run_model_code(code: str, scanner: CodeScanner | None, runner: PythonRunner | None) -> CodeRun:
    """Scan the code as the answer's own code would be (its fenced block is shown to the user, who
    may copy it), then run it. A sandbox that cannot be had is a one-line result, not a failure."""
    if scanner is not None:
        report = await scanner.scan(fenced(code, "python"))
        if report.block:
            return CodeRun(code, "", refused_rules=tuple(sorted({f.rule for f in report.findings})))
    if runner is None:
        return CodeRun(code, UNAVAILABLE_RESULT)
    try:
        result = await runner.run(code)
    except CodeInterpreterUnavailable as error:
        logger.warning("code interpreter unavailable: %s", error)
        return CodeRun(code, UNAVAILABLE_RESULT)
    except Exception:  # the broker or result backend failed: the answer goes on without the run
        logger.exception("code interpreter failed")
        return CodeRun(code, UNAVAILABLE_RESULT)
    return CodeRun(code, result.ipython_output(), tuple(image.data_url for image in result.images))
