from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import NoReverseMatch, resolve, reverse

from portal.accounts.roles import ANY_SIGNED_IN, allowed_roles


@dataclass(frozen=True)
class Section:
    label: str
    url_name: str
    url: str | None
    current: bool


# The portal's sections, in menu order. A section whose pages have not been built yet is
# listed without a link, so the menu never leads to an empty page.
SECTIONS = [
    ("Members", "directory:members"),
    ("Links", "links:directory"),
    ("Meetings", "meetings:search"),
    ("Groups", "groups:list"),
    ("Seat use", "seats:list"),
    ("Webhooks", "webhooks:subscriptions"),
    ("Activity", "activity:log"),
    ("Jobs", "jobs:list"),
    ("Data deletion", "compliance:deletion"),
    ("Audit", "audit:log"),
]


def _may_use(request: HttpRequest, url: str) -> bool:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return True  # the sign-in page follows; after it, the menu shows what they may use
    roles = allowed_roles(resolve(url).func)
    return roles is not None and (roles == ANY_SIGNED_IN or bool(roles & user.roles))


def navigation(request: HttpRequest) -> dict[str, list[Section]]:
    namespace = getattr(getattr(request, "resolver_match", None), "namespace", "")
    sections = []
    for label, url_name in SECTIONS:
        try:
            url: str | None = reverse(url_name)
        except NoReverseMatch:
            url = None
        if url is not None and not _may_use(request, url):
            continue  # a signed-in person sees only the sections their role opens
        current = bool(namespace) and url_name.split(":", 1)[0] == namespace
        sections.append(Section(label, url_name, url, current))
    return {"sections": sections}
