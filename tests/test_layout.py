"""How the code is laid out: who may import whom, and who may read Calendly's words.

Read from the source with `ast`, so a rule breaks the build the moment it is broken, wherever.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PORTAL = ROOT / "portal"
# The Calendly emulator is a program of its own beside the portal, with its own layout.
SANDBOX = PORTAL / "sandbox"


def modules(under: Path) -> Iterator[Path]:
    for path in sorted(under.rglob("*.py")):
        if SANDBOX not in path.parents:
            yield path


def imported(source: str, package: str) -> Iterator[tuple[int, str]]:
    """The line of every import in a module of `package`, with the absolute name of each
    module it may import (`from portal import directory` imports portal.directory), at the
    top or anywhere else."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}".rstrip(".")
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def imports_module(source: str, package: str, module: str) -> list[int]:
    return sorted(
        {
            line
            for line, name in imported(source, package)
            if name == module or name.startswith(f"{module}.")
        }
    )


def imports_of(path: Path, module: str) -> list[int]:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = (
        name.removesuffix(".__init__") if path.name == "__init__.py" else name.rpartition(".")[0]
    )
    return imports_module(path.read_text(), package, module)


# -- apps and cycles -----------------------------------------------------------------------------


def test_the_accounts_app_imports_nothing_from_the_directory() -> None:
    # The directory builds on accounts (members become portal users); connecting, which needs
    # both, lives above them (portal/connect_views.py, the directory's `connect` command).
    offenders = {
        str(path.relative_to(ROOT)): lines
        for path in modules(PORTAL / "accounts")
        if (lines := imports_of(path, "portal.directory"))
    }
    assert offenders == {}


def test_the_job_engine_imports_no_feature_app() -> None:
    # Feature apps describe their kinds of job to the engine (portal.jobs.kinds.register);
    # the engine knows none of them, so every later kind fits without touching it.
    offenders = {
        str(path.relative_to(ROOT)): lines
        for path in modules(PORTAL / "jobs")
        for app in ("portal.directory", "portal.links", "portal.webhooks")
        if (lines := imports_of(path, app))
    }
    assert offenders == {}


def test_the_sync_does_not_import_its_tasks() -> None:
    # tasks.py imports sync.py and hands syncs to workers; the reverse made a cycle.
    assert imports_of(PORTAL / "directory" / "sync.py", "portal.directory.tasks") == []


@pytest.mark.parametrize(
    "source",
    [
        "from portal.directory.sync import request_sync",
        "import portal.directory.tasks",
        "from portal import directory",
        "from ..directory import models",
        "def connect() -> None:\n    from portal.directory import tasks",
    ],
)
def test_the_import_check_sees_every_way_of_importing(source: str) -> None:
    assert imports_module(source, "portal.accounts", "portal.directory") != []


def test_the_import_check_tells_a_prefix_from_a_package() -> None:
    assert (
        imports_module("import portal.directory_old", "portal.accounts", "portal.directory") == []
    )


# Imports inside a function are how import cycles get hidden. These are the exceptions, each with
# the reason it cannot be at the top of its module.
IMPORTS_IN_FUNCTIONS = {
    ("portal/audit/__init__.py", "record"): (
        "imported while Django loads its apps (its docstring says so): models are not ready yet"
    ),
    ("portal/audit/__init__.py", "describe"): "the same: auth's models are not ready yet",
    ("portal/celery.py", "start"): (
        "the Celery app is imported by portal/__init__.py before Django is set up; the "
        "worker's heartbeat bootstep runs after, when settings and models can be used"
    ),
    ("portal/celery.py", "stop"): "the same bootstep",
    ("portal/directory/apps.py", "ready"): (
        "Django's place for an app to register with another once models are loaded: the "
        "directory tells the job engine about bulk invitations, and the engine imports no "
        "feature app"
    ),
    ("portal/links/apps.py", "ready"): "the same, for bulk single-use links",
    ("portal/settings.py", "_fernet_key"): (
        "settings load before everything else; cryptography is only needed the one time a "
        "demo key is generated"
    ),
}


def imports_in_functions(path: Path) -> Iterator[tuple[str, int]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    yield node.name, inner.lineno


def test_no_module_imports_inside_a_function_but_the_documented_exceptions() -> None:
    found = {
        (str(path.relative_to(ROOT)), function): line
        for path in modules(PORTAL)
        for function, line in imports_in_functions(path)
    }
    assert {key: line for key, line in found.items() if key not in IMPORTS_IN_FUNCTIONS} == {}
    # An exception that is gone should leave the list too.
    assert set(IMPORTS_IN_FUNCTIONS) <= set(found)


# -- Calendly's words ----------------------------------------------------------------------------

# Where Calendly's text arrives: error titles and messages, OAuth error descriptions.
CALENDLYS_WORDS = {"message", "title", "description", "error_description"}
# What reading text to decide something looks like.
SEARCHING = {
    "lower",
    "upper",
    "casefold",
    "startswith",
    "endswith",
    "find",
    "rfind",
    "index",
    "rindex",
    "count",
    "split",
    "rsplit",
    "partition",
    "rpartition",
}
REGEX = {"search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split"}


def mentions_calendlys_words(node: ast.AST) -> bool:
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return any(
        (isinstance(n, ast.Attribute) and n.attr in CALENDLYS_WORDS and id(n) not in called)
        or (isinstance(n, ast.Constant) and n.value == "error_description")
        for n in ast.walk(node)
    )


def reads_calendlys_words(source: str) -> list[int]:
    """Lines that lower-case, search or match an error's message, title or description."""
    lines = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(
            isinstance(op, ast.In | ast.NotIn) for op in node.ops
        ):
            if any(mentions_calendlys_words(side) for side in [node.left, *node.comparators]):
                lines.add(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method, owner = node.func.attr, node.func.value
            searched = method in SEARCHING and mentions_calendlys_words(owner)
            matched = (
                method in REGEX
                and isinstance(owner, ast.Name)
                and owner.id == "re"
                and any(mentions_calendlys_words(arg) for arg in node.args)
            )
            if searched or matched:
                lines.add(node.lineno)
    return sorted(lines)


def test_nothing_but_the_error_module_reads_calendlys_words() -> None:
    # Callers branch on the error's class; only portal/calendly/errors.py tells Calendly's
    # answers apart by their text, and explains them.
    offenders = {
        str(path.relative_to(ROOT)): lines
        for path in modules(PORTAL)
        if path != PORTAL / "calendly" / "errors.py"
        and (lines := reads_calendlys_words(path.read_text()))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    "source",
    [
        # What directory/actions.py once did to tell SCIM, seats and accepted invitations apart.
        'text = f"{error.title} {error.message}".lower()\nif "scim" in text: pass',
        'if "accepted" in f"{error.title} {error.message}".lower(): pass',
        'if "seats" in error.message: pass',
        'if error.message.startswith("Please upgrade"): pass',
        'if re.search("allotted", exc.message): pass',
        'if "used" in body.get("error_description", ""): pass',
        "if exc.description.lower() == 'expired': pass",
    ],
)
def test_the_check_catches_branching_on_calendlys_words(source: str) -> None:
    assert reads_calendlys_words(source) == [1]


def test_the_check_lets_messages_be_shown() -> None:
    assert reads_calendlys_words("messages.error(request, refused.message)") == []
    assert reads_calendlys_words('print(f"{result.email}: {result.message}")') == []
    assert reads_calendlys_words("name = person.name.title().lower()") == []
