"""Code Shield (the real `codeshield` package and semgrep) over fenced blocks of answers."""

from __future__ import annotations

import pytest

from safety.codeshield import CodeReport, blocks_at, code_blocks, scan_code

# codeshield's own import of semgrep's binary uses a deprecated importlib.resources call.
pytestmark = pytest.mark.filterwarnings("ignore:path is deprecated:DeprecationWarning")


def answer(language: str, code: str) -> str:
    return f"Here you go:\n\n```{language}\n{code}```\n\nHope this helps."


MD5_PASSWORD = "import hashlib\n\ndef store(password):\n    return hashlib.md5(password.encode()).hexdigest()\n"
SHELL_TRUE = "import subprocess\n\ndef run(command):\n    subprocess.call(command, shell=True)\n"
PICKLE_LOADS = "import pickle\n\ndef load(blob):\n    return pickle.loads(blob)\n"
EVAL_INPUT = "def calculate(expression):\n    return eval(expression)\n"
C_GETS = "#include <stdio.h>\n\nint main(void) {\n    char name[16];\n    gets(name);\n    return 0;\n}\n"
CLEAN = "def add(a: int, b: int) -> int:\n    return a + b\n"


@pytest.mark.parametrize(
    ("code", "rule", "line"),
    [
        (MD5_PASSWORD, "insecure-md5-hash-usage", 7),
        (SHELL_TRUE, "insecure-subprocess-using-shell", 7),
        (PICKLE_LOADS, "unsafe-pickle-use", 7),
        (EVAL_INPUT, "insecure-eval-use", 5),
    ],
    ids=["md5-password", "shell-true", "pickle-loads", "eval"],
)
async def test_insecure_python_is_found_with_rule_and_answer_line(code: str, rule: str, line: int) -> None:
    report = await scan_code(answer("python", code), block_severity="none")
    assert rule in {finding.rule for finding in report.findings}
    [finding] = [f for f in report.findings if f.rule == rule]
    assert (finding.severity, finding.line) == ("warning", line)
    assert finding.description
    assert report.block is False


async def test_clean_code_has_no_findings() -> None:
    assert await scan_code(answer("python", CLEAN), block_severity="warning") == CodeReport(findings=(), block=False)


async def test_text_without_code_has_no_findings() -> None:
    assert await scan_code("Use eval() sparingly: it runs any code.", block_severity="warning") == CodeReport((), False)


async def test_warnings_block_when_the_setting_says_warning() -> None:
    assert (await scan_code(answer("py", SHELL_TRUE), block_severity="warning")).block


async def test_warnings_do_not_block_when_the_setting_says_error() -> None:
    assert not (await scan_code(answer("py", SHELL_TRUE), block_severity="error")).block


async def test_an_error_blocks_when_the_setting_says_error() -> None:
    report = await scan_code(answer("c", C_GETS), block_severity="error")
    assert ("bugprone-gets", "error", 8) in {(f.rule, f.severity, f.line) for f in report.findings}
    assert report.block


async def test_the_setting_decides_by_default(settings) -> None:
    settings.SAFETY_CODE_BLOCK_SEVERITY = "warning"
    assert (await scan_code(answer("python", EVAL_INPUT))).block
    settings.SAFETY_CODE_BLOCK_SEVERITY = "none"
    assert not (await scan_code(answer("python", EVAL_INPUT))).block


async def test_every_block_of_an_answer_is_scanned() -> None:
    text = answer("python", CLEAN) + "\nAnd the loader:\n\n" + answer("python", PICKLE_LOADS)
    report = await scan_code(text, block_severity="none")
    assert [f.rule for f in report.findings] == ["unsafe-pickle-use"]


async def test_a_fence_without_language_is_scanned_with_every_language() -> None:
    report = await scan_code(answer("", SHELL_TRUE), block_severity="none")
    assert "insecure-subprocess-using-shell" in {f.rule for f in report.findings}


def test_fences_name_their_language_and_languages_without_rules_are_skipped() -> None:
    text = "```bash\nrm -rf /tmp/x\n```\n~~~js\nalert(1)\n~~~\n```Python title=x.py\nprint(1)\n```\n"
    assert [(b.language, b.code, b.first_line) for b in code_blocks(text)] == [
        ("javascript", "alert(1)\n", 5),
        ("python", "print(1)\n", 8),
    ]


@pytest.mark.parametrize(
    ("severity", "threshold", "blocks"),
    [("error", "none", False), ("error", "error", True), ("warning", "error", False), ("warning", "warning", True),
     ("error", "warning", True), ("advice", "warning", False)],
)  # fmt: skip
def test_blocking_by_severity(severity: str, threshold: str, blocks: bool) -> None:
    assert blocks_at(severity, threshold) is blocks


def test_an_unknown_threshold_is_an_error() -> None:
    with pytest.raises(ValueError, match="Unknown severity"):
        blocks_at("warning", "critical")
