"""Certificate issuance, 缓交 (lift / restore) and the automatic end of 缓交, through the services."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from app.core.enums import ClearanceStatus, ItemStatus
from app.desk.special import (
    NothingToIssue,
    WaiverRefused,
    certificate_view,
    issue_certificates,
    lift_restriction,
    lifted_restrictions,
    ready_to_issue,
    restore_restriction,
    waiver_view,
)
from app.workflow import services
from app.workflow.models import Checkpoint, Clearance, ClearanceItem, Event
from app.workflow.services import Actor, apply, expire_waivers, has_expired_waivers, local_today, projection_mismatches

OP = Actor(None, "tester")


def items(db, graduate) -> dict[str, str]:
    db.session.expire_all()
    return dict(db.session.execute(sa.select(ClearanceItem.task_key, ClearanceItem.status)
                                   .where(ClearanceItem.graduate_id == graduate.id)).all())


def item(db, graduate, key) -> ClearanceItem:
    db.session.expire_all()
    return db.session.scalar(sa.select(ClearanceItem).where(ClearanceItem.graduate_id == graduate.id,
                                                            ClearanceItem.task_key == key))


def clearance_status(db, graduate) -> str:
    db.session.expire_all()
    return db.session.scalar(sa.select(Clearance.status).where(Clearance.graduate_id == graduate.id))


def confirm_all_open(db, graduate, skip=()):
    for key, status in items(db, graduate).items():
        if status in (ItemStatus.PENDING, ItemStatus.REJECTED) and key not in skip \
                and key not in ("certificates", "deferred_certificates"):
            apply([graduate.id], key, "confirm", OP)


def cp(db, key) -> Checkpoint:
    return db.session.scalar(sa.select(Checkpoint).where(Checkpoint.key == key))


# ----------------------------------------------------------------------------- certificates
def test_not_eligible_lists_exactly_the_unfinished_items_and_refuses(db, make_graduate, start):
    g = make_graduate(arrears=1200, party_member=False)
    start(g)
    confirm_all_open(db, g, skip=("finance", "electricity"))
    apply([g.id], "electricity", "reject", OP, reason="欠电费 35.5 元")
    view = certificate_view(g, cp(db, "certificates"))
    assert [d.key for d in view.unfinished] == ["electricity", "finance"]     # in checkpoint order
    rejected = next(d for d in view.unfinished if d.key == "electricity")
    assert rejected.status == ItemStatus.REJECTED and rejected.item.reason == "欠电费 35.5 元"
    assert rejected.item.checkpoint.key == "utilities" and rejected.item.checkpoint.phone
    assert not view.issuable and not view.issued
    with pytest.raises(NothingToIssue):
        issue_certificates(g.id, cp(db, "certificates"), OP)
    assert items(db, g)["certificates"] == ItemStatus.BLOCKED
    assert ready_to_issue(cp(db, "certificates")).total == 0


def test_eligible_graduate_is_listed_then_issued_in_one_audited_step(db, make_graduate, start):
    ready = make_graduate(arrears=0, name="张三", college="计算机学院")
    other = make_graduate(arrears=0, name="李四", college="信息学院")
    not_ready = make_graduate(arrears=1200)
    start(ready, other, not_ready)
    confirm_all_open(db, ready)
    confirm_all_open(db, other)
    certificates = cp(db, "certificates")
    page = ready_to_issue(certificates)
    assert {row[1].id for row in page.rows} == {ready.id, other.id}
    assert ready_to_issue(certificates, college="信息学院").total == 1
    assert ready_to_issue(certificates, q="张").total == 1
    assert ready_to_issue(certificates, per_page=1, page=2).rows[0][1].id in {ready.id, other.id}
    assert clearance_status(db, ready) == ClearanceStatus.ELIGIBLE

    done = issue_certificates(ready.id, certificates, Actor(None, "证件发放员"))
    assert [o.key for o in done] == ["certificates"]
    assert clearance_status(db, ready) == ClearanceStatus.COMPLETED
    view = certificate_view(ready, certificates)
    assert view.issued and view.issued[0].by == "证件发放员" and view.issued[0].at is not None
    events = db.session.scalars(sa.select(Event).where(Event.graduate_id == ready.id,
                                                       Event.task_key == "certificates")).all()
    assert any(e.action == "confirm" and e.new == ItemStatus.PASSED and e.actor == "证件发放员" for e in events)
    assert ready_to_issue(certificates).total == 1                   # only the other one now
    issued = ready_to_issue(certificates, issued=True).rows
    assert [(r[1].id, r[3]) for r in issued] == [(ready.id, None)]   # no staff account behind this actor
    with pytest.raises(NothingToIssue):                              # not twice
        issue_certificates(ready.id, certificates, OP)


def test_deferred_certificates_are_collected_at_academic_affairs(db, make_graduate, start):
    g = make_graduate(arrears=0, certificates_deferred=True)
    start(g)
    confirm_all_open(db, g)
    at_college = certificate_view(g, cp(db, "certificates"))
    assert not at_college.issuable and not at_college.required_here
    assert [d.key for d in at_college.elsewhere] == ["deferred_certificates"]
    with pytest.raises(NothingToIssue):
        issue_certificates(g.id, cp(db, "certificates"), OP)
    issue_certificates(g.id, cp(db, "academic_affairs"), OP)
    assert items(db, g)["deferred_certificates"] == ItemStatus.PASSED


def test_postgraduate_certificates_at_the_graduate_school(db, make_graduate, start):
    g = make_graduate(gtype="postgraduate_dual", arrears=0)
    start(g)
    for _ in range(3):
        confirm_all_open(db, g)
    school = cp(db, "graduate_school")
    assert ready_to_issue(school).total == 1
    issue_certificates(g.id, school, OP)
    assert clearance_status(db, g) == ClearanceStatus.COMPLETED


# ----------------------------------------------------------------------------- 缓交
def test_lift_without_end_date_makes_the_graduate_eligible_and_restore_takes_it_back(db, make_graduate, start):
    g = make_graduate(arrears=1200)
    start(g)
    confirm_all_open(db, g, skip=("finance",))
    rows = {r.item.key: r for r in waiver_view(g).rows}
    assert rows["finance"].can_lift and rows["finance"].restricted
    lift_restriction(g.id, "finance", OP, reason="缓交证明 2026-001", until=None)
    assert items(db, g)["finance"] == ItemStatus.WAIVED
    assert item(db, g, "finance").waived_until is None
    assert clearance_status(db, g) == ClearanceStatus.ELIGIBLE
    assert lifted_restrictions().total == 1
    assert lifted_restrictions(expiry="dated").total == 0
    assert lifted_restrictions(expiry="open_ended", q=g.student_no).total == 1
    rows = {r.item.key: r for r in waiver_view(g).rows}
    assert rows["finance"].can_restore and not rows["finance"].can_lift
    restore_restriction(g.id, "finance", OP, reason="缓交证明作废")
    assert items(db, g)["finance"] == ItemStatus.PENDING
    assert items(db, g)["certificates"] == ItemStatus.BLOCKED
    assert lifted_restrictions().total == 0


def test_passed_or_not_waivable_items_cannot_be_lifted(db, make_graduate, start):
    paid = make_graduate(arrears=0)          # finance passes automatically
    start(paid)
    row = {r.item.key: r for r in waiver_view(paid).rows}["finance"]
    assert not row.can_lift and not row.can_restore and "已完成" in row.why_not
    with pytest.raises(Exception):
        lift_restriction(paid.id, "finance", OP, reason="x", until=None)
    with pytest.raises(WaiverRefused):
        lift_restriction(paid.id, "electricity", OP, reason="x", until=None)
    with pytest.raises(WaiverRefused):
        lift_restriction(paid.id, "finance", OP, reason="x", until=local_today() - timedelta(days=1))


def test_expiry_restores_the_restriction_and_the_graduate_is_not_eligible_again(db, make_graduate, start):
    g = make_graduate(arrears=1200)
    h = make_graduate(arrears=1200)
    forever = make_graduate(arrears=1200)
    start(g, h, forever)
    for x in (g, h, forever):
        confirm_all_open(db, x, skip=("finance",))
    today = local_today()
    lift_restriction(g.id, "finance", OP, reason="缓交证明 1", until=today)
    lift_restriction(h.id, "finance", OP, reason="缓交证明 2", until=today + timedelta(days=30))
    lift_restriction(forever.id, "finance", OP, reason="缓交证明 3", until=None)
    assert clearance_status(db, g) == ClearanceStatus.ELIGIBLE
    # still lifted on its last day
    assert not has_expired_waivers(today)
    assert expire_waivers(today).restored == 0
    # the day after, it comes back by itself
    assert has_expired_waivers(today + timedelta(days=1))
    report = expire_waivers(today + timedelta(days=1))
    assert report.restored == 1 and not report.kept
    assert items(db, g)["finance"] == ItemStatus.PENDING
    assert items(db, g)["certificates"] == ItemStatus.BLOCKED
    assert clearance_status(db, g) == ClearanceStatus.IN_PROGRESS
    assert item(db, g, "finance").waived_until is None
    ev = db.session.scalars(sa.select(Event).where(Event.graduate_id == g.id, Event.action == "unwaive")).one()
    assert ev.reason == "缓交到期" and ev.source == "system" and ev.actor_id is None
    assert items(db, h)["finance"] == ItemStatus.WAIVED
    assert items(db, forever)["finance"] == ItemStatus.WAIVED
    assert projection_mismatches(db.session.scalar(sa.select(Clearance).where(Clearance.graduate_id == g.id))) == []
    # re-running changes nothing; the UTC moment converts to the school's date
    assert expire_waivers(today + timedelta(days=1)).restored == 0
    far = datetime.combine(today + timedelta(days=40), datetime.min.time())
    assert expire_waivers(far).restored == 1
    assert items(db, h)["finance"] == ItemStatus.PENDING
    assert items(db, forever)["finance"] == ItemStatus.WAIVED


def test_expiry_after_certificates_were_issued_keeps_the_waiver(db, make_graduate, start):
    g = make_graduate(arrears=1200)
    start(g)
    confirm_all_open(db, g, skip=("finance",))
    lift_restriction(g.id, "finance", OP, reason="缓交证明", until=local_today())
    issue_certificates(g.id, cp(db, "certificates"), OP)
    report = expire_waivers(local_today() + timedelta(days=1))
    assert report.restored == 0 and len(report.kept) == 1
    assert items(db, g)["finance"] == ItemStatus.WAIVED
    assert item(db, g, "finance").waived_until is None           # not tried again
    assert not has_expired_waivers(local_today() + timedelta(days=1))
    assert db.session.scalars(sa.select(Event).where(Event.graduate_id == g.id, Event.action == "expire")).one()


def test_expiry_when_paid_meanwhile_passes_instead_of_restricting(db, make_graduate, start):
    g = make_graduate(arrears=1200)
    start(g)
    confirm_all_open(db, g, skip=("finance",))
    lift_restriction(g.id, "finance", OP, reason="缓交证明", until=local_today())
    services.update_attributes(g.id, {"arrears": 0}, OP)
    expire_waivers(local_today() + timedelta(days=1))
    assert items(db, g)["finance"] == ItemStatus.PASSED
    assert clearance_status(db, g) == ClearanceStatus.ELIGIBLE


def test_the_automatic_check_runs_at_most_once_per_interval(app, db, make_graduate, start, monkeypatch):
    g = make_graduate(arrears=1200)
    start(g)
    confirm_all_open(db, g, skip=("finance",))
    lift_restriction(g.id, "finance", OP, reason="缓交证明", until=local_today())
    monkeypatch.setitem(services._EXPIRY_NEXT_CHECK, "at", 0.0)
    monkeypatch.setattr(services, "local_today", lambda now=None: date.today() + timedelta(days=400))
    assert services.maybe_expire_waivers(app, interval=60) is True
    assert items(db, g)["finance"] == ItemStatus.PENDING
    assert services.maybe_expire_waivers(app, interval=60) is False     # throttled


def test_cli_expire_waivers(db, runner, make_graduate, start):
    g = make_graduate(arrears=1200)
    start(g)
    apply([g.id], "finance", "waive", OP, reason="缓交证明", waived_until=local_today() - timedelta(days=1))
    result = runner.invoke(args=["clearance", "expire-waivers"])
    assert result.exit_code == 0, result.output
    assert "restored 1 restriction(s)" in result.output
    assert items(db, g)["finance"] == ItemStatus.PENDING
    assert "restored 0" in runner.invoke(args=["clearance", "expire-waivers"]).output


def test_desk_tabs_depend_on_the_checkpoint(app, db, published):
    with app.test_request_context():
        ctx = {}
        for proc in app.template_context_processors[None]:
            ctx.update(proc())
        tabs = {key: [t[0] for t in ctx["desk_tabs"](cp(db, key))]
                for key in ("waiver", "certificates", "graduate_school", "library")}
    assert tabs["waiver"] == ["desk.waiver", "desk.waiver_list"]
    assert "desk.certificates" in tabs["certificates"] and "desk.certificates_ready" in tabs["certificates"]
    assert "desk.certificates" in tabs["graduate_school"]
    assert "desk.certificates" not in tabs["library"] and "desk.waiver" not in tabs["library"]


def test_changing_the_end_date_moves_the_expiry(db, make_graduate, start):
    from app.desk.special import change_waiver_end

    g = make_graduate(arrears=1200)
    start(g)
    today = local_today()
    lift_restriction(g.id, "finance", OP, reason="缓交证明", until=today)
    change_waiver_end(g.id, "finance", OP, reason="延期证明", until=today + timedelta(days=10))
    assert item(db, g, "finance").waived_until == today + timedelta(days=10)
    ev = db.session.scalars(sa.select(Event).where(Event.graduate_id == g.id, Event.action == "waive_end")).one()
    assert (ev.old, ev.new, ev.reason) == (today.isoformat(), (today + timedelta(days=10)).isoformat(), "延期证明")
    assert expire_waivers(today + timedelta(days=1)).restored == 0
    change_waiver_end(g.id, "finance", OP, reason="不设期限", until=None)
    assert expire_waivers(today + timedelta(days=100)).restored == 0
    assert items(db, g)["finance"] == ItemStatus.WAIVED
    restore_restriction(g.id, "finance", OP, reason="撤销")
    with pytest.raises(WaiverRefused):                      # nothing in force to change
        change_waiver_end(g.id, "finance", OP, reason="x", until=today)
