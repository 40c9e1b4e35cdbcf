"""Run as a script (`python -m tests.support.upgrade_imagine_conversation`, DATABASE_URL set to an
empty database): builds the database a deployment had before Imagine's conversation became a
plain id (imagine 0001, a foreign key to assistant's Conversation), stores a picture made in a
chat, upgrades with `migrate` as operators do, and prints what the picture kept as JSON."""

from __future__ import annotations

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from django.apps.registry import Apps  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import IntegrityError, connection, transaction  # noqa: E402
from django.db.migrations.executor import MigrationExecutor  # noqa: E402
from django.db.migrations.loader import MigrationLoader  # noqa: E402
from django.db.migrations.recorder import MigrationRecorder  # noqa: E402

BEFORE = [("assistant", "0006_moderationcase_blocked_imagine"), ("imagine", "0001_initial")]


def migrate_as_before() -> Apps:
    """The migrations deployments ran before the squash existed, and the models of that schema."""
    executor = MigrationExecutor(connection)
    executor.loader = MigrationLoader(connection, replace_migrations=False)
    executor.migrate(BEFORE)
    return executor.loader.project_state(BEFORE).apps


def store_a_chat_picture(old: Apps) -> tuple[int, int]:
    owner = old.get_model("assistant", "User").objects.create(username="before-the-upgrade")
    chat = old.get_model("assistant", "Conversation").objects.create(owner=owner)
    picture = old.get_model("imagine", "ImagineImage").objects.create(
        owner=owner, conversation=chat, prompt="a lighthouse", seed=1, width=64, height=64, file="imagine/1/a.png"
    )
    return chat.pk, picture.pk


def accepts_an_unknown_conversation(picture_id: int) -> bool:
    """True once no foreign key checks the column (the change is rolled back either way)."""
    from imagine.models import ImagineImage

    try:
        with transaction.atomic():
            ImagineImage.objects.filter(pk=picture_id).update(conversation_id=10**12)
            connection.check_constraints()  # SQLite checks deferred keys only when asked (or at commit)
            transaction.set_rollback(True)
    except IntegrityError:
        return False
    return True


def main() -> None:
    chat_id, picture_id = store_a_chat_picture(migrate_as_before())
    call_command("migrate", verbosity=0)

    from assistant.models import Conversation
    from imagine.models import ImagineImage

    kept = ImagineImage.objects.get(pk=picture_id).conversation_id
    unconstrained = accepts_an_unknown_conversation(picture_id)
    Conversation.objects.get(pk=chat_id).delete()
    applied = MigrationRecorder(connection).applied_migrations()
    report = {
        "chat_id": chat_id,
        "kept_conversation_id": kept,
        "unconstrained": unconstrained,
        "after_chat_deleted": ImagineImage.objects.get(pk=picture_id).conversation_id,
        "imagine_applied": sorted(name for app, name in applied if app == "imagine"),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
