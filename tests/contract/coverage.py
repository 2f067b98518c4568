"""Which endpoints the contract tests checked, collected while they run and printed at the end.

Every contract test (client requests, sandbox answers, ...) calls `record(kind, method, path)`
with the spec's path template; `tests/contract/conftest.py` prints the list grouped by kind.
"""

from __future__ import annotations

from collections import defaultdict

_checked: defaultdict[str, set[tuple[str, str]]] = defaultdict(set)


def record(kind: str, method: str, path: str) -> None:
    _checked[kind].add((method.upper(), path))


def summary() -> list[str]:
    lines: list[str] = []
    for kind in sorted(_checked):
        endpoints = sorted(_checked[kind], key=lambda e: (e[1], e[0]))
        lines.append(f"{kind}: {len(endpoints)} endpoints")
        lines.extend(f"  {method:<6} {path}" for method, path in endpoints)
    return lines
