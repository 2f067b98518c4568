"""One way to build a list page: a form, a queryset, columns and a template.

A list page (members, the audit log, and every list after them) is made of:

- a `ListForm` subclass: the filters as form fields with bounds, the sorts it offers, and
  `filter_rows()`. The URL carries the state; an invalid value is a field error and is left
  out, the rest still apply.
- a queryset of everything the list may show, already scoped to the organization.
- `Column`s saying what each cell holds. `rows_html()` is the one renderer of table rows for
  every list: cells are data (text, a time, a link, a hint, details), never markup written
  by a page. Rendering rows in Python rather than in a template loop matters: a 50-row page
  resolves about a thousand template variables, which cost more than the rest of the page.
- a template that puts `{% include "components/list.html" %}` inside its own
  `{% partialdef %}`, so that an htmx request gets only the results (`portal.htmx.render_page`).

`read_page()` reads one page and how many rows match in a single statement, counting exactly
up to `COUNT_LIMIT` and then saying "more than": a two-letter search never walks a whole
organization just to print a number. `csv_response()` exports exactly what the filters select.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache, cached_property
from html import escape
from math import ceil
from typing import Any, ClassVar, cast
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import EmptyResultSet
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import connections
from django.db.models import QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.safestring import SafeString

from portal import csvexport
from portal.core.templatetags.portal import moment

PAGE_SIZE = 50
# A filtered list counts its matches exactly up to here, then says "more than".
COUNT_LIMIT = 500
# Deeper than anyone pages; the bound keeps OFFSET arithmetic in range for any database.
MAX_PAGE = 100_000


# Days a date filter accepts: wide enough for any real list, narrow enough that the day after
# the last one (a filter's end, exclusive) is still a date Python can hold.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2999, 12, 31)


def day_field(label: str) -> forms.DateField:
    """An optional date filter with bounds, shown as a date picker."""
    return forms.DateField(
        required=False,
        label=label,
        validators=[MinValueValidator(FIRST_DAY), MaxValueValidator(LAST_DAY)],
        widget=forms.DateInput(attrs={"type": "date", "min": FIRST_DAY, "max": LAST_DAY}),
    )


# -- the state in the URL ---------------------------------------------------------------------


@dataclass(frozen=True)
class Chip:
    """An active filter, said in words, with the URL that clears it."""

    text: str
    clear_url: str


class ListForm(forms.Form):
    """A list's state, read from the query string: its filters, `sort` and `page`.

    Subclasses declare filter fields, `sorts` (URL value -> ORDER BY fields, ascending; the
    descending "-value" reverses every field), `default_sort`, and `filter_rows()`. Fields
    named in `scope` choose which list is shown (a status) rather than narrow it: they are not
    "filters" for the count line, and clearing the filters keeps them.
    """

    sorts: ClassVar[Mapping[str, Sequence[str]]] = {}
    default_sort: ClassVar[str] = ""
    scope: ClassVar[tuple[str, ...]] = ()

    sort = forms.CharField(required=False, max_length=40)
    page = forms.IntegerField(required=False, min_value=1, max_value=MAX_PAGE)

    def __init__(self, data: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.prepare_fields()
        self.is_valid()  # cleaned_data then holds every field that is valid

    def prepare_fields(self) -> None:
        """Set what depends on the request (the organization's groups as choices, say) before
        the state is read."""

    def clean(self) -> dict[str, Any]:
        # Checked once every field is read: which sorts a list offers may depend on its scope.
        data = super().clean() or {}
        sort = data.get("sort")
        if sort and sort.lstrip("-") not in self.sort_options():
            self.add_error("sort", "This list cannot be sorted that way.")
        return self.cleaned_data

    def sort_options(self) -> Mapping[str, Sequence[str]]:
        """The sorts this list offers; a subclass may vary them with its scope."""
        return self.sorts

    def filter_rows(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        """The rows the valid filters select (`self.cleaned_data`)."""
        return rows

    # -- reading the state ------------------------------------------------------------------

    @property
    def filter_names(self) -> list[str]:
        return [name for name in self.fields if name not in ("sort", "page", *self.scope)]

    @property
    def filtered(self) -> bool:
        return any(
            self.cleaned_data.get(name) not in (None, "", False) for name in self.filter_names
        )

    @property
    def current_sort(self) -> str:
        sort: str = self.cleaned_data.get("sort") or ""
        return sort if sort.lstrip("-") in self.sort_options() else self.default_sort

    def order_by(self) -> list[str]:
        sort = self.current_sort
        fields = self.sort_options()[sort.lstrip("-")]
        if not sort.startswith("-"):
            return list(fields)
        return [f[1:] if f.startswith("-") else f"-{f}" for f in fields]

    @property
    def page_number(self) -> int:
        page: int | None = self.cleaned_data.get("page")
        return page or 1

    @cached_property
    def _state(self) -> dict[str, str]:
        """The valid values as the URL carried them, in field order."""
        state = {}
        # The filters first, then how the list is sorted and paged: URLs read in that order.
        for name in (*(n for n in self.fields if n not in ("sort", "page")), "sort", "page"):
            raw = self.data.get(name, "")
            if name in self.cleaned_data and raw not in ("", None):
                state[name] = str(raw)
        return state

    def query(self, **changes: object) -> str:
        """The query string of this state with `changes` (None drops a value); no "?"."""
        state = {**self._state, **{k: str(v) for k, v in changes.items() if v is not None}}
        for name, value in changes.items():
            if value is None:
                state.pop(name, None)
        return urlencode(state)

    def url(self, base: str, **changes: object) -> str:
        query = self.query(**changes)
        return f"{base}?{query}" if query else base

    def chips(self, base: str) -> list[Chip]:
        """Each active filter in words, with a link that clears it (and goes back to page 1)."""
        return [
            Chip(self.describe(name), self.url(base, **{name: None, "page": None}))
            for name in self.filter_names
            if self.cleaned_data.get(name) not in (None, "", False)
        ]

    def describe(self, name: str) -> str:
        """A filter in words: "Role: Admin". Subclasses word their own filters better."""
        field = self.fields[name]
        value = self.cleaned_data[name]
        if isinstance(field, forms.ChoiceField):
            choices = cast(Iterable[tuple[object, object]], field.choices)
            value = {str(k): v for k, v in choices}.get(str(value), value)
        elif isinstance(field, forms.BooleanField):
            return str(field.label)
        return f"{field.label}: {value}"

    def clear_url(self, base: str) -> str:
        """The list with every filter cleared; its scope (which list) stays."""
        return self.url(base, **dict.fromkeys((*self.filter_names, "page")))

    def problems(self) -> list[str]:
        """Field errors in words, for "these filters were not understood"."""
        return [
            f"{self.fields[name].label or name}: {' '.join(map(str, errors))}"
            for name, errors in self.errors.items()
        ]


# -- reading a page ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ListPage:
    """One page of a list, how many rows match (exactly, or at least `count` when `more`),
    and out of how many."""

    rows: list[Any]
    number: int
    has_next: bool
    count: int
    total: int
    more: bool = False

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def num_pages(self) -> int | None:
        """None while the count is only a lower bound."""
        return None if self.more else max(1, ceil(self.count / PAGE_SIZE))


def read_page(
    rows: QuerySet[Any],
    *,
    fields: Sequence[str],
    order_by: Sequence[str],
    page: int,
    filtered: bool,
    total: QuerySet[Any] | Callable[[], int],
    exact: bool = False,
) -> ListPage:
    """Page `page` of `rows` (as named tuples of `fields`), with the count of matches.

    One statement reads the page and counts the matches up to COUNT_LIMIT (a window count
    over the first matches in order); deeper in, counting goes on to the page's end. A list
    that must count exactly passes `exact=True`. Unfiltered, the count is the total: a
    one-value queryset (read in the same statement, as a subquery) or a function that counts.
    Past the end (an old link), the last page instead.
    """
    try:
        reader = _Statement(rows.order_by(*order_by), fields, order_by, total)
    except EmptyResultSet:
        # A filter that can match nothing (an empty IN list): the ORM writes no statement.
        everything = total() if callable(total) else (total.first() or 0)
        return ListPage([], 1, False, 0, everything)
    number = page
    # Unfiltered, the matches are the total: nothing to count alongside the page.
    found, counted = reader.page(number, counting=filtered)
    if not found and number > 1:
        matches = reader.count() if filtered else reader.total()
        number = max(1, ceil(matches / PAGE_SIZE))
        found, counted = reader.page(number, counting=filtered)
    has_next = len(found) > PAGE_SIZE
    found = found[:PAGE_SIZE]
    seen = (number - 1) * PAGE_SIZE + len(found)
    if not filtered:
        everything = reader.total()
        return ListPage(found, number, has_next, everything, everything)
    if not has_next:
        return ListPage(found, number, has_next, seen, reader.total())
    if exact:
        exactly = counted if counted is not None and counted <= COUNT_LIMIT else reader.count()
        return ListPage(found, number, has_next, exactly, reader.total())
    limit = max(COUNT_LIMIT, seen)
    if counted is None:
        counted = reader.count(limit + 1)
    more = counted > limit
    return ListPage(found, number, has_next, min(counted, limit), reader.total(), more=more)


class _Statement:
    """A list's SELECT, compiled once per request, read a page at a time.

    The SQL around the compiled statement is the toolkit's own (LIMIT, a window COUNT, the
    ORDER BY restated by column position); every value goes in as a parameter.
    """

    def __init__(
        self,
        rows: QuerySet[Any],
        fields: Sequence[str],
        order_by: Sequence[str],
        total: QuerySet[Any] | Callable[[], int],
    ):
        self.width = len(fields)
        self.total_of = total
        self.total_read: int | None = None
        if isinstance(total, QuerySet):
            # Read beside every row as a subquery the database runs once (an InitPlan).
            rows = rows.annotate(list_total=Coalesce(Subquery(total[:1]), Value(0)))
            selected = rows.values_list(*fields, "list_total")
        else:
            selected = rows.values_list(*fields)
        self.compiler = selected.query.get_compiler(using=rows.db)
        self.sql, self.params = self.compiler.as_sql()
        # What the ORM would do to each value on the way out (JSON parsed, SQLite's naive
        # datetimes made aware, ...): nothing at all for most columns on PostgreSQL.
        self.converters = self.compiler.get_converters(
            [column for column, _, _ in self.compiler.select[: self.compiler.col_count]]
        )
        self.selected = selected
        self.connection = connections[rows.db]
        self.make = _row_type(tuple(fields))
        unread = [f for f in order_by if f.lstrip("-") not in fields]
        if unread:
            raise ValueError(f"a list must read the fields it sorts by; add {unread} to its fields")
        self.order = ", ".join(
            f"{list(fields).index(f.lstrip('-')) + 1}{' DESC' if f.startswith('-') else ''}"
            for f in order_by
        )

    def page(self, number: int, *, counting: bool = True) -> tuple[list[Any], int | None]:
        """Up to PAGE_SIZE + 1 rows of page `number` (one more tells whether more follow) and,
        when `counting` and the page lies within the first COUNT_LIMIT matches, how many match
        up to COUNT_LIMIT + 1 (None otherwise)."""
        offset, limit = (number - 1) * PAGE_SIZE, PAGE_SIZE + 1
        if not counting or offset + limit > COUNT_LIMIT + 1:
            sql, params = f"{self.sql} LIMIT %s OFFSET %s", (*self.params, limit, offset)
            return self._rows(self._fetch(sql, params)), None
        found = self._fetch(
            f"SELECT *, COUNT(*) OVER () FROM ({self.sql} LIMIT %s) AS matching "  # noqa: S608
            f"ORDER BY {self.order} LIMIT %s OFFSET %s",
            (*self.params, COUNT_LIMIT + 1, limit, offset),
        )
        counted: int = found[0][-1] if found else 0
        return self._rows([row[:-1] for row in found]), counted

    def count(self, limit: int | None = None) -> int:
        """How many rows match; with `limit`, counting stops there."""
        # Unordered: the database need not sort, or walk an index in order, to count. Compiled
        # only here: most pages never count this way.
        sql, params = self.selected.order_by().query.sql_with_params()
        if limit is not None:
            sql, params = f"{sql} LIMIT %s", (*params, limit)
        number: int = self._fetch(f"SELECT COUNT(*) FROM ({sql}) AS matching", params)[0][0]  # noqa: S608
        return number

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            found: list[tuple[Any, ...]] = cursor.fetchall()
            return found

    def _rows(self, found: list[Any]) -> list[Any]:
        if self.converters:
            found = list(self.compiler.apply_converters(found, self.converters))
        if found and len(found[0]) > self.width:
            self.total_read = found[0][self.width]
            found = [row[: self.width] for row in found]
        return [self.make._make(row) for row in found]

    def total(self) -> int:
        """The list's total: as read beside the rows, or asked for when no row brought it."""
        if self.total_read is not None:
            return self.total_read
        if isinstance(self.total_of, QuerySet):
            self.total_read = self.total_of.first() or 0
        else:
            self.total_read = self.total_of()
        return self.total_read


@cache
def _row_type(fields: tuple[str, ...]) -> Any:
    # Field paths such as "group__name" become attribute names "group__name".
    return namedtuple("Row", fields)


# -- cells and rows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    text: str
    url: str


@dataclass(frozen=True)
class Hint:
    """Secondary text in a cell: a type, an id, an address."""

    text: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Lines:
    """Several parts of a cell, one per line."""

    parts: tuple[Cell, ...]


@dataclass(frozen=True)
class Joined:
    """Several parts of a cell on one line, with a separator: links to act on a row."""

    parts: tuple[Cell, ...]
    separator: str = ", "


@dataclass(frozen=True)
class Details:
    """A disclosure: a summary, then labelled preformatted blocks (a JSON before and after)."""

    summary: str
    blocks: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Copy:
    """A Copy button for a link that can be booked: `text` goes to the clipboard, `label` is
    the button's accessible name ("Copy the link for ana@example.com")."""

    text: str
    label: str = "Copy"


@dataclass(frozen=True)
class Pick:
    """A checkbox that chooses the row for a form elsewhere on the page (`form` is its id), so
    the rows stay a plain table: `label` is the box's accessible name ("Select Ana Diaz")."""

    form: str
    name: str
    value: str
    label: str


type Cell = (
    str
    | int
    | datetime
    | Link
    | Hint
    | Code
    | Lines
    | Joined
    | Details
    | Copy
    | Pick
    | SafeString
    | None
)


@dataclass(frozen=True)
class Column:
    """One column of a list: its header, what each row's cell holds, and the sort it offers."""

    label: str
    cell: Callable[[Any], Cell]
    sort: str = ""


def cell_html(value: Cell) -> str:
    """The one renderer of a cell's content; everything but SafeString is escaped here."""
    if value is None or value == "":
        return "—"
    if isinstance(value, SafeString):
        return value
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, datetime):
        return moment(value)
    if isinstance(value, Link):
        return f'<a href="{escape(value.url)}">{escape(value.text)}</a>'
    if isinstance(value, Hint):
        return f'<span class="hint">{escape(value.text)}</span>'
    if isinstance(value, Code):
        return f"<code>{escape(value.text)}</code>"
    if isinstance(value, Lines):
        return "<br>".join(cell_html(part) for part in value.parts if part not in (None, ""))
    if isinstance(value, Joined):
        return escape(value.separator).join(cell_html(part) for part in value.parts)
    if isinstance(value, Copy):
        # The visible word stays short; the accessible name says which link it copies.
        return (
            f'<button type="button" class="secondary" data-copy="{escape(value.text)}" '
            f'aria-label="{escape(value.label)}">Copy</button>'
        )
    if isinstance(value, Pick):
        return (
            f'<input type="checkbox" form="{escape(value.form)}" name="{escape(value.name)}" '
            f'value="{escape(value.value)}" aria-label="{escape(value.label)}">'
        )
    if isinstance(value, Details):
        blocks = "".join(
            f'<p class="hint">{escape(title)}</p><pre>{escape(text)}</pre>'
            for title, text in value.blocks
        )
        return f"<details><summary>{escape(value.summary)}</summary>{blocks}</details>"
    return escape(str(value))


def rows_html(columns: Sequence[Column], rows: Iterable[Any]) -> SafeString:
    """Table rows for every list: the first column heads its row (`<th scope="row">`)."""
    first, rest = columns[0], columns[1:]
    return SafeString(
        "\n".join(
            f'<tr><th scope="row">{cell_html(first.cell(row))}</th>'
            + "".join(f"<td>{cell_html(column.cell(row))}</td>" for column in rest)
            + "</tr>"
            for row in rows
        )
    )


# -- the page around the rows -----------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    label: str
    url: str = ""  # set when the column sorts
    aria_sort: str = ""  # "ascending" / "descending" on the column sorted by


@dataclass
class ListContext:
    """What `components/list.html` shows: build one per request and put it in the context
    as `list`."""

    form: ListForm
    page: ListPage
    columns: Sequence[Column]
    base_url: str
    export_url: str = ""
    noun: tuple[str, str] = ("row", "rows")  # singular, plural: "member", "members"
    target: str = "list-results"  # the element htmx swaps the results into
    # Said when the list holds nothing at all; the page's own words (a SafeString may link).
    empty: str = "Nothing here yet."

    @property
    def rows(self) -> SafeString:
        return rows_html(self.columns, self.page.rows)

    @property
    def header_row(self) -> SafeString:
        """The table's header row: each sortable column a link that sorts by it (again: the
        other way), `aria-sort` on the one sorted by."""
        cells = []
        for header in self.headers:
            aria = f' aria-sort="{header.aria_sort}"' if header.aria_sort else ""
            label = escape(header.label)
            if header.url:
                label = self._swapping_link(header.url, label)
            cells.append(f'<th scope="col"{aria}>{label}</th>')
        return SafeString(f"<tr>{''.join(cells)}</tr>")

    @property
    def pager(self) -> SafeString:
        """Previous / "Page 2 of 7" / Next, each link swapping the results in place."""
        page = self.page
        if not (page.has_previous or page.has_next):
            return SafeString("")
        of = f" of {page.num_pages}" if page.num_pages else ""
        parts = [
            self._swapping_link(self.previous_url, "Previous", rel="prev")
            if page.has_previous
            else "",
            f"<span>Page {page.number}{of}</span>",
            self._swapping_link(self.next_url, "Next", rel="next") if page.has_next else "",
        ]
        return SafeString(f'<nav class="pagination" aria-label="Pages">{"".join(parts)}</nav>')

    def _swapping_link(self, url: str, label: str, *, rel: str = "") -> str:
        """A link that swaps in the results it leads to (htmx) and still works without."""
        href = escape(url)
        rel_attribute = f' rel="{rel}"' if rel else ""
        return (
            f'<a href="{href}" hx-get="{href}" hx-target="#{escape(self.target)}" '
            f'hx-push-url="true"{rel_attribute}>{label}</a>'
        )

    @property
    def headers(self) -> list[Header]:
        current = self.form.current_sort
        headers = []
        for column in self.columns:
            if not column.sort:
                headers.append(Header(column.label))
                continue
            ascending = current == column.sort
            url = self.form.url(
                self.base_url, sort=f"-{column.sort}" if ascending else column.sort, page=None
            )
            state = (
                "ascending" if ascending else "descending" if current == f"-{column.sort}" else ""
            )
            headers.append(Header(column.label, url, state))
        return headers

    @property
    def count_line(self) -> str:
        """ "1,317 members", "42 of 1,317 members", "More than 500 of 10,000 members match…" """
        page = self.page
        total = f"{page.total:,} {self._noun(page.total)}"
        if not self.form.filtered:
            return total
        if page.more:
            return f"More than {page.count:,} of {total} match; type more to narrow the list"
        return f"{page.count:,} of {total}"

    def _noun(self, count: int) -> str:
        return self.noun[0] if count == 1 else self.noun[1]

    @property
    def previous_url(self) -> str:
        return (
            self.form.url(self.base_url, page=self.page.number - 1)
            if self.page.has_previous
            else ""
        )

    @property
    def next_url(self) -> str:
        return self.form.url(self.base_url, page=self.page.number + 1) if self.page.has_next else ""

    @property
    def chips(self) -> list[Chip]:
        return self.form.chips(self.base_url)

    @property
    def clear_url(self) -> str:
        return self.form.clear_url(self.base_url)

    @property
    def export_href(self) -> str:
        return self.form.url(self.export_url, page=None) if self.export_url else ""


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Iterable[object]]
) -> StreamingHttpResponse:
    """A streamed, formula-safe CSV download of `rows`, named `<filename>-<UTC time>.csv`."""
    response = StreamingHttpResponse(
        csvexport.lines(header, rows), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{stamp}.csv"'
    return response


def utc_text(moment_value: datetime | None) -> str:
    """A time as an export writes it: ISO 8601 in UTC."""
    return moment_value.astimezone(UTC).isoformat() if moment_value else ""
