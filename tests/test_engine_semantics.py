"""Engine semantics on the default processes, through the service layer (real engine, real DB)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.core.enums import ClearanceStatus, ItemStatus
from app.workflow.models import Clearance, ClearanceItem, Event
from app.workflow.services import Actor, BatchRefused, apply, projection_mismatches

OP = Actor(None, "tester")


def items(db, graduate) -> dict[str, str]:
    rows = db.session.execute(
        sa.select(ClearanceItem.task_key, ClearanceItem.status).where(ClearanceItem.graduate_id == graduate.id))
    return dict(rows.all())


def clearance(db, graduate) -> Clearance:
    db.session.expire_all()
    return db.session.scalar(sa.select(Clearance).where(Clearance.graduate_id == graduate.id))


def confirm_all_open(db, graduate, skip=()):
    for key, status in items(db, graduate).items():
        if status in (ItemStatus.PENDING, ItemStatus.REJECTED) and key not in skip \
                and key not in ("certificates", "deferred_certificates"):
            apply([graduate.id], key, "confirm", OP)


def test_loan_item_only_for_graduates_with_a_loan(db, make_graduate, start):
    with_loan = make_graduate(has_national_loan=True)
    without = make_graduate(has_national_loan=False)
    start(with_loan, without)
    assert items(db, with_loan)["national_loan"] == ItemStatus.PENDING
    assert items(db, without)["national_loan"] == ItemStatus.NOT_REQUIRED
    with pytest.raises(BatchRefused) as err:
        apply([without.id], "national_loan", "confirm", OP)
    assert err.value.result.failed[0].code == "not_required"


def test_auto_pass_library_and_finance_at_start(db, make_graduate, start):
    clean = make_graduate(library_books=0, arrears=0)
    owing = make_graduate(library_books=2, arrears=35.5)
    start(clean, owing)
    assert items(db, clean)["library"] == ItemStatus.PASSED
    assert items(db, clean)["finance"] == ItemStatus.PASSED
    assert items(db, owing)["library"] == ItemStatus.PENDING
    assert items(db, owing)["finance"] == ItemStatus.PENDING
    src = db.session.scalar(sa.select(ClearanceItem.source).where(
        ClearanceItem.graduate_id == clean.id, ClearanceItem.task_key == "library"))
    assert src == "auto"


def test_certificates_blocked_until_every_required_item_is_done(db, make_graduate, start):
    g = make_graduate(party_member=True, arrears=100)
    start(g)
    assert items(db, g)["certificates"] == ItemStatus.BLOCKED
    with pytest.raises(BatchRefused) as err:
        apply([g.id], "certificates", "confirm", OP)
    assert err.value.result.failed[0].code == "blocked"
    blockers = db.session.scalar(sa.select(ClearanceItem.blocked_by).where(
        ClearanceItem.graduate_id == g.id, ClearanceItem.task_key == "certificates"))
    assert "party_letter" in blockers and "finance" in blockers
    confirm_all_open(db, g, skip=("finance",))
    assert items(db, g)["certificates"] == ItemStatus.BLOCKED
    apply([g.id], "finance", "confirm", OP)
    assert items(db, g)["certificates"] == ItemStatus.PENDING
    assert clearance(db, g).status == ClearanceStatus.ELIGIBLE
    apply([g.id], "certificates", "confirm", OP)
    assert clearance(db, g).status == ClearanceStatus.COMPLETED


def test_reopen_after_join_fired_blocks_certificates_again(db, make_graduate, start):
    g = make_graduate()
    start(g)
    confirm_all_open(db, g)
    assert items(db, g)["certificates"] == ItemStatus.PENDING
    apply([g.id], "electricity", "reopen", OP, reason="电费未缴清 35.5 元")
    now = items(db, g)
    assert now["electricity"] == ItemStatus.PENDING
    assert now["certificates"] == ItemStatus.BLOCKED
    assert clearance(db, g).status == ClearanceStatus.IN_PROGRESS
    # the reopened item can be confirmed again, and certificates become issuable again
    apply([g.id], "electricity", "confirm", OP)
    assert items(db, g)["certificates"] == ItemStatus.PENDING
    assert projection_mismatches(clearance(db, g)) == []


def test_reopen_refused_once_certificates_issued(db, make_graduate, start):
    g = make_graduate()
    start(g)
    confirm_all_open(db, g)
    apply([g.id], "certificates", "confirm", OP)
    with pytest.raises(BatchRefused) as err:
        apply([g.id], "electricity", "reopen", OP, reason="late")
    assert err.value.result.failed[0].code == "certificates_issued"


def test_waiver_lifts_precondition_without_passing(db, make_graduate, start):
    g = make_graduate(arrears=1200)
    start(g)
    confirm_all_open(db, g, skip=("finance",))
    assert items(db, g)["certificates"] == ItemStatus.BLOCKED
    apply([g.id], "finance", "waive", OP, reason="缓交证明 2026-001")
    assert items(db, g)["finance"] == ItemStatus.WAIVED
    assert items(db, g)["certificates"] == ItemStatus.PENDING
    # restoring the restriction blocks the certificates again
    apply([g.id], "finance", "unwaive", OP, reason="缓交撤销")
    assert items(db, g)["finance"] == ItemStatus.PENDING
    assert items(db, g)["certificates"] == ItemStatus.BLOCKED
    # paying later after a waiver turns the item into passed
    apply([g.id], "finance", "waive", OP, reason="again")
    apply([g.id], "finance", "confirm", OP)
    assert items(db, g)["finance"] == ItemStatus.PASSED
    assert projection_mismatches(clearance(db, g)) == []


def test_waiver_refused_on_a_passed_item(db, make_graduate, start):
    g = make_graduate(arrears=0)
    start(g)
    assert items(db, g)["finance"] == ItemStatus.PASSED
    with pytest.raises(BatchRefused) as err:
        apply([g.id], "finance", "waive", OP, reason="x")
    assert err.value.result.failed[0].code == "already_passed"


def test_waiver_refused_on_items_that_are_not_waivable(db, make_graduate, start):
    g = make_graduate()
    start(g)
    with pytest.raises(BatchRefused) as err:
        apply([g.id], "electricity", "waive", OP, reason="x")
    assert err.value.result.failed[0].code == "not_waivable"


def test_reject_keeps_item_open_with_reason(db, make_graduate, start):
    g = make_graduate()
    start(g)
    apply([g.id], "electricity", "reject", OP, reason="欠电费 35.5 元")
    row = db.session.scalar(sa.select(ClearanceItem).where(
        ClearanceItem.graduate_id == g.id, ClearanceItem.task_key == "electricity"))
    assert (row.status, row.reason) == (ItemStatus.REJECTED, "欠电费 35.5 元")
    apply([g.id], "electricity", "confirm", OP)
    assert items(db, g)["electricity"] == ItemStatus.PASSED


def test_advisor_review_gates_every_postgraduate_item(db, make_graduate, start):
    for gtype, count in (("postgraduate_dual", 12), ("postgraduate_single", 6)):
        g = make_graduate(gtype=gtype, college="资源学院", library_books=0, arrears=0, league_member=True)
        start(g)
        st = items(db, g)
        assert len(st) == count
        assert st["advisor_review"] == ItemStatus.PENDING
        others = {k: v for k, v in st.items() if k != "advisor_review"}
        assert set(others.values()) == {ItemStatus.BLOCKED}, others
        with pytest.raises(BatchRefused):
            apply([g.id], "dorm_checkout", "confirm", OP)
        apply([g.id], "advisor_review", "confirm", OP)
        st = items(db, g)
        assert st["library"] == ItemStatus.PASSED     # auto rule fires once the gate opens
        assert st["dorm_checkout"] == ItemStatus.PENDING
        assert st["certificates"] == ItemStatus.BLOCKED


def test_state_key_lab_only_for_listed_colleges(db, make_graduate, start):
    listed = make_graduate(gtype="postgraduate_dual", college="资源学院")
    other = make_graduate(gtype="postgraduate_dual", college="外国语学院")
    start(listed, other)
    apply([listed.id, other.id], "advisor_review", "confirm", OP)
    assert items(db, listed)["state_key_lab"] == ItemStatus.PENDING
    assert items(db, other)["state_key_lab"] == ItemStatus.NOT_REQUIRED


def test_reopen_refused_while_later_items_are_done(db, make_graduate, start):
    g = make_graduate(gtype="postgraduate_single", library_books=3)
    start(g)
    apply([g.id], "advisor_review", "confirm", OP)
    apply([g.id], "library", "confirm", OP)
    with pytest.raises(BatchRefused) as err:
        apply([g.id], "advisor_review", "reopen", OP, reason="review again")
    assert err.value.result.failed[0].code == "later_items_done"
    assert items(db, g)["library"] == ItemStatus.PASSED


def test_every_change_is_audited_in_the_same_transaction(db, make_graduate, start):
    g = make_graduate()
    start(g)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.graduate_id == g.id))
    version = clearance(db, g).version
    apply([g.id], "electricity", "confirm", Actor(None, "张老师"))
    ev = db.session.scalars(sa.select(Event).where(Event.graduate_id == g.id).order_by(Event.id.desc())).first()
    assert (ev.task_key, ev.action, ev.old, ev.new, ev.actor) == ("electricity", "confirm", "pending", "passed", "张老师")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(Event.graduate_id == g.id)) > before
    assert clearance(db, g).version == version + 1


def test_batch_is_all_or_nothing(db, make_graduate, start):
    a, b = make_graduate(), make_graduate(has_national_loan=False)
    start(a, b)
    apply([a.id], "electricity", "confirm", OP)
    with pytest.raises(BatchRefused) as err:
        apply([a.id, b.id], "electricity", "confirm", OP)   # a already passed
    assert [o.code for o in err.value.result.failed] == ["already_passed"]
    assert items(db, b)["electricity"] == ItemStatus.PENDING


def test_attribute_change_reevaluates_auto_pass(db, make_graduate, start):
    from app.workflow.services import update_attributes

    g = make_graduate(library_books=1)
    start(g)
    assert items(db, g)["library"] == ItemStatus.PENDING
    update_attributes(g.id, {"library_books": 0}, Actor.system("library-sync", "api"))
    assert items(db, g)["library"] == ItemStatus.PASSED
    update_attributes(g.id, {"library_fines": 12.5}, Actor.system("library-sync", "api"))
    assert items(db, g)["library"] == ItemStatus.PENDING
    assert projection_mismatches(clearance(db, g)) == []


def test_roster_reimport_reevaluates_auto_pass(db, make_graduate, start, runner, tmp_path):
    g = make_graduate(library_books=2)
    start(g)
    assert items(db, g)["library"] == ItemStatus.PENDING
    csv = tmp_path / "roster.csv"
    csv.write_text(f"学号,姓名,身份证号,类别,未还图书\n{g.student_no},{g.name},{g.id_card},本科生,0\n", encoding="utf-8")
    result = runner.invoke(args=["graduates", "import", str(csv), "--cohort", "2026"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert items(db, g)["library"] == ItemStatus.PASSED
    ev = db.session.scalars(sa.select(Event).where(Event.graduate_id == g.id, Event.task_key == "library")).all()
    assert ev[-1].action == "auto_pass" and ev[-1].source == "auto"


def test_start_cohort_commits_in_chunks(db, make_graduate, published, cohort):
    from app.workflow.services import start_cohort

    for i in range(5):
        make_graduate(gtype=("undergraduate", "postgraduate_dual")[i % 2])
    seen = []
    report = start_cohort(cohort, Actor.system("test"), chunk=2, progress=lambda d, t: seen.append((d, t)))
    assert report.started == 5 and not report.failed
    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Clearance)) == 5


def test_a_branch_the_graduate_will_not_take_is_not_required_rather_than_waiting(db, make_graduate, start):
    """领取暂缓发放的两证 only for graduates whose certificates are deferred: decided by the gateway
    after the join, but the graduate should not see it as "waiting" all the way until then."""
    from app.workflow.services import update_attributes

    normal = make_graduate(party_member=True, certificates_deferred=False)
    deferred = make_graduate(party_member=True, certificates_deferred=True)
    start(normal, deferred)
    assert items(db, normal)["deferred_certificates"] == ItemStatus.NOT_REQUIRED
    assert items(db, normal)["certificates"] == ItemStatus.BLOCKED           # waits for the other items
    assert items(db, deferred)["deferred_certificates"] == ItemStatus.BLOCKED
    assert items(db, deferred)["certificates"] == ItemStatus.NOT_REQUIRED
    # the school defers the certificates later on: the two items swap, projection = engine
    update_attributes(normal.id, {"certificates_deferred": True}, OP)
    assert items(db, normal)["deferred_certificates"] == ItemStatus.BLOCKED
    assert items(db, normal)["certificates"] == ItemStatus.NOT_REQUIRED
    assert projection_mismatches(clearance(db, normal)) == []
    # and when the join fires, the engine takes exactly that branch
    confirm_all_open(db, normal)
    assert items(db, normal)["deferred_certificates"] == ItemStatus.PENDING
    assert items(db, normal)["certificates"] == ItemStatus.NOT_REQUIRED
    assert projection_mismatches(clearance(db, normal)) == []
