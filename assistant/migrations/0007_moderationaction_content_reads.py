# The audit trail also records staff reading what people wrote (a case's text, an Imagine prompt,
# a messaging payload) and searching it; a search, or an event whose sender has no account, has no
# target. Existing rows keep their values.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('assistant', '0006_moderationcase_blocked_imagine'),
    ]

    operations = [
        migrations.AlterField(
            model_name='moderationaction',
            name='action',
            field=models.CharField(choices=[('dismiss', 'Dismiss'), ('warn', 'Warn'), ('suspend', 'Suspend'), ('reinstate', 'Reinstate'), ('view_conversation', 'View Conversation'), ('read_content', 'Read Content'), ('search_content', 'Search Content')], max_length=24),
        ),
        migrations.AlterField(
            model_name='moderationaction',
            name='target',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='moderation_history', to=settings.AUTH_USER_MODEL),
        ),
    ]
