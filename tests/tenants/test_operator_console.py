"""The operators' console: a suspension asks for a reason that the organization then sees,
results show at the row acted on, and the audit log is filtered, paged and exported."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from sandbox.tenants.models import AuditLogEntry, Tenant
from sandbox.tenants.selectors import AuditFilters, audit_log_page, audit_log_search
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def entry(*, tenant=None, actor="ops@example.com", action="tenant.approved", days_ago=0):
    row = AuditLogEntry.objects.create(
        tenant=tenant, actor_label=actor, action=action, data={"reason": ""}
    )
    AuditLogEntry.objects.filter(pk=row.pk).update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )
    return row


# --- Suspension --------------------------------------------------------------------------


def test_a_suspension_without_a_reason_changes_nothing_and_says_why_in_the_row(
    client, operator, alice
):
    client.force_login(operator)

    response = client.post(
        f"/operator/tenants/{alice.tenant.pk}/suspend/", {"reason": "  "}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    assert f'id="tenant-{alice.tenant.pk}"'.encode() in response.content
    assert b"Say why" in response.content
    assert Tenant.objects.get(pk=alice.tenant.pk).status == Tenant.Status.ACTIVE
    assert not AuditLogEntry.objects.filter(action="tenant.suspended").exists()


def test_the_reason_is_audited_and_shown_to_the_suspended_organization(client, operator, alice):
    client.force_login(operator)

    client.post(
        f"/operator/tenants/{alice.tenant.pk}/suspend/",
        {"reason": "Card testing from your keys"},
        HTTP_HX_REQUEST="true",
    )

    entry = AuditLogEntry.objects.get(action="tenant.suspended")
    assert entry.data["reason"] == "Card testing from your keys"
    page = alice.web.get("/")
    assert page.status_code == 403
    assert b"Card testing from your keys" in page.content


def test_without_htmx_the_result_shows_at_the_row_acted_on(client, operator, alice):
    client.force_login(operator)

    response = client.post(
        f"/operator/tenants/{alice.tenant.pk}/suspend/", {"reason": "Abuse"}, follow=False
    )

    assert response.status_code == 302
    assert response["Location"] == f"/operator/#tenant-{alice.tenant.pk}"


# --- Audit log selectors -----------------------------------------------------------------


def test_the_filters_narrow_by_tenant_actor_action_and_dates():
    acme, other = TenantFactory(name="Acme"), TenantFactory(name="Other")
    wanted = entry(tenant=acme, actor="ann@acme.test", action="tenant.suspended", days_ago=2)
    entry(tenant=other, actor="ann@acme.test", action="tenant.suspended", days_ago=2)
    entry(tenant=acme, actor="bob@acme.test", action="tenant.suspended", days_ago=2)
    entry(tenant=acme, actor="ann@acme.test", action="api_key.created", days_ago=2)
    entry(tenant=acme, actor="ann@acme.test", action="tenant.suspended", days_ago=9)
    today = timezone.localdate()

    found = audit_log_search(
        AuditFilters(
            tenant=acme,
            actor="ANN@",
            action="tenant.",
            since=today - timedelta(days=3),
            until=today - timedelta(days=2),
        )
    )

    assert list(found) == [wanted]


def test_until_takes_in_the_whole_last_day():
    today = timezone.localdate()
    todays = entry(days_ago=0)

    assert list(audit_log_search(AuditFilters(until=today))) == [todays]
    assert list(audit_log_search(AuditFilters(until=today - timedelta(days=1)))) == []


def test_pages_follow_each_other_without_gaps_or_repeats():
    rows = [entry(action=f"a.{n}") for n in range(7)]
    newest_first = [r.pk for r in reversed(rows)]

    first = audit_log_page(audit_log_search(AuditFilters()), limit=3)
    second = audit_log_page(audit_log_search(AuditFilters()), before=first.next_before, limit=3)
    third = audit_log_page(audit_log_search(AuditFilters()), before=second.next_before, limit=3)

    assert [r.pk for r in first.rows + second.rows + third.rows] == newest_first
    assert first.is_first and not second.is_first
    assert third.next_before is None


# --- Audit log pages ---------------------------------------------------------------------


def test_the_page_shows_fifty_entries_and_links_to_the_older_ones(client, operator):
    for n in range(55):
        entry(action=f"bulk.{n}")
    client.force_login(operator)

    first = client.get("/operator/audit-log/?action=bulk.")
    older = client.get(
        f"/operator/audit-log/?action=bulk.&before={first.context['page'].next_before}"
    )

    assert len(first.context["entries"]) == 50
    assert b'rel="next"' in first.content
    assert len(older.context["entries"]) == 5
    assert b'rel="next"' not in older.content


def test_bad_dates_are_refused_on_the_form(client, operator):
    client.force_login(operator)

    page = client.get("/operator/audit-log/?since=2026-05-02&until=2026-05-01")

    assert page.status_code == 200
    assert b"The end comes before the start." in page.content


def test_the_export_is_csv_with_the_same_filters_and_no_formulas(client, operator):
    acme = TenantFactory(name="=HYPERLINK(1)")
    entry(tenant=acme, actor="ann@acme.test", action="tenant.suspended")
    entry(tenant=acme, actor="bob@acme.test", action="tenant.suspended")
    client.force_login(operator)

    response = client.get(f"/operator/audit-log/export.csv?tenant={acme.pk}&actor=ann")

    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["actor"], r["action"], r["tenant"]) for r in rows] == [
        ("ann@acme.test", "tenant.suspended", "'=HYPERLINK(1)")
    ]


def test_the_audit_log_and_its_export_are_for_operators_only(alice):
    assert alice.web.get("/operator/audit-log/").status_code == 302
    assert alice.web.get("/operator/audit-log/export.csv").status_code == 302


def test_an_unknown_tenant_filter_is_a_404(client, operator):
    client.force_login(operator)
    response = client.get("/operator/audit-log/?tenant=6f1c0a43-8b7e-4a5e-9d55-0c2b1e9f2b7a")
    assert response.status_code == 404
