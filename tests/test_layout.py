"""The layout's rules, checked where that is cheap: what importing the API binding or the
sandbox loads, and, read with ``ast`` from the source, where requests, sessions and audit writes
may appear, how long modules and functions grow, and which modules tests import."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEBAPP = ROOT / "webapp"
TESTS = ROOT / "tests"

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
REQUEST_GLOBALS = {"request", "g", "session", "current_app"}


def loaded_after_import(module: str) -> list[str]:
    """The modules loaded by importing ``module`` in a fresh interpreter."""
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def dashboard_modules(loaded: list[str]) -> set[str]:
    return {name for name in loaded if name == "webapp" or name.startswith("webapp.")}


def within(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_importing_the_api_binding_loads_no_flask_no_database_and_no_dashboard() -> None:
    loaded = loaded_after_import("webapp.iqsms")
    assert "flask" not in loaded
    assert "sqlalchemy" not in loaded
    assert "webapp.iqsms" in loaded
    assert {m for m in dashboard_modules(loaded) if not within(m, "webapp.iqsms")} == {"webapp"}


def test_importing_the_sandbox_loads_nothing_of_the_dashboard() -> None:
    loaded = loaded_after_import("webapp.sandbox")
    assert "webapp.sandbox" in loaded
    own = ("webapp.iqsms", "webapp.sandbox")
    assert {m for m in dashboard_modules(loaded) if not within(m, *own)} == {"webapp"}


# -- rules read from the source ------------------------------------------------------------------


def python_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def request_globals_used(tree: ast.Module) -> Iterator[str]:
    """Flask's request globals imported or reached through ``flask.``, and ``db.session``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "flask":
            yield from (f"{node.module}.{a.name}" for a in node.names if a.name in REQUEST_GLOBALS)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "flask" and node.attr in REQUEST_GLOBALS:
                yield f"flask.{node.attr}"
            elif node.value.id == "db" and node.attr == "session":
                yield "db.session"


def test_domain_modules_use_no_request_globals_and_no_db_session() -> None:
    problems = [
        f"{relative(path)}:{name}"
        for path in python_files(WEBAPP / "domain")
        for name in request_globals_used(parsed(path))
    ]
    assert not problems, "domain functions take a session; no request globals: " + str(problems)


def audit_writes(tree: ast.Module) -> Iterator[int]:
    """Lines that call ``record(...)`` or reach into ``audit.``."""
    for node in ast.walk(tree):
        called = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        if called and node.func.id == "record":
            yield node.lineno
        reached = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        if reached and node.value.id == "audit":
            yield node.lineno


def test_views_write_no_audit_events() -> None:
    problems = [
        f"{relative(path)}:{line}"
        for path in python_files(WEBAPP / "views")
        for line in audit_writes(parsed(path))
    ]
    assert not problems, "audit events are recorded by domain functions: " + str(problems)


def functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_no_module_and_no_function_grows_too_long() -> None:
    problems = []
    for path in python_files(WEBAPP):
        source = path.read_text()
        lines = len(source.splitlines())
        if lines > MAX_MODULE_LINES:
            problems.append(f"{relative(path)}: {lines} lines")
        for function in functions(ast.parse(source)):
            length = function.end_lineno - function.lineno + 1
            if length > MAX_FUNCTION_LINES:
                problems.append(f"{relative(path)}:{function.lineno} {function.name}: {length}")
    assert not problems, (
        f"modules of at most {MAX_MODULE_LINES} lines, functions of at most "
        f"{MAX_FUNCTION_LINES}:\n" + "\n".join(problems)
    )


def imported_modules(tree: ast.Module, package: str) -> Iterator[str]:
    """Every module ``tree`` imports, relative imports resolved against ``package``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def is_test_module_or_conftest(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return last == "conftest" or (last.startswith("test_") and within(module, "tests"))


@pytest.mark.parametrize("path", python_files(TESTS), ids=relative)
def test_no_test_module_imports_another_or_conftest(path: Path) -> None:
    package = ".".join(path.relative_to(ROOT).parent.parts)
    wrong = sorted(
        {m for m in imported_modules(parsed(path), package) if is_test_module_or_conftest(m)}
    )
    assert not wrong, f"{relative(path)} imports {wrong}: shared helpers go to tests/helpers.py"


def test_the_rules_see_what_they_forbid() -> None:
    """Each checker finds the thing it looks for, so a passing rule is not a blind one."""
    domain = ast.parse(
        "from flask import current_app, g\nimport flask\nflask.request\ndb.session.add(x)"
    )
    assert sorted(request_globals_used(domain)) == [
        "db.session",
        "flask.current_app",
        "flask.g",
        "flask.request",
    ]
    assert list(audit_writes(ast.parse("record(s, 1, 'x')\naudit.record(s, 1, 'y')"))) == [1, 2]
    tests = ast.parse("from tests.test_teams import x\nfrom . import conftest\nimport os")
    assert [m for m in imported_modules(tests, "tests") if is_test_module_or_conftest(m)] == [
        "tests.test_teams",
        "tests.conftest",
    ]
