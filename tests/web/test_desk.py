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


# ----------------------------------------------------------------------------- desk core (issue 3)
def english(client) -> None:
    client.get("/desk/?lang=en")


def event_count(db, graduate, **where) -> int:
    stmt = sa.select(sa.func.count()).select_from(Event).where(Event.graduate_id == graduate.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(Event, name) == value)
    return db.session.scalar(stmt)


def test_desk_page_uses_the_layout_tabs(client, login_staff):
    login_staff("op", "utilities")
    html = client.get("/desk/?cp=utilities").get_data(as_text=True)
    assert html.count('class="lx-cp-name') == 1                 # one heading (from the layout)
    assert 'class="nav nav-tabs' in html and 'aria-current="page"' in html


def test_the_special_waiver_checkpoint_goes_to_its_own_desk(app, client, login_staff):
    login_staff("op", "waiver")
    resp = client.get("/desk/?cp=waiver")
    if "desk.waiver" in app.view_functions:
        assert resp.status_code == 302 and "/desk/" in resp.headers["Location"]
        assert "cp=waiver" in resp.headers["Location"]
    else:                                  # the 缓交 desk is not built yet: the plain desk still works
        assert resp.status_code == 200


def test_a_card_reader_number_and_enter_opens_the_graduate_ready_for_the_next(client, make_graduate, start,
                                                                              login_staff):
    g = make_graduate(name="刷卡生")
    start(g)
    login_staff("op", "utilities")
    page = client.get(f"/desk/?cp=utilities&q={g.student_no}", follow_redirects=True).get_data(as_text=True)
    assert "刷卡生" in page
    # the search box is on the graduate page too, empty and focused for the next scan
    assert re.search(r'<input type="search" name="q" id="desk-q" value=""[^>]*autofocus', page)
    resp = client.post("/desk/confirm", data={"graduate_id": g.id, "cp": "utilities", "task": "electricity"},
                       follow_redirects=True)
    assert re.search(r'<input type="search" name="q" id="desk-q" value=""[^>]*autofocus', resp.get_data(as_text=True))


def test_full_width_digits_from_a_chinese_ime_still_find_the_number(client, make_graduate, start, login_staff):
    g = make_graduate()
    start(g)
    login_staff("op", "utilities")
    wide = "".join(chr(ord(c) + 0xFEE0) for c in g.student_no)
    resp = client.get(f"/desk/?cp=utilities&q={wide}")
    assert resp.status_code == 303 and f"graduate_id={g.id}" in resp.headers["Location"]


def test_a_name_search_lists_exact_matches_first(client, make_graduate, start, login_staff):
    a = make_graduate(name="李明轩")
    b = make_graduate(name="李明")
    start(a, b)
    login_staff("op", "utilities")
    html = client.get("/desk/?cp=utilities&q=李明").get_data(as_text=True)
    assert html.index(f"graduate_id={b.id}") < html.index(f"graduate_id={a.id}")


def test_confirm_several_items_at_once(client, make_graduate, start, login_staff, db):
    g = make_graduate(party_member=True, league_member=True)
    start(g)
    login_staff("op", "college")
    english(client)
    resp = client.post("/desk/confirm", data={"graduate_id": g.id, "cp": "college",
                                              "task": ["party_letter", "league_transfer"]}, follow_redirects=True)
    page = text(resp)
    assert "confirmed Collect the Party membership transfer letter, " in page
    assert status(db, g, "party_letter") == status(db, g, "league_transfer") == "passed"
    assert event_count(db, g, action="confirm") == 2


def test_confirm_is_all_or_nothing_and_names_the_refused_item(client, make_graduate, start, login_staff, db):
    g = make_graduate(party_member=True, has_national_loan=False)
    start(g)
    login_staff("op", "college")
    english(client)
    before = event_count(db, g)
    resp = client.post("/desk/confirm", data={"graduate_id": g.id, "cp": "college",
                                              "task": ["party_letter", "national_loan"]}, follow_redirects=True)
    page = text(resp)
    assert "Nothing was confirmed:" in page and "is not required for this graduate" in page
    assert status(db, g, "party_letter") == "pending"
    assert event_count(db, g) == before


def test_items_of_another_checkpoint_of_the_same_operator_are_refused(client, make_graduate, start, login_staff,
                                                                      db):
    g = make_graduate()
    start(g)
    login_staff("op", "utilities", "dormitory")
    resp = client.post("/desk/confirm", data={"graduate_id": g.id, "cp": "utilities", "task": "dorm_checkout"})
    assert resp.status_code == 403 and status(db, g, "dorm_checkout") == "pending"
    resp = client.post("/desk/confirm", data={"graduate_id": g.id, "cp": "utilities", "task": "no_such_item"})
    assert resp.status_code == 404


def test_reject_offers_the_checkpoint_templates_and_needs_the_blank_filled(client, make_graduate, start,
                                                                          login_staff, db):
    g = make_graduate()
    start(g)
    login_staff("op", "utilities")
    html = client.get(f"/desk/?cp=utilities&graduate_id={g.id}").get_data(as_text=True)
    assert 'data-lx-reason="欠电费 {金额} 元"' in html and 'action="/desk/reject"' in html
    form = {"graduate_id": g.id, "cp": "utilities", "task": "electricity"}
    english(client)
    resp = client.post("/desk/reject", data={**form, "reason": "欠电费 {金额} 元"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "Fill in {金额} in the reason first." in page
    assert 'value="欠电费 {金额} 元" autofocus' in page                 # nothing typed is lost
    resp = client.post("/desk/reject", data={**form, "reason": ""})
    assert resp.status_code == 422 and "Give the reason: the graduate will read it." in text(resp)
    assert status(db, g, "electricity") == "pending" and event_count(db, g, action="reject") == 0

    resp = client.post("/desk/reject", data={**form, "reason": "欠电费 35.5 元"}, follow_redirects=True)
    assert "marked as not passed. Reason: 欠电费 35.5 元" in text(resp)
    assert status(db, g, "electricity") == "rejected"
    event = db.session.scalar(sa.select(Event).where(Event.graduate_id == g.id, Event.action == "reject"))
    assert (event.reason, event.actor) == ("欠电费 35.5 元", "op")
    # the item stays open (confirmable), shows the reason, and the graduate reads it on the sheet
    html = client.get(f"/desk/?cp=utilities&graduate_id={g.id}").get_data(as_text=True)
    assert re.search(r'name="task" value="electricity"(?![^>]*disabled)', html)
    assert "欠电费 35.5 元" in html
    client.post("/logout")
    from app.auth.services import set_graduate_password

    set_graduate_password(db.session.merge(g), "grad-pass-123")
    login(client, g.student_no, "grad-pass-123")
    assert "欠电费 35.5 元" in text(client.get("/me"))


def test_reopen_a_passed_item_with_a_reason(client, make_graduate, start, login_staff, db):
    g = make_graduate()
    start(g)
    login_staff("op", "dormitory")
    english(client)
    client.post("/desk/confirm", data={"graduate_id": g.id, "cp": "dormitory", "task": "dorm_checkout"})
    html = client.get(f"/desk/?cp=dormitory&graduate_id={g.id}").get_data(as_text=True)
    assert 'action="/desk/reopen"' in html and 'action="/desk/reject"' not in html
    form = {"graduate_id": g.id, "cp": "dormitory", "task": "dorm_checkout"}
    assert client.post("/desk/reopen", data={**form, "reason": " "}).status_code == 422
    resp = client.post("/desk/reopen", data={**form, "reason": "钥匙未交还"}, follow_redirects=True)
    assert "re-opened. Reason: 钥匙未交还" in text(resp)
    assert status(db, g, "dorm_checkout") == "pending"
    # re-opening an item that is not passed shows the engine's message
    resp = client.post("/desk/reopen", data={**form, "reason": "again"}, follow_redirects=True)
    assert "is not passed, there is nothing to re-open" in text(resp)


def test_reopen_after_certificates_were_issued_shows_the_refusal(client, make_graduate, start, login_staff, db):
    from app.workflow.services import Actor, apply_items

    g = make_graduate()
    start(g)
    apply_items(g.id, ["student_id_card", "electricity", "dorm_checkout", "certificates"], "confirm",
                Actor.system("test"))
    login_staff("op", "utilities")
    resp = client.post("/desk/reopen", data={"graduate_id": g.id, "cp": "utilities", "task": "electricity",
                                             "reason": "复核"}, follow_redirects=True)
    assert "证书已发放：“清理电费”不能再修改" in text(resp)
    assert status(db, g, "electricity") == "passed"


def test_clearance_record_shows_every_checkpoint_and_the_timeline(client, make_graduate, start, login_staff, db):
    from app.workflow.services import Actor, apply_items, update_attributes

    g = make_graduate(name="记录生", library_books=2)
    start(g)
    login_staff("op", "utilities")
    client.post("/desk/confirm", data={"graduate_id": g.id, "cp": "utilities", "task": "electricity"})
    client.post("/desk/reopen", data={"graduate_id": g.id, "cp": "utilities", "task": "electricity",
                                      "reason": "电费复核发现漏缴"})
    apply_items(g.id, ["dorm_checkout"], "reject", Actor(None, "宿管王老师", "batch"), reason="钥匙未交还")
    update_attributes(g.id, {"library_books": 0}, Actor.system("sync", "api"))      # the library rule passes it
    english(client)
    desk = client.get(f"/desk/?cp=utilities&graduate_id={g.id}").get_data(as_text=True)
    assert f'href="/desk/record/{g.id}?cp=utilities"' in desk
    resp = client.get(f"/desk/record/{g.id}?cp=utilities")
    assert resp.status_code == 200
    page = text(resp)
    for checkpoint in ("College office", "Library", "Utilities centre", "Dormitory management", "Finance office"):
        assert checkpoint in page
    assert "钥匙未交还" in page and "宿管王老师 (batch)" in page
    assert "电费复核发现漏缴" in page and "Reversal" in page and "op (operator)" in page
    assert "automatic rule" in page and "Clearance started" in page
    timeline = page[page.index("Timeline"):]
    assert timeline.index("电费复核发现漏缴") < timeline.index("Clearance started")   # newest first


def test_reason_templates_page(client, login_staff, db):
    login_staff("op", "utilities")
    english(client)
    page = text(client.get("/desk/reasons?cp=utilities"))
    assert "欠电费 {金额} 元" in page and "These are the suggested reasons." in page
    resp = client.post("/desk/reasons", data={"cp": "utilities", "text": "电卡未退", "text_en": ""},
                       follow_redirects=True)
    page = text(resp)
    assert "Reason added: 电卡未退" in page and "欠电费 {金额} 元" in page and "suggested reasons" not in page
    resp = client.post("/desk/reasons", data={"cp": "utilities", "text": "", "text_en": ""})
    assert resp.status_code == 422 and "Type the reason." in text(resp)
    resp = client.post("/desk/reasons", data={"cp": "utilities", "text": "电卡未退"})
    assert resp.status_code == 422 and "already in the list" in text(resp)
    from app.desk.models import ReasonTemplate

    first = db.session.scalar(sa.select(ReasonTemplate).order_by(ReasonTemplate.sort_order))
    resp = client.post("/desk/reasons/delete", data={"cp": "utilities", "ref": f"t{first.id}"}, follow_redirects=True)
    assert "Reason deleted: 欠电费 {金额} 元" in text(resp)
    resp = client.post("/desk/reasons/delete", data={"cp": "utilities", "ref": f"t{first.id}"}, follow_redirects=True)
    assert "no longer in the list" in text(resp)
    # the desk offers the checkpoint's own list
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.action == "reason_add")) == 1


def test_reason_templates_of_another_checkpoint_are_out_of_reach(client, login_staff, db):
    login_staff("op", "library")
    assert client.get("/desk/reasons?cp=utilities").status_code == 403
    assert client.post("/desk/reasons", data={"cp": "utilities", "text": "x"}).status_code == 403
    assert client.post("/desk/reasons/delete", data={"cp": "utilities", "ref": "d0"}).status_code == 403
    from app.desk.models import ReasonTemplate

    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReasonTemplate)) == 0


DESK_GETS = ["/desk/?cp={cp}", "/desk/?cp={cp}&graduate_id={gid}", "/desk/?cp={cp}&q={no}",
             "/desk/record/{gid}?cp={cp}", "/desk/reasons?cp={cp}", "/desk/counts?cp={cp}"]
DESK_POSTS = [("/desk/confirm", {"task": "electricity"}), ("/desk/reject", {"task": "electricity", "reason": "x"}),
              ("/desk/reopen", {"task": "electricity", "reason": "x"}), ("/desk/reasons", {"text": "x"}),
              ("/desk/reasons/delete", {"ref": "d0"})]


def _matrix(client, g, cp="utilities"):
    gets = {url: client.get(url.format(cp=cp, gid=g.id, no=g.student_no)).status_code for url in DESK_GETS}
    posts = {url: client.post(url, data={"graduate_id": g.id, "cp": cp, **data}).status_code
             for url, data in DESK_POSTS}
    return gets, posts


def test_role_matrix_of_the_desk_core(client, make_graduate, start, login_staff, login_graduate, operator, db):
    g = make_graduate()
    start(g)
    # anonymous: to the login page
    gets, posts = _matrix(client, g)
    assert set(gets.values()) == {302} and set(posts.values()) == {302}
    # an operator of another checkpoint: 403 on every page and form of this one
    login_staff("libop", "library")
    gets, posts = _matrix(client, g)
    assert set(gets.values()) == {403}, gets
    assert set(posts.values()) == {403}, posts
    client.post("/logout")
    # a leader: 403
    login_staff("boss", role="leader")
    gets, posts = _matrix(client, g)
    assert set(gets.values()) == {403} and set(posts.values()) == {403}
    client.post("/logout")
    # a graduate: 403
    login_graduate(g)
    gets, posts = _matrix(client, g)
    assert set(gets.values()) == {403} and set(posts.values()) == {403}
    client.post("/logout")
    assert status(db, g, "electricity") == "pending"
    # the checkpoint's own operator and an admin: allowed
    for who in ("utop", "root"):
        if who == "utop":
            login_staff(who, "utilities")
        else:
            login_staff(who, role="admin")
        gets = {url: client.get(url.format(cp="utilities", gid=g.id, no=g.student_no)).status_code
                for url in DESK_GETS}
        assert set(gets.values()) <= {200, 303}, gets
        client.post("/logout")


def test_desk_core_forms_need_csrf_tokens(client, app, make_graduate, start, login_staff, db, monkeypatch):
    g = make_graduate()
    start(g)
    login_staff("op", "utilities")
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    base = {"graduate_id": g.id, "cp": "utilities", "task": "electricity", "reason": "欠电费 3 元"}
    for url in ("/desk/confirm", "/desk/reject", "/desk/reopen"):
        assert client.post(url, data=base).status_code == 400
    assert client.post("/desk/reasons", data={"cp": "utilities", "text": "x"}).status_code == 400
    assert client.post("/desk/reasons/delete", data={"cp": "utilities", "ref": "d0"}).status_code == 400
    html = client.get(f"/desk/?cp=utilities&graduate_id={g.id}").get_data(as_text=True)
    reject = html[html.index('action="/desk/reject"'):]
    token = re.search(r'name="csrf_token" value="([^"]+)"', reject).group(1)
    resp = client.post("/desk/reject", data={**base, "csrf_token": token})
    assert resp.status_code == 303 and status(db, g, "electricity") == "rejected"


def test_live_counts_load_after_the_page(client, make_graduate, start, login_staff):
    a, b = make_graduate(), make_graduate()
    start(a, b)
    login_staff("op", "utilities")
    html = client.get("/desk/?cp=utilities").get_data(as_text=True)
    assert 'hx-get="/desk/counts?cp=utilities"' in html
    client.post("/desk/confirm", data={"graduate_id": a.id, "cp": "utilities", "task": "electricity"})
    page = text(client.get("/desk/counts?cp=utilities"))
    assert "待办理 1" in page and "已通过 1" in page


def test_desk_counts_done_items_as_the_graduates_sheet_does(client, make_graduate, start, login_staff,
                                                            login_graduate, db):
    """Issue 9: the desk said "8/13" where the sheet said "2/7": both count the items that apply."""
    from app.workflow.services import Actor, apply

    g = make_graduate(party_member=True, arrears=120)
    start(g)
    apply([g.id], "student_id_card", "confirm", Actor(None, "tester"))
    rows = dict(db.session.execute(
        sa.select(ClearanceItem.task_key, ClearanceItem.status).where(ClearanceItem.graduate_id == g.id)).all())
    applies = [s for s in rows.values() if s != "not_required"]
    done = sum(1 for s in applies if s in ("passed", "waived"))
    assert len(applies) < len(rows)               # some items do not apply to this graduate
    phrase = f"已完成 {done} / {len(applies)} 项"
    login_graduate(g)
    assert phrase in text(client.get("/me"))
    client.delete_cookie("session")
    login_staff("desk-op", "college")
    assert phrase in text(client.get(f"/desk/?cp=college&graduate_id={g.id}"))
    assert phrase in text(client.get(f"/desk/record/{g.id}?cp=college"))
