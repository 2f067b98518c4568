"""Calendly's activity-log search operators, over the entries the portal keeps.

Calendly's `search_term` takes `a | b` (either), `a + b` or `a b` (both), `"exact words"`,
`-term` (without), `( … )` to group, and `*` as a wildcard at either end (`*@other.com`). The
portal keeps entries past Calendly's 90 days, so the same search runs here, over the action,
namespace, actor's name and email, and details: every term is a case-insensitive "contains",
so a `*` at either end adds nothing and is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from django.db.models import Q

# Quoted phrase | a parenthesis | an operator | a word (up to a space, parenthesis or operator).
TOKEN = re.compile(r'\s*(?:"(?P<phrase>[^"]*)"|(?P<op>[()|+])|(?P<word>[^\s()|+"]+))')


class BadSearch(ValueError):
    """The search is not well formed; the message says where."""


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    position = 0
    text = text.rstrip()
    while position < len(text):
        found = TOKEN.match(text, position)
        if found is None or found.end() == position:
            raise BadSearch('a quotation mark is not closed: put a " after the exact words')
        position = found.end()
        if found.group("phrase") is not None:
            yield "term", found.group("phrase")
        elif found.group("op"):
            yield "op", found.group("op")
        else:
            word = found.group("word")
            if word.startswith("-") and len(word) > 1:
                yield "op", "-"
                word = word[1:]
            yield "term", word


def parse(text: str, matches: Callable[[str], Q]) -> Q:
    """The filter for a search, each term made a Q by `matches`; raises BadSearch."""
    tokens = list(_tokens(text))
    at = 0

    def peek() -> tuple[str, str] | None:
        return tokens[at] if at < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal at
        at += 1
        return tokens[at - 1]

    def either() -> Q:
        found = both()
        while peek() == ("op", "|"):
            take()
            found |= both()
        return found

    def both() -> Q:
        found = one()
        while (following := peek()) is not None and following not in (("op", "|"), ("op", ")")):
            if following == ("op", "+"):
                take()
            found &= one()
        return found

    def one() -> Q:
        token = peek()
        if token is None:
            raise BadSearch("the search ends where a word was expected")
        take()
        if token == ("op", "-"):
            return ~one()
        if token == ("op", "("):
            inside = either()
            if peek() != ("op", ")"):
                raise BadSearch("a parenthesis is not closed")
            take()
            return inside
        if token[0] == "op":
            raise BadSearch(f"“{token[1]}” needs a word before and after it")
        term = token[1].strip("*")
        if not term:
            raise BadSearch("a term is empty")
        return matches(term)

    if not tokens:
        return Q()
    found = either()
    if peek() is not None:
        raise BadSearch("a parenthesis closes that was not opened")
    return found
