"""Migrations: the schema matches the models, Imagine's migrations need no chat table, and a
database from before Imagine's conversation became a plain id upgrades with its pictures intact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import migrations
from django.db.migrations.loader import MigrationLoader

from tests.support.deployment import new_postgres_database
from tests.support.processes import product_env

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_the_models_need_no_new_migration() -> None:
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_imagine_migrations_need_only_the_user_model() -> None:
    """A new database builds Imagine's tables from the user model alone (as any app with a custom
    user model does), never from a chat table: no chat migration has to run between Imagine's."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    imagine = [loader.graph.nodes[key] for key in loader.graph.nodes if key[0] == "imagine"]
    assert imagine
    user_model = migrations.swappable_dependency(settings.AUTH_USER_MODEL)
    for migration in imagine:
        outside = [dependency for dependency in migration.dependencies if dependency[0] != "imagine"]
        assert outside == [user_model], f"{migration.name} needs {outside}"
        foreign_keys = [
            field.remote_field.model
            for operation in migration.operations
            for _, field in getattr(operation, "fields", [])
            if field.remote_field is not None
        ]
        assert all(target in (settings.AUTH_USER_MODEL, "imagine.imagineimage") for target in foreign_keys)


def _upgrade(database_url: str, var_dir: Path) -> dict:
    env = product_env(var_dir, DATABASE_URL=database_url)
    completed = subprocess.run(
        [sys.executable, "-m", "tests.support.upgrade_imagine_conversation"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_database_from_before_keeps_the_chat_of_every_picture(engine: str, tmp_path: Path) -> None:
    if engine == "sqlite":
        report = _upgrade(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path)
    else:
        with new_postgres_database() as url:
            report = _upgrade(url, tmp_path)
    assert report["kept_conversation_id"] == report["chat_id"]
    assert report["unconstrained"] is True
    assert report["after_chat_deleted"] is None
    assert report["imagine_applied"] == [
        "0001_initial",
        "0001_squashed_0002_conversation_id",
        "0002_conversation_id",
        "0003_imagineimage_edited_from",  # later migrations run on top of the old ones too
    ]
