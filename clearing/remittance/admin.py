"""Admin (operators): remittances, read-only, with their travel-rule data opened; the
platform seed and keys show only their public parts."""

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from clearing.remittance import selectors
from clearing.remittance.models import BitcoinKey, Remittance


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Remittance)
class RemittanceAdmin(ReadOnly):
    list_display = ["id", "tenant", "source_amount", "source_currency", "target_currency", "status"]
    list_filter = ["status"]
    exclude = ["travel_rule_sealed", "travel_rule_key_id"]
    readonly_fields = ["travel_rule"]

    @admin.display(description="Travel rule (opened)")
    def travel_rule(self, obj: Remittance) -> str:
        data = selectors.remittance_travel_rule(remittance=obj)
        return " · ".join(
            f"{role}: " + ", ".join(f"{k}={v}" for k, v in party.items())
            for role, party in data.items()
        )


@admin.register(BitcoinKey)
class BitcoinKeyAdmin(ReadOnly):
    list_display = ["index", "node", "address", "pubkey"]
