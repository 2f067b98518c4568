from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse


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
    ("Webhooks", "webhooks:subscriptions"),
    ("Jobs", "jobs:list"),
    ("Audit", "audit:log"),
]


def navigation(request: HttpRequest) -> dict[str, list[Section]]:
    namespace = getattr(getattr(request, "resolver_match", None), "namespace", "")
    sections = []
    for label, url_name in SECTIONS:
        try:
            url: str | None = reverse(url_name)
        except NoReverseMatch:
            url = None
        current = bool(namespace) and url_name.split(":", 1)[0] == namespace
        sections.append(Section(label, url_name, url, current))
    return {"sections": sections}
