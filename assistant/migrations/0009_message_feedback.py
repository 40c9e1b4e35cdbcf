# Thumbs up/down on answers: one row per (answer, person), with an optional reason and comment.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('assistant', '0008_message_code_images'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='MessageFeedback',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('rating', models.CharField(choices=[('up', 'Up'), ('down', 'Down')], max_length=8)),
                ('reason', models.CharField(blank=True, choices=[('not_accurate', 'Not Accurate'), ('not_helpful', 'Not Helpful'), ('unsafe', 'Unsafe'), ('other', 'Other')], max_length=16)),
                ('comment', models.TextField(blank=True, max_length=1000)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('message', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='feedback', to='assistant.message')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='message_feedback', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['id'],
                'indexes': [models.Index(fields=['updated_at'], name='feedback_updated_at_idx')],
                'constraints': [models.UniqueConstraint(fields=('message', 'user'), name='one_feedback_per_person'), models.CheckConstraint(condition=models.Q(('rating__in', ['up', 'down'])), name='feedback_rating_valid')],
            },
        ),
    ]
