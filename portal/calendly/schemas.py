"""Calendly payloads as typed objects, so nothing past the client digs in raw dicts.

Field names follow Calendly's OpenAPI descriptions of 2023 and 2026 (tests/contract/) plus fields
its release notes added since (https://developer.calendly.com/release-notes). Models are
lenient on purpose: unknown fields are kept (Calendly adds fields without notice), and anything
the spec marks nullable or that only newer answers carry defaults to None. References to other
resources stay full URI strings; `uuid_of` gives the last path segment for building paths.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def uuid_of(uri: str) -> str:
    """The last path segment of a Calendly URI (what path parameters want)."""
    segment = urlsplit(uri).path.rstrip("/").rsplit("/", 1)[-1]
    if not segment:
        raise ValueError(f"Not a Calendly resource URI: {uri!r}")
    return segment


def _none_to_empty(value: object) -> object:
    return "" if value is None else value


# A string the spec calls required but Calendly has been seen to send as null: read as "",
# so one odd record does not fail a whole listing.
Text = Annotated[str, BeforeValidator(_none_to_empty)]


class CalendlyModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Resource(CalendlyModel):
    uri: str

    @property
    def uuid(self) -> str:
        return uuid_of(self.uri)


class Pagination(CalendlyModel):
    count: int = 0
    next_page: str | None = None
    previous_page: str | None = None
    next_page_token: str | None = None
    previous_page_token: str | None = None


class User(Resource):
    name: Text
    email: Text
    slug: str | None = None
    scheduling_url: str | None = None
    timezone: str | None = None
    avatar_url: str | None = None
    locale: str | None = None
    time_notation: str | None = None
    resource_type: str | None = None
    current_organization: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Organization(Resource):
    name: str | None = None
    kind: str | None = None  # single | multiple
    plan: str | None = None  # basic essentials standard professional teams enterprise
    stage: str | None = None  # trial | free | paid
    created_at: datetime | None = None
    updated_at: datetime | None = None


class OrganizationMembership(Resource):
    role: Text  # owner | admin | user
    user: User
    organization: str
    type: str | None = None  # set when embedded as a group relationship's owner
    created_at: datetime | None = None
    updated_at: datetime | None = None


class OrganizationInvitation(Resource):
    organization: str
    email: Text
    status: Text  # pending | accepted | declined
    user: str | None = None  # set once accepted
    type: str | None = None  # set when embedded as a group relationship's owner
    last_sent_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Group(Resource):
    name: Text
    organization: str
    member_count: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class GroupRelationship(Resource):
    role: Text  # member | admin
    # The owner is a membership, or an invitation when the person has not joined yet; keep the
    # embedded object whole and let `owner_uri`/`owner_type` answer the common questions.
    owner: dict[str, Any]
    organization: str
    group: str
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def owner_uri(self) -> str:
        return str(self.owner.get("uri", ""))

    @property
    def owner_type(self) -> str:
        return str(self.owner.get("type", ""))


class Team(Resource):
    name: Text
    organization: str | None = None
    scheduling_url: str | None = None


class Profile(CalendlyModel):
    type: str  # User | Team
    name: str | None = None
    owner: str | None = None


class CustomQuestion(CalendlyModel):
    name: str
    type: str  # string text phone_number single_select multi_select
    position: int | None = None
    enabled: bool = True
    required: bool = False
    answer_choices: list[str] | None = None
    include_other: bool | None = None


class LocationConfiguration(CalendlyModel):
    kind: str
    location: str | None = None
    additional_info: str | None = None
    phone_number: str | None = None
    position: int | None = None


class EventType(Resource):
    name: str | None = None
    active: bool
    slug: str | None = None
    scheduling_url: Text
    duration: int | None = None
    duration_options: list[int] | None = None
    kind: str | None = None  # solo | group
    kind_description: str | None = None
    pooling_type: str | None = None  # round_robin | collective | multi_pool | None
    type: str | None = None  # StandardEventType | AdhocEventType
    color: str | None = None
    secret: bool | None = None
    admin_managed: bool | None = None
    booking_method: str | None = None
    description_plain: str | None = None
    description_html: str | None = None
    internal_note: str | None = None
    profile: Profile | None = None
    custom_questions: list[CustomQuestion] = Field(default_factory=list)
    locations: list[LocationConfiguration] | None = None
    locale: str | None = None
    position: int | None = None
    is_paid: bool | None = None
    deleted_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class EventTypeMembership(Resource):
    """A host of an event type."""

    event_type: EventType | str
    member: User | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class EventTypeAvailableTime(CalendlyModel):
    status: str
    start_time: datetime
    invitees_remaining: int | None = None
    scheduling_url: str | None = None


class SchedulingLink(CalendlyModel):
    booking_url: str
    owner: str | None = None
    owner_type: str | None = None


class AvailabilityInterval(CalendlyModel):
    start: str = Field(alias="from")
    end: str = Field(alias="to")


class AvailabilityRule(CalendlyModel):
    type: str  # wday | date
    wday: str | None = None
    date: dt.date | None = None
    intervals: list[AvailabilityInterval] = Field(default_factory=list)


class ShareAvailabilityRule(CalendlyModel):
    timezone: str | None = None
    rules: list[AvailabilityRule] = Field(default_factory=list)


class ShareOverride(CalendlyModel):
    name: str | None = None
    duration: int | None = None
    duration_options: list[int] | None = None
    period_type: str | None = None  # available_moving | moving | fixed | unlimited
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    max_booking_time: int | None = None
    min_booking_time: int | None = None
    hide_location: bool | None = None
    location_configurations: list[LocationConfiguration] | None = None
    availability_rule: ShareAvailabilityRule | None = None


class Share(CalendlyModel):
    # `uri`, `status` and friends arrived on 2026-11-06; older answers only carry the links.
    uri: str | None = None
    status: str | None = None  # active | booked | expired
    contact: Any = None
    scheduling_links: list[SchedulingLink] = Field(default_factory=list)
    share_override: ShareOverride | None = None
    created_at: datetime | None = None

    @property
    def uuid(self) -> str:
        if self.uri is None:
            raise ValueError("This share was returned without a URI")
        return uuid_of(self.uri)


class WebhookSubscription(Resource):
    callback_url: Text
    state: Text  # active | disabled
    events: list[str]
    scope: Text  # organization | user | group
    organization: Text
    user: str | None = None
    group: str | None = None
    creator: str | None = None
    retry_started_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Tracking(CalendlyModel):
    utm_campaign: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_content: str | None = None
    utm_term: str | None = None
    salesforce_uuid: str | None = None


class QuestionAndAnswer(CalendlyModel):
    question: str
    answer: str | None = None
    position: int | None = None


class Cancellation(CalendlyModel):
    canceled_by: str | None = None
    reason: str | None = None
    canceler_type: str | None = None  # host | invitee
    created_at: datetime | None = None


class EventMembership(CalendlyModel):
    user: str
    user_email: str | None = None
    user_name: str | None = None


class InviteesCounter(CalendlyModel):
    total: int = 0
    active: int = 0
    limit: int | None = None


class ScheduledEvent(Resource):
    name: str | None = None
    status: str  # active | canceled
    start_time: datetime
    end_time: datetime
    event_type: str | None = None
    location: dict[str, Any] | None = None
    invitees_counter: InviteesCounter | None = None
    event_memberships: list[EventMembership] = Field(default_factory=list)
    event_guests: list[dict[str, Any]] = Field(default_factory=list)
    calendar_event: dict[str, Any] | None = None
    cancellation: Cancellation | None = None
    meeting_notes_plain: str | None = None
    meeting_notes_html: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class NoShowMark(CalendlyModel):
    uri: str
    created_at: datetime | None = None


class Invitee(Resource):
    email: str
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    status: str  # active | canceled
    timezone: str | None = None
    event: str | None = None
    questions_and_answers: list[QuestionAndAnswer] = Field(default_factory=list)
    tracking: Tracking | None = None
    text_reminder_number: str | None = None
    rescheduled: bool | None = None
    old_invitee: str | None = None
    new_invitee: str | None = None
    cancel_url: str | None = None
    reschedule_url: str | None = None
    routing_form_submission: str | None = None
    cancellation: Cancellation | None = None
    payment: dict[str, Any] | None = None
    no_show: NoShowMark | None = None
    reconfirmation: dict[str, Any] | None = None
    scheduling_method: str | None = None
    invitee_scheduled_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class InviteePayload(Invitee):
    """What `invitee.*` webhooks carry: an Invitee plus the scheduled event, embedded."""

    scheduled_event: ScheduledEvent | None = None


class InviteeNoShow(Resource):
    invitee: str
    created_at: datetime | None = None


class EventTypePayload(EventType):
    """What `event_type.*` webhooks carry (an EventType without `description_html`)."""


class WebhookPayload(CalendlyModel):
    event: str
    created_at: datetime
    created_by: str | None = None
    payload: dict[str, Any]

    def invitee(self) -> InviteePayload:
        return InviteePayload.model_validate(self.payload)

    def event_type(self) -> EventTypePayload:
        return EventTypePayload.model_validate(self.payload)


class ActivityLogActor(CalendlyModel):
    type: str  # User | System
    uri: str | None = None
    display_name: str | None = None
    alternative_identifier: str | None = None
    organization: dict[str, Any] | None = None
    group: dict[str, Any] | None = None


class ActivityLogEntry(Resource):
    occurred_at: datetime
    namespace: Text
    action: Text
    fully_qualified_name: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    organization: str | None = None
    actor: ActivityLogActor | None = None


class RoutingFormQuestion(CalendlyModel):
    uuid: str
    name: str
    type: str
    required: bool = False
    answer_choices: list[str] | None = None


class RoutingForm(Resource):
    organization: str
    name: str
    status: str  # published | draft
    questions: list[RoutingFormQuestion] = Field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None


class SubmissionAnswer(CalendlyModel):
    question_uuid: str | None = None
    question: str
    answer: str | None = None


class SubmissionResult(CalendlyModel):
    type: str  # event_type | custom_message | external_url
    value: Any = None


class RoutingFormSubmission(Resource):
    routing_form: str
    questions_and_answers: list[SubmissionAnswer] = Field(default_factory=list)
    tracking: Tracking | None = None
    result: SubmissionResult | None = None
    submitter: str | None = None
    submitter_type: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class AvailabilitySchedule(Resource):
    name: str
    default: bool = False
    user: str | None = None
    timezone: str | None = None
    rules: list[AvailabilityRule] = Field(default_factory=list)


class BusyTimeEvent(CalendlyModel):
    uri: str


class BusyTime(CalendlyModel):
    type: str  # calendly | reserved | external
    start_time: datetime
    end_time: datetime
    buffered_start_time: datetime | None = None
    buffered_end_time: datetime | None = None
    event: BusyTimeEvent | None = None
