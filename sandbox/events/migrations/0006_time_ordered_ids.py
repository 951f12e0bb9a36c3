"""New events get time-ordered ids (no-op outside PostgreSQL).

A version 4 uuid (``gen_random_uuid()``) lands on a random leaf of the primary key's index:
at a million events every insert reads and dirties another page, splits leave pages 70 %
full, and after each checkpoint the first change of a page writes the whole page to the
WAL. ``events_event_id(created_us)`` makes a version 7 uuid (RFC 9562) from the event's
``created_at`` in microseconds since the Unix epoch: its milliseconds, then its
microseconds in the 12 bits that follow (method 3 of the RFC, so the ids of one statement,
a microsecond apart, stay in order), then 62 random bits. New ids land on the right edge
of the index, as a sequence's do; the ids already given are untouched (the API and the
webhook deliveries name them). The recording INSERTs (``sandbox.events.services``,
``wallets.events``) call it; the model's default (``sandbox.events.models.new_event_id``)
makes the same from Python.
"""

from django.db import migrations, models

import sandbox.events.models

FORWARD = r"""
CREATE FUNCTION events_event_id(created_us bigint) RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
-- Version 7 (RFC 9562, method 3) from the event's created_at in microseconds since the Unix
-- epoch: 48 bits of milliseconds, the version (7), 12 bits of the millisecond's fraction
-- (microseconds * 4096 / 1000: a microsecond later is a larger id), then the second half
-- of a gen_random_uuid(): the variant (10) and 62 bits from a cryptographic generator, as
-- the ids were before (they are in URLs and webhooks). The callers give the time as an
-- integer (reading it out of a timestamptz goes through numeric and cost as much again).
SELECT encode(
    int8send(created_us / 1000 << 16 | 28672 | created_us % 1000 * 4096 / 1000)
        || substring(uuid_send(gen_random_uuid()) FROM 9),
    'hex')::uuid
$$;
"""

BACKWARD = r"""
DROP FUNCTION IF EXISTS events_event_id(bigint);
"""


def _run(schema_editor, sql):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: its '%' (modulo) stays as written


def forward(apps, schema_editor):
    _run(schema_editor, FORWARD)


def backward(apps, schema_editor):
    _run(schema_editor, BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0005_references_checked_per_statement"),
    ]

    operations = [
        migrations.AlterField(
            model_name="event",
            name="id",
            field=models.UUIDField(
                default=sandbox.events.models.new_event_id,
                editable=False,
                primary_key=True,
                serialize=False,
            ),
        ),
        migrations.RunPython(forward, backward),
    ]
