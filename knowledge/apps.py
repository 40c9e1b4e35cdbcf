from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = "Knowledge: memory and documents"
    default_auto_field = "django.db.models.BigAutoField"
