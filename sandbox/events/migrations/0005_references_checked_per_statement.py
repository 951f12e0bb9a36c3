"""An event's tenant and node checked once per INSERT, not once per row (no-op outside
PostgreSQL).

The two foreign keys of ``events_event`` ran a lookup per event at COMMIT: 32,000 for a
bulk of 8,000 transfers, a tenth of the database's work for it. The same rule, held by
PostgreSQL as before:

- on insert, a statement-level trigger locks the statement's tenants and nodes as a
  foreign key does (``FOR KEY SHARE``: none can be deleted before COMMIT) and refuses the
  statement if one is missing: one set-based query per statement;
- on the other side, deleting a tenant or a node (or changing its id) that events still
  name is refused at COMMIT, as the deferred foreign key did. Django deletes a tenant's
  events before the tenant (``on_delete=CASCADE``), so that still works.

``refuse_if_referenced`` serves the ledger's rows too (wallets 0010). The redundant index
on ``tenant_id`` goes: ``event_tenant_recent`` leads with it.
"""

import django.db.models.deletion
from django.db import migrations, models

FORWARD = r"""
CREATE FUNCTION refuse_if_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
-- A deferred constraint trigger on a referenced table, FOR EACH ROW AFTER DELETE OR
-- UPDATE OF id, with TG_ARGV = (referencing table, its column): the foreign key's own
-- side, for a reference that a statement-level trigger checks on insert. Rare: dynamic SQL.
DECLARE
    referenced boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT FROM %I WHERE %I = $1)', TG_ARGV[0], TG_ARGV[1])
       INTO referenced USING OLD.id;
    IF referenced THEN
        RAISE EXCEPTION 'update or delete on table "%" violates foreign key: % is still referenced from table "%"',
            TG_TABLE_NAME, OLD.id, TG_ARGV[0] USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION events_event_references() RETURNS trigger LANGUAGE plpgsql AS $$
-- One query: lock the tenants and nodes named, and count those missing.
DECLARE
    missing record;
    id uuid;
BEGIN
    WITH tenants AS (SELECT FROM tenants_tenant AS t
                      WHERE t.id IN (SELECT tenant_id FROM new_events) FOR KEY SHARE OF t),
         nodes AS (SELECT FROM tenants_node AS n
                    WHERE n.id IN (SELECT node_id FROM new_events) FOR KEY SHARE OF n)
    SELECT count(DISTINCT e.tenant_id) - (SELECT count(*) FROM tenants) AS tenants,
           count(DISTINCT e.node_id) - (SELECT count(*) FROM nodes) AS nodes
      INTO missing FROM new_events AS e;
    IF missing.tenants > 0 THEN
        SELECT e.tenant_id INTO id FROM new_events AS e
         WHERE NOT EXISTS (SELECT FROM tenants_tenant AS t WHERE t.id = e.tenant_id) LIMIT 1;
        RAISE EXCEPTION 'insert on table "events_event" violates foreign key: tenant_id % is not present in table "tenants_tenant"',
            id USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF missing.nodes > 0 THEN
        SELECT e.node_id INTO id FROM new_events AS e
         WHERE NOT EXISTS (SELECT FROM tenants_node AS n WHERE n.id = e.node_id)
           AND e.node_id IS NOT NULL LIMIT 1;
        RAISE EXCEPTION 'insert on table "events_event" violates foreign key: node_id % is not present in table "tenants_node"',
            id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER events_event_references AFTER INSERT ON events_event
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION events_event_references();
-- Events are never updated but for relayed_at; a changed reference is refused outright.
CREATE FUNCTION events_event_references_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events_event: tenant_id and node_id never change'
        USING ERRCODE = 'foreign_key_violation';
END $$;
CREATE TRIGGER events_event_references_fixed BEFORE UPDATE OF tenant_id, node_id ON events_event
    FOR EACH ROW WHEN (NEW.tenant_id IS DISTINCT FROM OLD.tenant_id
                       OR NEW.node_id IS DISTINCT FROM OLD.node_id)
    EXECUTE FUNCTION events_event_references_fixed();
CREATE CONSTRAINT TRIGGER events_event_tenant_referenced
    AFTER DELETE OR UPDATE OF id ON tenants_tenant DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION refuse_if_referenced('events_event', 'tenant_id');
CREATE CONSTRAINT TRIGGER events_event_node_referenced
    AFTER DELETE OR UPDATE OF id ON tenants_node DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION refuse_if_referenced('events_event', 'node_id');
"""

BACKWARD = r"""
DROP TRIGGER IF EXISTS events_event_node_referenced ON tenants_node;
DROP TRIGGER IF EXISTS events_event_tenant_referenced ON tenants_tenant;
DROP TRIGGER IF EXISTS events_event_references_fixed ON events_event;
DROP FUNCTION IF EXISTS events_event_references_fixed();
DROP TRIGGER IF EXISTS events_event_references ON events_event;
DROP FUNCTION IF EXISTS events_event_references();
DROP FUNCTION IF EXISTS refuse_if_referenced();
"""


def _run(schema_editor, sql):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: the '%' of RAISE formats stay as written


def forward(apps, schema_editor):
    _run(schema_editor, FORWARD)


def backward(apps, schema_editor):
    _run(schema_editor, BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0004_webhook_endpoint"),
        ("tenants", "0003_audit_actor_label_fits_any_email"),
    ]

    operations = [
        migrations.AlterField(
            model_name="event",
            name="node",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="events",
                to="tenants.node",
            ),
        ),
        migrations.AlterField(
            model_name="event",
            name="tenant",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="events",
                to="tenants.tenant",
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
