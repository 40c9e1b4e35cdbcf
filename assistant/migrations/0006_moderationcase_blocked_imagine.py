# A moderation case for an Imagine prompt the safety check refused: a new kind, with no message.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("assistant", "0005_user_language_theme"),
    ]

    operations = [
        migrations.AlterField(
            model_name="moderationcase",
            name="kind",
            field=models.CharField(
                choices=[
                    ("blocked_input", "Blocked Input"),
                    ("blocked_output", "Blocked Output"),
                    ("blocked_imagine", "Blocked Imagine"),
                    ("report", "Report"),
                ],
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="moderationcase",
            name="message",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="moderation_cases",
                to="assistant.message",
            ),
        ),
    ]
