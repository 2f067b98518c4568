"""Payload models: lenient about what Calendly adds or leaves out, strict about what we need."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from portal.calendly.schemas import (
    EventType,
    GroupRelationship,
    OrganizationInvitation,
    Share,
    WebhookPayload,
    uuid_of,
)
from tests.calendly import samples


def test_uuid_of_is_the_last_path_segment() -> None:
    assert uuid_of("https://api.calendly.com/users/AAAA") == "AAAA"
    assert uuid_of("https://api.calendly.com/organizations/O/invitations/I/") == "I"
    with pytest.raises(ValueError, match="Not a Calendly"):
        uuid_of("https://api.calendly.com/")


def test_unknown_fields_are_kept_and_missing_optional_ones_are_none() -> None:
    invitation = OrganizationInvitation.model_validate(
        {**samples.invitation(), "brand_new_field": 3}
    )
    assert invitation.uuid == "INV1"
    assert invitation.user is None
    assert invitation.last_sent_at is None
    assert invitation.model_extra == {"brand_new_field": 3}


def test_an_event_type_reads_the_2023_and_the_2026_shapes() -> None:
    old = EventType.model_validate({**samples.event_type(), "kind_description": "One-on-One"})
    new = EventType.model_validate(
        {
            **samples.event_type(),
            "duration_options": [15, 30],
            "pooling_type": None,
            "locations": [{"kind": "zoom_conference"}],
            "custom_questions": [{"name": "Company", "type": "string", "enabled": True}],
            "profile": {"type": "User", "name": "Ada", "owner": samples.USER},
        }
    )
    assert old.kind_description == "One-on-One"
    assert new.locations is not None
    assert new.locations[0].kind == "zoom_conference"
    assert new.custom_questions[0].name == "Company"


def test_a_required_field_missing_is_an_error() -> None:
    with pytest.raises(ValidationError):
        OrganizationInvitation.model_validate({"uri": samples.INVITATION})


def test_a_group_relationship_says_who_owns_it() -> None:
    relationship = GroupRelationship.model_validate(
        {
            "uri": samples.RELATIONSHIP,
            "role": "admin",
            "owner": {**samples.invitation(), "type": "OrganizationInvitation"},
            "organization": samples.ORG,
            "group": samples.GROUP,
        }
    )
    assert relationship.owner_type == "OrganizationInvitation"
    assert relationship.owner_uri == samples.INVITATION


def test_a_share_from_before_2026_has_no_uri() -> None:
    share = Share.model_validate({"scheduling_links": [{"booking_url": "https://c.com/d/x"}]})
    assert share.uri is None
    with pytest.raises(ValueError, match="without a URI"):
        _ = share.uuid


def test_webhook_payloads_open_as_invitees_or_event_types() -> None:
    delivery = WebhookPayload.model_validate(
        {
            "event": "invitee.created",
            "created_at": samples.WHEN,
            "created_by": samples.USER,
            "payload": {**samples.INVITEE_BODY, "scheduled_event": samples.EVENT_BODY},
        }
    )
    invitee = delivery.invitee()
    assert invitee.scheduled_event is not None
    assert invitee.scheduled_event.uri == samples.EVENT
    changed = WebhookPayload.model_validate(
        {"event": "event_type.updated", "created_at": samples.WHEN, "payload": samples.event_type()}
    )
    assert changed.event_type().name == "Intro call"
