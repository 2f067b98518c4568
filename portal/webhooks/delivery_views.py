"""The delivery log (admins only): every delivery to the organization's receiving addresses,
one delivery's body and what processing made of it, processing a failed one again, and
sending a test delivery through a subscription's address."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import F
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseStopPolling

from portal import audit
from portal.accounts.models import Organization, Role
from portal.accounts.roles import allow, organization_id
from portal.htmx import HtmxHttpRequest, render_page
from portal.jobs.models import WorkerHeartbeat
from portal.lists import ListContext, csv_response, read_page
from portal.webhooks import deliveries as delivery_list
from portal.webhooks import processing, test_delivery
from portal.webhooks.models import Delivery, Subscription

STATUS_PARTIAL = "webhooks/delivery.html#delivery-status"
# Of a body, this many characters are shown on its page (pretty-printed); the download has it
# all. Calendly's deliveries are a few kilobytes; a body near the receiver's limit is not.
SHOWN_CHARACTERS = 100_000


def _organization(request: HtmxHttpRequest) -> Organization:
    return Organization.objects.get(pk=organization_id(request))


def _delivery(request: HtmxHttpRequest, pk: int) -> Delivery:
    # Another organization's delivery is simply not found.
    return get_object_or_404(Delivery, pk=pk, organization_id=organization_id(request))


def _filter(request: HtmxHttpRequest) -> delivery_list.DeliveryFilter:
    org_id = organization_id(request)
    return delivery_list.DeliveryFilter(
        request.GET,
        events=delivery_list.events_seen(org_id),
        subscriptions=delivery_list.subscriptions(org_id),
    )


@allow(Role.ADMIN)
@require_safe
def deliveries(request: HtmxHttpRequest) -> HttpResponse:
    rows = delivery_list.deliveries(organization_id(request))
    form = _filter(request)
    page = read_page(
        form.filter_rows(rows),
        fields=delivery_list.FIELDS,
        order_by=form.order_by(),
        page=form.page_number,
        filtered=form.filtered,
        total=rows.count,
    )
    empty = format_html(
        "<p>No deliveries yet. Calendly sends one to the portal each time something a "
        "subscription asks about happens (a booking, a cancellation, an event type changed), "
        "once the subscription points at this portal's receiver. See the "
        '<a href="{}">subscriptions</a> (or <a href="{}">create one</a>), then '
        '<a href="{}">send a test delivery</a> to see one arrive.</p>',
        reverse("webhooks:subscriptions"),
        reverse("webhooks:subscription_new"),
        reverse("webhooks:test_delivery"),
    )
    context = {
        "form": form,
        "list": ListContext(
            form=form,
            page=page,
            columns=delivery_list.COLUMNS,
            base_url=reverse("webhooks:deliveries"),
            export_url=reverse("webhooks:deliveries_export"),
            noun=("delivery", "deliveries"),
            target="delivery-results",
            empty=empty,
        ),
    }
    return render_page(request, "webhooks/deliveries.html", "delivery-results", context)


@allow(Role.ADMIN)
@require_safe
def deliveries_export(request: HtmxHttpRequest) -> HttpResponse | StreamingHttpResponse:
    form = _filter(request)
    if form.errors:
        # The current view must make sense to be exported: show the filters' errors instead.
        page = deliveries(request)
        page.status_code = 400
        return page
    # Deliveries carry invitees' names and addresses: who took them away is on record.
    audit.record(
        action=audit.Action.WEBHOOK_DELIVERIES_EXPORTED,
        organization=Organization.objects.get(pk=organization_id(request)),
        after={
            "filters": {
                name: str(value)
                for name, value in form.cleaned_data.items()
                if value not in (None, "") and name != "page"
            }
        },
        request=request,
    )
    rows = (
        form.filter_rows(delivery_list.deliveries(organization_id(request)))
        .order_by(*form.order_by())
        .values_list(*delivery_list.FIELDS, named=True)
        .iterator(chunk_size=500)
    )
    return csv_response(
        "webhook-deliveries", delivery_list.CSV_COLUMNS, delivery_list.csv_rows(rows)
    )


def pretty(body: bytes) -> str:
    """The body as indented JSON when it is JSON, as text otherwise; never more than the
    page can hold, and always text a page can be written in (lone surrogates replaced)."""
    try:
        text = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        text = body.decode(errors="replace")
    return text[:SHOWN_CHARACTERS].encode(errors="replace").decode()


def subscription_of(delivery: Delivery, org_id: int) -> Subscription | None:
    """The subscription whose receiving address the delivery came to (the current one when the
    address served an earlier, deleted one too)."""
    if delivery.endpoint_id is None:
        return None
    return (
        Subscription.objects.filter(organization_id=org_id, endpoint_id=delivery.endpoint_id)
        .order_by(F("removed_at").desc(nulls_first=True), "-pk")
        .first()
    )


def status_context(delivery: Delivery) -> dict[str, Any]:
    """What the status part of a delivery's page shows (and polls for while it waits)."""
    waiting = delivery.status == Delivery.Status.RECEIVED
    return {
        "delivery": delivery,
        # Asked only while the delivery waits: "no worker is running" is what to fix then.
        "workers_running": WorkerHeartbeat.objects.alive().exists() if waiting else None,
    }


@allow(Role.ADMIN)
@require_safe
def delivery(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    row = _delivery(request, pk)
    if request.htmx:
        response = render(request, STATUS_PARTIAL, status_context(row))
        if row.status == Delivery.Status.RECEIVED:
            return response
        # 286 stops the polling; the final state is still swapped in.
        return HttpResponseStopPolling(response.content, content_type=response["Content-Type"])
    body = bytes(row.body)
    shown = pretty(body)
    context = {
        **status_context(row),
        "about": delivery_list.about(row.event, body),
        "is_test": delivery_list.is_test(row.headers),
        "headers": sorted(row.headers.items()) if isinstance(row.headers, dict) else [],
        "body": shown,
        "body_bytes": len(body),
        "cut": len(shown) >= SHOWN_CHARACTERS,
        "subscription": subscription_of(row, organization_id(request)),
    }
    return render(request, "webhooks/delivery.html", context)


@allow(Role.ADMIN)
@require_safe
def delivery_raw(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The body exactly as received, as a download (never shown inline: it is not ours)."""
    row = _delivery(request, pk)
    response = HttpResponse(bytes(row.body), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="webhook-delivery-{row.pk}.json"'
    return response


@allow(Role.ADMIN)
@require_POST
def delivery_reprocess(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    row = _delivery(request, pk)
    if row.status != Delivery.Status.FAILED:
        messages.info(
            request,
            f"Only a failed delivery can be processed again; this one is "
            f"{row.get_status_display().lower()}. Nothing was changed.",
        )
        return redirect("webhooks:delivery", pk=row.pk)
    before = {"status": row.status, "outcome": row.outcome}
    processing.reprocess(row)
    row.refresh_from_db()
    audit.record(
        action=audit.Action.WEBHOOK_REPROCESSED,
        organization=_organization(request),
        target=row,
        before=before,
        after={"status": row.status, "outcome": row.outcome},
        request=request,
    )
    if row.status == Delivery.Status.PROCESSED:
        messages.success(request, f"Processed again: {row.outcome}")
    elif row.status == Delivery.Status.FAILED:
        messages.error(request, f"Processing failed again: {row.outcome}")
    else:
        messages.warning(
            request,
            f"Not processed yet ({row.outcome or 'another worker has it'}); "
            "it is tried again in the background.",
        )
    return redirect("webhooks:delivery", pk=row.pk)


class TestDeliveryForm(forms.Form):
    event = forms.ChoiceField(
        label="Event",
        choices=[(name, name) for name in test_delivery.SAMPLE_EVENTS],
        initial="invitee.created",
        help_text="Calendly's sample data for this event is sent; nothing of it is applied.",
    )
    subscription = forms.ChoiceField(
        label="Through the subscription",
        error_messages={
            "invalid_choice": "Choose one of this organization's subscriptions to the portal."
        },
    )

    def __init__(self, *args: Any, subscriptions: list[Subscription], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.subscriptions = {str(row.pk): row for row in subscriptions}
        field = self.fields["subscription"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            (pk, delivery_list.subscription_label(row)) for pk, row in self.subscriptions.items()
        ]

    @property
    def chosen(self) -> Subscription:
        return self.subscriptions[self.cleaned_data["subscription"]]


@allow(Role.ADMIN)
@require_http_methods(["GET", "HEAD", "POST"])
def send_test_delivery(request: HtmxHttpRequest) -> HttpResponse:
    subscriptions = list(test_delivery.portal_subscriptions(organization_id(request)))
    posted = request.method == "POST"
    form = TestDeliveryForm(request.POST if posted else None, subscriptions=subscriptions)
    status = 200
    if posted:
        if form.is_valid():
            subscription = form.chosen
            assert subscription.endpoint is not None
            url = test_delivery.receiver_url(subscription.endpoint, request)
            try:
                row = test_delivery.send(
                    organization=_organization(request),
                    subscription=subscription,
                    event=form.cleaned_data["event"],
                    url=url,
                    request=request,
                )
            except test_delivery.TestRefused as refused:
                form.add_error(None, refused.message)
                status = 502
            else:
                messages.success(
                    request,
                    "Test delivery sent and stored. Processing marks it as a test and applies "
                    "nothing of its sample data.",
                )
                return redirect("webhooks:delivery", pk=row.pk)
        else:
            status = 400
    context = {"form": form, "subscriptions": subscriptions}
    response = render(request, "webhooks/test_delivery.html", context)
    response.status_code = status
    return response


urls: list[URLPattern] = [
    path("deliveries", deliveries, name="deliveries"),
    path("deliveries/export.csv", deliveries_export, name="deliveries_export"),
    path("deliveries/test", send_test_delivery, name="test_delivery"),
    path("deliveries/<int:pk>", delivery, name="delivery"),
    path("deliveries/<int:pk>/raw.json", delivery_raw, name="delivery_raw"),
    path("deliveries/<int:pk>/reprocess", delivery_reprocess, name="delivery_reprocess"),
]
