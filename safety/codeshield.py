"""Code Shield (Meta's `codeshield` package) over the fenced code blocks of an answer.

Each block is scanned with the rules of the language its fence names (```python); a block whose
fence names no language is scanned with every language Code Shield knows, and one that names a
language without rules (bash, sql, text…) is skipped. Code Shield itself only recommends `warn`:
whether a finding blocks the answer is our setting, SAFETY_CODE_BLOCK_SEVERITY. Code Shield works
in "fast mode": when one of its regular expressions matches a block, its semgrep rules are skipped
for that block, so a block reports the first kind of problem found, not every one.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from safety.conf import safety_settings

# Severities from the most to the least serious; "none" blocks nothing.
_SEVERITY_ORDER = ("error", "warning", "advice")
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)
# Fence names (first word of the info string, lower case) → Code Shield's language values.
_LANGUAGES = {
    "python": "python", "py": "python", "python3": "python",
    "javascript": "javascript", "js": "javascript", "jsx": "javascript", "node": "javascript",
    "c": "c", "h": "c", "cpp": "cpp", "c++": "cpp", "cc": "cpp", "hpp": "cpp",
    "csharp": "csharp", "cs": "csharp", "c#": "csharp",
    "java": "java", "php": "php", "rust": "rust", "rs": "rust",
}  # fmt: skip


@dataclass(frozen=True)
class CodeFinding:
    rule: str  # Code Shield's pattern id, e.g. "insecure-md5-hash-usage"
    severity: str  # "error", "warning" or "advice"
    line: int  # line of the answer (1-based) where the problem is
    description: str


@dataclass(frozen=True)
class CodeReport:
    findings: tuple[CodeFinding, ...]
    block: bool  # some finding reaches SAFETY_CODE_BLOCK_SEVERITY


@dataclass(frozen=True)
class CodeBlock:
    language: str | None  # Code Shield's language value; None: scan with every language
    code: str
    first_line: int  # line of the answer where the code starts


def code_blocks(answer_markdown: str) -> list[CodeBlock]:
    """The fenced blocks worth scanning, in order."""
    blocks = []
    for match in _FENCE.finditer(answer_markdown):
        name = match["info"].strip().split(" ")[0].lower()
        if name and name not in _LANGUAGES:
            continue
        first_line = answer_markdown.count("\n", 0, match.start("body")) + 1
        blocks.append(CodeBlock(_LANGUAGES.get(name), match["body"], first_line))
    return blocks


async def scan_code(answer_markdown: str, *, block_severity: str | None = None) -> CodeReport:
    """Scan every fenced block of an answer; `block_severity` overrides SAFETY_CODE_BLOCK_SEVERITY."""
    blocks = code_blocks(answer_markdown)
    found = await asyncio.gather(*(_scan_block(block) for block in blocks))
    findings = tuple(finding for block_findings in found for finding in block_findings)
    threshold = block_severity or safety_settings().code_block_severity
    return CodeReport(findings=findings, block=any(blocks_at(f.severity, threshold) for f in findings))


def blocks_at(severity: str, threshold: str) -> bool:
    """Whether a finding of `severity` blocks under the setting `threshold` ("none", "error", "warning")."""
    if threshold == "none":
        return False
    if threshold not in _SEVERITY_ORDER or severity not in _SEVERITY_ORDER:
        raise ValueError(f"Unknown severity {severity!r} or threshold {threshold!r}.")
    return _SEVERITY_ORDER.index(severity) <= _SEVERITY_ORDER.index(threshold)


async def _scan_block(block: CodeBlock) -> list[CodeFinding]:
    # Imported here: codeshield's first import writes into site-packages, which only scanning needs.
    from codeshield.cs import CodeShield
    from codeshield.insecure_code_detector.languages import Language

    language = Language(block.language) if block.language else None
    result = await CodeShield.scan_code(block.code, language)
    return [
        CodeFinding(
            rule=(issue.pattern_id or issue.rule or issue.cwe_id).rsplit(".", 1)[-1],
            severity=str(issue.severity).lower(),
            line=block.first_line + (issue.line or 1) - 1,
            description=issue.description.strip(),
        )
        for issue in result.issues_found or []
    ]
