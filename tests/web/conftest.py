"""Fixtures for the web tests: compiled translations, logins, a started graduate."""
from __future__ import annotations

import html as htmllib
import re
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


def text(resp) -> str:
    """The page's visible text: tags, styles and scripts removed, entities unescaped, whitespace collapsed."""
    html = resp.get_data(as_text=True)
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def english(client) -> None:
    """New messages are in translations/pending/*.po until merged: switch the session to the English UI."""
    client.get("/verify/-?lang=en")          # a page that renders for anybody


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


@pytest.fixture()
def graduate(db, make_graduate, start, login_graduate):
    """A graduate with a started clearance, logged in."""
    g = make_graduate()
    start(g)
    login_graduate(g)
    return g
