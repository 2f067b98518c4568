"""Storing strings that come from outside (Calendly, people's input) so a write never fails."""

from __future__ import annotations

# PostgreSQL refuses a B-tree index entry larger than about 2.7 kB, and the mirror indexes
# names and emails (together, in one index, for the members list's order). Cutting each at
# this many UTF-8 bytes keeps any such entry well inside the limit, whatever the alphabet;
# a longer value is far beyond any real name, email or URL.
MAX_INDEXED_BYTES = 1000


def storable(value: str | None, *, max_bytes: int = MAX_INDEXED_BYTES) -> str:
    """`value` as the database can always store it: no NUL characters (PostgreSQL text cannot
    hold them), lone surrogates (which JSON can carry but UTF-8 cannot) replaced, and cut to
    `max_bytes` of UTF-8 on a character boundary. None becomes ""."""
    if not value:
        return ""
    encoded = value.replace("\x00", "").encode(errors="replace")
    return encoded[:max_bytes].decode(errors="ignore")
