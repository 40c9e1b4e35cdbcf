from django.db import migrations, models


class Migration(migrations.Migration):
    """Where a fact was said now names the conversation too (Settings → Memory links to it). Items kept
    before have no conversation recorded: they show their channel only."""

    dependencies = [
        ("knowledge", "0002_memory_links"),
    ]

    operations = [
        migrations.AddField(
            model_name="memoryitem",
            name="source_conversation_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
    ]
