# Keeps every row as it is: inbound events gain the `photo` and `voice` kinds, replies the `voice` kind
# (choices only, no column change).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_revisions_and_ignored_events"),
    ]

    operations = [
        migrations.AlterField(
            model_name="inboundevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("text", "Text"),
                    ("imagine", "Imagine"),
                    ("photo", "Photo"),
                    ("voice", "Voice"),
                    ("unsupported", "Unsupported"),
                    ("status", "Status"),
                    ("reaction", "Reaction"),
                    ("deleted", "Deleted"),
                    ("ignored", "Ignored"),
                ],
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="outboundmessage",
            name="kind",
            field=models.CharField(
                choices=[("text", "Text"), ("image", "Image"), ("voice", "Voice")],
                max_length=8,
            ),
        ),
    ]
