"""The webhook subscriptions pages (admins only): the list, refresh, new, edit, delete,
re-create, and removing every subscription that delivers to this deployment."""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import F, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from portal.accounts.connections import ConnectionUnavailable, get_connection
from portal.accounts.models import Organization, Role
from portal.accounts.roles import allow, organization_id, person
from portal.calendly import errors
from portal.directory.models import Group, Member
from portal.htmx import HtmxHttpRequest, render_page
from portal.lists import Cell, Column, Hint, Joined, Lines, Link, ListContext, read_page
from portal.webhooks import subscriptions, tasks
from portal.webhooks.forms import SubscriptionFilter, SubscriptionForm
from portal.webhooks.models import Subscription
from portal.webhooks.subscriptions import SubscriptionRefused

log = logging.getLogger(__name__)

# The form, outside the swapped results, that each row's Re-create button submits.
ACTIONS_FORM = "subscription-actions"
SCOPES = dict(Subscription.Scope.choices)

# -- the list --------------------------------------------------------------------------------

FIELDS = (
    "pk",
    "callback_url",
    "endpoint_id",
    "state",
    "retry_started_at",
    "events",
    "scope",
    "user_uri",
    "user_name",
    "group_uri",
    "group_name",
    "creator_uri",
    "creator_name",
    "calendly_created_at",
)


def _empty() -> str:
    return format_html(
        'No webhook subscriptions here yet. <a href="{}">Make the first one</a>, or Refresh to '
        "read those already made in Calendly.",
        reverse("webhooks:subscription_new"),
    )


def listed(org_id: int) -> QuerySet[Subscription]:
    """The organization's current subscriptions, with the names the directory knows for their
    member, group and creator."""
    people = Member.objects.filter(organization_id=org_id).order_by(
        F("removed_at").asc(nulls_first=True), "-pk"
    )
    return Subscription.objects.filter(organization_id=org_id, removed_at__isnull=True).annotate(
        user_name=Subquery(people.filter(user_uri=OuterRef("user_uri")).values("name")[:1]),
        creator_name=Subquery(people.filter(user_uri=OuterRef("creator_uri")).values("name")[:1]),
        group_name=Subquery(
            Group.objects.filter(organization_id=org_id, uri=OuterRef("group_uri")).values("name")[
                :1
            ]
        ),
    )


def _url(row: Any) -> Lines:
    return Lines((row.callback_url, Hint("This portal") if row.endpoint_id else None))


def _scope(row: Any) -> Lines:
    owner = None
    if row.scope == Subscription.Scope.USER:
        owner = Hint(row.user_name or row.user_uri)
    elif row.scope == Subscription.Scope.GROUP:
        owner = Hint(row.group_name or row.group_uri)
    return Lines((SCOPES.get(row.scope, row.scope), owner))


def _state(row: Any) -> Lines:
    if row.state == Subscription.State.DISABLED:
        return Lines(("Disabled", Hint("Calendly stopped delivering; re-create it")))
    if row.retry_started_at is not None:
        return Lines(("Retrying", Hint("deliveries failing since"), row.retry_started_at))
    if row.state == Subscription.State.ACTIVE:
        return Lines(("Active",))
    return Lines((row.state,))


def _created(row: Any) -> Lines | None:
    creator = row.creator_name or row.creator_uri
    if row.calendly_created_at is None and not creator:
        return None
    return Lines((row.calendly_created_at, Hint(f"by {creator}") if creator else None))


def _actions(row: Any) -> Joined:
    parts: list[Cell] = [
        Link("Edit", reverse("webhooks:subscription_edit", args=[row.pk])),
        Link("Delete", reverse("webhooks:subscription_delete", args=[row.pk])),
    ]
    if row.state == Subscription.State.DISABLED:
        parts.append(
            format_html(
                '<button type="submit" form="{}" formaction="{}" class="secondary" '
                'aria-label="Re-create the subscription to {}">Re-create</button>',
                ACTIONS_FORM,
                reverse("webhooks:subscription_recreate", args=[row.pk]),
                row.callback_url,
            )
        )
    return Joined(tuple(parts), separator=" · ")


COLUMNS = [
    Column("Callback URL", _url, sort="url"),
    Column("Events", lambda row: Lines(tuple(row.events))),
    Column("Scope", _scope),
    Column("State", _state, sort="state"),
    Column("Created", _created, sort="created"),
    Column("Actions", _actions),
]


def _organization(request: HttpRequest) -> Organization:
    return Organization.objects.get(pk=organization_id(request))


def _subscription(request: HttpRequest, pk: int) -> Subscription:
    # Another organization's subscription, or one already gone, is simply not found.
    return get_object_or_404(
        Subscription, pk=pk, organization_id=organization_id(request), removed_at__isnull=True
    )


@allow(Role.ADMIN)
@require_safe
def subscription_list(request: HtmxHttpRequest) -> HttpResponse:
    org_id = organization_id(request)
    rows = listed(org_id)
    form = SubscriptionFilter(request.GET)
    page = read_page(
        form.filter_rows(rows),
        fields=FIELDS,
        order_by=form.order_by(),
        page=form.page_number,
        filtered=form.filtered,
        total=rows.count,
    )
    context = {
        "form": form,
        "list": ListContext(
            form=form,
            page=page,
            columns=COLUMNS,
            base_url=reverse("webhooks:subscriptions"),
            noun=("subscription", "subscriptions"),
            target="subscription-results",
            empty=_empty(),
        ),
        "last_read": subscriptions.last_read(org_id),
        "trouble": subscriptions.trouble(org_id),
        "actions_form": ACTIONS_FORM,
    }
    return render_page(request, "webhooks/subscriptions.html", "subscription-results", context)


@allow(Role.ADMIN)
@require_POST
def refresh(request: HttpRequest) -> HttpResponse:
    """Ask a worker to read every subscription from Calendly (many calls in a big org)."""
    organization = _organization(request)
    try:
        get_connection(organization)
    except ConnectionUnavailable as exc:
        messages.error(request, errors.explain(exc, doing="reading the subscriptions"))
        return redirect("webhooks:subscriptions")
    try:
        tasks.refresh_organization.delay_on_commit(organization.pk, person(request).pk)
    except Exception:  # the broker's errors are many (kombu, redis, OSError)
        log.exception("Could not queue the subscriptions refresh of %s", organization)
        messages.error(
            request,
            "The background workers could not take the refresh just now. Subscriptions are read "
            "from Calendly on a schedule anyway; try again in a few minutes.",
        )
    else:
        messages.success(
            request,
            "Refresh requested: the subscriptions are being read from Calendly in the "
            "background. Reload this page in a minute to see them.",
        )
    return redirect("webhooks:subscriptions")


def _form_page(
    request: HttpRequest,
    form: SubscriptionForm,
    *,
    row: Subscription | None,
    status: int,
    problem: str = "",
) -> HttpResponse:
    context = {
        "form": form,
        "row": row,
        "problem": problem,
        "base_url": subscriptions.base_url_for(request),
        "no_base_url": subscriptions.NO_BASE_URL,
    }
    return render(request, "webhooks/subscription_form.html", context, status=status)


@allow(Role.ADMIN)
@require_http_methods(["GET", "HEAD", "POST"])
def new(request: HttpRequest) -> HttpResponse:
    org_id = organization_id(request)
    if request.method != "POST":
        return _form_page(request, SubscriptionForm(organization_id=org_id), row=None, status=200)
    form = SubscriptionForm(request.POST, organization_id=org_id)
    if not form.is_valid():
        return _form_page(request, form, row=None, status=400)
    try:
        row = subscriptions.create(
            _organization(request),
            **form.wanted(),
            base_url=subscriptions.base_url_for(request),
            actor=person(request),
            request=request,
        )
    except SubscriptionRefused as refused:
        form.add_error(None, refused.message)
        return _form_page(request, form, row=None, status=409)
    messages.success(request, f"Subscribed {row.callback_url} to {', '.join(row.events)}.")
    return redirect("webhooks:subscriptions")


@allow(Role.ADMIN)
@require_http_methods(["GET", "HEAD", "POST"])
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Calendly changes nothing in place: saving makes a new subscription, then deletes this."""
    row = _subscription(request, pk)
    org_id = organization_id(request)
    if request.method != "POST":
        read = _read_fresh(request, row)
        if read.gone:
            return _gone(request, row)
        initial = SubscriptionForm.initial_of(row)
        form = SubscriptionForm(organization_id=org_id, initial=initial)
        return _form_page(request, form, row=row, status=200, problem=read.problem)
    form = SubscriptionForm(request.POST, organization_id=org_id)
    if not form.is_valid():
        return _form_page(request, form, row=row, status=400)
    try:
        replaced = subscriptions.replace(
            _organization(request),
            row,
            **form.wanted(),
            base_url=subscriptions.base_url_for(request),
            actor=person(request),
            request=request,
        )
    except SubscriptionRefused as refused:
        form.add_error(None, refused.message)
        return _form_page(request, form, row=row, status=409)
    _say_replaced(request, replaced, "Saved")
    return redirect("webhooks:subscriptions")


def _read_fresh(request: HttpRequest, row: Subscription) -> subscriptions.Reread:
    """The subscription as Calendly has it now, so the page shows its current state and events
    rather than those of the last listing."""
    return subscriptions.reread(_organization(request), row, actor=person(request), request=request)


def _gone(request: HttpRequest, row: Subscription) -> HttpResponse:
    messages.warning(
        request,
        f"Calendly no longer has the {row.scope}-scope subscription to {row.callback_url}: it "
        "was deleted there, or Calendly removed it. It is no longer listed here.",
    )
    return redirect("webhooks:subscriptions")


def _say_replaced(request: HttpRequest, replaced: subscriptions.Replaced, done: str) -> None:
    if replaced.old_deleted:
        messages.success(
            request,
            f"{done}: a new subscription to {replaced.new.callback_url} took the old one's "
            "place, and the old one was deleted.",
        )
    else:
        messages.warning(request, replaced.problem)


@allow(Role.ADMIN)
@require_http_methods(["GET", "HEAD", "POST"])
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation, naming the subscription; POST deletes it."""
    row = _subscription(request, pk)
    if request.method != "POST":
        read = _read_fresh(request, row)
        if read.gone:
            return _gone(request, row)
        context = {"row": row, "problem": read.problem}
        return render(request, "webhooks/subscription_delete.html", context)
    try:
        subscriptions.delete(_organization(request), row, actor=person(request), request=request)
    except SubscriptionRefused as refused:
        messages.error(request, refused.message)
        return redirect("webhooks:subscription_delete", pk=row.pk)
    messages.success(request, f"Deleted the subscription to {row.callback_url}.")
    return redirect("webhooks:subscriptions")


@allow(Role.ADMIN)
@require_POST
def recreate(request: HttpRequest, pk: int) -> HttpResponse:
    row = _subscription(request, pk)
    try:
        replaced = subscriptions.recreate(
            _organization(request),
            row,
            base_url=subscriptions.base_url_for(request),
            actor=person(request),
            request=request,
        )
    except SubscriptionRefused as refused:
        messages.error(request, refused.message)
    else:
        _say_replaced(request, replaced, "Re-created")
    return redirect("webhooks:subscriptions")


class ConfirmRemoval(forms.Form):
    """The subscriptions the preview showed: only these go, and only while they still deliver
    here."""

    subscriptions = forms.ModelMultipleChoiceField(
        queryset=Subscription.objects.none(),
        widget=forms.MultipleHiddenInput,
        error_messages={
            "invalid_choice": "The list changed since it was shown; check it again.",
            "required": "Nothing delivers to this deployment: there is nothing to remove.",
        },
    )

    def __init__(self, data: Any = None, *, organization: Organization) -> None:
        super().__init__(data)
        choices = self.fields["subscriptions"]
        assert isinstance(choices, forms.ModelMultipleChoiceField)
        choices.queryset = subscriptions.at_this_deployment(organization)


@allow(Role.ADMIN)
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe_all(request: HttpRequest) -> HttpResponse:
    """GET previews every subscription that delivers to this deployment; POST deletes them."""
    organization = _organization(request)
    doomed = list(subscriptions.at_this_deployment(organization))
    status = 200
    form = ConfirmRemoval(
        request.POST if request.method == "POST" else None, organization=organization
    )
    if request.method == "POST":
        if form.is_valid():
            done = subscriptions.unsubscribe_all(
                organization,
                form.cleaned_data["subscriptions"],
                actor=person(request),
                request=request,
            )
            deleted = sum(1 for each in done if not each.problem)
            messages.success(
                request, f"Deleted {deleted} subscription{'s' if deleted != 1 else ''}."
            )
            for each in done:
                if each.problem:
                    messages.error(request, f"Still there: {each.row.callback_url}. {each.problem}")
            return redirect("webhooks:subscriptions")
        status = 409
    context = {
        "organization": organization,
        "doomed": doomed,
        "form": form,
        "last_read": subscriptions.last_read(organization.pk),
    }
    return render(request, "webhooks/unsubscribe_all.html", context, status=status)


urls: list[URLPattern] = [
    path("subscriptions", subscription_list, name="subscriptions"),
    path("subscriptions/refresh", refresh, name="subscriptions_refresh"),
    path("subscriptions/new", new, name="subscription_new"),
    path("subscriptions/<int:pk>/edit", edit, name="subscription_edit"),
    path("subscriptions/<int:pk>/delete", delete, name="subscription_delete"),
    path("subscriptions/<int:pk>/recreate", recreate, name="subscription_recreate"),
    path("subscriptions/remove-all", unsubscribe_all, name="unsubscribe_all"),
]
