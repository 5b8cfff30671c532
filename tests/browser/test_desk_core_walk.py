"""Seed 001 §3.6 at the counter, keyboard only: a utilities operator scans (types) a student number and
presses Enter, marks the electricity bill as not passed with a template reason, confirms it once paid,
then re-opens it; at desktop and tablet widths, with CSRF on."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.workflow.models import ClearanceItem, Event
from tests.browser.conftest import DESKTOP, PHONE, TABLET


def focused(page) -> str:
    return page.evaluate("document.activeElement && (document.activeElement.id || document.activeElement.tagName)")


def wait_focus(page, element_id: str) -> None:
    page.wait_for_function("(id) => document.activeElement && document.activeElement.id === id", arg=element_id)


def submit_with(page, key: str = "Enter") -> None:
    """Press ``key`` on the focused control and wait for the page it leads to."""
    with page.expect_navigation():
        page.keyboard.press(key)


def tab_to(page, selector: str, *, limit: int = 25, back: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the element matching ``selector`` has the focus."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement === document.querySelector(s)", selector):
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"could not reach {selector} with the keyboard; focus is on {focused(page)}")


def item_status(db, g) -> str:
    db.session.expire_all()
    return db.session.scalar(sa.select(ClearanceItem.status).where(
        ClearanceItem.graduate_id == g.id, ClearanceItem.task_key == "electricity"))


@pytest.mark.parametrize("viewport,label", [(DESKTOP, "desktop"), (TABLET, "tablet"), (PHONE, "phone")])
def test_utilities_operator_walk_by_keyboard(new_page, db, make_graduate, start, operator, ui_login, shot,
                                             viewport, label):
    g = make_graduate(name="赵寝室", dorm_building="7栋", dorm_room="512", phone="13700000007")
    other = make_graduate(name="钱同学")
    start(g, other)
    operator("utilities", "utilities")
    page = new_page(viewport=viewport)
    ui_login(page, "utilities", "secret-pass", kind="staff")
    assert page.url.endswith("/desk/")
    wait_focus(page, "desk-q")                                    # ready for the card reader

    # 1. type the number + Enter (what a card reader does)
    page.keyboard.type(g.student_no)
    submit_with(page)
    assert page.locator("#grad-title").inner_text() == "赵寝室"
    assert "7栋-512" in page.locator("main").inner_text()
    wait_focus(page, "desk-q")
    shot(page, f"desk-core-{label}-1-found")

    # 2. not passed, with the checkpoint's template reason: open the panel, pick the template, fill its blank
    tab_to(page, "#desk-item-electricity details summary")
    page.keyboard.press("Enter")
    wait_focus(page, "reject-electricity-reason")
    tab_to(page, "[data-lx-reason='欠电费 {金额} 元']", back=True)
    page.keyboard.press("Enter")
    assert focused(page) == "reject-electricity-reason"
    page.keyboard.type("35.5")                                    # replaces the selected {金额}
    assert page.input_value("#reject-electricity-reason") == "欠电费 35.5 元"
    shot(page, f"desk-core-{label}-2-reject-panel")
    submit_with(page)
    assert "欠电费 35.5 元" in page.locator(".alert").first.inner_text()
    assert item_status(db, g) == "rejected"
    wait_focus(page, "desk-q")
    shot(page, f"desk-core-{label}-3-rejected")

    # 3. paid now: tick and confirm, keyboard only
    tab_to(page, "#task-electricity")
    page.keyboard.press("Space")
    tab_to(page, "#desk-confirm button[type=submit]")
    submit_with(page)
    assert "已确认 清理电费" in page.locator(".alert").first.inner_text()
    assert item_status(db, g) == "passed"
    wait_focus(page, "desk-q")
    # the next graduate: straight into the search box
    page.keyboard.type(other.student_no)
    submit_with(page)
    assert page.locator("#grad-title").inner_text() == "钱同学"

    # 4. back to the first one and re-open with a reason
    page.goto(f"/desk/?cp=utilities&graduate_id={g.id}")
    page.locator("#desk-item-electricity summary", has_text=re.compile("重新打开|Re-open")).click()
    page.fill("#reopen-electricity-reason", "电费复核发现漏缴")
    shot(page, f"desk-core-{label}-4-reopen-panel")
    with page.expect_navigation():
        page.locator("#reopen-electricity-reason").press("Enter")
    assert item_status(db, g) == "pending"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(
        Event.graduate_id == g.id, Event.task_key == "electricity")) == 3

    # 5. the whole record
    with page.expect_navigation():
        page.locator("a", has_text=re.compile("离校记录|Clearance record")).first.click()
    body = page.locator("main").inner_text()
    assert "电费复核发现漏缴" in body and "欠电费 35.5 元" in body
    shot(page, f"desk-core-{label}-5-record")


def test_pick_list_and_reason_templates_page(new_page, db, make_graduate, start, operator, ui_login, shot):
    a = make_graduate(name="欧阳明")
    b = make_graduate(name="欧阳娜", class_name="网络2202")
    start(a, b)
    operator("dormitory", "dormitory")
    page = new_page(viewport=TABLET)
    ui_login(page, "dormitory", "secret-pass", kind="staff")
    wait_focus(page, "desk-q")
    page.keyboard.type("欧阳")
    submit_with(page)
    assert page.locator(".list-group-item").count() == 2
    wait_focus(page, "desk-q")
    assert page.evaluate("document.activeElement.selectionEnd - document.activeElement.selectionStart") == 2
    shot(page, "desk-core-tablet-6-pick-list")
    page.goto("/desk/reasons?cp=dormitory")
    assert "钥匙未交还" in page.locator("main").inner_text()
    page.fill("#text", "床位钥匙损坏，需赔偿 {金额} 元")
    with page.expect_navigation():
        page.locator("main form button[type=submit]", has_text=re.compile("添加|Add")).last.click()
    assert "床位钥匙损坏" in page.locator("main").inner_text()
    shot(page, "desk-core-tablet-7-reasons")
    page.goto(f"/desk/?cp=dormitory&graduate_id={a.id}")
    assert page.locator("[data-lx-reason='床位钥匙损坏，需赔偿 {金额} 元']").count() == 1
