"""The video event types (which event files which entry of the responsibility list), kept by the district."""

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from .models import Category, EventType


@admin.register(EventType)
class EventTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "category", "is_active", "alarm_count"]
    list_filter = ["is_active"]
    allowed_lookups = ()
    search_fields = ["name", "code"]
    list_select_related = ["category"]
    fields = ["code", "name", "category", "is_active"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(alarms_total=Count("alarms"))

    @admin.display(description=_("alarms received"), ordering="alarms_total")
    def alarm_count(self, obj):
        return obj.alarms_total

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "category":
            kwargs["queryset"] = Category.objects.filter(parent__isnull=False, is_active=True).select_related("parent")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
