"""Offboard people: a selection on the members page or pasted addresses become a preview (the
job's own page, with each person's inventory), then a typed confirmation starts it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.datastructures import MultiValueDict
from django.views.decorators.http import require_http_methods, require_safe

from portal.accounts.connections import ConnectionUnavailable
from portal.accounts.models import Organization, Role
from portal.accounts.roles import allow, organization_id, person
from portal.calendly import errors
from portal.directory import offboarding
from portal.directory.bulk_views import MAX_UPLOAD_BYTES
from portal.directory.models import Member
from portal.htmx import HtmxHttpRequest
from portal.jobs.csvfile import MAX_ROWS, CsvRefused, read_addresses, read_text
from portal.jobs.models import Job


class OffboardForm(forms.Form):
    member = forms.ModelMultipleChoiceField(
        queryset=Member.objects.none(),
        required=False,
        error_messages={
            "invalid_choice": "Some of the people chosen are not members of this organization "
            "(any more). Choose them again on the members page.",
            "invalid_pk_value": "That is not a member of this organization.",
        },
    )
    addresses = forms.CharField(
        required=False,
        label="Email addresses",
        max_length=2_000_000,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "ada@example.com"}),
        help_text=f"One per line, up to {MAX_ROWS:,}.",
    )

    file = forms.FileField(
        required=False,
        label="Or a CSV file",
        help_text="UTF-8, with an email column (or addresses in the first column).",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}),
    )
    delete_invitee_data = forms.BooleanField(
        required=False,
        label="Also ask Calendly to delete their data as invitees (Enterprise)",
    )

    def __init__(
        self,
        data: Mapping[str, Any] | None,
        files: MultiValueDict[str, UploadedFile[Any]] | None = None,
        *,
        organization_id: int,
    ) -> None:
        super().__init__(data, files)
        # Only this organization's current members can be chosen: an id from another
        # organization (or a removed member) is refused, not looked up.
        self.fields["member"].queryset = Member.objects.current().filter(  # type: ignore[attr-defined]
            organization_id=organization_id
        )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        chosen = data.get("member")
        pasted = (data.get("addresses") or "").strip()
        upload = data.get("file")
        if sum(bool(given) for given in (chosen, pasted, upload)) > 1:
            raise forms.ValidationError(
                "Choose people on the members page, paste addresses or upload a file: one of them."
            )
        if upload is not None and upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size / 1024 / 1024:.1f} MB; at most "
                f"{MAX_UPLOAD_BYTES // 1024 // 1024} MB is read. Is it the right file?"
            )
        if not chosen and not pasted and not upload and not self.errors:
            raise forms.ValidationError(
                "Nobody was chosen: tick people on the members page, or paste their addresses."
            )
        return data


@allow(Role.ADMIN)
@require_http_methods(["GET", "HEAD", "POST"])
def offboard(request: HtmxHttpRequest) -> HttpResponse:
    org_id = organization_id(request)
    posted = request.method == "POST"
    form = OffboardForm(
        request.POST if posted else None,
        request.FILES if posted else None,
        organization_id=org_id,
    )
    status = 200
    if posted:
        if form.is_valid():
            chosen = form.cleaned_data["member"]
            upload = form.cleaned_data["file"]
            if chosen:
                text = "\n".join(member.email for member in chosen.order_by("name"))
                addresses = read_text(text)
                source = "a selection on the members page"
            elif upload is not None:
                addresses = read_addresses(upload.file)
                source = upload.name or "an uploaded file"
            else:
                addresses = read_text(form.cleaned_data["addresses"])
                source = "pasted addresses"
            try:
                preview = offboarding.prepare(
                    organization=Organization.objects.get(pk=org_id),
                    addresses=addresses,
                    source_name=source,
                    actor=person(request),
                    delete_invitee_data=form.cleaned_data["delete_invitee_data"],
                )
            except CsvRefused as refused:
                form.add_error(None, refused.message)
                status = 400
            else:
                return redirect("jobs:job", pk=preview.job.pk)
        else:
            status = 400
    response = render(request, "directory/offboard.html", {"form": form})
    response.status_code = status
    return response


@allow(Role.ADMIN)
@require_safe
def in_calendly(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Part of an offboarding's preview, loaded after it: what only Calendly knows of the first
    people (upcoming meetings, webhook subscriptions they made)."""
    job = get_object_or_404(
        Job,
        pk=pk,
        organization_id=organization_id(request),
        kind=offboarding.KIND,
        state__in=[Job.State.DRAFT, Job.State.AWAITING_APPROVAL],
    )
    if job.state == Job.State.DRAFT and job.created_by_id != person(request).pk:
        raise Http404("No such job")
    context: dict[str, object] = {"job": job, "limit": offboarding.READ_BEFORE_CONFIRMING}
    try:
        context["people"] = offboarding.read_before_confirming(job)
    except (errors.CalendlyError, ConnectionUnavailable) as error:
        context["problem"] = errors.explain(error, doing="reading their meetings and webhooks")
    return render(request, "directory/offboard_in_calendly.html", context)
