"""Calendly API v2 endpoints (https://developer.calendly.com/api-docs), on Calendly's paths.

Each handler gets the sandbox and an authenticated `Request`, raises `ApiError` for Calendly's
error answers and returns a `Response`. The caller holds `sb.lock` while a handler runs.
Messages follow the enums of the 2023 OpenAPI file where it has them, so error bodies validate.
"""

from __future__ import annotations

from portal.sandbox.api import admin, directory, events, scheduling
from portal.sandbox.http import Route

ROUTES = [
    Route("GET", "/users/me", directory.get_user, scope="users:read"),
    Route("GET", "/users/{uuid}", directory.get_user, scope="users:read"),
    Route("GET", "/organizations/{uuid}", directory.get_organization, scope="organizations:read"),
    Route(
        "GET", "/organization_memberships", directory.list_memberships, scope="organizations:read"
    ),
    Route(
        "GET",
        "/organization_memberships/{uuid}",
        directory.get_membership,
        scope="organizations:read",
    ),
    Route(
        "DELETE",
        "/organization_memberships/{uuid}",
        directory.delete_membership,
        scope="organizations:write",
    ),
    Route(
        "GET",
        "/organizations/{uuid}/invitations",
        directory.list_invitations,
        scope="organizations:read",
    ),
    Route(
        "POST",
        "/organizations/{uuid}/invitations",
        directory.create_invitation,
        scope="organizations:write",
    ),
    Route(
        "GET",
        "/organizations/{org_uuid}/invitations/{uuid}",
        directory.get_invitation,
        scope="organizations:read",
    ),
    Route(
        "DELETE",
        "/organizations/{org_uuid}/invitations/{uuid}",
        directory.revoke_invitation,
        scope="organizations:write",
    ),
    Route("GET", "/groups", directory.list_groups, scope="groups:read"),
    Route("GET", "/groups/{uuid}", directory.get_group, scope="groups:read"),
    Route("GET", "/group_relationships", directory.list_group_relationships, scope="groups:read"),
    Route(
        "GET", "/group_relationships/{uuid}", directory.get_group_relationship, scope="groups:read"
    ),
    Route("GET", "/teams", directory.list_teams, scope="organizations:read"),
    Route("GET", "/teams/{team_uuid}", directory.get_team, scope="organizations:read"),
    Route("GET", "/event_types", scheduling.list_event_types, scope="event_types:read"),
    Route("POST", "/event_types", scheduling.create_event_type, scope="event_types:write"),
    Route("GET", "/event_types/{uuid}", scheduling.get_event_type, scope="event_types:read"),
    Route("PATCH", "/event_types/{uuid}", scheduling.update_event_type, scope="event_types:write"),
    Route(
        "GET",
        "/event_type_memberships",
        scheduling.list_event_type_memberships,
        scope="event_types:read",
    ),
    Route(
        "GET",
        "/event_type_available_times",
        scheduling.list_available_times,
        scope="event_types:read",
    ),
    Route(
        "POST",
        "/scheduling_links",
        scheduling.create_scheduling_link,
        scope="scheduling_links:write",
    ),
    Route("POST", "/shares", scheduling.create_share, scope="shares:write"),
    Route("GET", "/shares", scheduling.list_shares, scope="shares:read"),
    Route("PATCH", "/shares/{uuid}", scheduling.update_share, scope="shares:write"),
    Route("DELETE", "/shares/{uuid}", scheduling.delete_share, scope="shares:write"),
    Route("GET", "/scheduled_events", events.list_scheduled_events, scope="scheduled_events:read"),
    Route(
        "GET", "/scheduled_events/{uuid}", events.get_scheduled_event, scope="scheduled_events:read"
    ),
    Route(
        "GET",
        "/scheduled_events/{uuid}/invitees",
        events.list_invitees,
        scope="scheduled_events:read",
    ),
    Route(
        "GET",
        "/scheduled_events/{event_uuid}/invitees/{invitee_uuid}",
        events.get_invitee,
        scope="scheduled_events:read",
    ),
    Route(
        "POST",
        "/scheduled_events/{uuid}/cancellation",
        events.create_cancellation,
        scope="scheduled_events:write",
    ),
    Route("POST", "/invitee_no_shows", events.create_no_show, scope="scheduled_events:write"),
    Route("GET", "/invitee_no_shows/{uuid}", events.get_no_show, scope="scheduled_events:read"),
    Route(
        "DELETE", "/invitee_no_shows/{uuid}", events.delete_no_show, scope="scheduled_events:write"
    ),
    Route("GET", "/user_busy_times", events.list_busy_times, scope="availability:read"),
    Route("GET", "/user_availability_schedules", events.list_schedules, scope="availability:read"),
    Route(
        "GET", "/user_availability_schedules/{uuid}", events.get_schedule, scope="availability:read"
    ),
    Route("GET", "/routing_forms", admin.list_routing_forms, scope="routing_forms:read"),
    Route("GET", "/routing_forms/{uuid}", admin.get_routing_form, scope="routing_forms:read"),
    Route("GET", "/routing_form_submissions", admin.list_submissions, scope="routing_forms:read"),
    Route(
        "GET", "/routing_form_submissions/{uuid}", admin.get_submission, scope="routing_forms:read"
    ),
    Route("GET", "/activity_log_entries", admin.list_activity, scope="activity_log:read"),
    Route("POST", "/webhook_subscriptions", admin.create_webhook, scope="webhooks:write"),
    Route("GET", "/webhook_subscriptions", admin.list_webhooks, scope="webhooks:read"),
    Route("GET", "/webhook_subscriptions/{webhook_uuid}", admin.get_webhook, scope="webhooks:read"),
    Route(
        "DELETE",
        "/webhook_subscriptions/{webhook_uuid}",
        admin.delete_webhook,
        scope="webhooks:write",
    ),
    Route("GET", "/sample_webhook_data", admin.sample_webhook_data, scope="webhooks:read"),
    Route(
        "POST",
        "/data_compliance/deletion/invitees",
        admin.delete_invitee_data,
        scope="data_compliance:write",
    ),
    Route(
        "POST",
        "/data_compliance/deletion/events",
        admin.delete_event_data,
        scope="data_compliance:write",
    ),
]
