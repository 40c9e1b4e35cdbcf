from django.db import migrations, models


class Migration(migrations.Migration):
    """The conversation becomes a plain id column, so Imagine's migrations need none of assistant's.
    The column keeps its name and values; only the foreign-key constraint goes (the chat clears the
    id when a conversation is deleted)."""

    dependencies = [
        ("imagine", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="imagineimage",
            name="conversation",
            field=models.BigIntegerField(blank=True, db_column="conversation_id", db_index=True, null=True),
        ),
        migrations.RenameField(model_name="imagineimage", old_name="conversation", new_name="conversation_id"),
        migrations.AlterField(
            model_name="imagineimage",
            name="conversation_id",
            field=models.BigIntegerField(blank=True, db_index=True, null=True),
        ),
    ]
