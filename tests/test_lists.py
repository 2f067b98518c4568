"""The list toolkit (portal/lists.py) on its own: sort, page, count, bounds, export, rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.safestring import SafeString

from portal import lists
from portal.accounts.models import Organization
from portal.directory.models import Member
from portal.lists import (
    Column,
    Details,
    Hint,
    Joined,
    Lines,
    Link,
    ListContext,
    ListForm,
    csv_response,
    read_page,
    rows_html,
)
from tests.factories import MemberFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

FIELDS = ("pk", "name", "email", "role", "calendly_created_at")


class PeopleList(ListForm):
    """A small list of the kind every page declares: a search, a choice, a flag."""

    q = forms.CharField(required=False, max_length=20, label="Name")
    role = forms.ChoiceField(
        required=False, choices=[("", "Any role"), *Member.Role.choices], label="Role"
    )
    kind = forms.ChoiceField(required=False, choices=[("a", "A"), ("b", "B")], label="Kind")

    sorts = {
        "name": ("name", "pk"),
        "joined": ("calendly_created_at", "pk"),
        "role": ("role", "name", "pk"),
    }
    default_sort = "name"
    scope = ("kind",)

    def filter_rows(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        if self.cleaned_data.get("q"):
            rows = rows.filter(name__icontains=self.cleaned_data["q"])
        if self.cleaned_data.get("role"):
            rows = rows.filter(role=self.cleaned_data["role"])
        return rows


@pytest.fixture
def org() -> Organization:
    organization = OrganizationFactory()
    now = timezone.now()
    roles = [Member.Role.USER, Member.Role.ADMIN, Member.Role.OWNER]
    for i in range(30):
        MemberFactory(
            organization=organization,
            name=f"Person {(i * 7) % 30:02d}",
            role=roles[i % 3],
            calendly_created_at=now - timedelta(hours=(i * 11) % 30),
        )
    return organization


def page_of(org: Organization, query: dict[str, str], **options: Any) -> tuple[PeopleList, Any]:
    form = PeopleList(query)
    everyone = Member.objects.filter(organization=org)
    page = read_page(
        form.filter_rows(everyone),
        fields=FIELDS,
        order_by=form.order_by(),
        page=form.page_number,
        filtered=form.filtered,
        total=everyone.count,
        **options,
    )
    return form, page


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lists, "PAGE_SIZE", 4)
    monkeypatch.setattr(lists, "COUNT_LIMIT", 10)


@pytest.mark.usefixtures("small_pages")
@pytest.mark.parametrize("sort", ["name", "-name", "joined", "-joined", "role", "-role"])
@pytest.mark.parametrize("query", [{}, {"q": "Person"}, {"role": "user"}])
def test_every_page_is_the_page_the_orm_reads_in_every_order(
    org: Organization, sort: str, query: dict[str, str]
) -> None:
    form = PeopleList({**query, "sort": sort})
    expected = list(
        form.filter_rows(Member.objects.filter(organization=org))
        .order_by(*form.order_by())
        .values_list(*FIELDS)
    )
    # Pages inside the counted window (10) and beyond it read the same rows the ORM does.
    for number in range(1, 9):
        _, page = page_of(org, {**query, "sort": sort, "page": str(number)})
        if number > (len(expected) + 3) // 4:
            break  # past the end: shown as the last page (tested below)
        assert [tuple(row) for row in page.rows] == expected[(number - 1) * 4 : number * 4]


def test_descending_reverses_every_field_of_a_sort() -> None:
    assert PeopleList({"sort": "-role"}).order_by() == ["-role", "-name", "-pk"]
    assert PeopleList({}).order_by() == ["name", "pk"]


@pytest.mark.usefixtures("small_pages")
def test_a_filtered_count_is_exact_up_to_the_limit_then_says_more_than(org: Organization) -> None:
    _, page = page_of(org, {"role": "user"})  # 10 people: all within the limit
    assert (page.count, page.more, page.total) == (10, False, 30)
    _, page = page_of(org, {"q": "Person"})  # 30 match: more than 10
    assert (page.count, page.more, page.num_pages) == (10, True, None)
    # Deeper in, counting goes on to the page's end.
    _, deep = page_of(org, {"q": "Person", "page": "4"})
    assert (deep.count, deep.more) == (16, True)
    _, last = page_of(org, {"q": "Person", "page": "8"})
    assert (last.count, last.more, last.num_pages) == (30, False, 8)
    # A list that must be exact counts every match.
    _, exact = page_of(org, {"q": "Person"}, exact=True)
    assert (exact.count, exact.more) == (30, False)


@pytest.mark.usefixtures("small_pages")
def test_unfiltered_the_count_is_the_total_exactly(org: Organization) -> None:
    form, page = page_of(org, {"kind": "b"})  # the scope is not a filter
    assert not form.filtered
    assert (page.count, page.total, page.more, page.num_pages) == (30, 30, False, 8)


@pytest.mark.usefixtures("small_pages")
def test_a_page_past_the_end_is_the_last_page(org: Organization) -> None:
    _, page = page_of(org, {"page": "99"})
    assert page.number == 8
    assert len(page.rows) == 2
    _, page = page_of(org, {"q": "Person 0", "page": "99"})
    assert page.number == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "1e9"}, "page"),
        ({"page": str(lists.MAX_PAGE + 1)}, "page"),
        ({"sort": "-nonsense"}, "sort"),
        ({"sort": "x" * 100}, "sort"),
        ({"q": "x" * 21}, "q"),
        ({"q": "a\x00b"}, "q"),
        ({"role": "superuser"}, "role"),
    ],
)
def test_a_value_out_of_bounds_is_a_field_error_and_the_rest_still_applies(
    query: dict[str, str], field: str
) -> None:
    form = PeopleList({**query, "role": query.get("role", "admin")})
    assert field in form.errors
    assert field not in form.cleaned_data
    assert form.page_number == 1 or field != "page"
    assert form.order_by() == ["name", "pk"] or field != "sort"
    if field != "role":
        assert form.cleaned_data["role"] == "admin"


def test_the_url_carries_the_state_and_chips_clear_one_filter_at_a_time() -> None:
    form = PeopleList({"q": "ada", "role": "admin", "kind": "b", "sort": "-joined", "page": "3"})
    assert form.url("/people/", page=4) == "/people/?q=ada&role=admin&kind=b&sort=-joined&page=4"
    chips = form.chips("/people/")
    assert [chip.text for chip in chips] == ["Name: ada", "Role: Admin"]
    # Clearing a filter keeps the others, the scope and the sort, and goes back to page 1.
    assert chips[0].clear_url == "/people/?role=admin&kind=b&sort=-joined"
    assert form.clear_url("/people/") == "/people/?kind=b&sort=-joined"
    # An invalid value is not carried along.
    assert PeopleList({"q": "x" * 21, "role": "admin"}).query() == "role=admin"


@pytest.mark.usefixtures("small_pages")
def test_the_context_words_the_count_and_links_headers_and_pages(org: Organization) -> None:
    form, page = page_of(org, {"role": "user", "sort": "name", "page": "2"})
    context = ListContext(
        form=form,
        page=page,
        columns=[
            Column("Name", lambda row: row.name, sort="name"),
            Column("Email", lambda r: r.email),
        ],
        base_url="/people/",
        export_url="/people/export.csv",
        noun=("person", "people"),
    )
    assert context.count_line == "10 of 30 people"
    name, email = context.headers
    assert (name.url, name.aria_sort) == ("/people/?role=user&sort=-name", "ascending")
    assert (email.url, email.aria_sort) == ("", "")
    assert context.previous_url == "/people/?role=user&sort=name&page=1"
    assert context.next_url == "/people/?role=user&sort=name&page=3"
    assert context.export_href == "/people/export.csv?role=user&sort=name"


def test_rows_are_rendered_from_data_and_every_text_is_escaped() -> None:
    row = {"name": "<script>x</script>", "when": datetime(2026, 3, 5, 14, 7, tzinfo=UTC)}
    columns = [
        Column("Name", lambda r: Link(r["name"], "/people/1?a=1&b=2")),
        Column("When", lambda r: r["when"]),
        Column("Nothing", lambda r: None),
        Column("More", lambda r: Lines((Joined(("a", "<b>")), Hint("h&m")))),
        Column("Details", lambda r: Details("Changed: x", (("Before", '{"x": "<1>"}'),))),
        Column("Trusted", lambda r: SafeString("<em>ours</em>")),
    ]
    html = rows_html(columns, [row])
    assert html.startswith('<tr><th scope="row"><a href="/people/1?a=1&amp;b=2">')
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>" not in html
    assert 'title="2026-03-05 14:07:00 UTC"' in html  # the one time format (portal tag)
    assert "<td>—</td>" in html
    assert '<td>a, &lt;b&gt;<br><span class="hint">h&amp;m</span></td>' in html
    assert "<details><summary>Changed: x</summary>" in html
    assert "<pre>{&quot;x&quot;: &quot;&lt;1&gt;&quot;}</pre>" in html
    assert "<td><em>ours</em></td>" in html


def test_an_export_streams_a_formula_safe_csv_named_by_the_list() -> None:
    response = csv_response("people", ["name", "note"], [["Ada", "=1+1"], ["Bob", None]])
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="people-')
    body = b"".join(response.streaming_content).decode()  # type: ignore[arg-type]
    assert list(csv.reader(io.StringIO(body))) == [["name", "note"], ["Ada", "'=1+1"], ["Bob", ""]]


def test_a_list_must_read_the_fields_it_sorts_by(org: Organization) -> None:
    with pytest.raises(ValueError, match="must read the fields it sorts by"):
        read_page(
            Member.objects.all(),
            fields=("pk", "name"),
            order_by=("email",),
            page=1,
            filtered=False,
            total=lambda: 0,
        )


@pytest.mark.django_db
def test_a_filter_that_can_match_nothing_is_an_empty_page_not_an_error() -> None:
    org = OrganizationFactory()
    MemberFactory(organization=org)
    everyone = Member.objects.filter(organization=org)

    page = read_page(
        everyone.filter(role__in=[]),  # the ORM writes no statement for an empty IN list
        fields=FIELDS,
        order_by=["name"],
        page=1,
        filtered=True,
        total=everyone.count,
    )

    assert (page.rows, page.count, page.total, page.number) == ([], 0, 1, 1)
