"""Every view says which portal roles may use it; a view that says nothing is refused.

    @allow(Role.ADMIN, Role.VIEWER)
    def members(request): ...

Anonymous access stays opt-in through Django's `login_not_required`; `RoleMiddleware` runs
after `LoginRequiredMiddleware`, so by then the person is signed in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from portal.accounts.models import Role, User

log = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable[..., Any])

# Declared by views any signed-in person may use, with or without a portal role.
ANY_SIGNED_IN = frozenset({"*"})


def allow(*roles: Role) -> Callable[[View], View]:
    """Declare the portal roles that may use a view."""
    if not roles:
        raise ValueError("allow() needs at least one role")

    def decorate(view: View) -> View:
        view.allowed_roles = frozenset(role.value for role in roles)  # type: ignore[attr-defined]
        return view

    return decorate


def person(request: HttpRequest) -> User:
    """The signed-in person, typed; only for views that passed the role check."""
    assert isinstance(request.user, User)
    return request.user


def organization_id(request: HttpRequest) -> int:
    """The signed-in person's organization: where every query of a role-gated view starts.

    Roles require an organization, so a view that passed the role check always has one; this
    keeps that promise locally (404, not a crash) instead of trusting it from afar.
    """
    user = request.user
    if not isinstance(user, User) or user.organization_id is None:
        raise Http404("No organization")
    return user.organization_id


def signed_in[V: Callable[..., Any]](view: V) -> V:
    """Declare a view open to every signed-in person (signing out, for one)."""
    view.allowed_roles = ANY_SIGNED_IN  # type: ignore[attr-defined]
    return view


def allowed_roles(view: Callable[..., Any]) -> frozenset[str] | None:
    """The roles a view declared, or None when it declared nothing."""
    roles = getattr(view, "allowed_roles", None)
    if roles is None and hasattr(view, "view_class"):
        roles = getattr(view.view_class, "allowed_roles", None)
    return roles


class RoleMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> None:
        if not getattr(view_func, "login_required", True):
            return None
        match = request.resolver_match
        if match is not None and "admin" in match.namespaces:
            # The Django admin checks for an active staff account and model permissions itself;
            # it is the break-glass door for superusers, who belong to no organization.
            return None
        roles = allowed_roles(view_func)
        if roles is None:
            # Fail closed: a page someone forgot to declare is nobody's page.
            log.error("View %s declares no portal roles; refusing", view_func.__qualname__)
            raise PermissionDenied("This page has no access rule.")
        user = request.user
        if roles == ANY_SIGNED_IN and user.is_authenticated:
            return None
        if not user.is_authenticated or not (roles & user.roles):
            raise PermissionDenied("Your portal role does not include this page.")
        return None
