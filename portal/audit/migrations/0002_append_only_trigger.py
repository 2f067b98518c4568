"""The database itself refuses to change or remove audit rows on PostgreSQL.

The model and its QuerySet already refuse, but raw SQL, a stray `QuerySet(AuditEntry)` or a
console session would go around them; a trigger does not. It fires once per statement, so even
an UPDATE or DELETE that matches no row is refused.

Why RunPython rather than RunSQL: RunSQL runs on every database, and the demo runs on SQLite,
whose trigger language differs. A function can ask the connection which database it is and
do nothing on SQLite, where the model and QuerySet guards are the protection.

TRUNCATE is deliberately left alone: Django's test flush (and `manage.py flush`) empties every
table with it. The trigger stops code paths and mistakes, not someone holding the table owner's
credentials, who could drop it; that takes a database role without UPDATE, DELETE and TRUNCATE
on this table. A future data migration that truly must touch old rows has to drop and recreate
the trigger in that migration, which leaves a visible record in the code history.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

FUNCTION = "audit_auditentry_refuse_change"
TRIGGER = "audit_auditentry_append_only"
TABLE = "audit_auditentry"


def install(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END;
        $$
        """,
        # No parameters: the driver would otherwise read plpgsql's % placeholders as its own.
        params=None,
    )
    schema_editor.execute(
        f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {TABLE} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
    )


def uninstall(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
