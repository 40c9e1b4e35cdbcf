"""The Llama Guard 3 prompt, byte for byte, and the parser of its answers.

Source matched: meta-llama/llama-stack, `providers/inline/safety/llama_guard/llama_guard.py`
(`PROMPT_TASK`, `SAFETY_CATEGORIES`, `PROMPT_CONVERSATION`, `PROMPT_INSTRUCTIONS` and the S1–S14
names), sent as one Llama 3 user message. Two details follow Meta's Llama Guard 3 model card and the
chat template shipped with meta-llama/Llama-Guard-3-{1B,8B} instead, because the model was trained
on them: the assistant's turns are labelled `Agent` (llama-stack writes `Assistant`), and each
message's text is stripped. The prompt is Meta's Llama 3 chat format around that one user message
(model_service/llama31.py), as segments: the guards send its token ids, so the conversation is
plain text to the model whatever special-token spellings it contains, and the prompt has exactly
one `<|begin_of_text|>`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from model_service.llama31 import Llama3Format
from model_service.messages import ChatMessage, Segment, prompt_segments, segments_text
from safety.verdict import GuardUnavailable, Verdict

# Llama Guard 3's hazard taxonomy (MLCommons plus S14), in prompt order.
CATEGORY_NAMES: dict[str, str] = {
    "S1": "Violent Crimes",
    "S2": "Non-Violent Crimes",
    "S3": "Sex Crimes",
    "S4": "Child Exploitation",
    "S5": "Defamation",
    "S6": "Specialized Advice",
    "S7": "Privacy",
    "S8": "Intellectual Property",
    "S9": "Indiscriminate Weapons",
    "S10": "Hate",
    "S11": "Self-Harm",
    "S12": "Sexual Content",
    "S13": "Elections",
    "S14": "Code Interpreter Abuse",
}
S_CATEGORIES: tuple[str, ...] = tuple(CATEGORY_NAMES)
# Prompt attacks (Prompt Guard's classes), which Llama Guard does not judge; only the embedded guard reports them.
PROMPT_ATTACK_CATEGORIES: tuple[str, ...] = ("jailbreak", "injection")

_ROLE_LABELS = {"user": "User", "assistant": "Agent"}

_TASK = (
    "Task: Check if there is unsafe content in '{role}' messages in conversations according our safety policy "
    "with the below categories.\n\n"
)
_INSTRUCTIONS = (
    "Provide your safety assessment for ONLY THE LAST {role} message in the above conversation:\n"
    " - First line must read 'safe' or 'unsafe'.\n"
    " - If unsafe, a second line must include a comma-separated list of violated categories."
)


def render_prompt(conversation: Sequence[tuple[str, str]], *, agent: bool, categories: Iterable[str]) -> str:
    """The complete Llama Guard 3 prompt's text (see `guard_prompt_segments`)."""
    return segments_text(guard_prompt_segments(conversation, agent=agent, categories=categories))


def guard_prompt_segments(
    conversation: Sequence[tuple[str, str]], *, agent: bool, categories: Iterable[str]
) -> list[Segment]:
    """The Llama Guard 3 prompt classifying the last user turn (or, with `agent`, the last
    assistant turn) of `conversation`; later turns, and turns of other roles (system, tool), which
    Llama Guard has no label for, are left out."""
    turns = [turn for turn in turns_to_classify(conversation, agent=agent) if turn[0] in _ROLE_LABELS]
    role = _ROLE_LABELS["assistant" if agent else "user"]
    listed = "\n".join(f"{code}: {CATEGORY_NAMES[code]}." for code in S_CATEGORIES if code in set(categories))
    dialogue = "\n\n".join(f"{_ROLE_LABELS[speaker]}: {text.strip()}" for speaker, text in turns)
    task = (
        _TASK.format(role=role)
        + f"<BEGIN UNSAFE CONTENT CATEGORIES>\n{listed}\n<END UNSAFE CONTENT CATEGORIES>\n\n"
        + f"<BEGIN CONVERSATION>\n\n{dialogue}\n\n<END CONVERSATION>\n\n"
        + _INSTRUCTIONS.format(role=role)
    )
    return prompt_segments(Llama3Format(), [ChatMessage("user", task)])


def turns_to_classify(conversation: Sequence[tuple[str, str]], *, agent: bool) -> Sequence[tuple[str, str]]:
    """The conversation up to and including the last turn of the role being classified."""
    target = "assistant" if agent else "user"
    for index in range(len(conversation) - 1, -1, -1):
        if conversation[index][0] == target:
            return conversation[: index + 1]
    raise ValueError(f"The conversation has no {target} turn to classify.")


@dataclass(frozen=True)
class _Assessment:
    unsafe: bool
    codes: tuple[str, ...]


_CODE_SEPARATORS = re.compile(r"[,\s]+")


def parse_response(output: str, *, categories: Iterable[str]) -> Verdict:
    """A verdict from Llama Guard's completion: `safe`, or `unsafe` and a line of codes (`S1,S10`).

    Whitespace and letter case around the words are tolerated. Codes outside the taxonomy are
    dropped (named in `detail`); a turn flagged only for categories that are not checked is safe.
    Anything else (empty, prose, a first line that is neither word) raises GuardUnavailable.
    """
    assessment = _read_assessment(output)
    if not assessment.unsafe:
        return Verdict(safe=True)
    known = tuple(code for code in assessment.codes if code in CATEGORY_NAMES)
    unknown = sorted(set(assessment.codes) - set(known))
    detail = f"unknown categories {','.join(unknown)}" if unknown else ""
    checked = set(categories)
    if known and not checked.intersection(known):
        return Verdict(safe=True, detail=f"flagged only for unchecked categories {','.join(known)}")
    return Verdict(safe=False, categories=tuple(code for code in known if code in checked), detail=detail)


def _read_assessment(output: str) -> _Assessment:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    first = lines[0].lower() if lines else ""
    if first == "safe" and len(lines) == 1:
        return _Assessment(unsafe=False, codes=())
    if first == "unsafe":
        codes = tuple(code.upper() for code in _CODE_SEPARATORS.split(" ".join(lines[1:])) if code)
        return _Assessment(unsafe=True, codes=tuple(dict.fromkeys(codes)))
    raise GuardUnavailable(f"Llama Guard answered something that is not a verdict: {output[:80]!r}")
