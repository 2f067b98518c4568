"""Invite from a file: upload or paste, then the preview (the job's own page), then Start."""

from __future__ import annotations

from django import forms
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from portal.accounts.models import Organization, Role
from portal.accounts.roles import allow, organization_id, person
from portal.directory import bulk
from portal.htmx import HtmxHttpRequest
from portal.jobs.csvfile import MAX_ROWS, CsvRefused, read_addresses, read_text

# Far more than 50,000 addresses take; a bigger upload is the wrong file.
MAX_UPLOAD_BYTES = 16 * 1024 * 1024


class BulkInviteForm(forms.Form):
    file = forms.FileField(
        required=False,
        label="A CSV file",
        help_text=(
            f"UTF-8, comma or semicolon separated, up to {MAX_ROWS:,} rows. The column named "
            "email is used (or the first one holding addresses when there is no header)."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}),
    )
    addresses = forms.CharField(
        required=False,
        label="Or paste addresses",
        max_length=2_000_000,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "ada@example.com"}),
        help_text="One per line, or CSV rows with a header.",
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        upload = data.get("file")
        pasted = (data.get("addresses") or "").strip()
        if upload and pasted:
            raise forms.ValidationError("Upload a file or paste addresses, not both.")
        if not upload and not pasted:
            raise forms.ValidationError("Choose a CSV file, or paste addresses.")
        if upload is not None and upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size / 1024 / 1024:.1f} MB; at most "
                f"{MAX_UPLOAD_BYTES // 1024 // 1024} MB is read. Is it the right file?"
            )
        return data


@allow(Role.ADMIN)
@require_http_methods(["GET", "HEAD", "POST"])
def bulk_invite(request: HtmxHttpRequest) -> HttpResponse:
    # Bound on every POST, even an empty one: `request.POST or None` would leave a blank POST
    # unbound, answered 400 without a word of why.
    posted = request.method == "POST"
    form = BulkInviteForm(request.POST if posted else None, request.FILES if posted else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            if upload is not None:
                addresses = read_addresses(upload.file)
                source = upload.name or "an uploaded file"
            else:
                addresses = read_text(form.cleaned_data["addresses"])
                source = "pasted addresses"
            try:
                preview = bulk.prepare(
                    organization=Organization.objects.get(pk=organization_id(request)),
                    addresses=addresses,
                    source_name=source,
                    actor=person(request),
                )
            except CsvRefused as refused:
                form.add_error(None, refused.message)
                status = 400
            else:
                return redirect("jobs:job", pk=preview.job.pk)
        else:
            status = 400
    response = render(request, "directory/bulk_invite.html", {"form": form})
    response.status_code = status
    return response
