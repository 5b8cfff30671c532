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
    # progress: done = passed + waived + not required, of all items
    rows = dict(db.session.execute(
        sa.select(ClearanceItem.task_key, ClearanceItem.status).where(ClearanceItem.graduate_id == g.id)).all())
    done = sum(1 for s in rows.values() if s in ("passed", "waived", "not_required"))
    assert f"已完成 {done} / {len(rows)} 项" in page
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
