"""A graduate's walk in headless Chromium: appeal a not-passed item, the desk confirms it, submit
clearance once, print the 离校单 (print media, one A4 page) and open its QR code's verify page."""
from __future__ import annotations

import re

import pytest

PASSWORD = "walk-pass-2026"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def complete_all_but_certificates(db, graduate_id: int) -> None:
    """Confirm every open item except the certificate step (the graduate becomes eligible)."""
    import sqlalchemy as sa

    from app.portal.queries import meta_for_version
    from app.workflow.models import Clearance, ClearanceItem
    from app.workflow.services import Actor, apply

    clearance = db.session.scalar(sa.select(Clearance).where(Clearance.graduate_id == graduate_id))
    meta = meta_for_version(clearance.process_version_id)
    for _round in range(len(meta) + 1):
        todo = [k for k in db.session.scalars(sa.select(ClearanceItem.task_key).where(
                    ClearanceItem.graduate_id == graduate_id, ClearanceItem.status == "pending"))
                if not meta[k].get("certificate")]
        if not todo:
            break
        for key in todo:
            apply([graduate_id], key, "confirm", Actor(None, "walk"))


def _graduate(db, make_graduate, start):
    """An undergraduate with everything done except the electricity bill (rejected with a reason)."""
    from app.auth.services import set_graduate_password
    from app.workflow.services import Actor, apply

    g = make_graduate(name="陈思雨", student_no="202201230123", college="计算机科学与工程学院", class_name="软件2201")
    start(g)
    apply([g.id], "electricity", "reject", Actor(None, "水电中心"), reason="欠电费 35.5 元")
    complete_all_but_certificates(db, g.id)
    set_graduate_password(db.session.merge(g), PASSWORD)
    return g


def dismiss_once(dialog, asked: list) -> None:
    asked.append(dialog.message)
    dialog.dismiss()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390px", "1280px"])
def test_appeal_answer_submit_print_verify(new_page, db, make_graduate, start, operator, ui_login, shot,
                                            viewport):
    w = viewport["width"]
    g = _graduate(db, make_graduate, start)
    operator("utilities-op", "utilities")

    # the graduate: the item is not passed, so there is no submit button yet, but an appeal form
    me = new_page(viewport=viewport)
    ui_login(me, g.student_no, PASSWORD)
    me.goto("/me")
    assert me.locator("form[action='/me/submit']").count() == 0
    assert "清理电费" in me.locator("#submit").inner_text()            # says what is missing
    item = me.locator("#item-electricity")
    item.locator("details.lx-appeal-new summary").click()
    item.locator("textarea[name=text]").fill("电费已于昨天在后勤服务楼缴清，收据编号 2026-0518")
    item.locator("form.lx-appeal-form button[type=submit]").click()
    me.wait_for_load_state()
    appeal_box = me.locator("#item-electricity .lx-appeal")
    assert appeal_box.get_attribute("data-appeal-status") == "open"
    assert "收据编号 2026-0518" in appeal_box.inner_text()
    shot(me, f"walk-{w}-1-appeal-sent")

    # the utilities operator answers from the appeal queue
    desk = new_page(viewport=viewport if w > 400 else {"width": 820, "height": 1180})
    ui_login(desk, "utilities-op", "secret-pass", kind="staff")
    desk.goto("/desk/appeals?cp=utilities")
    card = desk.locator(".lx-appeal-card").first
    assert "收据编号 2026-0518" in card.inner_text() and g.name in card.inner_text()
    assert desk.locator(".lx-open-count").inner_text().strip() == "1"
    shot(desk, f"walk-{w}-2-desk-queue")
    card.locator("button[value=resolve]").click()
    desk.wait_for_load_state()
    assert desk.locator(".alert-success").count() == 1
    assert desk.locator(".lx-appeal-card").count() == 0

    # the graduate sees the outcome and can now submit, once
    me.goto("/me")
    assert me.locator("#item-electricity .lx-appeal").get_attribute("data-appeal-status") == "resolved"
    assert me.locator("#item-electricity").get_attribute("data-status") == "passed"
    shot(me, f"walk-{w}-3-ready-to-submit")
    asked = []
    me.once("dialog", lambda dialog: dismiss_once(dialog, asked))    # "submit now?" - no: nothing happens
    me.locator("form[action='/me/submit'] button").click()
    assert asked and "只能提交一次" in asked[0] and me.url.endswith("/me")
    me.once("dialog", lambda dialog: dialog.accept())                # yes
    me.locator("form[action='/me/submit'] button").click()
    me.wait_for_load_state()
    assert me.url.endswith("/me/slip")
    paper = me.locator(".lx-paper")
    for expected in ("陈思雨", "202201230123", "计算机科学与工程学院", "软件2201"):
        assert expected in paper.inner_text()
    assert me.locator(".lx-qr svg").count() == 1
    verify_url = me.locator(".lx-qr-url").inner_text().strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/verify/[A-Za-z0-9_-]{32}", verify_url)
    shot(me, f"walk-{w}-4-slip-screen")

    # print view: no navigation, one A4 page
    me.emulate_media(media="print")
    assert not me.locator("nav.navbar").is_visible() and not me.locator("body > footer").is_visible()
    assert not me.get_by_role("button", name=re.compile("打印|Print")).is_visible()
    assert paper.is_visible()
    shot(me, f"walk-{w}-5-slip-print")
    pdf = me.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    me.emulate_media(media="screen")

    # a second submit (e.g. from another tab) is refused
    me.goto("/me")
    assert me.locator("form[action='/me/submit']").count() == 0
    assert me.locator("#submit a[href='/me/slip']").count() == 1

    # anybody scanning the QR code: the verification page, without login
    scanner = new_page(viewport=PHONE)
    scanner.goto(verify_url)
    assert scanner.locator(".lx-verdict").get_attribute("data-valid") == "1"
    body = scanner.locator("main").inner_text()
    assert "陈思雨" in body and "2022****0123" in body
    assert "202201230123" not in body and "计算机科学与工程学院" not in body and "软件2201" not in body
    shot(scanner, f"walk-{w}-6-verify")
    scanner.goto(verify_url[:-4] + "abcd")
    assert scanner.locator(".lx-verdict").get_attribute("data-valid") == "0"
