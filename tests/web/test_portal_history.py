"""The graduate's history: every change to their items from the events table, newest first, paged."""
from __future__ import annotations

import re

import sqlalchemy as sa

from app.core.enums import Source
from app.workflow.models import Event
from app.workflow.services import Actor, apply, update_attributes

OP = Actor(None, "张老师")


def entries(resp) -> list[dict]:
    """(id, action, text, reversal) of every entry, in page order."""
    html = resp.get_data(as_text=True)
    out = []
    pattern = r'<li class="lx-event([^"]*)" id="event-(\d+)" data-action="([a-z_]+)">(.*?)</li>'
    for m in re.finditer(pattern, html, re.S):
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", m.group(4))).strip()
        out.append({"id": int(m.group(2)), "action": m.group(3), "text": text, "reversal": "lx-reversal" in m.group(1)})
    return out


def test_history_names_who_or_what_and_marks_reversals(client, make_graduate, start, login_graduate, db):
    g = make_graduate(party_member=True, league_member=True, arrears=100, library_books=0, library_fines=0)
    start(g)
    apply([g.id], "party_letter", "reject", OP, reason="请先缴纳党费")
    apply([g.id], "party_letter", "confirm", OP)
    apply([g.id], "party_letter", "reopen", OP, reason="介绍信抬头有误")
    apply([g.id], "league_transfer", "confirm", Actor(None, "李老师", Source.BATCH))
    apply([g.id], "student_id_card", "confirm", Actor(None, "王老师", Source.IMPORT))
    apply([g.id], "finance", "waive", OP, reason="缓交证明")
    apply([g.id], "finance", "unwaive", OP, reason="缓交证明过期")
    update_attributes(g.id, {"library_books": 2}, Actor(None, "图书馆系统", Source.API))   # auto pass reverted
    login_graduate(g)
    resp = client.get("/me/history?lang=en")
    assert resp.status_code == 200
    got = entries(resp)
    ids = [e["id"] for e in got]
    assert ids == sorted(ids, reverse=True)                                      # newest first
    stored = db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.graduate_id == g.id))
    assert len(got) == stored                                                     # every event, one page
    by_action = {}
    for e in got:
        by_action.setdefault(e["action"], []).append(e)
    # who or what
    reject = by_action["reject"][0]["text"]
    assert "Marked as not passed" in reject and "Reason: 请先缴纳党费" in reject and "Operator 张老师" in reject
    assert "Pending" in reject and "Not passed" in reject                        # old -> new status
    assert any("Batch action by 李老师" in e["text"] for e in by_action["confirm"])
    assert any("Excel import by 王老师" in e["text"] for e in by_action["confirm"])
    assert "Automatic rule (office records)" in by_action["auto_pass"][0]["text"]
    assert "Clearance started" in by_action["start"][0]["text"] and "System" in by_action["start"][0]["text"]
    # reversals are marked, whatever caused them
    reopen, unwaive, revert = by_action["reopen"][0], by_action["unwaive"][0], by_action["auto_revert"][0]
    assert reopen["reversal"] and "Re-opened" in reopen["text"] and "介绍信抬头有误" in reopen["text"]
    assert unwaive["reversal"] and "Deferral withdrawn" in unwaive["text"]
    assert revert["reversal"] and "Automatic pass withdrawn" in revert["text"] and "Passed" in revert["text"]
    assert not any(e["reversal"] for e in by_action["confirm"] + by_action["reject"] + by_action["start"])
    # Chinese by default
    zh = client.get("/me/history?lang=zh_CN").get_data(as_text=True)
    assert "未通过" in zh and "已通过" in zh


def test_history_is_paged_newest_first(client, make_graduate, start, login_graduate, db):
    g = make_graduate(party_member=True)
    start(g)
    for n in range(30):
        apply([g.id], "party_letter", "reject", OP, reason=f"原因 {n:02d}")
    login_graduate(g)
    first = entries(client.get("/me/history"))
    assert len(first) == 25 and "原因 29" in first[0]["text"]
    resp = client.get("/me/history?page=2")
    second = entries(resp)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.graduate_id == g.id))
    assert len(first) + len(second) == total
    assert min(e["id"] for e in first) > max(e["id"] for e in second)
    assert 'rel="prev"' in resp.get_data(as_text=True)
    assert client.get("/me/history?page=3").status_code == 404
    assert client.get("/me/history?page=x").status_code == 200                  # junk: first page


def test_history_shows_only_the_graduates_own_events(client, make_graduate, start, login_graduate):
    me = make_graduate(name="张三")
    other = make_graduate(name="李四", party_member=True)
    start(me, other)
    apply([other.id], "party_letter", "reject", OP, reason="李四的私人原因")
    login_graduate(me)
    for url in ("/me/history", f"/me/history?graduate_id={other.id}", f"/me/history?page=1&id={other.id}"):
        html = client.get(url).get_data(as_text=True)
        assert "李四的私人原因" not in html and "领取党组织关系介绍信" not in html


def test_history_does_not_load_the_engine(client, make_graduate, start, login_graduate, monkeypatch):
    from app.workflow import engine, services

    g = make_graduate()
    start(g)
    login_graduate(g)

    def boom(*a, **k):
        raise AssertionError("the history must not load the engine")

    monkeypatch.setattr(engine.Instance, "load", boom)
    monkeypatch.setattr(services, "_runtime_by_id", boom)
    assert client.get("/me/history").status_code == 200


def test_the_graduates_own_actions_are_labelled_as_such(client, make_graduate, start, login_graduate):
    from app.portal.appeals import submit_appeal

    g = make_graduate(party_member=True)
    start(g)
    submit_appeal(g.id, "party_letter", "我已经领取了介绍信", Actor(None, g.name))
    login_graduate(g)
    got = entries(client.get("/me/history?lang=en"))
    appeal = next(e for e in got if e["action"] == "appeal")
    assert "Appeal sent to the office" in appeal["text"] and "我已经领取了介绍信" in appeal["text"]
    assert appeal["text"].endswith("You") and "Operator" not in appeal["text"]


def test_falling_back_from_ready_for_certificates_is_a_reversal(client, make_graduate, start, login_graduate, db):
    from app.workflow.models import Clearance, ClearanceItem

    g = make_graduate(lives_on_campus=True)
    start(g)
    pending = db.session.scalars(sa.select(ClearanceItem.task_key).where(
        ClearanceItem.graduate_id == g.id, ClearanceItem.status == "pending")).all()
    for key in pending:
        apply([g.id], key, "confirm", OP)
    assert db.session.scalar(sa.select(Clearance.status).where(Clearance.graduate_id == g.id)) == "eligible"
    apply([g.id], pending[0], "reopen", OP, reason="学生证未交到学工处")
    login_graduate(g)
    got = entries(client.get("/me/history?lang=en"))
    statuses = [e for e in got if e["action"] == "status"]
    assert [e["reversal"] for e in statuses] == [True, False]            # newest first: fell back, then became ready
    assert "Ready for certificates" in statuses[0]["text"] and "In progress" in statuses[0]["text"]
