"""Audit rows are written once: the model, its QuerySet and the database all refuse changes."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, models, transaction
from django.db.models import ProtectedError

from portal.accounts.models import Role
from portal.audit import Action, record
from portal.audit.models import AppendOnlyError, AuditEntry
from tests.audit.factories import AuditEntryFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the trigger is PostgreSQL-only"
)


def test_saving_an_existing_entry_again_is_refused() -> None:
    entry = AuditEntryFactory(action=Action.SIGN_IN)
    entry.action = Action.SIGN_OUT
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.save(update_fields=["action"])
    entry.refresh_from_db()
    assert entry.action == Action.SIGN_IN


def test_deleting_an_entry_is_refused() -> None:
    entry = AuditEntryFactory()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_queryset_update_delete_and_bulk_update_are_refused() -> None:
    entry = AuditEntryFactory(target_label="before")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(target_label="after")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    entry.target_label = "after"
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.bulk_update([entry], ["target_label"])
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.update_or_create(pk=entry.pk, defaults={"target_label": "after"})
    entry.refresh_from_db()
    assert entry.target_label == "before"


def test_bulk_create_may_insert_but_not_overwrite_on_conflict() -> None:
    AuditEntry.objects.bulk_create(
        [AuditEntry(action="audit.test"), AuditEntry(action="audit.test")]
    )
    assert AuditEntry.objects.filter(action="audit.test").count() == 2
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.bulk_create(
            [AuditEntry(action="audit.test")],
            update_conflicts=True,
            unique_fields=["id"],
            update_fields=["action"],
        )


def test_deleting_a_person_with_audit_entries_is_refused_rather_than_rewriting_them() -> None:
    person = UserFactory(role=Role.ADMIN)
    record(action=Action.SIGN_IN, organization=person.organization, actor=person)
    with pytest.raises(ProtectedError):
        person.delete()
    with pytest.raises(ProtectedError):
        person.organization.delete()


@on_postgresql
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditentry SET action = 'audit.forged' WHERE id = %s",
        "DELETE FROM audit_auditentry WHERE id = %s",
    ],
)
def test_raw_sql_cannot_change_or_remove_entries(sql: str) -> None:
    entry = AuditEntryFactory(action=Action.SIGN_IN)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [entry.pk])
    entry.refresh_from_db()
    assert entry.action == Action.SIGN_IN


@on_postgresql
def test_a_plain_queryset_that_goes_around_the_model_is_refused_by_the_database() -> None:
    entry = AuditEntryFactory(target_label="kept")
    plain = models.QuerySet(model=AuditEntry).filter(pk=entry.pk)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        plain.update(target_label="changed")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        plain._raw_delete(plain.db)
    entry.refresh_from_db()
    assert entry.target_label == "kept"
