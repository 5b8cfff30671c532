"""Fixtures for the web tests: compiled translations, logins, a started graduate."""
from __future__ import annotations

from pathlib import Path

import contextvars

import pytest
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def compiled_translations():
    """The .mo files are build products: make sure they exist and are fresh."""
    from app.core.i18n import compile_translations

    compile_translations(ROOT / "translations")


class FreshContextClient(FlaskClient):
    """Runs every request outside the test's app context, as in production.

    The ``db`` fixture keeps an app context pushed for the whole test; Flask would reuse it for
    requests, so ``g`` (Flask-Login's user, Flask-Babel's locale) and the database session
    would leak from one request to the next. An empty contextvars context avoids that.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture()
def client(app, db):
    return FreshContextClient(app, app.response_class, use_cookies=True)


def login(client, username: str, password: str, kind: str = "graduate", follow: bool = False):
    return client.post("/login", data={"kind": kind, "username": username, "password": password},
                       follow_redirects=follow)


@pytest.fixture()
def login_graduate(client, db):
    """Log a graduate in with a password of their own (skips the forced change)."""
    from app.auth.services import set_graduate_password

    def go(graduate, password: str = "my-own-pass-1"):
        set_graduate_password(db.session.merge(graduate), password)
        resp = login(client, graduate.student_no, password)
        assert resp.status_code == 302, resp.get_data(as_text=True)
        return resp

    return go


@pytest.fixture()
def login_staff(client, operator):
    def go(username: str, *checkpoints: str, role: str = "operator"):
        operator(username, *checkpoints, role=role)
        resp = login(client, username, "secret-pass", kind="staff")
        assert resp.status_code == 302, resp.get_data(as_text=True)
        return resp

    return go
