"""The CLI contract: command names and behaviour that external scripts rely on."""
from __future__ import annotations

import sqlalchemy as sa

from app.auth.models import User
from app.graduates.models import Graduate
from app.workflow.models import Clearance, ClearanceItem


def test_clearance_start_is_safe_to_rerun(runner, db, published, make_graduate):
    for _ in range(5):
        make_graduate()
    make_graduate(gtype="postgraduate_dual")
    first = runner.invoke(args=["clearance", "start", "--cohort", "2026"])
    assert first.exit_code == 0, first.output
    assert "started 6, already started 0" in first.output
    again = runner.invoke(args=["clearance", "start", "--cohort", "2026"])
    assert "started 0, already started 6" in again.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Clearance)) == 6
    check = runner.invoke(args=["clearance", "check", "--cohort", "2026"])
    assert check.exit_code == 0 and "0 mismatch" in check.output


def test_clearance_refresh_repairs_a_projection_that_drifted(runner, db, published, make_graduate):
    """E.g. rows derived by an older release: `check` finds them, `refresh` re-derives and audits them."""
    from app.workflow.models import Event

    gid = make_graduate(certificates_deferred=False).id
    assert runner.invoke(args=["clearance", "start", "--cohort", "2026"]).exit_code == 0
    db.session.execute(sa.update(ClearanceItem).where(ClearanceItem.graduate_id == gid,
                                                      ClearanceItem.task_key == "deferred_certificates")
                       .values(status="blocked"))
    db.session.commit()
    check = runner.invoke(args=["clearance", "check", "--cohort", "2026"])
    assert check.exit_code == 1 and "deferred_certificates: projection blocked != engine not_required" in check.output
    events = db.session.scalar(sa.select(sa.func.count()).select_from(Event))
    result = runner.invoke(args=["clearance", "refresh", "--cohort", "2026"])
    assert result.exit_code == 0 and "refreshed 1 clearance(s), 0 refused" in result.output, result.output
    assert runner.invoke(args=["clearance", "check", "--cohort", "2026"]).exit_code == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) > events    # audited


def test_clearance_start_without_published_process_warns(runner, db, cohort, make_graduate):
    make_graduate()
    result = runner.invoke(args=["clearance", "start", "--cohort", "2026"])
    assert "no published process" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Clearance)) == 0


def test_users_create(runner, db):
    ok = runner.invoke(args=["users", "create", "lib1", "--role", "operator", "--checkpoint", "library",
                             "--password", "pw-123456"])
    assert ok.exit_code == 0, ok.output
    user = db.session.scalar(sa.select(User).where(User.username == "lib1"))
    assert [c.key for c in user.checkpoints] == ["library"] and user.check_password("pw-123456")
    dup = runner.invoke(args=["users", "create", "lib1", "--role", "operator", "--checkpoint", "library",
                              "--password", "x"])
    assert dup.exit_code == 1 and "already exists" in dup.output
    bad = runner.invoke(args=["users", "create", "x2", "--role", "operator", "--checkpoint", "canteen",
                              "--password", "x"])
    assert bad.exit_code == 1 and "canteen" in bad.output
    none = runner.invoke(args=["users", "create", "x3", "--role", "operator", "--password", "x"])
    assert none.exit_code == 1 and "checkpoint" in none.output


def test_demo_builds_varied_states_and_is_idempotent(runner, db):
    result = runner.invoke(args=["demo", "--graduates", "60"])
    assert result.exit_code == 0, result.output
    assert "admin" in result.output and "demo1234" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Graduate)) == 60
    gtypes = set(db.session.scalars(sa.select(Graduate.gtype)))
    assert gtypes == {"undergraduate", "postgraduate_dual", "postgraduate_single"}
    statuses = set(db.session.scalars(sa.select(ClearanceItem.status)))
    assert {"passed", "pending", "blocked", "not_required"} <= statuses
    again = runner.invoke(args=["demo", "--graduates", "60"])
    assert again.exit_code == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Graduate)) == 60
