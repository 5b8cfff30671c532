"""Headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) against a live server.

The live server is a second app on the same database as the ``app`` fixture, with CSRF
protection ON, served by werkzeug in a thread on a free port of 127.0.0.1. Tests create data
through the ``db`` fixture (which cleans the database first) and then drive pages.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("LIXIAO_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
SHOTS = Path(os.environ.get("LIXIAO_SCREENSHOTS", "/tmp/lixiao-shots"))

DESKTOP = {"width": 1280, "height": 900}
TABLET = {"width": 820, "height": 1180}
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def live_app(app, db_url):
    from app import create_app

    return create_app({
        "TESTING": True, "SECRET_KEY": "browser-secret", "SQLALCHEMY_DATABASE_URI": db_url,
        "WTF_CSRF_ENABLED": True, "RATELIMIT_ENABLED": False,
    })


@pytest.fixture(scope="session")
def live_server(live_app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
    with live_app.app_context():
        from app.extensions import db

        db.engine.dispose()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (./dev.sh test installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def new_page(browser, live_server, db):
    """new_page(viewport=DESKTOP, locale="zh-CN") -> a Playwright page whose base URL is the live server."""
    contexts = []

    def make(viewport=None, locale="zh-CN"):
        ctx = browser.new_context(viewport=viewport or DESKTOP, locale=locale, base_url=live_server)
        ctx.set_default_timeout(15000)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture()
def page(new_page):
    return new_page()


@pytest.fixture()
def shot():
    """shot(page, name): save a full-page screenshot for a human to look at
    (LIXIAO_SCREENSHOTS, default /tmp/lixiao-shots); returns the path."""
    def take(page, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture()
def ui_login():
    """ui_login(page, username, password, kind="graduate"|"staff"): log in through the login page."""
    def go(page, username: str, password: str, kind: str = "graduate") -> None:
        page.goto(f"/login?kind={kind}")
        page.fill("[name=username]", username)
        page.fill("[name=password]", password)
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_load_state()

    return go
