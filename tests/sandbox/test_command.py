"""`manage.py sandbox` runs in the foreground and answers curl-style requests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def test_management_command_starts_and_answers_users_me() -> None:
    # Port 0 lets the OS pick a free port (no race with other processes); the URL is printed.
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "sandbox",
            "--port",
            "0",
            "--members",
            "20",
            "--owner-token",
            "demo-owner-token",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (lines and lines[-1].startswith("Try:")):
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
        output = "".join(lines)
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", output)
        organization = re.search(r"Organization: (\S+)", output)
        assert url is not None, output
        assert organization is not None, output
        assert "Owner personal access token: demo-owner-token" in output

        me = httpx.get(
            url.group(1).replace("127.0.0.1", "localhost") + "/users/me",
            headers={"Authorization": "Bearer demo-owner-token"},
        )

        assert me.status_code == 200
        assert me.json()["resource"]["current_organization"] == organization.group(1).replace(
            "127.0.0.1", "localhost"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        _out, errors = process.communicate(timeout=10)
    assert process.returncode == 0, errors
