"""Django's admin shows audit entries to break-glass superusers, read-only.

The admin's views are called directly: the portal's role middleware currently refuses every
admin page except sign-in (superusers have no organization and so no portal role), which is
a project-wide question for portal/accounts/roles.py rather than for the audit log.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.admin import ModelAdmin
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.test import RequestFactory

from portal.accounts.models import User
from portal.audit.models import AuditEntry
from tests.audit.factories import AuditEntryFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries_admin() -> ModelAdmin[AuditEntry]:
    return admin.site.get_model_admin(AuditEntry)


@pytest.fixture
def superuser() -> User:
    return UserFactory(organization=None, is_staff=True, is_superuser=True)


def as_superuser(request: HttpRequest, superuser: User) -> HttpRequest:
    request.user = superuser
    request.session = SessionStore()
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    # As the test client does: the refusal under test is the admin's, not a missing CSRF token.
    request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
    return request


def rendered(response: object) -> str:
    assert isinstance(response, TemplateResponse)
    assert response.status_code == 200
    return response.render().content.decode()


def test_the_change_page_shows_the_entry_without_save_or_delete(
    rf: RequestFactory, superuser: User, entries_admin: ModelAdmin[AuditEntry]
) -> None:
    entry = AuditEntryFactory(target_label="Grace Hopper", after={"role": "sales"})
    request = as_superuser(rf.get(f"/django-admin/audit/auditentry/{entry.pk}/change/"), superuser)
    html = rendered(entries_admin.change_view(request, str(entry.pk)))
    assert "Grace Hopper" in html
    assert 'name="_save"' not in html
    assert 'name="_continue"' not in html
    assert "deletelink" not in html
    assert "<textarea" not in html
    assert 'name="target_label"' not in html


def test_the_admin_refuses_to_add_change_or_delete(
    rf: RequestFactory, superuser: User, entries_admin: ModelAdmin[AuditEntry]
) -> None:
    entry = AuditEntryFactory(target_label="kept")
    path = f"/django-admin/audit/auditentry/{entry.pk}/"
    with pytest.raises(PermissionDenied):
        entries_admin.add_view(as_superuser(rf.get(path), superuser))
    with pytest.raises(PermissionDenied):
        entries_admin.change_view(
            as_superuser(rf.post(path, {"target_label": "changed"}), superuser), str(entry.pk)
        )
    with pytest.raises(PermissionDenied):
        entries_admin.delete_view(
            as_superuser(rf.post(path, {"post": "yes"}), superuser), str(entry.pk)
        )
    assert "delete_selected" not in entries_admin.get_actions(as_superuser(rf.get(path), superuser))
    entry.refresh_from_db()
    assert entry.target_label == "kept"


def test_the_list_filters_and_searches_without_an_add_button(
    rf: RequestFactory, superuser: User, entries_admin: ModelAdmin[AuditEntry]
) -> None:
    AuditEntryFactory(target_label="Grace Hopper")
    AuditEntryFactory(target_label="Ada Lovelace")
    request = as_superuser(rf.get("/django-admin/audit/auditentry/", {"q": "hopper"}), superuser)
    html = rendered(entries_admin.changelist_view(request))
    assert "Grace Hopper" in html
    assert "Ada Lovelace" not in html
    assert "/audit/auditentry/add/" not in html
    assert 'id="changelist-filter"' in html
