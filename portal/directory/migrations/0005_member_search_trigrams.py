"""A trigram index on the members' search column (PostgreSQL): a search for a rare fragment,
a whole email address say, reads the few rows that contain it instead of every member.

pg_trgm ships with PostgreSQL and is a trusted extension (13+), so the portal's own database
user may create it. SQLite (the demo) has no such index and scans, which is fast at its size.
"""

from django.db import migrations

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS member_search_trigrams "
    "ON directory_member USING gin (search_text gin_trgm_ops)",
]
DROP = ["DROP INDEX IF EXISTS member_search_trigrams"]


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("directory", "0004_queued_syncs")]

    operations = [migrations.RunPython(create, drop)]
