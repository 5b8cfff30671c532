"""The live server and headless Chromium work: a staff member logs in and lands on the desk."""
from __future__ import annotations


def test_operator_logs_in_and_sees_the_desk(page, operator, ui_login, shot):
    operator("library", "library")
    ui_login(page, "library", "secret-pass", kind="staff")
    assert page.url.endswith("/desk/")
    assert "图书馆" in page.locator("h1").first.inner_text()
    shot(page, "smoke-desk")
