# An actor's label is their e-mail address, which may be 254 characters long.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0002_audit_log_outlives_tenants"),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditlogentry",
            name="actor_label",
            field=models.CharField(max_length=254),
        ),
    ]
