"""The Django admin for operators: tenants, people, nodes, keys (never their secrets).

It is for browsing. Every change with rules (a node's wallet, the webhook URL guard, status
transitions, the audit log) goes through ``services``: from the operator console, the
tenant's own dashboard and API, or the few admin actions below that call the services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import models

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
    """Browse only; each page says where changes are made instead."""

    change_list_template = "admin/tenants/read_only_change_list.html"
    change_form_template = "admin/tenants/read_only_change_form.html"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _service_action(name: str, label: str, run_one, objects: str):
    """An admin action that runs a service on each selected row, as the operator."""

    def run(modeladmin, request, queryset):
        done = 0
        for obj in queryset:
            try:
                run_one(obj, actor_for(request))
                done += 1
            except ApplicationError as error:
                modeladmin.message_user(request, f"{obj}: {error.message}", messages.WARNING)
        modeladmin.message_user(request, f"{label}: {done} {objects}(s).")

    run.__name__ = name
    return admin.display(description=f"{label} selected {objects}s")(run)


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

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting a person would drop their membership unaudited (perhaps a tenant's last
        # owner); owners remove members through the team service, operators deactivate.
        return False


class MembershipInline(ReadOnlyInline):
    # Roles change only through the team's services, which write the audit log.
    model = Membership
    fields = ("user", "role", "created_at")


class NodeInline(ReadOnlyInline):
    # A node is created by ``node_create`` only: with its wallet and an audit entry.
    model = Node
    fields = ("name", "country", "base_currency", "is_active", "created_at")


def _status_action(action: str, label: str):
    return _service_action(
        f"{action}_tenants",
        label,
        lambda tenant, actor: services.tenant_change_status(
            tenant=tenant, action=action, actor=actor
        ),
        "tenant",
    )


@admin.register(Tenant)
class TenantAdmin(ReadOnlyAdmin):
    """No add (signup creates tenants with their owner), no edit, and never a delete: the
    audit log outlives its tenant. Status changes are actions that call the service."""

    list_display = ("name", "status", "created_at", "status_changed_at")
    list_filter = ("status",)
    search_fields = ("name", "memberships__user__email")
    inlines = [MembershipInline, NodeInline]
    actions = [
        _status_action("approve", "Approve"),
        _status_action("suspend", "Suspend"),
        _status_action("reactivate", "Reactivate"),
    ]


@admin.register(Node)
class NodeAdmin(ReadOnlyAdmin):
    """Tenants edit their nodes (name, country, webhook URL behind the URL guard) in their
    dashboard or API; operators may deactivate one, through the service."""

    list_display = ("name", "tenant", "country", "base_currency", "is_active", "created_at")
    list_filter = ("is_active", "base_currency", "country")
    search_fields = ("name", "tenant__name")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # as the dashboard's
    actions = [
        _service_action(
            "deactivate_nodes",
            "Deactivate",
            lambda node, actor: services.node_deactivate(node=node, actor=actor),
            "node",
        )
    ]


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
