"""The portal's URLs plus the baseline the benchmarks compare against: an authenticated page
that renders the base layout with no content (same server, middleware and session)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from portal.accounts.models import Role
from portal.accounts.roles import allow
from portal.urls import urlpatterns as portal_urlpatterns


@allow(*Role)
def empty(request: HttpRequest) -> HttpResponse:
    return render(request, "base.html")


urlpatterns = [path("bench/empty", empty), *portal_urlpatterns]
