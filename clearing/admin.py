"""Admin: thresholds are editable; the chain, closes and jobs are read-only records.
The close's time and time zone are the django-celery-beat periodic task
"clearing: daily close" (Periodic tasks → Crontabs)."""

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from clearing.models import AnchorBlock, AnchorThreshold, ClockClose, DayClose, Job


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(AnchorThreshold)
class AnchorThresholdAdmin(admin.ModelAdmin):
    list_display = ["currency", "min_amount", "updated_at"]


@admin.register(AnchorBlock)
class AnchorBlockAdmin(ReadOnly):
    list_display = ["height", "kind", "label", "leaf_count", "block_hash", "block_time"]
    list_filter = ["kind"]
    exclude = ["raw"]


@admin.register(DayClose)
class DayCloseAdmin(ReadOnly):
    list_display = ["day", "status", "leaf_count", "root", "sequence", "attempts", "closed_at"]
    list_filter = ["status"]


@admin.register(ClockClose)
class ClockCloseAdmin(ReadOnly):
    list_display = ["id", "tenant", "clock", "day", "sequence", "status", "leaf_count", "closed_at"]
    list_filter = ["status"]


@admin.register(Job)
class JobAdmin(ReadOnly):
    list_display = ["id", "kind", "label", "status", "triggered_by", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
