"""The README's two commands find a Python 3.12+ by themselves, and CI runs the test command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

TOOLS = ("ls", "sort", "dirname", "cat")


def isolated_path(tmp_path: Path) -> Path:
    """A PATH holding only the tools bootstrap.sh uses and a python3 that is too old."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    too_old = bin_dir / "python3"
    too_old.write_text("#!/bin/sh\necho 'Python 3.11.7'\nexit 1\n")
    too_old.chmod(0o755)
    return bin_dir


def find_python(path: Path, pyenv_root: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(path), "PYENV_ROOT": str(pyenv_root), "HOME": str(pyenv_root)}
    return subprocess.run(
        ["/bin/bash", "-c", "source scripts/bootstrap.sh && find_python"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_scripts_find_a_pyenv_python_312_when_python3_is_older(tmp_path: Path) -> None:
    path = isolated_path(tmp_path)
    pyenv_root = tmp_path / "pyenv"
    for version in ("3.11.7", "3.12.1"):
        (pyenv_root / "versions" / version / "bin").mkdir(parents=True)
    (pyenv_root / "versions" / "3.11.7" / "bin" / "python3").symlink_to("/bin/false")
    modern = pyenv_root / "versions" / "3.12.1" / "bin" / "python3"
    modern.symlink_to(sys.executable)
    result = find_python(path, pyenv_root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(modern)


def test_scripts_refuse_clearly_when_no_python_312_exists(tmp_path: Path) -> None:
    path = isolated_path(tmp_path)
    result = find_python(path, tmp_path / "no-pyenv")
    assert result.returncode != 0
    assert result.stdout.strip() == ""


def readme_quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", readme, re.S | re.M)
    assert section is not None, "README has no '## Quick start' section"
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", section.group(1), re.S)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def test_readme_quick_start_has_exactly_the_two_commands() -> None:
    assert readme_quick_start_commands() == ["scripts/demo", "scripts/test"]
    for command in readme_quick_start_commands():
        assert os.access(ROOT / command, os.X_OK)


def test_ci_runs_the_readme_test_command_and_nothing_else() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    commands = [line for line in lines if not line.startswith(("set ", "cd "))]
    assert commands == ["exec scripts/test"]
