"""The wolfram_alpha built-in: exact local evaluation with sympy (time limit, garbage input), and
Wolfram|Alpha's LLM API through its contract fake."""

from __future__ import annotations

import time

import pytest
from pytest_django.fixtures import Settings

from search.math import solve
from tests.support.fake_web import WOLFRAM_APP_ID, FakeWeb


@pytest.mark.parametrize(
    ("query", "answer"),
    [
        ("2^100", "1267650600228229401496703205376"),
        ("sqrt(8)", "2*sqrt(2) (≈ 2.82842712474619)"),
        ("What is 1/3 + 1/6?", "1/2 (≈ 0.500000000000000)"),
        ("5!", "120"),
        ("solve x^2 - 4 = 0", "x = -2; x = 2"),
        ("2x + 3 = 7", "x = 2"),
        ("solve x + y = 3, x - y = 1", "x = 2, y = 1"),
        ("integrate x^2 from 0 to 1", "1/3 (≈ 0.333333333333333)"),
        ("integrate sin(x) dx", "-cos(x) + C"),
        ("derivative of x^3 + 2x", "3*x**2 + 2"),
        ("limit of sin(x)/x as x -> 0", "1"),
        ("factor x^2 - 1", "(x - 1)*(x + 1)"),
        ("factor 360", "2^3 * 3^2 * 5"),
        ("1/0", "undefined"),
    ],
)
def test_exact_results(query: str, answer: str) -> None:
    assert solve(query) == answer


def test_huge_integers_are_shown_rounded() -> None:
    assert solve("2^20000") == "≈ 3.98027684033797E+6020 (an integer of 6021 digits)"


@pytest.mark.parametrize(
    "query",
    [
        "__import__('os').system('echo hacked')",
        "x.__class__",
        "open('/etc/passwd')",
        "lambda: 1",
        "hello world",
        "2 +* 3",
        "",
    ],
)
def test_garbage_and_code_are_refused_with_an_error_text(query: str) -> None:
    assert solve(query).startswith("Error:")


def test_a_long_calculation_is_stopped_at_the_time_limit(settings: Settings) -> None:
    settings.SEARCH_MATH_TIME_LIMIT_SECONDS = 2
    started = time.monotonic()
    # The product of two 31- and 32-digit primes: far longer than the limit to factor.
    answer = solve("factor 10000000000000000000000000000603000000000000000000000000001881")
    assert answer == "Error: the calculation took longer than 2 s and was stopped."
    assert time.monotonic() - started < 4


def test_a_calculation_that_needs_too_much_memory_fails_cleanly() -> None:
    assert solve("2^(10^11)").startswith("Error:")


def test_wolfram_alpha_is_used_when_an_app_id_is_set(settings: Settings) -> None:
    """Contract test: the fake speaks Wolfram|Alpha's LLM API (plain text; 501 when not understood)."""
    with FakeWeb() as web:
        settings.SEARCH_WOLFRAM_APP_ID = WOLFRAM_APP_ID
        settings.SEARCH_WOLFRAM_URL = web.url("/wolfram/api/v1/llm-api")
        assert "Result:\n4" in solve("2+2")
        assert solve("flibber jabber").startswith("Error: Wolfram Alpha did not understand the query.")
        settings.SEARCH_WOLFRAM_APP_ID = "WRONG"
        assert solve("2+2") == "Error: Wolfram Alpha answered with an error (HTTP 403)."
        [first, *_] = web.seen("/wolfram/api/v1/llm-api")
        assert first.query == {"input": ["2+2"], "appid": [WOLFRAM_APP_ID]}
