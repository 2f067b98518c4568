"""The link directory's search and totals, kept by the database (the column and the index
came with migration 0006).

`EventType.search_text` holds, in lower case, what one search box matches: the event type's
name and slug, its profile's name, its owner's name and email (the member whose user URI is
the profile's owner) and, for pooled types, each host's name and email. It reads three tables,
so triggers write it: the event type's own on every insert and update, and the member and host
tables' triggers touch the event types a change concerns (an UPDATE that sets it to '' makes
the event type's trigger compute it again). Any writer (a sync's bulk upserts, an action, a
test's factory) passes through them, so the column cannot drift from the rows it reads.

A trigram index on it (PostgreSQL) finds a rare fragment among 50,000 types in a few reads;
a common one is found by walking `active_type_by_owner` in the list's order until a page is
full. MirrorTotal gains "active_types" and "inactive_types" (event types not removed), so the
directory's count line does not count 50,000 rows on every keystroke.

PostgreSQL runs plpgsql functions (statement triggers with transition tables for members and
hosts: a sync writes thousands at once); SQLite (the demo) has a trigger per event.

A later migration that changes directory_eventtype, directory_eventtypehost or
directory_member must call `uninstall` first and `install` last, as 0003 does for 0002's
triggers: SQLite rebuilds a changed table, which drops the table's own triggers, and a trigger
of another table that names it stops the rebuild. `install` starts by removing whatever is
there and ends by recomputing every text and total, so it may run any number of times.
"""

from django.db import migrations

# The text, for the event type row `{row}`; {agg} is the dialect's string aggregate.
SEARCH_TEXT = """lower(
    coalesce({row}.name, '') || ' ' || coalesce({row}.slug, '') || ' '
    || coalesce({row}.profile_name, '')
    || coalesce((
        SELECT ' ' || m.name || ' ' || m.email FROM directory_member m
        WHERE m.organization_id = {row}.organization_id AND m.user_uri = {row}.profile_owner_uri
        ORDER BY m.removed_at IS NOT NULL LIMIT 1
    ), '')
    || CASE WHEN {row}.pooling_type <> '' THEN coalesce((
        SELECT ' ' || {agg}(m.name || ' ' || m.email, ' ')
        FROM directory_eventtypehost h JOIN directory_member m ON m.id = h.member_id
        WHERE h.event_type_id = {row}.id
    ), '') ELSE '' END
)"""

TYPE_KIND = "CASE WHEN {row}.active THEN 'active_types' ELSE 'inactive_types' END"

# A member's change that the search text shows.
MEMBER_CHANGED = (
    "(o.name, o.email, o.user_uri, o.organization_id)"
    " IS DISTINCT FROM (n.name, n.email, n.user_uri, n.organization_id)"
)

POSTGRESQL = [
    f"""
    CREATE OR REPLACE FUNCTION directory_event_type_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_text := {SEARCH_TEXT.format(row="NEW", agg="string_agg")};
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER directory_eventtype_search_text
    BEFORE INSERT OR UPDATE ON directory_eventtype
    FOR EACH ROW EXECUTE FUNCTION directory_event_type_search_text()
    """,
    """
    CREATE OR REPLACE FUNCTION directory_event_type_hosts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- Only a pool's hosts are in its text (a personal type's host is its owner).
        IF TG_OP = 'INSERT' THEN
            UPDATE directory_eventtype SET search_text = ''
            WHERE pooling_type <> '' AND id IN (SELECT event_type_id FROM added_hosts);
        ELSE
            UPDATE directory_eventtype SET search_text = ''
            WHERE pooling_type <> '' AND id IN (SELECT event_type_id FROM removed_hosts);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER directory_eventtypehost_search_insert
    AFTER INSERT ON directory_eventtypehost REFERENCING NEW TABLE AS added_hosts
    FOR EACH STATEMENT EXECUTE FUNCTION directory_event_type_hosts_changed()
    """,
    """
    CREATE TRIGGER directory_eventtypehost_search_delete
    AFTER DELETE ON directory_eventtypehost REFERENCING OLD TABLE AS removed_hosts
    FOR EACH STATEMENT EXECUTE FUNCTION directory_event_type_hosts_changed()
    """,
    f"""
    CREATE OR REPLACE FUNCTION directory_event_type_members_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE directory_eventtype e SET search_text = '' FROM new_members n
            WHERE e.organization_id = n.organization_id AND e.profile_owner_uri = n.user_uri;
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE directory_eventtype e SET search_text = '' FROM old_members o
            WHERE e.organization_id = o.organization_id AND e.profile_owner_uri = o.user_uri;
        ELSE
            -- A sync rewrites every member; only those whose name, email or URI changed count.
            UPDATE directory_eventtype e SET search_text = ''
            WHERE e.id IN (
                SELECT owned.id
                FROM old_members o JOIN new_members n ON n.id = o.id
                JOIN directory_eventtype owned
                    ON owned.organization_id IN (o.organization_id, n.organization_id)
                    AND owned.profile_owner_uri IN (o.user_uri, n.user_uri)
                WHERE {MEMBER_CHANGED}
                UNION
                SELECT h.event_type_id
                FROM old_members o JOIN new_members n ON n.id = o.id
                JOIN directory_eventtypehost h ON h.member_id = n.id
                WHERE {MEMBER_CHANGED}
            );
        END IF;
        RETURN NULL;
    END
    $$
    """,  # noqa: S608 (constants only)
    """
    CREATE TRIGGER directory_member_search_insert
    AFTER INSERT ON directory_member REFERENCING NEW TABLE AS new_members
    FOR EACH STATEMENT EXECUTE FUNCTION directory_event_type_members_changed()
    """,
    """
    CREATE TRIGGER directory_member_search_update
    AFTER UPDATE ON directory_member REFERENCING OLD TABLE AS old_members NEW TABLE AS new_members
    FOR EACH STATEMENT EXECUTE FUNCTION directory_event_type_members_changed()
    """,
    """
    CREATE TRIGGER directory_member_search_delete
    AFTER DELETE ON directory_member REFERENCING OLD TABLE AS old_members
    FOR EACH STATEMENT EXECUTE FUNCTION directory_event_type_members_changed()
    """,
    # The totals, as migration 0002 keeps them for members and invitations.
    f"""
    CREATE OR REPLACE FUNCTION directory_count_event_types() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        old_kind text;
        new_kind text;
    BEGIN
        IF TG_OP <> 'INSERT' AND OLD.removed_at IS NULL THEN
            old_kind := {TYPE_KIND.format(row="OLD")};
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.removed_at IS NULL THEN
            new_kind := {TYPE_KIND.format(row="NEW")};
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
    """,  # noqa: S608 (constants only)
    """
    CREATE TRIGGER directory_eventtype_total
    AFTER INSERT OR DELETE OR UPDATE OF organization_id, removed_at, active ON directory_eventtype
    FOR EACH ROW EXECUTE FUNCTION directory_count_event_types()
    """,
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS event_type_search_trigrams "
    "ON directory_eventtype USING gin (search_text gin_trgm_ops)",
]

# SQLite: the event type's own triggers write the text after the fact (its triggers cannot
# change NEW); its UPDATE does not fire them again (recursive triggers are off by default).
SET_SEARCH_TEXT = (
    "UPDATE directory_eventtype SET search_text = "  # noqa: S608 (constants only)
    + SEARCH_TEXT.format(row="NEW", agg="group_concat")
    + " WHERE id = NEW.id;"
)
ADD = (
    "INSERT INTO directory_mirrortotal (organization_id, kind, n) "
    "SELECT {row}.organization_id, {kind}, 1 WHERE {row}.removed_at IS NULL "
    "ON CONFLICT (organization_id, kind) DO UPDATE SET n = n + 1;"
)
SUBTRACT = (
    "UPDATE directory_mirrortotal SET n = n - 1 WHERE {row}.removed_at IS NULL "
    "AND organization_id = {row}.organization_id AND kind = {kind};"
)


def _total(template: str, row: str) -> str:
    return template.format(row=row, kind=TYPE_KIND.format(row=row))


SQLITE = [
    f"""
    CREATE TRIGGER directory_eventtype_search_insert AFTER INSERT ON directory_eventtype
    BEGIN {SET_SEARCH_TEXT} END
    """,
    f"""
    CREATE TRIGGER directory_eventtype_search_update AFTER UPDATE ON directory_eventtype
    BEGIN {SET_SEARCH_TEXT} END
    """,
    """
    CREATE TRIGGER directory_eventtypehost_search_insert AFTER INSERT ON directory_eventtypehost
    BEGIN
        UPDATE directory_eventtype SET search_text = ''
        WHERE id = NEW.event_type_id AND pooling_type <> '';
    END
    """,
    """
    CREATE TRIGGER directory_eventtypehost_search_delete AFTER DELETE ON directory_eventtypehost
    BEGIN
        UPDATE directory_eventtype SET search_text = ''
        WHERE id = OLD.event_type_id AND pooling_type <> '';
    END
    """,
    """
    CREATE TRIGGER directory_member_search_insert AFTER INSERT ON directory_member
    BEGIN
        UPDATE directory_eventtype SET search_text = ''
        WHERE organization_id = NEW.organization_id AND profile_owner_uri = NEW.user_uri;
    END
    """,
    """
    CREATE TRIGGER directory_member_search_update
    AFTER UPDATE OF name, email, user_uri, organization_id ON directory_member
    WHEN OLD.name IS NOT NEW.name OR OLD.email IS NOT NEW.email
        OR OLD.user_uri IS NOT NEW.user_uri OR OLD.organization_id IS NOT NEW.organization_id
    BEGIN
        UPDATE directory_eventtype SET search_text = ''
        WHERE (organization_id IN (OLD.organization_id, NEW.organization_id)
               AND profile_owner_uri IN (OLD.user_uri, NEW.user_uri))
            OR id IN (SELECT event_type_id FROM directory_eventtypehost WHERE member_id = NEW.id);
    END
    """,
    """
    CREATE TRIGGER directory_member_search_delete AFTER DELETE ON directory_member
    BEGIN
        UPDATE directory_eventtype SET search_text = ''
        WHERE organization_id = OLD.organization_id AND profile_owner_uri = OLD.user_uri;
    END
    """,
    f"""
    CREATE TRIGGER directory_eventtype_total_insert AFTER INSERT ON directory_eventtype
    BEGIN {_total(ADD, "NEW")} END
    """,
    f"""
    CREATE TRIGGER directory_eventtype_total_delete AFTER DELETE ON directory_eventtype
    BEGIN {_total(SUBTRACT, "OLD")} END
    """,
    f"""
    CREATE TRIGGER directory_eventtype_total_update
    AFTER UPDATE OF organization_id, removed_at, active ON directory_eventtype
    WHEN OLD.organization_id <> NEW.organization_id
        OR (OLD.removed_at IS NULL) <> (NEW.removed_at IS NULL)
        OR OLD.active <> NEW.active
    BEGIN {_total(SUBTRACT, "OLD")} {_total(ADD, "NEW")} END
    """,
]

BACKFILL = [
    "DELETE FROM directory_mirrortotal WHERE kind IN ('active_types', 'inactive_types')",
    f"""
    INSERT INTO directory_mirrortotal (organization_id, kind, n)
    SELECT organization_id, {TYPE_KIND.format(row="directory_eventtype")}, COUNT(*)
    FROM directory_eventtype WHERE removed_at IS NULL
    GROUP BY organization_id, {TYPE_KIND.format(row="directory_eventtype")}
    """,  # noqa: S608 (constants only)
    # Every row's trigger computes its text.
    "UPDATE directory_eventtype SET search_text = ''",
]

UNINSTALL = {
    "postgresql": [
        "DROP INDEX IF EXISTS event_type_search_trigrams",
        "DROP TRIGGER IF EXISTS directory_eventtype_total ON directory_eventtype",
        "DROP TRIGGER IF EXISTS directory_eventtype_search_text ON directory_eventtype",
        "DROP TRIGGER IF EXISTS directory_eventtypehost_search_insert ON directory_eventtypehost",
        "DROP TRIGGER IF EXISTS directory_eventtypehost_search_delete ON directory_eventtypehost",
        "DROP TRIGGER IF EXISTS directory_member_search_insert ON directory_member",
        "DROP TRIGGER IF EXISTS directory_member_search_update ON directory_member",
        "DROP TRIGGER IF EXISTS directory_member_search_delete ON directory_member",
        "DROP FUNCTION IF EXISTS directory_count_event_types()",
        "DROP FUNCTION IF EXISTS directory_event_type_search_text()",
        "DROP FUNCTION IF EXISTS directory_event_type_hosts_changed()",
        "DROP FUNCTION IF EXISTS directory_event_type_members_changed()",
    ],
    "sqlite": [
        f"DROP TRIGGER IF EXISTS {name}"
        for name in (
            "directory_eventtype_search_insert",
            "directory_eventtype_search_update",
            "directory_eventtypehost_search_insert",
            "directory_eventtypehost_search_delete",
            "directory_member_search_insert",
            "directory_member_search_update",
            "directory_member_search_delete",
            "directory_eventtype_total_insert",
            "directory_eventtype_total_delete",
            "directory_eventtype_total_update",
        )
    ],
}


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": POSTGRESQL, "sqlite": SQLITE}.get(vendor)
    if statements is None:
        raise RuntimeError(f"no link directory triggers for {vendor}")
    for statement in [*UNINSTALL[vendor], *statements, *BACKFILL]:
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    for statement in UNINSTALL[schema_editor.connection.vendor]:
        schema_editor.execute(statement, params=None)
    schema_editor.execute(
        "DELETE FROM directory_mirrortotal WHERE kind IN ('active_types', 'inactive_types')",
        params=None,
    )


class Migration(migrations.Migration):
    dependencies = [("directory", "0007_event_type_duration_options")]

    operations = [migrations.RunPython(install, uninstall)]
