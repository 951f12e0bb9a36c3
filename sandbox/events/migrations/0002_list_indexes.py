"""The events list's type filter reads its page from one index (bench/pages.py): (tenant,
type, created_at) replaces (tenant, type), which it covers. The new index is built before
the old one goes, so the filter is never without one."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0001_initial"),
        ("tenants", "0003_audit_actor_label_fits_any_email"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="event",
            index=models.Index(
                fields=["tenant", "type", "-created_at"], name="event_tenant_type_recent"
            ),
        ),
        migrations.RemoveIndex(model_name="event", name="event_tenant_type"),
    ]
