"""The operator desk at /desk/: checkpoint switcher, search, confirm, permissions."""
from __future__ import annotations

import re

import sqlalchemy as sa

from app.graduates.idcard import make_id_number
from app.workflow.models import ClearanceItem, Event
from tests.web.conftest import login
from tests.web.test_portal_sheet import text


def status(db, graduate, key) -> str:
    db.session.expire_all()
    return db.session.scalar(sa.select(ClearanceItem.status).where(
        ClearanceItem.graduate_id == graduate.id, ClearanceItem.task_key == key))


def id_ending_in_x() -> str:
    return next(n for n in (make_id_number(i) for i in range(500, 2000)) if n.endswith("X"))


def test_desk_shows_the_current_checkpoint_and_the_switcher(client, login_staff):
    login_staff("op", "college", "certificates")
    page = text(client.get("/desk/"))
    assert "学院离校点" in page                      # the first checkpoint by default
    assert "学院证件发放" in page                    # the other one in the switcher
    assert "学院证件发放" in text(client.get("/desk/?cp=certificates")).split("查找毕业生")[0]
    html = client.get("/desk/").get_data(as_text=True)
    assert re.search(r'<input type="search" name="q"[^>]*autofocus', html)


def test_operator_cannot_open_a_checkpoint_they_do_not_hold(client, login_staff):
    login_staff("op", "library")
    assert client.get("/desk/?cp=finance").status_code == 403
    assert client.get("/desk/?cp=no-such-checkpoint").status_code == 403


def test_admin_may_open_every_checkpoint(client, login_staff):
    login_staff("boss", role="admin")
    assert client.get("/desk/?cp=finance").status_code == 200
    assert client.get("/desk/?cp=no-such-checkpoint").status_code == 404


def test_search_by_student_number_opens_the_graduate(client, make_graduate, start, login_staff):
    g = make_graduate(name="王小明", dorm_building="12栋", dorm_room="305", phone="13912345678")
    start(g)
    login_staff("op", "college")
    resp = client.get(f"/desk/?cp=college&q={g.student_no}")
    assert resp.status_code == 303
    assert f"graduate_id={g.id}" in resp.headers["Location"]
    page = text(client.get(resp.headers["Location"]))
    for value in ("王小明", g.student_no, "本科生", "计算机学院", "软件工程", "软件2201", "12栋-305", "13912345678"):
        assert value in page


def test_search_by_id_card_number_ignores_the_case_of_x(client, make_graduate, start, login_staff):
    g = make_graduate(id_card=id_ending_in_x())
    start(g)
    login_staff("op", "student_affairs")
    resp = client.get(f"/desk/?cp=student_affairs&q={g.id_card.lower()}")
    assert resp.status_code == 303 and f"graduate_id={g.id}" in resp.headers["Location"]


def test_partial_name_gives_a_pick_list(client, make_graduate, start, login_staff):
    a = make_graduate(name="欧阳明", class_name="软件2201")
    b = make_graduate(name="欧阳娜", class_name="网络2202", college="信息学院")
    c = make_graduate(name="张伟")
    start(a, b, c)
    login_staff("op", "college")
    resp = client.get("/desk/?cp=college&q=欧阳")
    assert resp.status_code == 200
    page = text(resp)
    html = resp.get_data(as_text=True)
    assert "找到 2 名毕业生，请选择" in page
    assert "欧阳明" in page and "欧阳娜" in page and "张伟" not in page
    assert "网络2202" in page and "信息学院" in page and b.student_no in page
    assert f"graduate_id={a.id}" in html and f"graduate_id={b.id}" in html
    # wildcards typed by the operator are not wildcards
    assert "没有找到" in text(client.get("/desk/?cp=college&q=%25"))


def test_search_only_covers_cohorts_with_clearances(client, make_graduate, login_staff):
    g = make_graduate(name="未开始")
    login_staff("op", "college")
    assert "没有找到" in text(client.get(f"/desk/?cp=college&q={g.student_no}"))


def test_blocked_and_not_required_items_are_shown_disabled(client, make_graduate, start, login_staff):
    g = make_graduate(party_member=False, has_national_loan=False)
    start(g)
    login_staff("op", "college", "certificates")
    html = client.get(f"/desk/?cp=college&graduate_id={g.id}").get_data(as_text=True)
    assert re.search(r'value="national_loan"[^>]*disabled', html)
    assert "该毕业生无需办理。" in html
    html = client.get(f"/desk/?cp=certificates&graduate_id={g.id}").get_data(as_text=True)
    assert re.search(r'value="certificates"[^>]*disabled', html)
    assert "暂不能确认：等待前置环节" in html and "清理电费" in html


def test_confirm_changes_the_projection_and_the_sheet(client, app, make_graduate, start, login_staff, db):
    g = make_graduate(party_member=True)
    start(g)
    login_staff("op", "college")
    html = client.get(f"/desk/?cp=college&graduate_id={g.id}").get_data(as_text=True)
    assert re.search(r'name="task" value="party_letter"(?![^>]*disabled)', html)
    form = {"graduate_id": g.id, "cp": "college", "task": ["party_letter"]}
    resp = client.post("/desk/confirm", data=form)
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith(f"/desk/?cp=college&graduate_id={g.id}")
    assert status(db, g, "party_letter") == "passed"
    page = text(client.get(resp.headers["Location"]))
    assert "已确认 领取党组织关系介绍信" in page
    # the record names who did it
    assert "领取党组织关系介绍信 待办理 → 变为 已通过" in page and "op (操作员)" in page
    event = db.session.scalar(sa.select(Event).where(Event.graduate_id == g.id, Event.task_key == "party_letter",
                                                     Event.action == "confirm"))
    assert event.actor == "op" and event.actor_id is not None
    # a double submit does not confirm twice: it says "already passed"
    resp = client.post("/desk/confirm", data=form, follow_redirects=True)
    assert "“领取党组织关系介绍信”已通过，无需重复确认" in text(resp)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(
        Event.graduate_id == g.id, Event.task_key == "party_letter", Event.action == "confirm")) == 1
    # the graduate sees it
    client.post("/logout")
    from app.auth.services import set_graduate_password

    set_graduate_password(db.session.merge(g), "grad-pass-123")
    login(client, g.student_no, "grad-pass-123")
    sheet = client.get("/me").get_data(as_text=True)
    item = sheet[sheet.index('id="item-party_letter"'):]
    item = item[:item.index('class="lx-item')]
    assert "已通过" in item and "已确认" in item


def test_confirm_without_a_ticked_item_says_so(client, make_graduate, start, login_staff):
    g = make_graduate(party_member=True)
    start(g)
    login_staff("op", "college")
    resp = client.post("/desk/confirm", data={"graduate_id": g.id, "cp": "college"}, follow_redirects=True)
    assert "请至少勾选一个要确认的事项" in text(resp)


def test_operator_of_another_checkpoint_gets_403(client, make_graduate, start, login_staff, db):
    g = make_graduate(party_member=True)
    start(g)
    login_staff("libop", "library")
    # a checkpoint they do not hold
    assert client.post("/desk/confirm", data={"graduate_id": g.id, "cp": "college",
                                              "task": "party_letter"}).status_code == 403
    # their own checkpoint, but an item of another checkpoint
    assert client.post("/desk/confirm", data={"graduate_id": g.id, "cp": "library",
                                              "task": "party_letter"}).status_code == 403
    assert status(db, g, "party_letter") == "pending"


def test_admin_may_confirm_at_any_checkpoint(client, make_graduate, start, login_staff, db):
    g = make_graduate(party_member=True)
    start(g)
    login_staff("boss", role="admin")
    resp = client.post("/desk/confirm", data={"graduate_id": g.id, "cp": "college", "task": "party_letter"})
    assert resp.status_code == 303
    assert status(db, g, "party_letter") == "passed"


def test_confirm_a_blocked_item_shows_the_refusal(client, make_graduate, start, login_staff, db):
    g = make_graduate()
    start(g)
    login_staff("op", "certificates")
    resp = client.post("/desk/confirm", data={"graduate_id": g.id, "cp": "certificates", "task": "certificates"},
                       follow_redirects=True)
    assert "正在等待前置环节" in text(resp)
    assert status(db, g, "certificates") == "blocked"


def test_desk_in_english(client, make_graduate, start, login_staff):
    g = make_graduate(party_member=True)
    start(g)
    login_staff("op", "college")
    page = text(client.get(f"/desk/?cp=college&graduate_id={g.id}&lang=en"))
    assert "College office" in page and "Collect the Party membership transfer letter" in page
    assert "Confirm the ticked items" in page and "Pending" in page and "Undergraduate" in page


def test_refusals_render_a_translated_error_page(client, make_graduate, start, login_staff):
    login_staff("op", "library")
    page = text(client.get("/desk/?cp=finance"))
    assert "您不是该离校点的操作员" in page
    assert "You don't have the permission" not in page


def test_forms_carry_csrf_tokens(client, app, make_graduate, start, operator, db, monkeypatch):
    """With CSRF protection on (as in production) every form of the slice still works."""
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    token = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')

    def csrf(html: str) -> str:
        m = token.search(html)
        assert m, "no csrf token in the page"
        return m.group(1) or m.group(2)

    g = make_graduate(party_member=True)
    start(g)
    operator("op", "college")
    login_page = client.get("/login?kind=staff").get_data(as_text=True)
    assert client.post("/login", data={"kind": "staff", "username": "op", "password": "secret-pass"}
                       ).status_code == 400                                   # no token
    resp = client.post("/login", data={"kind": "staff", "username": "op", "password": "secret-pass",
                                       "csrf_token": csrf(login_page)})
    assert resp.status_code == 302
    desk = client.get(f"/desk/?cp=college&graduate_id={g.id}").get_data(as_text=True)
    form = desk[desk.index('action="/desk/confirm"'):]
    assert client.post("/desk/confirm", data={"graduate_id": g.id, "cp": "college", "task": "party_letter"}
                       ).status_code == 400
    resp = client.post("/desk/confirm", data={"graduate_id": g.id, "cp": "college", "task": "party_letter",
                                              "csrf_token": csrf(form)})
    assert resp.status_code == 303 and status(db, g, "party_letter") == "passed"
    resp = client.post("/logout", data={"csrf_token": csrf(desk)})
    assert resp.status_code == 302 and client.get("/desk/").status_code == 302
