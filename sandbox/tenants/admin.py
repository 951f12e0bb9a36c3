"""The Django admin for operators: tenants, people, nodes, keys (never their secrets)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from sandbox.errors import ApplicationError
from sandbox.tenants import services
from sandbox.tenants.access import actor_for
from sandbox.tenants.models import (
    ApiKey,
    AuditLogEntry,
    Invitation,
    Membership,
    Node,
    PlatformSettings,
    Tenant,
    User,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "full_name", "is_staff", "is_active", "date_joined")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password", "full_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


class NodeInline(admin.TabularInline):
    model = Node
    extra = 0
    fields = ("name", "country", "base_currency", "is_active", "created_at")
    readonly_fields = ("created_at",)
    show_change_link = True


def _status_action(action: str, label: str):
    def run(modeladmin, request, queryset):
        done = 0
        for tenant in queryset:
            try:
                services.tenant_change_status(
                    tenant=tenant, action=action, actor=actor_for(request)
                )
                done += 1
            except ApplicationError as error:
                modeladmin.message_user(request, f"{tenant}: {error.message}", messages.WARNING)
        modeladmin.message_user(request, f"{label}: {done} tenant(s).")

    run.short_description = f"{label} selected tenants"
    run.__name__ = f"{action}_tenants"
    return run


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "created_at", "status_changed_at")
    list_filter = ("status",)
    search_fields = ("name", "memberships__user__email")
    # Status changes go through the service (audit log, transitions), never a raw edit.
    readonly_fields = ("status", "status_changed_at", "created_at")
    inlines = [MembershipInline, NodeInline]
    actions = [
        _status_action("approve", "Approve"),
        _status_action("suspend", "Suspend"),
        _status_action("reactivate", "Reactivate"),
    ]


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "country", "base_currency", "is_active", "created_at")
    list_filter = ("is_active", "base_currency", "country")
    search_fields = ("name", "tenant__name")
    readonly_fields = ("tenant", "base_currency", "created_at", "deactivated_at")


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    list_display = ("name", "prefix", "tenant", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "tenant__name")
    exclude = ("secret_hash",)  # not the secret, but nothing an operator needs to see either


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = (
        "email",
        "tenant",
        "role",
        "created_at",
        "expires_at",
        "accepted_at",
        "revoked_at",
    )
    exclude = ("token_hash",)


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "tenant", "actor_label", "action", "target_label", "ip_address")
    list_filter = ("action", "is_operator_action")
    search_fields = ("actor_label", "action", "target_label", "tenant__name")
    date_hierarchy = "created_at"


@admin.register(PlatformSettings)
class PlatformSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "new_tenant_status", "updated_at")

    def has_add_permission(self, request) -> bool:
        return not PlatformSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        services.platform_settings_update(
            actor=actor_for(request), new_tenant_status=obj.new_tenant_status
        )
