"""Addresses from a CSV file an admin uploads (or pastes), read as a stream.

Memory holds one chunk of the file, one row and the addresses seen so far (to point out
duplicates), never the file: 50,000 rows cost about what 50 do, plus that dictionary.

Two kinds of trouble, kept apart: whatever makes the whole file unusable (binary data, another
encoding, no email column, too many rows, a line of megabytes) raises `CsvRefused` with a
sentence saying why and what to do; whatever is wrong with one row becomes that row's
`problem`, so the preview can list it and the job can skip it.

Cells are only ever text: nothing here evaluates a formula, and a cell that a spreadsheet would
run is a row with a problem.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from portal.core.emails import address_problem, normalise

MAX_ROWS = 50_000
# Far beyond any real row of a contact list; a longer line means the wrong file (or a quote
# left open swallowing the rest of it). Every row is cut here before the csv module sees it,
# so csv.field_size_limit (process-global, 131,072 by default) is never what protects us.
MAX_LINE_CHARS = 100_000
CHUNK_BYTES = 64 * 1024
RAW_SHOWN_CHARS = 200
DELIMITERS = (",", ";", "\t")
# Header names that mark the email column, compared without case, spaces or underscores.
EMAIL_COLUMN_NAMES = frozenset(
    {"email", "e-mail", "emailaddress", "e-mailaddress", "workemail", "mail"}
)
# Control characters other than tab, LF and CR: text files hold next to none.
CONTROL_BYTES = bytes([*range(9), 11, 12, *range(14, 32), 127])
# Share of control characters in the first chunk above which it is not text (random bytes
# hold about 12%; a CSV holds none).
MAX_CONTROL_SHARE = 0.05
SAVE_AS = 'Save it from the spreadsheet as "CSV UTF-8" and upload it again.'


class CsvRefused(Exception):
    """The whole file is unusable; `message` says why and what to do."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Address:
    line: int  # 1-based line in the file (the header is line 1 when present)
    raw: str  # the cell as written, cut to RAW_SHOWN_CHARS for display
    email: str  # normalised ("" when the cell was empty)
    problem: str | None  # None when usable; else a sentence for the person


def read_addresses(stream: typing.BinaryIO, *, max_rows: int = MAX_ROWS) -> Iterator[Address]:
    """The addresses in an uploaded file (UTF-8, with or without a BOM), in file order."""
    return _read(_Lines(_decoded(stream)), max_rows)


def read_text(text: str, *, max_rows: int = MAX_ROWS) -> Iterator[Address]:
    """The addresses in pasted text, read by the same rules as a file."""
    text = text.removeprefix("\ufeff")
    slices = (text[i : i + CHUNK_BYTES] for i in range(0, len(text), CHUNK_BYTES))
    return _read(_Lines(slices), max_rows)


# -- bytes to lines ---------------------------------------------------------------------------


def _refuse_binary(head: bytes) -> None:
    """Refuse, from the first chunk, a file that is not text at all."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CsvRefused(f"This file is saved as UTF-16 text. {SAVE_AS}")
    if head.startswith(b"PK\x03\x04"):
        # The most likely mistake by far: an .xlsx is a zip archive.
        raise CsvRefused(
            "This is not a CSV text file: it is a zip archive, or an Excel workbook. " + SAVE_AS
        )
    controls = len(head) - len(head.translate(None, CONTROL_BYTES))
    if b"\x00" in head or controls > len(head) * MAX_CONTROL_SHARE:
        raise CsvRefused(
            "This is not a CSV text file: it holds binary data (an image, an archive or a "
            f"program?). {SAVE_AS}"
        )


def _decoded(stream: typing.BinaryIO) -> Iterator[str]:
    """The text of `stream`, a chunk at a time; invalid UTF-8 refuses the file."""
    # utf-8-sig drops a BOM (Excel's "CSV UTF-8" writes one) and reads plain UTF-8 as well.
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    newlines = 0
    first = True
    while True:
        data = stream.read(CHUNK_BYTES)
        if first:
            _refuse_binary(data)
            first = False
        try:
            text = decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            # exc.object is what this call decoded (after any bytes held from the last chunk),
            # so the line is the lines so far plus those before the bad byte.
            line = newlines + exc.object[: exc.start].count(b"\n") + 1
            raise CsvRefused(
                f"Line {line} is not UTF-8 text; the file was saved in another encoding. {SAVE_AS}"
            ) from None
        newlines += text.count("\n")
        if text:
            yield text
        if not data:
            return


class _Lines:
    """The lines of a text, each ending in "\\n" (CRLF and CR become LF), none too long.

    Also bounds a row that spans lines (a quoted cell with newlines, or a quote never closed):
    the reader calls `next_row` after each row, and the lines since then may not add up to more
    than MAX_LINE_CHARS.
    """

    def __init__(self, chunks: Iterable[str]) -> None:
        self._chunks = chunks
        self.count = 0  # lines handed out so far
        self._row_start = 1
        self._row_chars = 0

    def next_row(self, start: int, chars: int = 0) -> None:
        self._row_start = start
        self._row_chars = chars

    def __iter__(self) -> Iterator[str]:
        pending = ""
        for chunk in self._chunks:
            text = pending + chunk
            # A CR at the end may be the first half of a CRLF split across chunks.
            held = "\r" if text.endswith("\r") else ""
            text = text.removesuffix("\r").replace("\r\n", "\n").replace("\r", "\n")
            # Past a file's first chunk (or in pasted text): no spreadsheet writes a NUL, and
            # the database could not store one.
            nul = text.find("\x00")
            if nul >= 0:
                line = self.count + text.count("\n", 0, nul) + 1
                raise CsvRefused(
                    f"This is not a CSV text file: line {line} holds binary data. {SAVE_AS}"
                )
            *lines, pending = text.split("\n")
            for line_text in lines:
                yield self._handed_out(line_text + "\n")
            if len(pending) > MAX_LINE_CHARS:
                raise self._too_long(self.count + 1)
            pending += held
        if pending:
            yield self._handed_out(pending.removesuffix("\r") + "\n")

    def _handed_out(self, line: str) -> str:
        self.count += 1
        if len(line) > MAX_LINE_CHARS + 1:
            raise self._too_long(self.count)
        self._row_chars += len(line)
        if self._row_chars > MAX_LINE_CHARS:
            raise CsvRefused(
                f"The row that starts on line {self._row_start} runs to line {self.count} and "
                f"is longer than {MAX_LINE_CHARS:,} characters; is a quote left open?"
            )
        return line

    @staticmethod
    def _too_long(line: int) -> CsvRefused:
        return CsvRefused(
            f"Line {line} is longer than {MAX_LINE_CHARS:,} characters; is this the right file?"
        )


# -- lines to addresses -----------------------------------------------------------------------


def _has_content(line: str) -> bool:
    return bool(line.strip("".join(DELIMITERS) + ' "\n\r'))


def _delimiter(line: str) -> str:
    """The delimiter used most outside quotes in the first line; comma when there is none."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    # max() keeps the first of equals: comma, then semicolon, then tab.
    return max(DELIMITERS, key=counts.__getitem__)


def _column_name(cell: str) -> str:
    return cell.strip().lower().replace(" ", "").replace("_", "")


def _email_column(first_row: list[str]) -> tuple[int, bool]:
    """The email column's index, and whether the first row is a header."""
    for index, cell in enumerate(first_row):
        if _column_name(cell) in EMAIL_COLUMN_NAMES:
            return index, True
    for index, cell in enumerate(first_row):
        if "@" in cell:
            return index, False
    filled = [index for index, cell in enumerate(first_row) if cell.strip()]
    if len(filled) == 1:
        # One column and no header: its first row is an address, however malformed, and is
        # shown as such rather than silently taken for a header.
        return filled[0], False
    names = [cell.strip()[:40] or "(blank)" for cell in first_row]
    listed = ", ".join(names[:10]) + (f", and {len(names) - 10} more" if len(names) > 10 else "")
    raise CsvRefused(
        f"No column is named email; the columns are: {listed}. Name the column of addresses "
        '"email" and upload the file again.'
    )


def _address(line: int, row: list[str], column: int, seen: dict[str, int]) -> Address:
    if column >= len(row):
        return Address(line, "", "", "This row has no email cell.")
    cell = row[column]
    email = normalise(cell)
    problem = address_problem(email) if email else "The email cell is empty."
    if problem is None:
        first = seen.setdefault(email, line)
        if first != line:
            problem = f"Appears earlier in the file, on line {first}."
    return Address(line, cell[:RAW_SHOWN_CHARS], email, problem)


def _read(lines: _Lines, max_rows: int) -> Iterator[Address]:
    source = iter(lines)
    # Blank lines before the first row are skipped here, so the delimiter comes from a row.
    for first_line in source:
        if _has_content(first_line):
            break
    else:
        return
    skipped = lines.count - 1
    lines.next_row(lines.count, len(first_line))
    reader = csv.reader(
        itertools.chain([first_line], source),
        delimiter=_delimiter(first_line),
        # So that `a, "Doe, Jo"` reads as two cells, as people mean it.
        skipinitialspace=True,
    )
    column: int | None = None
    seen: dict[str, int] = {}
    rows = 0
    start = skipped + 1
    try:
        for row in reader:
            line, start = start, skipped + reader.line_num + 1
            lines.next_row(start)
            # Spreadsheets export trailing empty rows as ";;;".
            if not any(cell.strip() for cell in row):
                continue
            if column is None:
                column, is_header = _email_column(row)
                if is_header:
                    continue
            rows += 1
            if rows > max_rows:
                raise CsvRefused(
                    f"The file has more than {max_rows:,} rows; split it and upload each part."
                )
            yield _address(line, row, column, seen)
    except csv.Error as exc:
        raise CsvRefused(
            f"Line {skipped + reader.line_num} cannot be read as CSV ({exc}). {SAVE_AS}"
        ) from None
