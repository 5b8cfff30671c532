"""A graduate's first visit at phone and desktop width: initial password, forced change, survey,
announcements, and the notification badge after an operator confirms an item."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.graduates.idcard import make_id_number

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}
SURVEY = {
    "title": "2026届毕业生就业与人才培养质量调研",
    "questions": [
        {"key": "dest", "text": "您的毕业去向", "kind": "choice", "options": ["就业", "升学", "出国出境", "其他"],
         "required": True},
        {"key": "advice", "text": "对学校的建议", "kind": "text", "required": False},
    ],
}


@pytest.fixture()
def setup(db, cohort, make_graduate, start, operator):
    from app.portal.announcements import publish_announcement
    from app.portal.surveys import load_survey
    from app.portal.window import school_today

    cohort.opens_on, cohort.closes_on = school_today() - timedelta(days=1), school_today() + timedelta(days=12)
    db.session.commit()
    load_survey(SURVEY, cohort)
    publish_announcement("关于做好2026届毕业生离校工作的通知", "请于截止日期前完成各项手续。", cohort=cohort, pinned=True)
    publish_announcement("图书馆延长开放时间", "6月1日至6月10日 8:00–22:00")
    g = make_graduate(name="林晓", id_card=make_id_number(4242))
    start(g)
    return g


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_first_visit_password_survey_announcements_badge(new_page, shot, db, setup, operator, size):
    from app.workflow.models import ClearanceItem
    from app.workflow.services import Actor, apply

    g = setup
    page = new_page(viewport=VIEWPORTS[size], locale="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # forgot-password page exists and is linked from the login page
    page.goto("/login")
    page.get_by_role("link", name="忘记密码？").click()
    assert page.url.endswith("/password/reset")
    shot(page, f"portal-account-reset-{size}")

    # first login with the initial password (last 6 of the ID card) → forced change
    page.goto("/login")
    page.fill("[name=username]", g.student_no)
    page.fill("[name=password]", g.id_card[-6:].lower())
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/password")
    page.goto("/me")                                   # cannot be skipped
    assert page.url.endswith("/password")
    assert page.locator(".lx-bell").count() == 0
    shot(page, f"portal-account-password-{size}")
    page.fill("[name=current]", g.id_card[-6:])
    page.fill("[name=new]", "my-new-pass-1")
    page.fill("[name=confirm]", "my-new-pass-1")
    page.locator("main form button[type=submit]").click()

    # the survey comes before the sheet
    page.wait_for_url("**/survey")
    assert "您的毕业去向" in page.inner_text("main")
    page.locator("main form button[type=submit]").click()           # required one missing
    page.wait_for_load_state()
    assert page.locator("#q-dest-err").inner_text() == "请回答此问题。"
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]
    page.get_by_label("升学").check()
    page.fill("[name=advice]", "希望多办校园招聘会")
    shot(page, f"portal-account-survey-{size}")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/me")
    main = page.inner_text("main")
    assert "感谢您填写问卷" in main
    # announcements and the window on the sheet
    ann = page.locator(".lx-announcements")
    assert ann.is_visible() and "关于做好2026届毕业生离校工作的通知" in ann.inner_text()
    assert "网上离校手续办理截止日期" in page.inner_text("#lx-window")
    assert page.locator("#lx-badge").count() == 0
    shot(page, f"portal-account-sheet-{size}")

    # an operator confirms an item → the badge shows 1
    item = db.session.scalar(sa.select(ClearanceItem).where(ClearanceItem.graduate_id == g.id,
                                                            ClearanceItem.task_key == "student_id_card"))
    user = operator(f"op-{size}", item.checkpoint.key)
    apply([g.id], "student_id_card", "confirm", Actor.for_user(user))
    page.reload()
    badge = page.locator("#lx-badge")
    assert badge.inner_text() == "1" and badge.is_visible()          # in the header, also on a phone
    shot(page, f"portal-account-badge-{size}")
    page.locator(".lx-bell").click()
    page.wait_for_url("**/notifications")
    notice = page.locator(".lx-notice").first
    assert "上交学生证" in notice.inner_text() and "已通过" in notice.inner_text() and "新" in notice.inner_text()
    shot(page, f"portal-account-notifications-{size}")
    page.goto("/announcements")
    assert "图书馆延长开放时间" in page.inner_text("main")
    assert page.locator("#lx-badge").count() == 0                   # seen
    shot(page, f"portal-account-announcements-{size}")
    assert errors == []


def test_before_the_window_opens_the_graduate_sees_when(new_page, shot, db, cohort, make_graduate, start):
    from app.auth.services import set_graduate_password
    from app.portal.announcements import publish_announcement
    from app.portal.window import school_today

    opens = school_today() + timedelta(days=5)
    cohort.opens_on, cohort.closes_on = opens, opens + timedelta(days=12)
    db.session.commit()
    publish_announcement("2026届毕业生离校系统开放通知", "系统将于开放日 8:00 起开放，请勿提前到各部门排队。", cohort=cohort)
    g = make_graduate(name="陈一")
    start(g)
    set_graduate_password(db.session.merge(g), "walk-pass-123")
    page = new_page(viewport=VIEWPORTS["phone"], locale="zh-CN")
    page.goto("/login")
    page.fill("[name=username]", g.student_no)
    page.fill("[name=password]", "walk-pass-123")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/waiting")
    main = page.inner_text("main")
    assert f"{opens.year}年{opens.month}月{opens.day}日" in main and "请勿提前到各部门排队" in main
    assert page.locator("main form").count() == 0                    # nothing to act on
    page.goto("/me/history")
    assert page.url.endswith("/waiting")
    shot(page, "portal-account-waiting-phone")
