"""Which answers go to the content guard: Llama Guard judges them; the embedded stand-in, in process
or in its own server, only when the operator asks, so its server is not sent answers it would
answer `safe` unread."""

from __future__ import annotations

import pytest

from assistant.engine.capabilities import default_capabilities

GUARD_URL = "http://127.0.0.1:9/v1"


@pytest.fixture(autouse=True)
def fresh_capabilities():
    default_capabilities.cache_clear()
    yield
    default_capabilities.cache_clear()


@pytest.mark.parametrize(
    ("overrides", "judges_answers"),
    [
        ({"SAFETY_GUARD_BASE_URL": GUARD_URL}, True),  # Llama Guard 3 on vLLM
        ({"SAFETY_GUARD_BASE_URL": GUARD_URL, "SAFETY_GUARD_JUDGES_ANSWERS": False}, False),  # the stand-in's server
        ({"SAFETY_GUARD_BASE_URL": "", "SAFETY_EMBEDDED_CHECKS_ANSWERS": False}, False),  # the stand-in in process
        ({"SAFETY_GUARD_BASE_URL": "", "SAFETY_EMBEDDED_CHECKS_ANSWERS": True}, True),
    ],
)
def test_answers_go_to_the_guard_only_where_it_judges_them(settings, overrides, judges_answers) -> None:
    for name, value in overrides.items():
        setattr(settings, name, value)

    assert default_capabilities().check_output is judges_answers
