"""The Llama 3.1 `wolfram_alpha` built-in tool: Wolfram|Alpha when an AppID is set, else exact sympy.

The answer is text for the model's `ipython` turn, errors included ("Error: …"): the model then says
what went wrong instead of the turn failing.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import httpx

from search.conf import search_settings

logger = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[1]
QUERY_CHARS = 500


def solve(query: str) -> str:
    """The result of a math query as text for the ipython turn, or a clear "Error: …" text."""
    query = " ".join(query.split())
    if not query:
        return "Error: the query is empty."
    if len(query) > QUERY_CHARS:
        return f"Error: the query is longer than {QUERY_CHARS} characters."
    if search_settings().wolfram_app_id:
        return _ask_wolfram(query)
    return _evaluate_locally(query)


def _ask_wolfram(query: str) -> str:
    """Wolfram|Alpha's LLM API: `GET …/llm-api?input=…&appid=…` answers plain text meant for a model."""
    configured = search_settings()
    params = {"input": query, "appid": configured.wolfram_app_id}
    try:
        response = httpx.get(configured.wolfram_url, params=params, timeout=configured.math_time_limit_seconds)
    except httpx.HTTPError as error:
        logger.warning("Wolfram Alpha unreachable: %r", error)
        return "Error: Wolfram Alpha could not be reached."
    if response.status_code == 501:
        return f"Error: Wolfram Alpha did not understand the query. {response.text.strip()}".strip()
    if response.status_code >= 400:
        logger.warning("Wolfram Alpha failed: HTTP %s %s", response.status_code, response.text[:500])
        return f"Error: Wolfram Alpha answered with an error (HTTP {response.status_code})."
    return response.text.strip()


def _evaluate_locally(query: str) -> str:
    """sympy in a child process, killed at the time limit: a huge power or integral cannot hang the worker."""
    limit = search_settings().math_time_limit_seconds
    try:
        done = subprocess.run(
            [sys.executable, "-m", "search.sympy_eval"],
            input=query,
            capture_output=True,
            text=True,
            timeout=limit,
            cwd=PROJECT_ROOT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"Error: the calculation took longer than {limit:g} s and was stopped."
    if done.returncode != 0:
        logger.warning("sympy evaluator exited with %s: %s", done.returncode, done.stderr[-1000:])
        return "Error: the calculation failed (it may need too much memory)."
    return done.stdout.strip()
