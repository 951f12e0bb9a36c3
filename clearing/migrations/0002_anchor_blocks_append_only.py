"""Anchor blocks are append-only, enforced by the database.

PostgreSQL refuses UPDATE and DELETE (TRUNCATE, used only to reset test databases, is not
refused). SQLite refuses UPDATE; DELETE stays possible there because Django empties test
tables with it, and ``verify_anchors`` reports a removed block anyway.
"""

from django.db import migrations

POSTGRES_FORWARD = r"""
CREATE FUNCTION clearing_anchorblock_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'clearing_anchorblock is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER clearing_anchorblock_append_only
    BEFORE UPDATE OR DELETE ON clearing_anchorblock
    FOR EACH ROW EXECUTE FUNCTION clearing_anchorblock_append_only();
"""

POSTGRES_BACKWARD = r"""
DROP TRIGGER IF EXISTS clearing_anchorblock_append_only ON clearing_anchorblock;
DROP FUNCTION IF EXISTS clearing_anchorblock_append_only();
"""

SQLITE_FORWARD = r"""
CREATE TRIGGER clearing_anchorblock_no_update BEFORE UPDATE ON clearing_anchorblock
BEGIN
    SELECT RAISE(ABORT, 'clearing_anchorblock is append-only: UPDATE refused');
END;
"""

SQLITE_BACKWARD = "DROP TRIGGER IF EXISTS clearing_anchorblock_no_update;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD, params=None)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_BACKWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("clearing", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
