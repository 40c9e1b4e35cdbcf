"""Dependencies point one way (docs/architecture.md): the import contracts of pyproject.toml hold,
and Imagine's migrations wait for no assistant migration that could build on Imagine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.db.migrations.loader import MigrationLoader

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=100, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_imagine_migrations_follow_only_the_assistants_first() -> None:
    """Assistant's later migrations build on Imagine's (Message.image), so Imagine's may depend on
    assistant's initial schema (the user model, Conversation) and nothing after it."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    waited_for = {
        dependency
        for (app, _), migration in loader.disk_migrations.items()
        if app == "imagine"
        for dependency in migration.dependencies
        if dependency[0] == "assistant"
    }
    assert waited_for <= {("assistant", "0001_initial"), ("assistant", "__first__")}
