"""The index on ``wallets_idempotencykey.tenant_id`` goes: ``idempotency_key_unique``
(tenant_id, key) leads with that column and serves every lookup by tenant (the claim, the
cascade when a tenant is deleted, the foreign key's check), so the second index only cost
every money-moving request one more index insert.

The foreign key itself stays as it is: Django's AlterField would drop it and add it again,
which checks every row of the table under a lock that stops money-moving requests; only the
index is dropped here."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0003_audit_actor_label_fits_any_email"),
        ("wallets", "0011_account_days"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="idempotencykey",
                    name="tenant",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenants.tenant",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS wallets_idempotencykey_tenant_id_4f6f6830",
                    reverse_sql="CREATE INDEX wallets_idempotencykey_tenant_id_4f6f6830"
                    " ON wallets_idempotencykey (tenant_id)",
                ),
            ],
        ),
    ]
