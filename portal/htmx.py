"""htmx plumbing used by every page: the typed request and page-or-fragment rendering."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def render_page(
    request: HtmxHttpRequest, template: str, partial: str, context: dict[str, Any]
) -> HttpResponse:
    """The whole page, or only its `partial` (an inline `{% partialdef %}`) for htmx swaps."""
    name = f"{template}#{partial}" if request.htmx and not request.htmx.boosted else template
    response = render(request, name, context)
    # One URL answers with a page or a fragment; caches must keep the two apart.
    patch_vary_headers(response, ("HX-Request",))
    return response
