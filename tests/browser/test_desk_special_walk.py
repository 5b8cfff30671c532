"""Seed 001 §3.2 / 3.8.3 / 3.9 in headless Chromium: a certificate operator and a 缓交 operator at the
counter, on a desktop and a tablet (820 px). Pages are read in English (the msgids), so the walk does
not depend on the Chinese catalogue being merged; screenshots go to LIXIAO_SCREENSHOTS."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.enums import ItemStatus
from app.workflow.models import ClearanceItem
from app.workflow.services import Actor, apply, local_today

DESKTOP = {"width": 1280, "height": 900}      # as tests/browser/conftest.py
TABLET = {"width": 820, "height": 1180}
OP = Actor(None, "tester")


def statuses(db, graduate) -> dict[str, str]:
    db.session.expire_all()
    return dict(db.session.execute(sa.select(ClearanceItem.task_key, ClearanceItem.status)
                                   .where(ClearanceItem.graduate_id == graduate.id)).all())


def confirm_all_open(db, graduate, skip=()):
    for key, st in statuses(db, graduate).items():
        if st in (ItemStatus.PENDING, ItemStatus.REJECTED) and key not in skip \
                and key not in ("certificates", "deferred_certificates"):
            apply([graduate.id], key, "confirm", OP)


def login(page, username):
    page.goto("/login?kind=staff&lang=en")
    page.fill("[name=username]", username)
    page.fill("[name=password]", "secret-pass")
    click(page.locator("main form button[type=submit]").first)


def click(locator):
    """Click a link or a submit button and wait for the next page."""
    with locator.page.expect_navigation():
        locator.click()


def scan(page, number):
    """A barcode reader: types the number into the focused search box and presses Enter."""
    page.keyboard.type(number)
    with page.expect_navigation():
        page.keyboard.press("Enter")


@pytest.mark.parametrize("viewport, size", [(DESKTOP, "desktop"), (TABLET, "tablet")])
def test_certificate_operator_walk(db, make_graduate, start, operator, new_page, shot, viewport, size):
    owing = make_graduate(name="周欠费", arrears=1200)
    ready = make_graduate(name="吴可领", arrears=0)
    start(owing, ready)
    confirm_all_open(db, owing, skip=("finance", "electricity"))
    apply([owing.id], "electricity", "reject", OP, reason="欠电费 35.5 元")
    confirm_all_open(db, ready)
    operator("cert", "certificates")
    page = new_page(viewport=viewport)
    login(page, "cert")
    page.goto("/desk/certificates?cp=certificates")
    assert "Certificate desk (college)" in page.locator("h1").inner_text()

    # not ready: exactly what is missing, where, with the reason; no way to issue
    scan(page, owing.student_no)
    verdict = page.locator("#verdict")
    assert "Not ready for certificates" in verdict.inner_text()
    rows = page.locator("#unfinished tbody tr")
    assert rows.count() == 2
    assert "Settle the dormitory electricity bill" in rows.nth(0).inner_text()
    assert "欠电费 35.5 元" in rows.nth(0).inner_text() and "0731-58290004" in rows.nth(0).inner_text()
    assert "Pay outstanding fees" in rows.nth(1).inner_text()
    assert page.get_by_role("button", name="Confirm: certificates issued").is_disabled()
    shot(page, f"special-cert-not-ready-{size}")

    # the counter list of graduates ready to collect
    click(page.get_by_role("link", name="Ready to collect").first)
    assert "吴可领" in page.locator("#ready-table").inner_text()
    assert "周欠费" not in page.locator("#ready-table").inner_text()
    shot(page, f"special-cert-ready-list-{size}")
    click(page.locator("#ready-table").get_by_role("link", name="Open").first)

    # ready: confirm the issuance, then the page says issued, when and by whom
    assert "Ready for certificates" in page.locator("#verdict").inner_text()
    click(page.get_by_role("button", name="Confirm: certificates issued"))
    verdict = page.locator("#verdict").inner_text()
    assert "Certificates issued" in verdict and "by cert" in verdict
    assert "certificates issued" in page.locator(".alert-success").inner_text()
    shot(page, f"special-cert-issued-{size}")
    assert statuses(db, ready)["certificates"] == ItemStatus.PASSED


@pytest.mark.parametrize("viewport, size", [(DESKTOP, "desktop"), (TABLET, "tablet")])
def test_waiver_operator_walk(db, make_graduate, start, operator, new_page, shot, viewport, size):
    g = make_graduate(name="郑缓交", arrears=1200)
    paid = make_graduate(name="王已缴", arrears=0)
    start(g, paid)
    confirm_all_open(db, g, skip=("finance",))
    operator("hj", "waiver")
    page = new_page(viewport=viewport)
    login(page, "hj")
    page.goto("/desk/waiver")
    tabs = page.locator(".nav-tabs").inner_text()
    assert "Lifted restrictions" in tabs and "Confirm" not in tabs

    # a paid item: the control is greyed out with the reason
    scan(page, paid.student_no)
    assert page.locator("#row-finance button").is_disabled()
    assert "Already passed" in page.locator("#row-finance").inner_text()
    shot(page, f"special-waiver-passed-{size}")

    # the owing graduate: lift with a reason and an end date
    page.locator("input[name=q]").fill("")
    page.locator("input[name=q]").focus()
    scan(page, g.student_no)
    row = page.locator("#row-finance")
    assert "Restriction on" in row.inner_text()
    row.locator("input[name=until]").fill((local_today() + timedelta(days=30)).isoformat())
    click(row.get_by_role("button", name="Lift restriction"))      # no reason: told, the date is kept
    assert "Please give a reason" in page.locator("#row-finance").inner_text()
    assert page.locator("#row-finance input[name=until]").input_value() == \
        (local_today() + timedelta(days=30)).isoformat()
    until = (local_today() + timedelta(days=30)).isoformat()
    row = page.locator("#row-finance")
    row.locator("input[name=reason]").fill("缓交证明 2026-017")
    row.locator("input[name=until]").fill(until)
    click(row.get_by_role("button", name="Lift restriction"))
    row = page.locator("#row-finance")
    assert "Restriction lifted" in row.inner_text() and until in row.inner_text()
    shot(page, f"special-waiver-lifted-{size}")
    assert statuses(db, g)["certificates"] == ItemStatus.PENDING       # may collect now

    click(page.get_by_role("link", name="Lifted restrictions").first)
    table = page.locator("#lifted-table").inner_text()
    assert "郑缓交" in table and until in table
    shot(page, f"special-waiver-list-{size}")

    # restore it
    click(page.locator("#lifted-table").get_by_role("link", name="Open").first)
    row = page.locator("#row-finance")
    # extend it first (the end-date form is folded away), then restore it
    row.locator("summary").click()
    later = (local_today() + timedelta(days=60)).isoformat()
    row.locator("#ereason-finance").fill("延期证明 2026-017")
    row.locator("#euntil-finance").fill(later)
    click(row.get_by_role("button", name="Save end date"))
    assert later in page.locator("#row-finance").inner_text()
    row = page.locator("#row-finance")
    row.locator("#rreason-finance").fill("缓交证明作废")
    click(row.get_by_role("button", name="Restore restriction"))
    assert "Restriction on" in page.locator("#row-finance").inner_text()
    assert statuses(db, g)["certificates"] == ItemStatus.BLOCKED


def test_a_due_waiver_ends_by_itself_after_a_desk_request(db, make_graduate, start, live_server, monkeypatch):
    """No cron: the first desk (or portal) response after the end date restores the restriction."""
    import time
    import urllib.request

    from app.workflow import services

    g = make_graduate(arrears=1200)
    start(g)
    apply([g.id], "finance", "waive", OP, reason="缓交证明", waived_until=local_today() - timedelta(days=1))
    monkeypatch.setitem(services._EXPIRY_NEXT_CHECK, "at", 0.0)       # the minute has passed
    with urllib.request.urlopen(f"{live_server}/login") as resp:        # not a desk page: nothing happens
        assert resp.status == 200
    time.sleep(0.3)
    assert statuses(db, g)["finance"] == ItemStatus.WAIVED
    with urllib.request.urlopen(f"{live_server}/desk/") as resp:        # redirected to the login page
        assert resp.status == 200
    for _ in range(50):
        if statuses(db, g)["finance"] == ItemStatus.PENDING:
            break
        time.sleep(0.1)
    assert statuses(db, g)["finance"] == ItemStatus.PENDING
