"""Generates the sandbox's organizations from a seed: `seeded(Sandbox(members=30, seed=1))`.

Per member only a handful of small objects are made (user, membership, one or two event types,
an availability schedule sharing its rule list with everyone in the same time zone), so 10,000
members take well under a few seconds. Richer data (scheduled events, invitees, teams, routing
forms) is made for the first few dozen people only: that is what the demo and tests look at.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from portal.sandbox.state import (
    JSON,
    WEEKDAYS,
    ActivityEntry,
    AvailabilitySchedule,
    EventType,
    Group,
    GroupRelationship,
    Invitation,
    Invitee,
    Organization,
    RoutingForm,
    RoutingFormSubmission,
    Sandbox,
    ScheduledEvent,
    Team,
    User,
)

EPOCH = datetime(2023, 3, 6, 9, 0, tzinfo=UTC)
DOMAIN = "acme-sandbox.example"

FIRST_NAMES = [
    "Ada",
    "Alan",
    "Amara",
    "Ana",
    "Anders",
    "Aria",
    "Ben",
    "Bianca",
    "Carla",
    "Chen",
    "Chloe",
    "Dan",
    "Dara",
    "Diego",
    "Elena",
    "Eli",
    "Emma",
    "Farah",
    "Felix",
    "Grace",
    "Hana",
    "Hugo",
    "Ines",
    "Isaac",
    "Ivy",
    "Jamal",
    "Jana",
    "Jon",
    "Julia",
    "Kai",
    "Kenji",
    "Lars",
    "Lea",
    "Leo",
    "Lina",
    "Luca",
    "Maya",
    "Mei",
    "Milo",
    "Nadia",
    "Nia",
    "Noah",
    "Nora",
    "Omar",
    "Oscar",
    "Paula",
    "Priya",
    "Quinn",
    "Rafael",
    "Rosa",
    "Ruth",
    "Sam",
    "Sara",
    "Sofia",
    "Tariq",
    "Theo",
    "Uma",
    "Vera",
    "Victor",
    "Wen",
    "Yara",
    "Yusuf",
    "Zara",
    "Zoe",
]
LAST_NAMES = [
    "Abbott",
    "Adeyemi",
    "Alvarez",
    "Bauer",
    "Becker",
    "Brennan",
    "Castillo",
    "Chowdhury",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Fontaine",
    "Garcia",
    "Gupta",
    "Haddad",
    "Hansen",
    "Ito",
    "Jensen",
    "Kaur",
    "Kim",
    "Kowalski",
    "Larsen",
    "Lopez",
    "Mahmoud",
    "Martin",
    "Meyer",
    "Moreau",
    "Murphy",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okafor",
    "Olsen",
    "Park",
    "Patel",
    "Petrov",
    "Quinn",
    "Rahman",
    "Reyes",
    "Rossi",
    "Santos",
    "Schmidt",
    "Silva",
    "Singh",
    "Sorensen",
    "Tanaka",
    "Torres",
    "Varga",
    "Vogel",
    "Wagner",
    "Walsh",
    "Weber",
    "Yilmaz",
    "Zhang",
    "Ziegler",
]
TIMEZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Australia/Sydney",
    "America/Sao_Paulo",
)
COLORS = ("#0069ff", "#8247f5", "#ff4f00", "#17e885", "#e55cff", "#ffa600", "#00a2ff")
GROUP_NAMES = (
    "Sales EMEA",
    "Sales Americas",
    "Customer Success",
    "Support",
    "Marketing",
    "Engineering",
    "Partnerships",
    "Recruiting",
)
TEAM_NAMES = ("Sales Team", "Onboarding Team", "Support Team")

EVENING_HOURS: list[JSON] = [
    {
        "type": "wday",
        "wday": day,
        "intervals": [] if day in {"saturday", "sunday"} else [{"from": "17:00", "to": "20:00"}],
    }
    for day in WEEKDAYS
]
QUESTIONS: list[JSON] = [
    {
        "name": "What would you like to discuss?",
        "type": "text",
        "position": 0,
        "enabled": True,
        "required": False,
        "answer_choices": [],
        "include_other": False,
    },
]
NO_TRACKING: JSON = {
    "utm_campaign": None,
    "utm_source": None,
    "utm_medium": None,
    "utm_content": None,
    "utm_term": None,
    "salesforce_uuid": None,
}


def person_names(sb: Sandbox, count: int) -> list[tuple[str, str]]:
    """`count` distinct (display name, email local part) pairs, shuffled by the seed."""
    pairs = [(f, last) for f in FIRST_NAMES for last in LAST_NAMES]
    sb.rng.shuffle(pairs)
    names = []
    for index in range(count):
        first, last = pairs[index % len(pairs)]
        round_ = index // len(pairs)
        if round_ == 0:
            names.append((f"{first} {last}", f"{first}.{last}".lower()))
        else:
            # Past every first/last combination, a middle initial keeps names unique.
            initial = chr(ord("A") + (round_ - 1) % 26) + ("" if round_ <= 26 else str(round_))
            names.append((f"{first} {initial}. {last}", f"{first}.{initial}.{last}".lower()))
    return names


def make_user(sb: Sandbox, name: str, local: str, domain: str, org: str, when: datetime) -> User:
    user = User(
        sb.new_id(),
        name,
        local.replace(".", "-"),
        f"{local}@{domain}",
        sb.rng.choice(TIMEZONES),
        org,
        when,
        when,
    )
    sb.users[user.uuid] = user
    sb.users_by_email[user.email.lower()] = user.uuid
    sb.add_default_schedule(user)
    return user


def personal_event_type(
    sb: Sandbox, user: User, name: str, duration: int, position: int, **overrides: object
) -> EventType:
    slug = name.lower().replace(" ", "-")
    event_type = EventType(
        uuid=sb.new_id(),
        organization=user.organization,
        name=name,
        slug=slug,
        kind="solo",
        pooling_type=None,
        profile_type="User",
        owner=user.uuid,
        hosts={user.uuid: sb.new_id()},
        active=True,
        secret=False,
        admin_managed=False,
        duration=duration,
        color=COLORS[position % len(COLORS)],
        position=position,
        created_at=user.created_at + timedelta(days=1, minutes=position),
        updated_at=user.created_at + timedelta(days=2, minutes=position),
        description=f"A {duration} minute conversation with {user.name.split()[0]}.",
        locations=[{"kind": "google_conference"}],
        custom_questions=QUESTIONS,
        schedule=user.schedules[0] if user.schedules else None,
    )
    for key, value in overrides.items():
        setattr(event_type, key, value)
    sb.event_types[event_type.uuid] = event_type
    return event_type


def seeded[S: Sandbox](sb: S) -> S:
    """`sb`, new and empty, filled with its seed's organizations and its people's tokens."""
    populate(sb)
    sb.owner_token = sb.issue_pat(sb.owner.uuid, sb.fixed_owner_token)
    sb.admin_tokens = [sb.issue_pat(admin.uuid) for admin in sb.admins]
    sb.user_token = sb.issue_pat(sb.plain_users[0].uuid)
    sb.other_org_token = sb.issue_pat(sb.other_owner.uuid)
    return sb


def populate(sb: Sandbox) -> None:
    when = EPOCH
    org = Organization(sb.new_id(), "Acme Sandbox Inc.", "enterprise", "paid", when, when)
    org.seats = sb.seats
    sb.organizations[org.uuid] = org
    sb.org_uuid = org.uuid

    names = person_names(sb, sb.members + 12)
    admin_count = min(max(3, sb.members // 50), 10)
    users: list[User] = []
    for index in range(sb.members):
        name, local = names[index]
        joined = EPOCH + timedelta(hours=6 * index, minutes=index % 60)
        user = make_user(sb, name, local, DOMAIN, org.uuid, joined)
        role = "owner" if index == 0 else "admin" if index <= admin_count else "user"
        sb.add_membership(user, org.uuid, role, joined)
        users.append(user)
        personal_event_type(sb, user, "30 Minute Meeting", 30, 0)
        if index % 3 == 0:
            # Every third person has a longer, secret, sometimes inactive type as well.
            personal_event_type(
                sb,
                user,
                "60 Minute Consultation",
                60,
                1,
                secret=True,
                active=index % 2 == 0,
                duration_options=[30, 60],
            )
    sb.owner_uuid = users[0].uuid
    sb.admin_uuids = [u.uuid for u in users[1 : admin_count + 1]]
    rich = users[: min(len(users), 40)]
    for extra in users[1::4][:50]:
        schedule = AvailabilitySchedule(
            sb.new_id(), extra.uuid, "Evening Hours", False, extra.timezone, EVENING_HOURS
        )
        sb.schedules[schedule.uuid] = schedule
        extra.schedules.append(schedule.uuid)

    _managed_and_group_types(sb, users)
    _teams(sb, org, users)
    _invitations(sb, org, users, names[sb.members : sb.members + 12])
    _groups(sb, org, users)
    _scheduled_events(sb, rich)
    _routing_forms(sb, org)
    _activity(sb, org, users)
    _second_organization(sb)


def _managed_and_group_types(sb: Sandbox, users: list[User]) -> None:
    owner = users[0]
    office_hours = personal_event_type(
        sb, owner, "Weekly Office Hours", 45, 2, kind="group", max_invitees=10
    )
    office_hours.locations = [{"kind": "physical", "location": "HQ, Room 4"}]
    personal_event_type(sb, owner, "Board Prep", 30, 3, active=False)
    # Admin-managed ("managed events") types pushed to the first sales people.
    for index, user in enumerate(users[1:13]):
        personal_event_type(
            sb, user, "Product Demo", 30, 4, admin_managed=True, active=index % 5 != 4
        )


def _teams(sb: Sandbox, org: Organization, users: list[User]) -> None:
    pool = users[1:]
    for index, name in enumerate(TEAM_NAMES):
        members = [u.uuid for u in pool[index * 4 : index * 4 + 5]] or [users[0].uuid]
        team = Team(sb.new_id(), org.uuid, name, name.lower().replace(" ", "-"), members)
        sb.teams[team.uuid] = team
        for position, (type_name, pooling) in enumerate(
            (("Intro Call", "round_robin"), ("Panel Interview", "collective"))
        ):
            event_type = EventType(
                uuid=sb.new_id(),
                organization=org.uuid,
                name=f"{name.split()[0]} {type_name}",
                slug=f"{team.slug}-{type_name.lower().replace(' ', '-')}",
                kind="solo",
                pooling_type=pooling,
                profile_type="Team",
                owner=team.uuid,
                hosts={member: sb.new_id() for member in members},
                active=True,
                secret=False,
                admin_managed=False,
                duration=30 if pooling == "round_robin" else 60,
                color=COLORS[(index + position) % len(COLORS)],
                position=position,
                created_at=EPOCH + timedelta(days=10 + index),
                updated_at=EPOCH + timedelta(days=20 + index),
                description=f"{type_name} with the {name}.",
                locations=[{"kind": "google_conference"}],
            )
            sb.event_types[event_type.uuid] = event_type


def _invitations(
    sb: Sandbox, org: Organization, users: list[User], outsiders: list[tuple[str, str]]
) -> None:
    # Accepted invitations for the people who joined by email (everyone after the admins).
    for user in users[1 : min(len(users), 25)]:
        invitation = Invitation(
            sb.new_id(),
            org.uuid,
            user.email,
            "accepted",
            user.created_at - timedelta(days=2),
            user.created_at,
            user.created_at - timedelta(days=2),
            user.uuid,
        )
        sb.invitations[invitation.uuid] = invitation
    statuses = ["pending"] * 8 + ["declined"] * 3
    for index, ((_name, local), status) in enumerate(zip(outsiders, statuses, strict=False)):
        sent = EPOCH + timedelta(days=400 + index)
        invitation = Invitation(
            sb.new_id(), org.uuid, f"{local}@newhires.example", status, sent, sent, sent
        )
        sb.invitations[invitation.uuid] = invitation


def _groups(sb: Sandbox, org: Organization, users: list[User]) -> None:
    count = max(2, min(len(GROUP_NAMES), sb.members // 30))
    groups = []
    for index in range(count):
        created = EPOCH + timedelta(days=30 + index)
        group = Group(sb.new_id(), org.uuid, GROUP_NAMES[index], created, created)
        sb.groups[group.uuid] = group
        groups.append(group)

    def relate(group: Group, role: str, kind: str, owner: str, when: datetime) -> None:
        rel = GroupRelationship(sb.new_id(), group.uuid, org.uuid, role, kind, owner, when, when)
        sb.group_relationships[rel.uuid] = rel

    # Four in five people are a member of exactly one group; admins of the org may also
    # administer a group without being its member.
    for index, user in enumerate(users[1:]):
        if index % 5 == 4:
            continue
        group = groups[index % len(groups)]
        relate(group, "member", "membership", sb.membership_of[user.uuid], user.created_at)
    for index, group in enumerate(groups):
        admin = users[1 + index % len(sb.admin_uuids)]
        relate(group, "admin", "membership", sb.membership_of[admin.uuid], group.created_at)
    pending = [i for i in sb.invitations.values() if i.status == "pending"][:2]
    for invitation in pending:
        relate(groups[0], "member", "invitation", invitation.uuid, invitation.created_at)


def _scheduled_events(sb: Sandbox, hosts: list[User]) -> None:
    today = sb.now().replace(hour=0, minute=0, second=0, microsecond=0)
    guests = person_names(sb, 3 * len(hosts) + 6)
    solo_types = {
        et.owner: et
        for et in sb.event_types.values()
        if et.profile_type == "User" and et.name == "30 Minute Meeting"
    }
    n = 0
    for index, host in enumerate(hosts):
        event_type = solo_types[host.uuid]
        for offset, hour, status in ((-7, 14, "active"), (2, 10, "active"), (5, 15, "canceled")):
            start = today + timedelta(days=offset + index % 3, hours=hour)
            name, local = guests[n]
            n += 1
            created = start - timedelta(days=3)
            event = ScheduledEvent(
                sb.new_id(),
                event_type.uuid,
                host.organization,
                event_type.name,
                status,
                start,
                start + timedelta(minutes=event_type.duration),
                [host.uuid],
                # Google Meet: the one conference kind both spec files name the same way.
                {
                    "type": "google_conference",
                    "status": "pushed",
                    "join_url": f"https://meet.google.com/sbx-{8000000 + n}",
                },
                created,
                created,
            )
            invitee = Invitee(
                sb.new_id(),
                event.uuid,
                name,
                f"{local}@client.example",
                status,
                "Europe/London",
                created,
                created,
                [
                    {
                        "question": "What would you like to discuss?",
                        "answer": "Pricing",
                        "position": 0,
                    }
                ],
                dict(NO_TRACKING),
                scheduling_method="instant_book",
            )
            if status == "canceled":
                cancellation: JSON = {
                    "canceled_by": name,
                    "reason": "Something came up",
                    "canceler_type": "invitee",
                    "created_at": created + timedelta(days=1),
                }
                event.cancellation = invitee.cancellation = cancellation
            event.invitees.append(invitee.uuid)
            sb.scheduled_events[event.uuid] = event
            sb.invitees[invitee.uuid] = invitee


def _routing_forms(sb: Sandbox, org: Organization) -> None:
    demo_type = next(et for et in sb.event_types.values() if et.profile_type == "Team")
    for index, (name, status) in enumerate(
        (("Inbound Demo Request", "published"), ("Partner Intake", "draft"))
    ):
        created = EPOCH + timedelta(days=60 + index)
        questions: list[JSON] = [
            {
                "uuid": _uuid4ish(sb),
                "name": "Email",
                "type": "email",
                "required": True,
                "answer_choices": None,
            },
            {
                "uuid": _uuid4ish(sb),
                "name": "What is your industry?",
                "type": "select",
                "required": True,
                "answer_choices": ["IT & Software", "Financial Services", "Healthcare"],
            },
        ]
        form = RoutingForm(sb.new_id(), org.uuid, name, status, questions, created, created)
        sb.routing_forms[form.uuid] = form
        for n in range(5 if status == "published" else 0):
            submitted = created + timedelta(days=n + 1)
            answer = ("IT & Software", "Financial Services", "Healthcare")[n % 3]
            result: JSON = (
                {"type": "event_type", "value": demo_type.uuid}
                if n % 2 == 0
                else {
                    "type": "custom_message",
                    "value": {"headline": "Thanks!", "body": "We will be in touch."},
                }
            )
            submission = RoutingFormSubmission(
                sb.new_id(),
                form.uuid,
                [
                    {
                        "question_uuid": questions[0]["uuid"],
                        "question": "Email",
                        "answer": f"lead{n}@prospect.example",
                    },
                    {
                        "question_uuid": questions[1]["uuid"],
                        "question": "What is your industry?",
                        "answer": answer,
                    },
                ],
                dict(NO_TRACKING),
                result,
                None,
                submitted,
                submitted,
            )
            sb.submissions[submission.uuid] = submission


def _uuid4ish(sb: Sandbox) -> str:
    """Routing-form question ids are dashed UUIDs in Calendly, unlike most other ids."""
    hexes = "".join(sb.rng.choices("0123456789abcdef", k=32))
    return f"{hexes[:8]}-{hexes[8:12]}-4{hexes[13:16]}-a{hexes[17:20]}-{hexes[20:]}"


def _activity(sb: Sandbox, org: Organization, users: list[User]) -> None:
    owner = users[0]
    for user in users[1 : min(len(users), 150)]:
        sb.activity.append(
            ActivityEntry(
                sb.new_id(),
                org.uuid,
                user.created_at,
                "User",
                "Add",
                owner.uuid,
                {"email": user.email},
            )
        )
        sb.activity.append(
            ActivityEntry(
                sb.new_id(),
                org.uuid,
                user.created_at + timedelta(hours=2),
                "User",
                "Login",
                user.uuid,
                {"method": "password"},
            )
        )


def _second_organization(sb: Sandbox) -> None:
    """A small foreign organization to test the boundary between organizations."""
    when = EPOCH + timedelta(days=5)
    other = Organization(sb.new_id(), "Globex Partners", "teams", "paid", when, when)
    sb.organizations[other.uuid] = other
    sb.other_org_uuid = other.uuid
    people = person_names(sb, 4)
    created = []
    for index, (name, local) in enumerate(people):
        user = make_user(
            sb, name, local, "globex.example", other.uuid, when + timedelta(hours=index)
        )
        sb.add_membership(
            user, other.uuid, ("owner", "admin", "user", "user")[index], user.created_at
        )
        personal_event_type(sb, user, "Globex Sync", 30, 0)
        created.append(user)
    sb.other_owner_uuid = created[0].uuid
