"""Contract-test plumbing shared by every test module in this folder."""

from __future__ import annotations

import pytest

from tests.contract import coverage


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = coverage.summary()
    if not lines:
        return
    terminalreporter.section("OpenAPI contract coverage")
    for line in lines:
        terminalreporter.write_line(line)
