"""The graduate's clearance sheet at /me (reads the projection only)."""
from __future__ import annotations

import re

import sqlalchemy as sa

from app.workflow.models import ClearanceItem
from app.workflow.services import Actor, apply

OP = Actor(None, "tester")


def text(resp) -> str:
    """The page's visible text, whitespace collapsed (for phrase assertions)."""
    html = resp.get_data(as_text=True)
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_sheet_shows_status_reasons_places_and_phones(client, make_graduate, start, login_graduate, db):
    g = make_graduate(party_member=True, arrears=120, library_books=0, library_fines=0)
    start(g)
    apply([g.id], "party_letter", "reject", OP, reason="请先补交党费 36 元")
    login_graduate(g)
    resp = client.get("/me")
    assert resp.status_code == 200
    page = text(resp)
    html = resp.get_data(as_text=True)
    assert g.name in page and g.student_no in page
    # status badges in Chinese, the rejection reason, the blocked item naming its blockers
    assert "未通过" in page and "请先补交党费 36 元" in page
    assert "待办理" in page and "已通过" in page and "无需办理" in page
    assert "等待前置环节" in page and "需先完成：" in page and "缴清欠费" in page
    # auto items say so
    assert "系统自动核验通过" in page            # library passed by its rule at start
    assert "系统自动核验：" in page              # finance still pending, checked automatically
    # where and whom to call: place, office hours and a tel: link of the checkpoint
    assert "行政楼一楼收费大厅" in page and "工作日 8:30–11:30, 14:30–17:00" in page
    assert 'href="tel:0731-58290007"' in html
    # what to bring / do (the item's documentation)
    assert "请携带学生证或身份证" in page
    # progress: passed + waived, of the items that apply (not-required ones count neither way)
    rows = dict(db.session.execute(
        sa.select(ClearanceItem.task_key, ClearanceItem.status).where(ClearanceItem.graduate_id == g.id)).all())
    applies = [s for s in rows.values() if s != "not_required"]
    done = sum(1 for s in applies if s in ("passed", "waived"))
    assert f"已完成 {done} / {len(applies)} 项" in page
    assert "办理中" in page


def test_items_are_grouped_by_checkpoint_in_sort_order(client, make_graduate, start, login_graduate, db):
    from app.workflow.models import Checkpoint

    g = make_graduate(party_member=True, league_member=True)
    start(g)
    login_graduate(g)
    html = client.get("/me").get_data(as_text=True)
    rows = db.session.execute(
        sa.select(ClearanceItem.task_key, ClearanceItem.sort_order, Checkpoint.key)
        .join(Checkpoint, Checkpoint.id == ClearanceItem.checkpoint_id)
        .where(ClearanceItem.graduate_id == g.id)).all()
    first = {}
    for key, order, cp in rows:
        first[cp] = min(order, first.get(cp, order))
    shown = re.findall(r'<section class="card mb-3[^"]*" id="cp-([a-z_]+)"', html)
    assert shown and len(shown) == len(set(shown))                    # one card per checkpoint
    assert shown == sorted(shown, key=first.get)                       # in the order of their first item
    sections = re.split(r'<section class="card mb-3[^"]*" id="cp-', html)[1:]
    for section in sections:
        section = section.split("</section>", 1)[0]
        cp = section.split('"', 1)[0]
        keys = re.findall(r'id="item-([a-z_]+)"', section)
        expected = [k for k, o, c in sorted(rows, key=lambda r: r[1]) if c == cp]
        assert keys == expected


def test_sheet_shows_only_the_graduates_own_items(client, make_graduate, start, login_graduate):
    me = make_graduate(name="张三")
    other = make_graduate(name="李四", party_member=True)
    start(me, other)
    apply([other.id], "party_letter", "reject", OP, reason="李四的私人原因")
    login_graduate(me)
    page = text(client.get("/me"))
    assert "张三" in page
    assert "李四" not in page and other.student_no not in page and "李四的私人原因" not in page
    # no way to ask for someone else's sheet
    assert client.get(f"/me?graduate_id={other.id}").get_data(as_text=True).count("李四") == 0


def test_no_clearance_yet_gives_a_friendly_message(client, make_graduate, login_graduate):
    g = make_graduate()
    login_graduate(g)
    page = text(client.get("/me"))
    assert "您的离校手续尚未开始" in page


def test_english_sheet_uses_english_labels_and_item_names(client, make_graduate, start, login_graduate):
    g = make_graduate(party_member=True)
    start(g)
    login_graduate(g)
    resp = client.get("/me?lang=en")
    html = resp.get_data(as_text=True)
    page = text(resp)
    assert '<html lang="en">' in html
    assert "Collect the Party membership transfer letter" in page
    assert "Pending" in page and "Not required" in page and "Clearance sheet" in page
    assert "College office" in page
    assert "待办理" not in page
    # the offices' place, hours and instructions and the items' "what to do" are English too
    assert "College office building, room 101" in page and "Working days 8:30–11:30, 14:30–17:30" in page
    assert "Party members collect the Party membership transfer letter" in page
    assert "bring your student ID card" in page
    assert not re.search(r"[\u4e00-\u9fff]", page.replace(g.name, "").replace(g.college, "")
                         .replace(g.major or "", "").replace(g.class_name or "", "").replace("中文", "")), \
        re.findall(r".{20}[\u4e00-\u9fff]+.{20}", page)[:5]
    # the choice sticks for the session, and switching back works
    assert "Clearance sheet" in text(client.get("/me"))
    assert "离校单" in text(client.get("/me?lang=zh_CN"))


def test_sheet_does_not_load_the_engine(client, make_graduate, start, login_graduate, monkeypatch):
    from app.workflow import engine, services

    g = make_graduate()
    start(g)
    login_graduate(g)

    def boom(*a, **k):
        raise AssertionError("the sheet must not load the engine")

    monkeypatch.setattr(engine.Instance, "load", boom)
    monkeypatch.setattr(services, "_runtime_by_id", boom)
    assert client.get("/me").status_code == 200


def todo(resp) -> str:
    """The text of the to-do summary card only."""
    html = resp.get_data(as_text=True)
    block = html.split('id="todo"', 1)[1].split("</section>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", block))


def test_todo_summary_lists_open_items_with_reason_place_and_phone(client, make_graduate, start,
                                                                   login_graduate):
    g = make_graduate(party_member=True, arrears=50, lives_on_campus=True)
    start(g)
    apply([g.id], "party_letter", "reject", OP, reason="党费未缴清")
    login_graduate(g)
    resp = client.get("/me")
    html = resp.get_data(as_text=True)
    summary = todo(resp)
    # the to-do card comes before the checkpoint cards and names what, where and whom to call
    assert html.index('id="todo"') < html.index('id="cp-')
    assert "领取党组织关系介绍信" in summary and "党费未缴清" in summary
    assert "学院离校点" in summary and "学院办公楼 101" in summary and "工作日 8:30–11:30, 14:30–17:30" in summary
    assert "缴清欠费" in summary and "行政楼一楼收费大厅" in summary
    todo_html = html.split('id="todo"', 1)[1].split("</section>", 1)[0]
    assert 'href="tel:0731-58290001"' in todo_html and 'href="tel:0731-58290007"' in todo_html
    # done, blocked and not-required items are not in the to-do list
    assert "上交学生证" not in summary or "待办理" in summary          # student ID card is pending here
    assert "归还交换机" not in summary                                  # not required
    assert 'data-key="certificates"' not in todo_html                  # blocked: named below, not a to-do
    assert "领取“三证”和户口迁移证明" in summary                       # ...named as opening later


def test_todo_summary_puts_not_passed_items_first(client, make_graduate, start, login_graduate):
    g = make_graduate(party_member=True, lives_on_campus=True)
    start(g)
    apply([g.id], "electricity", "reject", OP, reason="欠电费 30 元")     # late in the process order
    login_graduate(g)
    todo_html = client.get("/me").get_data(as_text=True).split('id="todo"', 1)[1].split("</section>", 1)[0]
    keys = re.findall(r'<li class="py-2" data-key="([a-z_]+)"', todo_html)
    assert keys[0] == "electricity" and "party_letter" in keys[1:]        # then the rest in process order


def test_waived_item_shows_its_expiry_and_an_expired_deferral_warns(client, make_graduate, start,
                                                                     login_graduate):
    from datetime import date

    g = make_graduate(arrears=300)
    start(g)
    apply([g.id], "finance", "waive", OP, reason="缓交证明 2026-17", waived_until=date(2099, 7, 1))
    login_graduate(g)
    page = text(client.get("/me"))
    assert "缓交" in page and "缓交至 2099-07-01" in page and "缓交证明 2026-17" in page

    other = make_graduate(arrears=300)
    start(other)
    apply([other.id], "finance", "waive", OP, reason="缓交证明 2020-01", waived_until=date(2020, 1, 31))
    client.post("/logout")
    login_graduate(other)
    resp = client.get("/me?lang=en")
    assert "The deferral expired on 2020-01-31" in text(resp)
    assert "The deferral expired on 2020-01-31" in todo(resp) and "Pay outstanding fees" in todo(resp)


def test_not_required_items_say_so_and_whole_offices_are_folded(client, make_graduate, start, login_graduate):
    g = make_graduate(party_member=True, league_member=False, borrowed_switch=False)
    start(g)
    login_graduate(g)
    resp = client.get("/me?lang=en")
    html = resp.get_data(as_text=True)
    page = text(resp)
    # a whole office without any item that applies goes into the folded list
    folded = html.split('id="not-applicable"', 1)[1].split("</details>", 1)[0]
    assert "Network centre" in folded and "Return the network switch" in folded and "Not required" in folded
    assert 'id="cp-network"' not in html
    # inside an office that applies, the item says it does not apply
    college = html.split('id="cp-college"', 1)[1].split("</section>", 1)[0]
    assert 'id="item-league_transfer" data-status="not_required"' in college
    # progress counts only the items that apply: not-required ones are neither done nor to do
    statuses = re.findall(r'id="item-[a-z_]+" data-status="([a-z_]+)"', html)
    applies = [st for st in statuses if st != "not_required"]
    done = sum(st in ("passed", "waived") for st in applies)
    assert "not_required" in statuses and len(applies) < len(statuses)
    assert f"{done} of {len(applies)} done" in page
    assert 'id="item-party_letter" data-status="pending"' in college
    assert "This item does not apply to you: nothing to do." in page


def test_auto_checked_items_show_when_the_data_was_synced(client, make_graduate, start, login_graduate, db):
    from datetime import datetime

    from app.graduates.models import Graduate

    g = make_graduate(arrears=10)
    start(g)
    login_graduate(g)
    page = text(client.get("/me?lang=en"))
    assert "Office records as of the roster import" in page           # never synced
    db.session.get(Graduate, g.id).synced_at = datetime(2026, 6, 2, 6, 5)
    db.session.commit()
    resp = client.get("/me?lang=en")
    page = text(resp)
    # stored in UTC, shown in the school's time zone (UTC+8)
    assert "Office records as of 2026-06-02 14:05" in page
    finance = resp.get_data(as_text=True).split('id="item-finance"', 1)[1].split('class="lx-item', 1)[0]
    assert "lx-synced" in finance and "2026-06-02 14:05" in finance


def _count_queries(client, url):
    from sqlalchemy import event

    from app.extensions import db

    statements = []

    def count(conn, cursor, statement, *args):  # noqa: ARG001
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        resp = client.get(url)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert resp.status_code == 200
    return statements


def test_sheet_uses_a_constant_number_of_queries(client, make_graduate, start, login_graduate):
    small = make_graduate(gtype="postgraduate_single")
    big = make_graduate(party_member=True, league_member=True, borrowed_instrument=True, has_national_loan=True,
                        borrowed_switch=True, has_origin_loan=True, arrears=5)
    start(small, big)
    from app.portal.appeals import submit_appeal
    from app.portal.sheet_cache import sheet_cache

    for key in ("party_letter", "league_transfer", "finance"):                # appeals: one query for all
        submit_appeal(big.id, key, "已经办好了", OP)
    for g in (small, big):
        login_graduate(g)
        client.get("/me")                                              # warm caches (translations, ...)
        sheet_cache.clear()                                            # count the rendering, not a cache hit
        counts = [len(_count_queries(client, url)) for url in ("/me", "/me/diagram", "/me/history")]
        assert len(_count_queries(client, "/me")) <= 5                # the same page again: from the cache
        if g is small:
            first = counts
        client.post("/logout")
    assert counts == first, (first, counts)
    assert max(counts) <= 12, counts


def test_graduate_pages_refuse_staff_and_ask_anonymous_to_log_in(client, login_staff):
    for url in ("/me", "/me/diagram", "/me/diagram.json", "/me/history"):
        resp = client.get(url)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], url
    login_staff("library", "library")
    for url in ("/me", "/me/diagram", "/me/diagram.json", "/me/history"):
        assert client.get(url).status_code == 403, url


def test_first_login_is_sent_to_the_password_change(client, make_graduate, start):
    g = make_graduate()
    start(g)
    resp = client.post("/login", data={"kind": "graduate", "username": g.student_no, "password": g.id_card[-6:]})
    assert resp.status_code == 302
    for url in ("/me", "/me/diagram", "/me/history"):
        resp = client.get(url)
        assert resp.status_code in (302, 303) and "password" in resp.headers["Location"], url
    assert client.get("/me/diagram.json").status_code in (303, 403)


def test_postgraduate_sees_the_advisor_first_and_what_waits_for_it(client, make_graduate, start, login_graduate):
    g = make_graduate(gtype="postgraduate_dual", advisor="陈教授")
    start(g)
    login_graduate(g)
    resp = client.get("/me?lang=en")
    summary = todo(resp)
    # the advisor's review is the only to-do, with the advisor's name; everything else waits for it
    assert "Your advisor: 陈教授" in summary
    html = resp.get_data(as_text=True)
    assert html.count('data-status="blocked"') >= 5
    library = html.split('id="item-library"', 1)[1].split('class="lx-item', 1)[0]
    assert "Opens after:" in library and "Advisor&#39;s graduation-requirements review" in library


def test_reopening_the_last_item_keeps_the_certificates_on_the_sheet(client, make_graduate, start, login_graduate,
                                                                    db):
    """Issue 9 (3): the sheet listed the certificate step under "offices that do not apply to you"."""
    g = make_graduate(party_member=True)
    start(g)
    for key in ("student_id_card", "electricity", "dorm_checkout", "party_letter"):
        apply([g.id], key, "confirm", OP)
    apply([g.id], "party_letter", "reopen", OP, reason="介绍信抬头有误")
    login_graduate(g)
    html = client.get("/me").get_data(as_text=True)
    hidden = html.split('id="not-applicable"', 1)[1] if 'id="not-applicable"' in html else ""
    assert 'id="item-certificates"' in html
    assert 'id="item-certificates"' not in hidden
    page = text(client.get("/me"))
    assert "领取“三证”和户口迁移证明 等待前置环节 需先完成：领取党组织关系介绍信" in page
