"""The layering rules of docs/architecture.md, read from the imports of every module in app/.

A wrong import fails here. The arrows the layout reshape (issue 10) has not removed yet are listed in
KNOWN below, by module and import; the list may only shrink: an entry that no longer occurs fails too,
so it is deleted in the change that removes the arrow.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"

DOMAINS = {"workflow", "graduates", "appeals"}
AUDIENCES = {"auth", "desk", "portal"}
KERNEL = {"app.core.enums", "app.core.time", "app.core.domain"}         # what a domain may take from app.core
EDGE_MODULES = {"cli.py"}                              # command-line edges inside a package
SPIFF_MODULES = {"app/workflow/engine.py", "app/workflow/validate.py"}

# (module, imported name) arrows still to be removed by the layout reshape (issue 10)
KNOWN = {
    ("app/auth/routes.py", "app.portal"),
    ("app/desk/appeal_routes.py", "app.auth"),
    ("app/desk/appeal_routes.py", "app.portal"),
    ("app/desk/batch_routes.py", "app.auth"),
    ("app/desk/queries.py", "app.portal"),
    ("app/desk/routes.py", "app.auth"),
    ("app/desk/routes.py", "app.portal"),
    ("app/desk/special.py", "app.auth"),
    ("app/desk/special.py", "app.portal"),
    ("app/desk/special_routes.py", "app.auth"),
    ("app/desk/stats_routes.py", "app.auth"),
    ("app/graduates/importer.py", "flask_babel"),
    ("app/graduates/models.py", "app.workflow"),
    ("app/graduates/services.py", "app.workflow"),
    ("app/graduates/services.py", "flask_babel"),
    ("app/portal/appeal_routes.py", "app.auth"),
    ("app/portal/home_routes.py", "app.auth"),
    ("app/portal/routes.py", "app.auth"),
    ("app/portal/slip_routes.py", "app.auth"),
    ("app/portal/surveys.py", "app.auth"),
    ("app/workflow/services.py", "app.core.i18n"),
    ("app/workflow/services.py", "flask_babel"),
    ("app/workflow/validate.py", "flask_babel"),
}


def imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            if node.module == "flask":
                out |= {f"flask.{a.name}" for a in node.names}
    return out


def package_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if parts[0] == "app" and len(parts) > 1 else None


def violations() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in sorted(APP.rglob("*.py")):
        rel = path.relative_to(APP.parent).as_posix()
        parts = path.relative_to(APP).parts
        pkg = parts[0] if len(parts) > 1 else None
        for name in imports(path):
            if name.startswith("SpiffWorkflow") and rel not in SPIFF_MODULES:
                found.add((rel, "SpiffWorkflow"))
            if pkg in DOMAINS and path.name not in EDGE_MODULES:
                target = package_of(name)
                if name.startswith("flask_babel") or name in ("flask.request", "flask.Blueprint",
                                                              "flask.session", "flask.has_request_context"):
                    found.add((rel, name.split(".")[0] if name.startswith("flask_babel") else name))
                elif target in AUDIENCES:
                    found.add((rel, f"app.{target}"))
                elif target == "core" and name not in KERNEL:
                    found.add((rel, name))
                elif target in DOMAINS and target != pkg and (pkg, target) == ("graduates", "workflow"):
                    found.add((rel, "app.workflow"))     # workflow may read graduates, not the reverse
            if pkg in AUDIENCES:
                target = package_of(name)
                if target in AUDIENCES and target != pkg:
                    found.add((rel, f"app.{target}"))
    return found


def test_no_new_wrong_import():
    new = violations() - KNOWN
    assert not new, "imports that break docs/architecture.md: " + ", ".join(f"{m} -> {n}" for m, n in sorted(new))


def test_the_list_of_known_arrows_is_true():
    gone = KNOWN - violations()
    assert not gone, "arrows removed (delete them from KNOWN): " + ", ".join(f"{m} -> {n}" for m, n in sorted(gone))


def test_spiffworkflow_only_inside_the_workflow_package():
    assert not {v for v in violations() if v[1] == "SpiffWorkflow"}


def test_the_check_catches_a_forbidden_import(tmp_path, monkeypatch):
    """The rules are live: a domain module importing an audience is reported."""
    fake = tmp_path / "app"
    (fake / "workflow").mkdir(parents=True)
    (fake / "workflow" / "bad.py").write_text("from app.desk.routes import bp\nfrom flask import request\n")
    (fake / "desk").mkdir()
    (fake / "desk" / "bad.py").write_text("import app.portal.queries\n")
    monkeypatch.setattr(sys.modules[__name__], "APP", fake)
    assert violations() == {("app/workflow/bad.py", "app.desk"), ("app/workflow/bad.py", "flask.request"),
                            ("app/desk/bad.py", "app.portal")}
