from django.contrib import admin

from imagine.models import ImagineImage


@admin.register(ImagineImage)
class ImagineImageAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "kind", "prompt", "width", "height", "created")
    list_filter = ("kind",)
    search_fields = ("prompt", "owner__username")
    raw_id_fields = ("owner", "source")
    readonly_fields = ("created",)
