"""Desk core use cases on a real engine: several items of one graduate in one transaction,
reject / re-open with reasons, reason templates, and two operators confirming at once."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_processes
import sqlalchemy as sa

from app.desk.models import ReasonTemplate
from app.desk.services import TemplateRefused, add_reason, delete_reason, reasons_for, unfilled_blank
from app.workflow.models import Checkpoint, Clearance, ClearanceItem, Event
from app.workflow.services import Actor, ItemsRefused, apply_items, projection_mismatches

ROOT = Path(__file__).resolve().parents[2]
OP = Actor(None, "柜台甲", "manual")


def items(db, g) -> dict[str, str]:
    db.session.expire_all()
    return dict(db.session.execute(sa.select(ClearanceItem.task_key, ClearanceItem.status)
                                   .where(ClearanceItem.graduate_id == g.id)).all())


def events(db, g, **where) -> list[Event]:
    stmt = sa.select(Event).where(Event.graduate_id == g.id).order_by(Event.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(Event, name) == value)
    return list(db.session.scalars(stmt))


def clearance(db, g) -> Clearance:
    db.session.expire_all()
    return db.session.scalar(sa.select(Clearance).where(Clearance.graduate_id == g.id))


def consistent(db, g) -> None:
    assert projection_mismatches(clearance(db, g)) == []


@pytest.fixture()
def member(make_graduate, start):
    g = make_graduate(party_member=True, league_member=True)
    start(g)
    return g


def test_several_items_in_one_transaction(db, member):
    before = clearance(db, member).version
    out = apply_items(member.id, ["party_letter", "league_transfer"], "confirm", OP)
    assert [(o.key, o.old, o.new) for o in out] == [("party_letter", "pending", "passed"),
                                                    ("league_transfer", "pending", "passed")]
    st = items(db, member)
    assert st["party_letter"] == st["league_transfer"] == "passed"
    assert clearance(db, member).version == before + 1          # one saved change
    confirms = events(db, member, action="confirm")
    assert [(e.task_key, e.actor) for e in confirms] == [("party_letter", "柜台甲"), ("league_transfer", "柜台甲")]
    consistent(db, member)


def test_one_refused_item_applies_nothing(db, member):
    before = clearance(db, member).version
    n_events = len(events(db, member))
    with pytest.raises(ItemsRefused) as refused:
        apply_items(member.id, ["party_letter", "national_loan", "league_transfer"], "confirm", OP)
    assert refused.value.key == "national_loan" and refused.value.code == "not_required"
    assert "确认国家助学贷款还款手续" in refused.value.message
    st = items(db, member)
    assert st["party_letter"] == st["league_transfer"] == "pending"
    assert clearance(db, member).version == before and len(events(db, member)) == n_events
    consistent(db, member)


def test_second_confirm_says_already_passed(db, member):
    apply_items(member.id, ["electricity"], "confirm", OP)
    with pytest.raises(ItemsRefused) as refused:
        apply_items(member.id, ["electricity"], "confirm", OP)
    assert refused.value.code == "already_passed"
    assert len(events(db, member, task_key="electricity", action="confirm")) == 1


def test_unknown_and_blocked_items_are_refused_by_name(db, member):
    with pytest.raises(ItemsRefused) as refused:
        apply_items(member.id, ["no_such_item"], "confirm", OP)
    assert refused.value.code == "unknown_item"
    with pytest.raises(ItemsRefused) as refused:
        apply_items(member.id, ["certificates"], "confirm", OP)
    assert refused.value.code == "blocked" and "清理电费" in refused.value.message


def test_cascades_and_status_changes_are_recorded_step_by_step(db, member):
    # certificates waits for these five; confirming them in ONE call opens it
    apply_items(member.id, ["student_id_card", "party_letter", "league_transfer", "electricity", "dorm_checkout"],
                "confirm", OP)
    assert items(db, member)["certificates"] == "pending"
    cascade = events(db, member, task_key="certificates")
    assert [(e.action, e.old, e.new, e.actor) for e in cascade] == [("cascade", "blocked", "pending", "engine")]
    assert [(e.old, e.new) for e in events(db, member, action="status")] == [("in_progress", "eligible")]
    assert clearance(db, member).status == "eligible"
    consistent(db, member)


def test_a_precondition_and_its_follower_in_one_call(db, make_graduate, start):
    g = make_graduate()                      # no party / league membership: those items are not required
    start(g)
    out = apply_items(g.id, ["student_id_card", "electricity", "dorm_checkout", "certificates"], "confirm", OP)
    assert [(o.key, o.old, o.new) for o in out][-1] == ("certificates", "pending", "passed")
    assert clearance(db, g).status == "completed"
    cert = events(db, g, task_key="certificates")
    assert [(e.action, e.new) for e in cert] == [("cascade", "pending"), ("confirm", "passed")]
    consistent(db, g)


def test_reject_keeps_the_item_open_with_the_reason(db, member):
    with pytest.raises(ValueError):
        apply_items(member.id, ["electricity"], "reject", OP, reason="  ")
    apply_items(member.id, ["electricity"], "reject", OP, reason="欠电费 35.5 元")
    db.session.expire_all()
    row = db.session.scalar(sa.select(ClearanceItem).where(ClearanceItem.graduate_id == member.id,
                                                           ClearanceItem.task_key == "electricity"))
    assert (row.status, row.reason, row.source) == ("rejected", "欠电费 35.5 元", "manual")
    apply_items(member.id, ["electricity"], "reject", OP, reason="欠电费 12 元")   # a new reason
    assert [(e.old, e.new, e.reason) for e in events(db, member, action="reject")] == [
        ("pending", "rejected", "欠电费 35.5 元"), ("rejected", "rejected", "欠电费 12 元")]
    apply_items(member.id, ["electricity"], "confirm", OP)                       # still confirmable
    assert items(db, member)["electricity"] == "passed"
    consistent(db, member)


def test_reopen_with_reason_and_its_cascade(db, member):
    apply_items(member.id, ["student_id_card", "party_letter", "league_transfer", "electricity", "dorm_checkout"],
                "confirm", OP)
    apply_items(member.id, ["electricity"], "reopen", OP, reason="电费复核发现漏缴")
    st = items(db, member)
    assert st["electricity"] == "pending" and st["certificates"] == "blocked"
    reopen = events(db, member, action="reopen")[-1]
    assert (reopen.task_key, reopen.old, reopen.new, reopen.reason) == ("electricity", "passed", "pending",
                                                                        "电费复核发现漏缴")
    assert [(e.old, e.new) for e in events(db, member, action="status")][-1] == ("eligible", "in_progress")
    with pytest.raises(ItemsRefused) as refused:
        apply_items(member.id, ["electricity"], "reopen", OP, reason="again")
    assert refused.value.code == "not_passed"
    consistent(db, member)


def test_reopen_is_refused_after_certificates_were_issued(db, member):
    apply_items(member.id, ["student_id_card", "party_letter", "league_transfer", "electricity", "dorm_checkout",
                            "certificates"], "confirm", OP)
    with pytest.raises(ItemsRefused) as refused:
        apply_items(member.id, ["electricity"], "reopen", OP, reason="late")
    assert refused.value.code == "certificates_issued"
    assert refused.value.message == "证书已发放：“清理电费”不能再修改"
    assert items(db, member)["electricity"] == "passed"


# ----------------------------------------------------------------------------- reason templates
def test_reason_templates_start_from_the_suggestions(db):
    utilities = db.session.scalar(sa.select(Checkpoint).where(Checkpoint.key == "utilities"))
    suggested = reasons_for(utilities)
    assert suggested[0].text == "欠电费 {金额} 元" and not suggested[0].saved
    assert unfilled_blank(suggested[0].text) == "{金额}" and unfilled_blank("欠电费 35.5 元") is None
    add_reason(utilities, "电卡未退", "Electricity card not returned", OP)
    saved = reasons_for(utilities)
    assert [r.text for r in saved] == [r.text for r in suggested] + ["电卡未退"]   # nothing vanished
    assert all(r.saved for r in saved)
    with pytest.raises(TemplateRefused):
        add_reason(utilities, "电卡未退", "", OP)
    with pytest.raises(TemplateRefused):
        delete_reason(utilities, suggested[0].ref, OP)            # a stale reference to a suggestion
    assert delete_reason(utilities, saved[0].ref, OP) == "欠电费 {金额} 元"
    assert [r.text for r in reasons_for(utilities)] == [r.text for r in saved[1:]]
    audit = list(db.session.scalars(sa.select(Event.action).where(Event.new == "utilities").order_by(Event.id)))
    assert audit == ["reason_add", "reason_delete"]


def test_deleting_a_suggestion_keeps_the_others(db):
    dorm = db.session.scalar(sa.select(Checkpoint).where(Checkpoint.key == "dormitory"))
    texts = [r.text for r in reasons_for(dorm)]
    delete_reason(dorm, "d1", OP)
    assert [r.text for r in reasons_for(dorm)] == texts[:1] + texts[2:]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReasonTemplate)) == len(texts) - 1


# ----------------------------------------------------------------------------- two operators at once
WORKER = textwrap.dedent("""
    import json, sys
    from app import create_app
    from app.workflow.services import Actor, ItemsRefused, apply_items
    url, name, ids = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
    won, refused = [], []
    with app.app_context():
        for gid in ids:
            try:
                apply_items(gid, ["electricity", "dorm_checkout"], "confirm", Actor(None, name, "manual"))
                won.append(gid)
            except ItemsRefused as exc:
                refused.append([gid, exc.code])
    print(json.dumps({"won": won, "refused": refused}))
""")


def test_two_operators_confirming_the_same_graduates(db, db_url, make_graduate, start, tmp_path):
    graduates = [make_graduate() for _ in range(6)]
    start(*graduates)
    ids = [g.id for g in graduates]
    outs = [json.loads(line) for line in run_processes(
        tmp_path, WORKER, [[db_url, f"op{i}", json.dumps(ids)] for i in range(3)])]
    winners = [gid for o in outs for gid in o["won"]]
    assert sorted(winners) == sorted(ids)                      # each graduate confirmed exactly once
    assert {code for o in outs for _gid, code in o["refused"]} <= {"already_passed"}
    db.session.expire_all()
    for g in graduates:
        assert len(events(db, g, action="confirm")) == 2
        consistent(db, g)
