"""The graduate's header on a 1280 px desktop: every link, logout and appeals in one row, no menu button."""
from __future__ import annotations

from tests.browser.conftest import DESKTOP


def test_header_does_not_fold_at_1280(new_page, db, make_graduate, start, ui_login, shot):
    from app.auth.services import set_graduate_password

    g = make_graduate(name="欧阳明月")
    start(g)
    set_graduate_password(db.session.merge(g), "head-pass-123")
    for locale in ("zh-CN", "en"):
        page = new_page(viewport=DESKTOP, locale=locale)
        ui_login(page, g.student_no, "head-pass-123")
        page.goto("/me?lang=" + ("en" if locale == "en" else "zh_CN"))
        nav = page.locator("nav.navbar")
        assert not nav.locator(".navbar-toggler").is_visible()
        assert nav.locator("form[action='/logout'] button").is_visible()
        assert nav.locator("a[href='/me/appeals']").is_visible()
        shot(page, f"portal-header-1280-{locale}")
        assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]   # no sideways scroll
        assert nav.bounding_box()["height"] < 80                      # one row, nothing wrapped
