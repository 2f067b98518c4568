from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from portal.audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only for break-glass superusers: without change permission every field is shown
    read-only, and without add or delete permission the admin offers no way to alter rows."""

    list_display = ["created_at", "organization", "actor_label", "action", "target_label", "ip"]
    list_filter = ["action", "created_at", "organization"]
    search_fields = ["actor_label", "action", "target_label", "target_id", "request_id", "ip"]
    list_select_related = ["organization"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
