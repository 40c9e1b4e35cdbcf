"""Llama 3.1's `code_interpreter` in the answer's engine: the model's `<|python_tag|>` code runs in the
sandbox, comes back as the `ipython` result, and the user sees the code, its output and its pictures.

The model is the vLLM contract fake (a real loopback server; a Llama 3.1 needs a GPU) decoding what
it receives with the real Llama 3 tokenizer. The code runs for real: on a Celery worker of the `code`
queue in the contract test, in this process's sandbox (`run_python`) where a worker adds nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async

from assistant.chat import services
from assistant.engine.capabilities import Capabilities
from assistant.engine.code_tool import MAX_TOOL_ROUNDS, UNAVAILABLE_RESULT, WorkerPython
from assistant.engine.frames import DoneFrame
from assistant.engine.outcome import AnswerOutcome
from assistant.engine.pipeline import AnswerEnd, AnswerText, Blocked, HistoryMessage, PromptReady, Turn, respond
from assistant.engine.runner import TurnRunner
from assistant.engine.sinks import CollectorSink
from assistant.models import Message
from assistant.web.api import message_shape
from code_interpreter.results import CodeInterpreterUnavailable, ExecutionResult
from code_interpreter.service import run_python
from model_service.builtin_tools import CodeCall, ToolCall, may_become_tool_call, parse_tool_call
from model_service.tokens import llama3_tokenizer
from safety.codeshield import CodeFinding, CodeReport
from tests.assistant.test_pipeline_checks import InProcessSearch, llama_gateway
from tests.imagine.support import BROKER_URL, RESULTS_URL, flush, redis_in_this_process
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.processes import product_env, running, worker_command

WORKER_START_SECONDS = 90  # the first task waits for the worker to start (Django, Celery, imports)
IPYTHON = "<|start_header_id|>ipython<|end_header_id|>\n\n"
CODE_CALL = Reply(texts=["<|python_tag|>", "print(2", "+2)", "<|eom_id|>"])
FINAL = Reply(texts=["2 + 2 is 4."])
CHART = "from PIL import Image\nImage.new('RGB', (8, 8), (0, 128, 0)).save('chart.png')\nprint('saved')\n"


def question(text: str = "What is 2 + 2? Use Python.") -> Turn:
    return Turn(system_prompt="Be brief.", history=[HistoryMessage(1, "user", text, None)], search_mode="off")


async def answer(fake: FakeOpenAI, capabilities: Capabilities, turn: Turn | None = None) -> list:
    gateway = llama_gateway(fake.base_url)
    try:
        return [event async for event in respond(turn or question(), gateway, capabilities)]
    finally:
        await gateway.client.aclose()


def shown(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, AnswerText))


def ipython_result(prompt_text: str | None) -> str:
    return (prompt_text or "").split(IPYTHON)[1].split("<|eot_id|>")[0]


class SandboxHere:
    """The worker's own call (`run_python`), made here: the same sandbox without the queue."""

    async def run(self, code: str) -> ExecutionResult:
        return await asyncio.to_thread(run_python, code)


class Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    async def run(self, code: str) -> ExecutionResult:
        self.calls += 1
        raise self.error


class Prints:
    async def run(self, code: str) -> ExecutionResult:
        return ExecutionResult(stdout="ran\n", stderr="", exit_code=0)


class BlocksEverything:
    async def scan(self, answer: str) -> CodeReport:
        finding = CodeFinding(rule="insecure-os-system", severity="error", line=2, description="os.system")
        return CodeReport(findings=(finding,), block=True)


@pytest.fixture(scope="module")
def code_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    var_dir = tmp_path_factory.mktemp("code-worker")
    flush()
    env = product_env(var_dir, CELERY_BROKER_URL=BROKER_URL, CELERY_RESULT_BACKEND=RESULTS_URL)
    with running(worker_command(queues=("code",)), env=env, log=var_dir / "worker.log"), redis_in_this_process():
        yield


@pytest.mark.live
@pytest.mark.usefixtures("code_worker")
async def test_code_runs_on_the_worker_and_the_model_reads_its_output(settings) -> None:
    settings.CODE_INTERPRETER_WAIT_SECONDS = WORKER_START_SECONDS
    async with FakeOpenAI(CODE_CALL, FINAL, detokenize=llama3_tokenizer().decode) as fake:
        events = await answer(fake, Capabilities(python=WorkerPython()))
    first, second = fake.requests
    assert "<|end_header_id|>\n\nEnvironment: ipython\n\nCutting Knowledge Date: December 2023\n" in first.prompt_text
    assert first.body["skip_special_tokens"] is False  # else vLLM drops the <|python_tag|> code starts with
    call = "<|start_header_id|>assistant<|end_header_id|>\n\n<|python_tag|>print(2+2)<|eom_id|>"
    assert call + IPYTHON + "4<|eot_id|>" in second.prompt_text
    assert second.prompt_text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert shown(events) == "```python\nprint(2+2)\n```\n```text\n4\n```\n\n2 + 2 is 4."
    ready = [e for e in events if isinstance(e, PromptReady)]
    assert ready[-1].prompt_tokens == len(second.prompt_ids)  # counted == served, tool turn included
    assert isinstance(events[-1], AnswerEnd)


@pytest.mark.parametrize(
    "error", [CodeInterpreterUnavailable("bwrap: command not found"), ConnectionError("broker down")]
)
async def test_without_a_sandbox_the_model_is_told_in_one_line_and_answers(error: Exception) -> None:
    runner = Failing(error)
    async with FakeOpenAI(CODE_CALL, FINAL, detokenize=llama3_tokenizer().decode) as fake:
        events = await answer(fake, Capabilities(python=runner))
    assert runner.calls == 1
    assert ipython_result(fake.requests[1].prompt_text) == UNAVAILABLE_RESULT
    assert "\n" not in UNAVAILABLE_RESULT
    assert shown(events).endswith(f"```text\n{UNAVAILABLE_RESULT}\n```\n\n2 + 2 is 4.")
    assert isinstance(events[-1], AnswerEnd)


async def test_code_written_beside_the_web_tools_without_a_sandbox_gets_the_same_line() -> None:
    """`Environment: ipython` lets the model write code even where only the web tools are offered."""
    turn = Turn(system_prompt="", history=[HistoryMessage(1, "user", "2 + 2?", None)], search_mode="auto")
    async with FakeOpenAI(CODE_CALL, FINAL, detokenize=llama3_tokenizer().decode) as fake:
        events = await answer(fake, Capabilities(web=InProcessSearch(), python=None), turn)
    assert "skip_special_tokens" not in fake.requests[0].body  # not offered: nothing asked of the server
    assert ipython_result(fake.requests[1].prompt_text) == UNAVAILABLE_RESULT
    assert isinstance(events[-1], AnswerEnd)


async def test_code_that_code_shield_blocks_is_not_run_and_the_answer_is_refused() -> None:
    runner = Failing(AssertionError("must not run"))
    async with FakeOpenAI(CODE_CALL, FINAL) as fake:
        events = await answer(fake, Capabilities(code=BlocksEverything(), python=runner))
    assert events[-1] == Blocked("code", ("insecure-os-system",), "print(2+2)")
    assert runner.calls == 0
    assert len(fake.requests) == 1
    assert shown(events) == ""


async def test_tool_rounds_are_limited_and_a_further_call_is_shown_as_text() -> None:
    calls = [CODE_CALL] * (MAX_TOOL_ROUNDS + 1)
    async with FakeOpenAI(*calls, detokenize=llama3_tokenizer().decode) as fake:
        events = await answer(fake, Capabilities(python=Prints()))
    assert len(fake.requests) == MAX_TOOL_ROUNDS + 1
    assert shown(events).count("```text\nran\n```") == MAX_TOOL_ROUNDS
    assert shown(events).endswith("<|python_tag|>print(2+2)<|eom_id|>")
    assert isinstance(events[-1], AnswerEnd)


class FramesKept(CollectorSink):
    async def done(self, frame: DoneFrame, outcome: AnswerOutcome) -> None:
        self.frame = frame
        await super().done(frame, outcome)


@sync_to_async
def streaming_answer() -> int:
    user = services.create_guest()
    return services.start_turn(user=user, conversation_id=None, text="Draw a chart.", client_id="c1").answer.pk


@pytest.mark.django_db(transaction=True)
async def test_the_done_frame_and_the_stored_answer_carry_the_code_its_output_and_its_picture() -> None:
    chart_call = Reply(texts=["<|python_tag|>", CHART])
    async with FakeOpenAI(chart_call, Reply(texts=["Here is the chart."])) as fake:
        answer_id = await streaming_answer()
        sink = FramesKept()
        gateway = llama_gateway(fake.base_url)
        runner = TurnRunner(
            answer_id,
            sink,
            turn=question("Draw a chart."),
            gateway=gateway,
            capabilities=Capabilities(python=SandboxHere()),
        )
        outcome = await runner.run()
        await gateway.client.aclose()
    expected_text = f"```python\n{CHART.rstrip()}\n```\n```text\nsaved\n[images shown to the user: chart.png]\n```\n\n"
    assert outcome.content == expected_text + "Here is the chart."
    [picture] = sink.frame.code_images
    assert picture.startswith("data:image/png;base64,iVBORw0KGgo")
    stored = await sync_to_async(Message.objects.get)(pk=answer_id)
    assert (stored.content, stored.code_images) == (outcome.content, [picture])
    rest = await sync_to_async(message_shape)(stored)
    assert rest.code_images == [picture]  # a reload shows it


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<|python_tag|>print(2+2)<|eom_id|>", CodeCall("print(2+2)")),
        ("<|python_tag|>import math\nprint(math.pi)", CodeCall("import math\nprint(math.pi)")),
        ('<|python_tag|>brave_search.call(query="x")<|eom_id|>', ToolCall("brave_search", "x")),
        ("<|python_tag|>  <|eom_id|>", None),
        ("print(2+2)", None),  # without the tag it is an answer that shows code
    ],
)
def test_python_tag_text_is_code_for_the_interpreter(text: str, expected: CodeCall | ToolCall | None) -> None:
    assert parse_tool_call(text) == expected
    assert may_become_tool_call(text[:20]) is text.startswith("<|python_tag|>")
