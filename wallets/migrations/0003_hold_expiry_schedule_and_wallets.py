"""Schedule the sweep that expires due holds, and give existing nodes their wallet."""

from django.db import migrations

from sandbox import beat


def wallets_for_existing_nodes(apps, schema_editor):
    from django.utils import timezone

    from wallets.banks import DEFAULT_BANK_CODE, new_account_number

    Node = apps.get_model("tenants", "Node")
    Wallet = apps.get_model("wallets", "Wallet")
    Account = apps.get_model("wallets", "Account")
    for node in Node.objects.filter(wallet__isnull=True):
        now = timezone.now()
        wallet = Wallet.objects.create(tenant_id=node.tenant_id, node=node, created_at=now)
        Account.objects.create(
            tenant_id=node.tenant_id, wallet=wallet, kind="customer", currency=node.base_currency,
            name="Main", bank_code=DEFAULT_BANK_CODE, account_number=new_account_number(),
            created_at=now,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0002_ledger_rules_in_postgresql"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("tenants", "0001_initial"),
    ]

    operations = [
        beat.schedule(
            beat.Periodic(
                "wallets: expire due holds", "wallets.tasks.expire_due_holds", beat.Every(seconds=60)
            ),
            overwrite=True,
        ),
        migrations.RunPython(wallets_for_existing_nodes, migrations.RunPython.noop),
    ]
