# Message versions: a user message points at the answer it follows (`parent`), so edits of it are the
# user messages with the same parent. Stored conversations are linear: each user message follows the
# shown answer stored before it (regenerated answers that were replaced are superseded already).

from django.db import migrations, models
import django.db.models.deletion


def link_user_messages(apps, schema_editor):
    Message = apps.get_model('assistant', 'Message')
    followed = {}  # conversation id -> the last shown answer seen, in id order
    rows = Message.objects.order_by('conversation_id', 'id').values_list('id', 'conversation_id', 'role', 'superseded')
    linked = []
    for pk, conversation_id, role, superseded in rows.iterator(chunk_size=2000):
        if role == 'assistant':
            if not superseded:
                followed[conversation_id] = pk
        elif conversation_id in followed:
            linked.append(Message(pk=pk, parent_id=followed[conversation_id]))
        if len(linked) >= 1000:
            Message.objects.bulk_update(linked, ['parent'])
            linked = []
    Message.objects.bulk_update(linked, ['parent'])


class Migration(migrations.Migration):

    dependencies = [
        ('assistant', '0009_message_feedback'),
    ]

    operations = [
        migrations.AddField(
            model_name='message',
            name='parent',
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name='followups',
                to='assistant.message',
            ),
        ),
        migrations.RunPython(link_user_messages, migrations.RunPython.noop),
    ]
