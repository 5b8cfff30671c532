"""A graduate's walk through the sheet, the live diagram and the history at phone and desktop width."""
from __future__ import annotations

import re

import pytest

from app.workflow.services import Actor, apply

PASSWORD = "walk-pass-123"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


@pytest.fixture()
def graduate(db, make_graduate, start):
    from datetime import date

    from app.auth.services import set_graduate_password

    g = make_graduate(name="周小雨", party_member=True, arrears=260, lives_on_campus=True)
    start(g)
    apply([g.id], "party_letter", "reject", Actor(None, "学院老师"), reason="请携带党员证到学院办公楼 101 领取")
    apply([g.id], "finance", "waive", Actor(None, "财务老师"), reason="缓交证明", waived_until=date(2099, 7, 1))
    set_graduate_password(db.session.merge(g), PASSWORD)
    db.session.commit()
    return g


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_sheet_diagram_history_and_english(new_page, ui_login, shot, graduate, size):
    page = new_page(viewport=VIEWPORTS[size], locale="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    ui_login(page, graduate.student_no, PASSWORD)
    assert page.url.endswith("/me")

    # the sheet: the to-do summary with the reason, the place and a phone link is on the first screen
    todo = page.locator("#todo")
    assert todo.is_visible()
    assert "请携带党员证到学院办公楼 101 领取" in todo.inner_text()
    call = todo.locator('a[href^="tel:"]').first
    assert call.is_visible()
    box = call.bounding_box()
    assert box["y"] + box["height"] <= VIEWPORTS[size]["height"]        # reachable without scrolling
    assert page.locator("#progress").inner_text().startswith("已完成")
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS[size]["width"]   # no sideways scroll
    shot(page, f"portal-sheet-{size}")

    # the live diagram: bpmn-js draws it, tasks carry their status, a click shows the details
    page.goto("/me/diagram")
    page.wait_for_selector("#lx-diagram[data-ready=true]")
    assert page.locator(".djs-container svg").count() == 1
    assert page.locator('.djs-element.lx-st-rejected[data-element-id="party_letter"]').count() == 1
    assert page.locator('.djs-element.lx-st-waived[data-element-id="finance"]').count() == 1
    assert page.locator('.djs-element.lx-st-blocked[data-element-id="certificates"]').count() == 1
    assert page.locator('.djs-element.lx-st-not_required').count() >= 1
    canvas = page.locator(".lx-canvas").bounding_box()
    assert canvas["width"] <= VIEWPORTS[size]["width"]
    page.locator('.djs-element[data-element-id="party_letter"]').click()
    detail = page.locator("#lx-detail")
    detail.get_by_text("请携带党员证到学院办公楼 101 领取").wait_for()
    assert detail.locator('a[href="tel:0731-58290001"]').count() == 1
    assert page.locator('.djs-element.lx-selected[data-element-id="party_letter"]').count() == 1
    # the list is the accessible alternative: choosing an item there shows it too
    page.locator('.lx-tasklist [data-key="finance"]').click()
    detail.get_by_text("缓交至 2099-07-01").wait_for()
    # zoom buttons work (phones cannot use the mouse wheel)
    before = page.evaluate("document.querySelector('.djs-container svg .viewport').getAttribute('transform')")
    page.locator('[data-zoom="in"]').click()
    after = page.evaluate("document.querySelector('.djs-container svg .viewport').getAttribute('transform')")
    assert before != after
    page.locator('[data-zoom="fit"]').click()
    shot(page, f"portal-diagram-{size}")

    # the history: newest first, the rejection with its reason and who made it
    page.goto("/me/history")
    first = page.locator(".lx-event").first
    assert "财务老师" in first.inner_text()                               # the deferral was the last change
    assert page.locator(".lx-event", has_text="请携带党员证到学院办公楼 101 领取").count() == 1
    shot(page, f"portal-history-{size}")

    # the English switch keeps the page and sticks
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.url.endswith("/me/history?lang=en")
    assert page.locator("h1").inner_text() == "History"
    page.goto("/me")
    assert page.locator("h1").first.inner_text() == "Clearance sheet"
    assert "Still to do" in page.locator("#todo").inner_text()
    shot(page, f"portal-sheet-{size}-en")
    page.goto("/me/diagram")
    page.wait_for_selector("#lx-diagram[data-ready=true]")
    drawn = page.locator("#lx-diagram svg").first.evaluate("svg => svg.textContent")
    assert "Collect the Party membership transfer letter" in drawn and "College office" in drawn
    assert not re.search(r"[\u4e00-\u9fff]", drawn), drawn          # no Chinese label left in the drawing
    shot(page, f"portal-diagram-{size}-en")
    page.locator('.djs-element[data-element-id="party_letter"]').click()
    page.locator("#lx-detail").get_by_text("Not passed").first.wait_for()
    assert errors == []
