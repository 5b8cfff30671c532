"""axe-core's WCAG 2.1 A/AA rules on the pages people see first, in Chinese and English, at 390 px and
1280 px: the login pages, the graduate's sheet, diagram, history and notifications, the desk, and the
error pages. A violation fails the test with the rule, the element and axe's advice."""
from __future__ import annotations

import pytest

from app.workflow.services import Actor, apply
from tests.browser.axe import assert_accessible
from tests.browser.conftest import DESKTOP, PHONE

PASSWORD = "axe-pass-1234"


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "390"])
def test_pages_pass_axe(new_page, ui_login, db, make_graduate, start, operator, viewport, locale):
    from app.auth.services import set_graduate_password

    g = make_graduate(name="周小雨", party_member=True)
    start(g)
    apply([g.id], "party_letter", "reject", Actor(None, "学院老师"), reason="请携带党员证到学院办公楼 101 领取")
    set_graduate_password(db.session.merge(g), PASSWORD)
    operator("library", "library")
    lang = "en" if locale == "en" else "zh_CN"

    page = new_page(viewport=viewport, locale=locale)
    for url in ("/login", "/login?kind=staff", "/password/reset", "/no-such-page"):
        page.goto(f"{url}{'&' if '?' in url else '?'}lang={lang}")
        assert page.locator("html").get_attribute("lang").startswith("en" if locale == "en" else "zh")
        assert_accessible(page, url)

    ui_login(page, g.student_no, PASSWORD)
    for url in ("/me", "/me/history", "/notifications", "/me/appeals", "/announcements", "/desk/"):
        page.goto(url)
        assert_accessible(page, url)
    page.goto("/me/diagram")
    page.wait_for_selector("#lx-diagram[data-ready=true]")
    assert_accessible(page, "/me/diagram")

    staff = new_page(viewport=viewport, locale=locale)
    staff.goto(f"/login?kind=staff&lang={lang}")
    ui_login(staff, "library", "secret-pass", kind="staff")
    for url in ("/desk/", f"/desk/?q={g.student_no}", "/desk/excel", "/desk/stats", "/desk/reasons",
                f"/desk/record/{g.id}", "/desk/appeals", "/me"):
        staff.goto(url)
        staff.wait_for_load_state("networkidle")
        assert_accessible(staff, url)
