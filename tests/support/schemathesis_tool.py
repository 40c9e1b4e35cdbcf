"""The schemathesis install that `make install` keeps in a venv of its own (requirements-fuzz.txt):
its rich>=13.9 cannot share the product's environment with semgrep's pin."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support.processes import ROOT

TOOL_BIN = ROOT / ".venv" / "tools" / "schemathesis" / "bin"
ST = TOOL_BIN / "st"
MISSING = f"{TOOL_BIN} is missing: run `make install` (it creates the fuzzer's own venv)."

_VALIDATE = """
import sys, schemathesis
schemathesis.openapi.from_path(sys.argv[1]).validate()
"""


def validation_error(document: dict[str, Any], folder: Path) -> str | None:
    """What schemathesis's OpenAPI meta-schema check says about `document`; None if it is valid."""
    path = folder / "openapi.json"
    path.write_text(json.dumps(document))
    done = subprocess.run([TOOL_BIN / "python", "-c", _VALIDATE, path], capture_output=True, text=True)
    return done.stderr if done.returncode else None
