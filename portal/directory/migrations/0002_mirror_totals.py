"""Totals of the mirror kept by the database: triggers count members and invitations by kind.

A member counts as "active" or "removed"; an invitation that is not removed counts under its
status. Every write (a sync's bulk upserts, an action, a test's factory) passes through the
triggers, so the totals cannot drift from the rows. A delete only subtracts from an existing
total, never creates one: deleting an organization deletes its totals before its rows.

PostgreSQL runs one function for both tables; SQLite (the demo) has triggers per event.
"""

import django.db.models.deletion
from django.db import migrations, models

MEMBER_KIND = "CASE WHEN {row}.removed_at IS NULL THEN 'active' ELSE 'removed' END"

POSTGRESQL = [
    """
    CREATE FUNCTION directory_count_mirror() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        old_kind text;
        new_kind text;
    BEGIN
        IF TG_TABLE_NAME = 'directory_member' THEN
            IF TG_OP <> 'INSERT' THEN
                old_kind := CASE WHEN OLD.removed_at IS NULL THEN 'active' ELSE 'removed' END;
            END IF;
            IF TG_OP <> 'DELETE' THEN
                new_kind := CASE WHEN NEW.removed_at IS NULL THEN 'active' ELSE 'removed' END;
            END IF;
        ELSE
            IF TG_OP <> 'INSERT' AND OLD.removed_at IS NULL THEN
                old_kind := OLD.status;
            END IF;
            IF TG_OP <> 'DELETE' AND NEW.removed_at IS NULL THEN
                new_kind := NEW.status;
            END IF;
        END IF;
        IF TG_OP = 'UPDATE' AND OLD.organization_id = NEW.organization_id
                AND old_kind IS NOT DISTINCT FROM new_kind THEN
            RETURN NULL;
        END IF;
        IF old_kind IS NOT NULL THEN
            UPDATE directory_mirrortotal SET n = n - 1
            WHERE organization_id = OLD.organization_id AND kind = old_kind;
        END IF;
        IF new_kind IS NOT NULL THEN
            INSERT INTO directory_mirrortotal (organization_id, kind, n)
            VALUES (NEW.organization_id, new_kind, 1)
            ON CONFLICT (organization_id, kind) DO UPDATE SET n = directory_mirrortotal.n + 1;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER directory_member_total
    AFTER INSERT OR DELETE OR UPDATE OF organization_id, removed_at ON directory_member
    FOR EACH ROW EXECUTE FUNCTION directory_count_mirror()
    """,
    """
    CREATE TRIGGER directory_invitation_total
    AFTER INSERT OR DELETE OR UPDATE OF organization_id, removed_at, status
    ON directory_invitation
    FOR EACH ROW EXECUTE FUNCTION directory_count_mirror()
    """,
]

ADD = (
    "INSERT INTO directory_mirrortotal (organization_id, kind, n) "
    "SELECT {row}.organization_id, {kind}, 1 WHERE {condition} "
    "ON CONFLICT (organization_id, kind) DO UPDATE SET n = n + 1;"
)
SUBTRACT = (
    "UPDATE directory_mirrortotal SET n = n - 1 "
    "WHERE {condition} AND organization_id = {row}.organization_id AND kind = {kind};"
)
member = {"kind": MEMBER_KIND, "condition": "true"}
invitation = {"kind": "{row}.status", "condition": "{row}.removed_at IS NULL"}


def _statement(template: str, row: str, kind: dict[str, str]) -> str:
    return template.format(
        row=row,
        kind=kind["kind"].format(row=row),
        condition=kind["condition"].format(row=row),
    )


SQLITE = (
    [
        f"""
    CREATE TRIGGER directory_{table}_total_insert AFTER INSERT ON directory_{table}
    BEGIN {_statement(ADD, "NEW", kind)} END
    """
        for table, kind in (("member", member), ("invitation", invitation))
    ]
    + [
        f"""
    CREATE TRIGGER directory_{table}_total_delete AFTER DELETE ON directory_{table}
    BEGIN {_statement(SUBTRACT, "OLD", kind)} END
    """
        for table, kind in (("member", member), ("invitation", invitation))
    ]
    + [
        """
    CREATE TRIGGER directory_member_total_update
    AFTER UPDATE OF organization_id, removed_at ON directory_member
    WHEN OLD.organization_id <> NEW.organization_id
        OR (OLD.removed_at IS NULL) <> (NEW.removed_at IS NULL)
    BEGIN """
        + _statement(SUBTRACT, "OLD", member)
        + _statement(ADD, "NEW", member)
        + " END",
        """
    CREATE TRIGGER directory_invitation_total_update
    AFTER UPDATE OF organization_id, removed_at, status ON directory_invitation
    WHEN OLD.organization_id <> NEW.organization_id
        OR (OLD.removed_at IS NULL) <> (NEW.removed_at IS NULL)
        OR OLD.status <> NEW.status
    BEGIN """
        + _statement(SUBTRACT, "OLD", invitation)
        + _statement(ADD, "NEW", invitation)
        + " END",
    ]
)

BACKFILL = f"""
    INSERT INTO directory_mirrortotal (organization_id, kind, n)
    SELECT organization_id, {MEMBER_KIND.format(row="directory_member")}, COUNT(*)
    FROM directory_member
    GROUP BY organization_id, {MEMBER_KIND.format(row="directory_member")}
    UNION ALL
    SELECT organization_id, status, COUNT(*)
    FROM directory_invitation WHERE removed_at IS NULL
    GROUP BY organization_id, status
"""  # noqa: S608 (constants only)

UNINSTALL = {
    "postgresql": [
        "DROP TRIGGER IF EXISTS directory_member_total ON directory_member",
        "DROP TRIGGER IF EXISTS directory_invitation_total ON directory_invitation",
        "DROP FUNCTION IF EXISTS directory_count_mirror()",
    ],
    "sqlite": [
        f"DROP TRIGGER IF EXISTS directory_{table}_total_{event}"
        for table in ("member", "invitation")
        for event in ("insert", "delete", "update")
    ],
}


def install(apps, schema_editor):
    statements = {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(schema_editor.connection.vendor)
    if statements is None:
        raise RuntimeError(f"no mirror-total triggers for {schema_editor.connection.vendor}")
    for statement in [*statements, BACKFILL]:
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    for statement in UNINSTALL[schema_editor.connection.vendor]:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("directory", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="MirrorTotal",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("kind", models.CharField(max_length=16)),
                ("n", models.IntegerField(default=0)),
                (
                    "organization",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.organization",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("organization", "kind"), name="one_total_per_kind"
                    )
                ],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
