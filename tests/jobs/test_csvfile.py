"""Reading a bulk job's addresses from an uploaded or pasted CSV (portal/jobs/csvfile.py)."""

from __future__ import annotations

import contextlib
import io
import os
import random
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.jobs.csvfile import (
    CHUNK_BYTES,
    Address,
    CsvRefused,
    read_addresses,
    read_text,
)

FORMULA = "This cell is a spreadsheet formula, not an email address."


def read(data: bytes, **kwargs: int) -> list[Address]:
    return list(read_addresses(io.BytesIO(data), **kwargs))


def emails(data: bytes) -> list[str]:
    return [a.email for a in read(data)]


def refusal(data: bytes, **kwargs: int) -> str:
    with pytest.raises(CsvRefused) as refused:
        read(data, **kwargs)
    return refused.value.message


class GeneratedFile(io.RawIOBase):
    """A binary file whose bytes a generator makes as they are read, so the test never holds
    the whole file either."""

    def __init__(self, parts: Iterator[bytes]) -> None:
        self._parts = parts
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._left:
            part = next(self._parts, None)
            if part is None:
                return 0
            self._left = part
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size


# -- encodings ---------------------------------------------------------------------------------


def test_a_file_with_a_bom_reads_like_one_without() -> None:
    plain = "email\njosé@example.com\n".encode()

    assert read(b"\xef\xbb\xbf" + plain) == read(plain)
    assert emails(plain) == ["josé@example.com"]


def test_a_latin_1_file_is_refused_naming_the_line_and_how_to_save_it() -> None:
    data = "email\nann@example.com\nrené@example.com\n".encode("latin-1")

    assert refusal(data) == (
        "Line 3 is not UTF-8 text; the file was saved in another encoding. "
        'Save it from the spreadsheet as "CSV UTF-8" and upload it again.'
    )


def test_a_bad_byte_far_into_the_file_is_refused_with_its_own_line() -> None:
    data = b"email\n" + b"someone@example.com\n" * 9_999 + "rené@example.com\n".encode("latin-1")
    assert len(data) > 3 * CHUNK_BYTES

    assert refusal(data).startswith("Line 10001 is not UTF-8 text")


def test_a_character_split_between_two_chunks_is_read_whole() -> None:
    head = b"email\n" + b"x" * (CHUNK_BYTES - 15) + b"\n"
    data = head + "ann@café.example\n".encode()
    assert data[CHUNK_BYTES - 1 : CHUNK_BYTES + 1] == "é".encode()

    assert read(data)[-1] == Address(3, "ann@café.example", "ann@café.example", None)


def test_a_crlf_split_between_two_chunks_ends_one_line() -> None:
    head = b"email\r\n" + b"x" * (CHUNK_BYTES - 8) + b"\r"
    data = head + b"\nann@example.com\r\n"
    assert len(head) == CHUNK_BYTES

    assert read(data)[-1].line == 3


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_counts_one_line(ending: bytes) -> None:
    data = ending.join([b"email", b"ann@example.com", b"", b"bob@example.com"]) + ending

    assert [(a.line, a.email) for a in read(data)] == [
        (2, "ann@example.com"),
        (4, "bob@example.com"),
    ]


# -- binary junk -------------------------------------------------------------------------------


def png() -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"


def xlsx() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as workbook:
        workbook.writestr("xl/workbook.xml", "<workbook/>")
    return archive.getvalue()


def random_bytes() -> bytes:
    data = bytearray(random.Random(12).randbytes(4096))
    data[100] = 0
    return bytes(data)


def png_signature() -> bytes:
    return png()[:8]


@pytest.mark.parametrize("junk", [png, png_signature, random_bytes])
def test_binary_junk_is_refused_as_not_a_csv_text_file(junk: Callable[[], bytes]) -> None:
    assert refusal(junk()).startswith("This is not a CSV text file: it holds binary data")


def test_an_excel_workbook_is_refused_with_how_to_save_it_as_csv() -> None:
    assert refusal(xlsx()) == (
        "This is not a CSV text file: it is a zip archive, or an Excel workbook. "
        'Save it from the spreadsheet as "CSV UTF-8" and upload it again.'
    )


def test_a_utf_16_file_is_refused_with_how_to_save_it_as_utf_8() -> None:
    assert refusal("email\nann@example.com\n".encode("utf-16")).startswith(
        "This file is saved as UTF-16 text."
    )


def test_a_nul_byte_past_the_first_chunk_is_refused_with_its_line() -> None:
    data = b"email\n" + b"someone@example.com\n" * 5_000 + b"ann\x00@example.com\n"

    assert refusal(data).startswith("This is not a CSV text file: line 5002 holds binary data.")


# -- delimiters and headers --------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_commas_semicolons_and_tabs_all_separate_cells(delimiter: str) -> None:
    text = f"name{delimiter}email\nAnn{delimiter}ann@example.com\n"

    assert emails(text.encode()) == ["ann@example.com"]


def test_the_delimiter_comes_from_outside_quotes_on_the_first_line() -> None:
    data = b'"Doe, Ann";"Smith, Bob";email\nx;y;ann@example.com\n'

    assert emails(data) == ["ann@example.com"]


@pytest.mark.parametrize("position", [0, 1, 3])
def test_the_email_column_is_found_by_its_header_in_any_position(position: int) -> None:
    header = ["name", "team", "role"]
    header.insert(position, "Email")
    row = ["Ann", "Sales", "lead"]
    row.insert(position, "ann@example.com")
    data = f"{','.join(header)}\n{','.join(row)}\n".encode()

    assert read(data) == [Address(2, "ann@example.com", "ann@example.com", None)]


@pytest.mark.parametrize(
    "name",
    ["email", "E-mail", "Email Address", "e-mail address", "Work Email", "MAIL", "email_address",
     "WORK_EMAIL", "  Email  "],
)  # fmt: skip
def test_every_listed_spelling_of_the_header_names_the_email_column(name: str) -> None:
    data = f"name,{name}\nAnn,ann@example.com\n".encode()

    assert emails(data) == ["ann@example.com"]


def test_without_a_header_the_first_cell_with_an_at_sign_is_the_column() -> None:
    data = b"Ann,ann@example.com,ann.private@example.net\nBob,bob@example.com,\n"

    assert read(data) == [
        Address(1, "ann@example.com", "ann@example.com", None),
        Address(2, "bob@example.com", "bob@example.com", None),
    ]


def test_a_single_column_without_a_header_reads_its_first_line_as_an_address() -> None:
    data = b"not-an-address\nbob@example.com\n"

    assert read(data) == [
        Address(1, "not-an-address", "not-an-address", "This is not an email address."),
        Address(2, "bob@example.com", "bob@example.com", None),
    ]


def test_a_header_without_an_email_column_is_refused_listing_the_columns() -> None:
    assert refusal(b"a,b,c\n1,2,3\n") == (
        "No column is named email; the columns are: a, b, c. "
        'Name the column of addresses "email" and upload the file again.'
    )


def test_the_refusal_lists_ten_columns_at_most_each_cut_to_forty_characters() -> None:
    names = [f"{n:02}{'x' * 50}" for n in range(12)]
    message = refusal(",".join(names).encode() + b"\n")

    assert f"the columns are: {'00' + 'x' * 38}, {'01' + 'x' * 38}," in message
    assert f"{'09' + 'x' * 38}, and 2 more." in message
    assert "10x" not in message


# -- rows ------------------------------------------------------------------------------------


def test_quoted_cells_may_hold_delimiters_and_newlines() -> None:
    data = b'name,email\n"Doe, Ann\nSales, floor 2",ann@example.com\n"Bob ""B""",bob@example.com\n'

    assert [(a.line, a.email) for a in read(data)] == [
        (2, "ann@example.com"),
        (4, "bob@example.com"),
    ]


def test_a_space_after_the_delimiter_does_not_break_a_quoted_cell() -> None:
    data = b'name, team, email\nAnn, "Sales, EMEA", ann@example.com\n'

    assert emails(data) == ["ann@example.com"]


def test_blank_lines_and_empty_rows_are_skipped_but_keep_their_line_numbers() -> None:
    data = b"\n\nname;email\n\nAnn;ann@example.com\n;\n  ;  \nBob;bob@example.com\n\n"

    assert [(a.line, a.email) for a in read(data)] == [
        (5, "ann@example.com"),
        (8, "bob@example.com"),
    ]


def test_a_row_shorter_than_the_email_column_has_no_email_cell() -> None:
    data = b"name,team,email\nAnn,Sales\nBob,Ops,bob@example.com\n"

    assert read(data)[0] == Address(2, "", "", "This row has no email cell.")


def test_an_empty_email_cell_is_a_row_with_a_problem() -> None:
    data = b"name,email\nAnn,\n"

    assert read(data) == [Address(2, "", "", "The email cell is empty.")]


def test_a_repeated_address_points_at_the_line_of_its_first_appearance() -> None:
    data = b"email\nann@example.com\nbob@example.com\n<ANN@Example.com>\n"

    assert read(data)[2] == Address(
        4, "<ANN@Example.com>", "ann@example.com", "Appears earlier in the file, on line 2."
    )


def test_a_malformed_address_keeps_its_own_reason_when_repeated() -> None:
    data = b"email\nnope\nnope\n"

    assert [a.problem for a in read(data)] == ["This is not an email address."] * 2


def test_an_address_longer_than_calendly_accepts_says_so() -> None:
    data = f"email\n{'a' * 300}@example.com\n".encode()

    (address,) = read(data)
    assert address.problem is not None
    assert "312 characters long; Calendly accepts at most 254" in address.problem
    assert address.raw == ("a" * 300)[:200]


@pytest.mark.parametrize(
    "cell",
    ['"=HYPERLINK(""http://x"",""y"")"', "+1-555-0100", '"-2+3,cmd"', "@SUM(A1:A9)", '"\t=1"'],
)
def test_a_formula_cell_is_a_row_with_a_problem_and_is_never_run(cell: str) -> None:
    data = f"name,email\nAnn,{cell}\n".encode()

    (address,) = read(data)
    assert address.problem == FORMULA
    assert address.raw.strip().startswith(("=", "+", "-", "@"))


def test_a_hyperlink_formula_is_kept_as_written_for_the_preview() -> None:
    (address,) = read(b'email\n"=HYPERLINK(""http://x"",""y"")"\n')

    assert address.raw == '=HYPERLINK("http://x","y")'


# -- size limits ------------------------------------------------------------------------------


def many_rows(count: int) -> bytes:
    return b"email\n" + b"".join(b"person%d@example.com\n" % n for n in range(count))


def test_fifty_thousand_rows_are_read() -> None:
    addresses = read(many_rows(50_000))

    assert len(addresses) == 50_000
    last = "person49999@example.com"
    assert addresses[-1] == Address(50_001, last, last, None)
    assert all(a.problem is None for a in addresses)


def test_one_row_more_than_fifty_thousand_is_refused() -> None:
    assert refusal(many_rows(50_001)) == (
        "The file has more than 50,000 rows; split it and upload each part."
    )


def test_a_ten_megabyte_single_line_is_refused() -> None:
    assert refusal(b"x" * 10_000_000) == (
        "Line 1 is longer than 100,000 characters; is this the right file?"
    )


def test_a_long_line_after_good_ones_is_refused_with_its_number() -> None:
    data = b"email\nann@example.com\n" + b"a" * 200_000 + b"@example.com\n"

    assert refusal(data).startswith("Line 3 is longer than 100,000 characters")


def test_a_quote_left_open_is_refused_before_it_swallows_the_file() -> None:
    data = b'email\n"ann@example.com\n' + b"someone@example.com\n" * 10_000

    assert refusal(data).startswith("The row that starts on line 2 runs to line")


def test_reading_is_streaming_memory_stays_flat_however_big_the_file() -> None:
    padding = b"x" * 500
    rows = 50_000

    def parts() -> Iterator[bytes]:
        yield b"name,email\n"
        for n in range(rows):
            yield b"Person %d %s,person%d@example.com\n" % (n, padding, n)

    stream = io.BufferedReader(GeneratedFile(parts()))
    tracemalloc.start()
    try:
        usable = sum(1 for a in read_addresses(stream) if a.problem is None)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert usable == rows
    # The file is over 20 MB; what is held is a chunk, a row and the addresses seen so far.
    assert rows * len(padding) > 20_000_000
    assert peak < 10_000_000


# -- pasted text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "email\nann@example.com\nANN@example.com\n",
        "\ufeffname;E-mail\r\nAnn;ann@example.com\r\n\r\nBob;=1+1\r\n",
        "Ann,ann@example.com\nBob\n,,\n",
        'name,email\n"Doe, Ann\nSales",ann@example.com\n',
    ],
)
def test_pasted_text_reads_like_the_same_file(text: str) -> None:
    assert list(read_text(text)) == read(text.encode())


def test_pasted_text_is_refused_like_a_file() -> None:
    with pytest.raises(CsvRefused) as refused:
        list(read_text("a,b,c\n1,2,3\n"))

    assert refused.value.message == refusal(b"a,b,c\n1,2,3\n")


def test_pasted_text_with_too_many_rows_is_refused() -> None:
    with pytest.raises(CsvRefused, match="more than 2 rows"):
        list(read_text("a@example.com\nb@example.com\nc@example.com\n", max_rows=2))


# -- anything at all ---------------------------------------------------------------------------


PIECES = st.sampled_from(
    [b",", b";", b"\t", b'"', b"\n", b"\r", b"\r\n", b"@", b"=", b"email", b"ann@example.com",
     b"\xef\xbb\xbf", b"\xc3", b"\xa9", b"\x00", b"\xff", b" "]
)  # fmt: skip


@given(st.one_of(st.binary(max_size=2000), st.lists(PIECES, max_size=60).map(b"".join)))
def test_any_bytes_give_addresses_or_a_refusal_and_nothing_else(data: bytes) -> None:
    with contextlib.suppress(CsvRefused):  # the one exception a caller has to handle
        addresses = read(data, max_rows=20)
        assert all(a.line >= 1 and len(a.raw) <= 200 for a in addresses)


@given(st.text(max_size=500))
def test_any_pasted_text_gives_addresses_or_a_refusal_and_nothing_else(text: str) -> None:
    with contextlib.suppress(CsvRefused):
        addresses = list(read_text(text, max_rows=20))
        assert all(a.line >= 1 and len(a.raw) <= 200 for a in addresses)


def test_random_megabytes_are_refused_from_the_first_chunk_without_reading_on() -> None:
    stream = io.BytesIO(os.urandom(1_000_000))

    with pytest.raises(CsvRefused, match="This is not a CSV text file"):
        list(read_addresses(stream))
    assert stream.tell() == CHUNK_BYTES
