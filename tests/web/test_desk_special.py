"""The certificate desk and the 缓交 desk at /desk/certificates and /desk/waiver: pages, posts, permissions.

Pages are read in English (``?lang=en``): the msgids are the English texts, so the assertions do not
depend on the Chinese catalogue being merged.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.enums import ItemStatus
from app.workflow.models import ClearanceItem, Event
from app.workflow.services import Actor, apply, local_today

OP = Actor(None, "tester")


def text(resp) -> str:
    """The page's visible text, whitespace collapsed."""
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", resp.get_data(as_text=True), flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def status(db, graduate, key) -> str:
    db.session.expire_all()
    return db.session.scalar(sa.select(ClearanceItem.status).where(
        ClearanceItem.graduate_id == graduate.id, ClearanceItem.task_key == key))


@pytest.fixture()
def staff(client, login_staff):
    """Log a staff member in and switch the session to English."""
    def go(username, *checkpoints, role="operator"):
        assert client.get("/login?lang=en").status_code == 200
        login_staff(username, *checkpoints, role=role)
    return go


def confirm_all_open(db, graduate, skip=()):
    db.session.expire_all()
    rows = db.session.execute(sa.select(ClearanceItem.task_key, ClearanceItem.status)
                              .where(ClearanceItem.graduate_id == graduate.id)).all()
    for key, st in rows:
        if st in (ItemStatus.PENDING, ItemStatus.REJECTED) and key not in skip \
                and key not in ("certificates", "deferred_certificates"):
            apply([graduate.id], key, "confirm", OP)


# ----------------------------------------------------------------------------- certificate desk
def test_scan_then_not_ready_shows_what_is_missing_and_where(client, db, make_graduate, start, staff):
    g = make_graduate(name="王小明", arrears=1200)
    start(g)
    confirm_all_open(db, g, skip=("finance", "electricity"))
    apply([g.id], "electricity", "reject", OP, reason="欠电费 35.5 元")
    staff("cert", "certificates")
    resp = client.get(f"/desk/certificates?cp=certificates&q={g.student_no}")      # barcode + Enter
    assert resp.status_code == 303
    page = text(client.get(resp.headers["Location"]))
    assert "王小明" in page and "Not ready for certificates" in page
    assert "Settle the dormitory electricity bill" in page and "Utilities centre" in page and "Logistics service building, room 105" in page and "后勤服务楼" not in page and "0731-58290004" in page
    assert "欠电费 35.5 元" in page
    assert "Pay outstanding fees" in page and "Finance office" in page
    assert "Certificate desk (college)" in page.split("Find a graduate")[0]        # the checkpoint name is always visible
    # posting anyway is refused, nothing changes
    resp = client.post("/desk/certificates/issue", data={"graduate_id": g.id, "cp": "certificates"},
                       follow_redirects=True)
    assert "2 item(s) are unfinished" in text(resp)
    assert status(db, g, "certificates") == ItemStatus.BLOCKED


def test_ready_list_then_issue_and_the_page_says_issued(client, db, make_graduate, start, staff):
    g = make_graduate(name="李四", arrears=0, college="计算机学院", class_name="软件2201")
    other = make_graduate(name="赵六", arrears=0, college="信息学院", class_name="网络2202")
    start(g, other)
    confirm_all_open(db, g)
    confirm_all_open(db, other)
    staff("cert", "certificates")
    page = text(client.get("/desk/certificates/ready?cp=certificates"))
    assert "李四" in page and "赵六" in page and "2 graduates" in page
    page = text(client.get("/desk/certificates/ready?cp=certificates&college=信息学院"))
    assert "赵六" in page and "李四" not in page
    page = text(client.get(f"/desk/certificates?cp=certificates&graduate_id={g.id}"))
    assert "Ready for certificates" in page and "Collect the three certificates" in page
    resp = client.post("/desk/certificates/issue", data={"graduate_id": g.id, "cp": "certificates"})
    assert resp.status_code == 303
    page = text(client.get(resp.headers["Location"]))
    assert "Certificates issued" in page and "by cert" in page
    assert status(db, g, "certificates") == ItemStatus.PASSED
    ev = db.session.scalars(sa.select(Event).where(Event.graduate_id == g.id, Event.task_key == "certificates",
                                                   Event.action == "confirm")).one()
    assert ev.actor_id is not None and ev.source == "manual"
    assert "李四" not in text(client.get("/desk/certificates/ready?cp=certificates"))
    issued = client.get("/desk/certificates/ready?cp=certificates&show=issued").get_data(as_text=True)
    assert "赵六" not in issued
    assert re.search(r'李四.*?<div class="text-body-secondary">cert</div>', issued, re.S)     # issued by
    # a second post changes nothing and says so
    resp = client.post("/desk/certificates/issue", data={"graduate_id": g.id, "cp": "certificates"},
                       follow_redirects=True)
    assert "The certificates were already issued" in text(resp)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(
        Event.graduate_id == g.id, Event.task_key == "certificates", Event.action == "confirm")) == 1


def test_ready_list_pages(client, db, make_graduate, start, staff, monkeypatch):
    from app.desk import special

    graduates = [make_graduate(arrears=0) for _ in range(3)]
    start(*graduates)
    for g in graduates:
        confirm_all_open(db, g)
    monkeypatch.setattr(special, "PER_PAGE", 2)
    staff("cert", "certificates")
    first = client.get("/desk/certificates/ready?cp=certificates").get_data(as_text=True)
    second = client.get("/desk/certificates/ready?cp=certificates&page=2").get_data(as_text=True)
    assert first.count("graduate_id=") == 2 and second.count("graduate_id=") == 1
    assert "page=2" in first


def test_certificate_tabs_only_at_certificate_checkpoints(client, published, staff):
    staff("op", "college", "certificates")
    html = client.get("/desk/certificates?cp=certificates").get_data(as_text=True)
    assert 'href="/desk/certificates/ready?cp=certificates"' in html
    # the switcher keeps the page; the college checkpoint has no certificate tab
    assert 'href="/desk/certificates?cp=college"' in html
    # a checkpoint without certificates goes to its own desk
    resp = client.get("/desk/certificates?cp=college")
    assert resp.status_code == 303 and "/desk/?cp=college" in resp.headers["Location"]


# ----------------------------------------------------------------------------- 缓交 desk
def test_waiver_desk_lift_with_end_date_then_restore(client, db, make_graduate, start, staff):
    g = make_graduate(name="钱七", arrears=1200)
    start(g)
    confirm_all_open(db, g, skip=("finance",))
    staff("hj", "waiver")
    resp = client.get(f"/desk/waiver?q={g.student_no}")
    assert resp.status_code == 303
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    page = text(client.get(resp.headers["Location"]))
    assert "Restriction on" in page and "Pay outstanding fees" in page
    # only its own tabs
    assert "/desk/waiver/lifted" in html and "/desk/batch" not in html and 'href="/desk/?' not in html
    until = local_today() + timedelta(days=30)
    resp = client.post("/desk/waiver/lift", data={"graduate_id": g.id, "task": "finance",
                                                  "reason": "缓交证明 2026-017", "until": until.isoformat()})
    assert resp.status_code == 303
    page = text(client.get(resp.headers["Location"]))
    assert "Restriction lifted" in page and until.isoformat() in page and "缓交证明 2026-017" in page
    assert status(db, g, "finance") == ItemStatus.WAIVED
    assert status(db, g, "certificates") == ItemStatus.PENDING
    listing = text(client.get("/desk/waiver/lifted"))
    assert "钱七" in listing and until.isoformat() in listing
    assert "钱七" not in text(client.get("/desk/waiver/lifted?expiry=open_ended"))
    assert "钱七" in text(client.get("/desk/waiver/lifted?expiry=dated&q=钱"))
    resp = client.post("/desk/waiver/restore", data={"graduate_id": g.id, "task": "finance", "reason": "证明作废"},
                       follow_redirects=True)
    assert "Restriction on" in text(resp)
    assert status(db, g, "finance") == ItemStatus.PENDING
    assert status(db, g, "certificates") == ItemStatus.BLOCKED
    assert [e.action for e in db.session.scalars(sa.select(Event).where(
        Event.graduate_id == g.id, Event.task_key == "finance").order_by(Event.id))][-2:] == ["waive", "unwaive"]


def test_change_the_end_date(client, db, make_graduate, start, staff):
    g = make_graduate(arrears=1200)
    start(g)
    staff("hj", "waiver")
    first, later = local_today() + timedelta(days=3), local_today() + timedelta(days=60)
    client.post("/desk/waiver/lift", data={"graduate_id": g.id, "task": "finance", "reason": "缓交证明",
                                           "until": first.isoformat()})
    html = client.get(f"/desk/waiver?graduate_id={g.id}").get_data(as_text=True)
    assert 'action="/desk/waiver/end-date"' in html and f'value="{first.isoformat()}"' in html
    resp = client.post("/desk/waiver/end-date", data={"graduate_id": g.id, "task": "finance", "reason": "延期",
                                                      "until": later.isoformat()}, follow_redirects=True)
    page = text(resp)
    assert f"lifted until {later.isoformat()}" in page
    assert re.search(rf"End date: {first.isoformat()} → (to )?{later.isoformat()}", page)     # in the record
    db.session.expire_all()
    assert db.session.scalar(sa.select(ClearanceItem.waived_until).where(
        ClearanceItem.graduate_id == g.id, ClearanceItem.task_key == "finance")) == later


def test_bad_input_keeps_what_was_typed(client, db, make_graduate, start, staff):
    g = make_graduate(arrears=1200)
    start(g)
    staff("hj", "waiver")
    past = (local_today() - timedelta(days=1)).isoformat()
    resp = client.post("/desk/waiver/lift", data={"graduate_id": g.id, "task": "finance",
                                                  "reason": "缓交证明 99", "until": past})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "The end date is in the past" in text(resp)
    assert 'value="缓交证明 99"' in html and f'value="{past}"' in html
    resp = client.post("/desk/waiver/lift", data={"graduate_id": g.id, "task": "finance", "reason": "  "})
    assert resp.status_code == 422 and "Please give a reason" in text(resp)
    assert status(db, g, "finance") == ItemStatus.PENDING


def test_control_is_disabled_with_a_reason_on_a_passed_item(client, db, make_graduate, start, staff):
    g = make_graduate(arrears=0)     # finance passed automatically
    start(g)
    staff("hj", "waiver")
    resp = client.get(f"/desk/waiver?graduate_id={g.id}")
    html = resp.get_data(as_text=True)
    assert re.search(r'<button type="button" class="btn btn-outline-secondary" disabled aria-describedby="why-finance"', html)
    assert "Already passed: there is no restriction to lift" in text(resp)
    assert 'action="/desk/waiver/lift"' not in html
    # a crafted post is refused by the engine rules and says why
    resp = client.post("/desk/waiver/lift", data={"graduate_id": g.id, "task": "finance", "reason": "x"},
                       follow_redirects=True)
    assert "is already passed" in text(resp)
    assert status(db, g, "finance") == ItemStatus.PASSED


def test_expired_waiver_is_back_on_the_pages(client, db, make_graduate, start, staff):
    from app.workflow.services import expire_waivers

    g = make_graduate(name="孙八", arrears=1200)
    start(g)
    confirm_all_open(db, g, skip=("finance",))
    staff("hj", "waiver")
    client.post("/desk/waiver/lift", data={"graduate_id": g.id, "task": "finance", "reason": "缓交",
                                           "until": local_today().isoformat()})
    assert "孙八" in text(client.get("/desk/waiver/lifted"))
    expire_waivers(local_today() + timedelta(days=1))
    assert "孙八" not in text(client.get("/desk/waiver/lifted"))
    page = text(client.get(f"/desk/waiver?graduate_id={g.id}"))
    assert "Restriction on" in page and "缓交到期" in page


# ----------------------------------------------------------------------------- permissions
GETS = ["/desk/certificates?cp=certificates", "/desk/certificates/ready?cp=certificates",
        "/desk/waiver", "/desk/waiver/lifted"]


@pytest.mark.parametrize("who, checkpoints, role, expected", [
    ("library", ("library",), "operator", {"/desk/certificates?cp=certificates": 403,
                                           "/desk/certificates/ready?cp=certificates": 403,
                                           "/desk/waiver": 403, "/desk/waiver/lifted": 403}),
    ("cert", ("certificates",), "operator", {"/desk/certificates?cp=certificates": 200,
                                             "/desk/certificates/ready?cp=certificates": 200,
                                             "/desk/waiver": 403, "/desk/waiver/lifted": 403}),
    ("hj", ("waiver",), "operator", {"/desk/certificates?cp=certificates": 403,
                                     "/desk/certificates/ready?cp=certificates": 403,
                                     "/desk/waiver": 200, "/desk/waiver/lifted": 200}),
    ("boss", (), "admin", dict.fromkeys(GETS, 200)),
    ("lead", (), "leader", dict.fromkeys(GETS, 403)),
])
def test_role_page_matrix(client, published, login_staff, who, checkpoints, role, expected):
    login_staff(who, *checkpoints, role=role)
    assert {url: client.get(url).status_code for url in GETS} == expected


def test_posts_by_others_are_forbidden(client, db, make_graduate, start, login_staff):
    g = make_graduate(arrears=1200)
    start(g)
    confirm_all_open(db, g, skip=("finance",))
    login_staff("fin", "finance", "library")
    assert client.post("/desk/waiver/lift", data={"graduate_id": g.id, "task": "finance",
                                                  "reason": "x"}).status_code == 403
    assert client.post("/desk/waiver/restore", data={"graduate_id": g.id, "task": "finance",
                                                     "reason": "x"}).status_code == 403
    assert client.post("/desk/waiver/end-date", data={"graduate_id": g.id, "task": "finance",
                                                      "reason": "x"}).status_code == 403
    assert client.post("/desk/certificates/issue", data={"graduate_id": g.id, "cp": "certificates"}).status_code == 403
    assert status(db, g, "finance") == ItemStatus.PENDING


def test_anonymous_is_sent_to_login(client):
    for url in GETS:
        resp = client.get(url)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_posts_need_the_csrf_token(app, client, db, make_graduate, start, operator):
    g = make_graduate(arrears=1200)
    start(g)
    operator("hj", "waiver")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        resp = client.post("/login", data={"kind": "staff", "username": "hj", "password": "secret-pass",
                                           "csrf_token": token})
        assert resp.status_code == 302
        assert client.post("/desk/waiver/lift", data={"graduate_id": g.id, "task": "finance",
                                                      "reason": "x"}).status_code == 400
        html = client.get(f"/desk/waiver?graduate_id={g.id}").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
        assert client.post("/desk/waiver/lift", data={"graduate_id": g.id, "task": "finance", "reason": "x",
                                                      "csrf_token": token}).status_code == 303
        assert status(db, g, "finance") == ItemStatus.WAIVED
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
