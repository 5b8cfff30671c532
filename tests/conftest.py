"""Fixtures: a real database (SQLite file, or PostgreSQL via TEST_DATABASE_URL), real engine."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db as _db

ROOT = Path(__file__).resolve().parent.parent
BPMN_DIR = ROOT / "bpmn"
DEFAULT_BPMN = {
    "undergraduate": BPMN_DIR / "undergraduate.bpmn",
    "postgraduate_dual": BPMN_DIR / "postgraduate_dual.bpmn",
    "postgraduate_single": BPMN_DIR / "postgraduate_single.bpmn",
}


def pytest_addoption(parser):
    group = parser.getgroup("lixiao")
    group.addoption("--model-sequences", type=int, default=int(os.environ.get("LIXIAO_MODEL_SEQUENCES", "20")),
                    help="random sequences per graduate type in tests/test_engine_model.py (default 20)")
    group.addoption("--model-steps", type=int, default=int(os.environ.get("LIXIAO_MODEL_STEPS", "80")),
                    help="steps per random sequence in tests/test_engine_model.py (default 80)")


# ID numbers with valid GB 11643 check digits (generated, not real people)
from app.graduates.idcard import make_id_number  # noqa: E402


def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"


@pytest.fixture(scope="session")
def db_url(tmp_path_factory) -> str:
    return database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def app(db_url):
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": db_url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": None,
    })
    with app.app_context():
        if _db.engine.dialect.name == "postgresql":
            with _db.engine.begin() as conn:
                conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(sa.text("CREATE SCHEMA public"))
        else:
            _db.drop_all()
        _db.create_all()
    yield app
    with app.app_context():
        _db.engine.dispose()   # close pooled connections (ResourceWarning otherwise)


def _clean(engine) -> None:
    tables = [t.name for t in reversed(_db.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(sa.text(f"DELETE FROM {name}"))


@pytest.fixture()
def db(app):
    """A clean database with the checkpoint catalogue, inside an app context."""
    from app.workflow import services

    with app.app_context():
        _clean(_db.engine)
        services._VERSION_CACHE.clear()
        services.ensure_default_checkpoints()
        yield _db
        _db.session.remove()


@pytest.fixture()
def client(app, db):
    return app.test_client()


@pytest.fixture()
def runner(app, db):
    return app.test_cli_runner()


@pytest.fixture()
def cohort(db):
    from app.graduates.models import Cohort

    c = Cohort(year=2026, name="2026届")
    db.session.add(c)
    db.session.commit()
    return c


@pytest.fixture()
def published(db, cohort):
    """The three default processes published for the 2026 cohort."""
    from app.workflow.services import publish

    return {gtype: publish(path.read_bytes(), cohort, gtype, "test", filename=path.name)
            for gtype, path in DEFAULT_BPMN.items()}


_SEQ = {"n": 0}


@pytest.fixture()
def make_graduate(db, cohort):
    from app.graduates.models import Graduate

    def make(**kw):
        _SEQ["n"] += 1
        n = _SEQ["n"]
        values = dict(
            cohort_id=cohort.id, student_no=f"0{2020000000 + n}", name=f"学生{n}",
            id_card=make_id_number(n), gtype="undergraduate", college="计算机学院", major="软件工程",
            class_name="软件2201", dorm_building="12栋", dorm_room="305", phone="13800000000",
            advisor="王老师",
        )
        values.update(kw)
        g = Graduate(**values)
        db.session.add(g)
        db.session.commit()
        return g

    return make


@pytest.fixture()
def start(db, published):
    """Start clearances for the given graduates; returns them refreshed."""
    from app.workflow.services import Actor, latest_versions, start_graduates

    def go(*graduates):
        versions = latest_versions(graduates[0].cohort_id)
        report = start_graduates(list(graduates), versions, Actor.system("test"))
        db.session.commit()
        assert not report.failed, report.failed
        return report

    return go


@pytest.fixture()
def operator(db):
    from app.auth.services import create_user

    def make(username="op", *checkpoints, role="operator", password="secret-pass"):
        return create_user(username, role, password, list(checkpoints))

    return make


def run_processes(tmp_path: Path, source: str, argvs: list[list[str]], timeout: float = 300) -> list[str]:
    """Run ``source`` (a Python script) in one OS process per argument list, all at once, from the
    project root; every process must exit 0. Returns each one's last line of output, in order."""
    import subprocess
    import sys

    script = tmp_path / f"worker_{abs(hash(source))}.py"
    script.write_text(source, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, str(script), *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for argv in argvs]
    lines = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err[-3000:]
        lines.append(out.strip().splitlines()[-1])
    return lines
