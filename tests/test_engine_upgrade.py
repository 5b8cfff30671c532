"""`flask clearance refresh` brings clearances saved by the release before the engine rules (issue 9)
to those rules. The states in tests/data/legacy_states.json were written by that release's engine
(commit 2de108d) after the steps recorded beside them."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import sqlalchemy as sa

from app.workflow.models import Clearance, ClearanceItem, Event
from app.workflow.services import projection_mismatches

LEGACY = json.loads((Path(__file__).parent / "data" / "legacy_states.json").read_text(encoding="utf-8"))


def install(db, make_graduate, start, name: str, **now):
    """A graduate whose clearance holds the legacy state and its (then faithful) projection."""
    case = LEGACY[name]
    g = make_graduate(**case["attrs"])
    start(g)
    c = db.session.scalar(sa.select(Clearance).where(Clearance.graduate_id == g.id))
    c.state = base64.b64decode(case["state"])
    for row in db.session.scalars(sa.select(ClearanceItem).where(ClearanceItem.clearance_id == c.id)):
        row.status = case["items"][row.task_key]
        row.blocked_by = None
        if row.status == "rejected":
            row.reason = "图书未还"
    for attr, value in now.items():        # a roster correction written straight to the table
        setattr(g, attr, value)
    db.session.commit()
    return g


def rows(db, g) -> dict[str, tuple[str, str | None, str | None]]:
    db.session.expire_all()
    return {r.task_key: (r.status, r.reason, r.blocked_by) for r in db.session.execute(
        sa.select(ClearanceItem.task_key, ClearanceItem.status, ClearanceItem.reason, ClearanceItem.blocked_by)
        .where(ClearanceItem.graduate_id == g.id))}


def test_refresh_brings_back_certificates_a_reopen_had_made_vanish(db, runner, make_graduate, start):
    g = install(db, make_graduate, start, "bug3_certificates_vanished")
    assert rows(db, g)["certificates"][0] == "not_required"        # what the old engine held
    result = runner.invoke(args=["clearance", "refresh", "--cohort", "2026"])
    assert result.exit_code == 0, result.output
    after = rows(db, g)
    assert after["certificates"] == ("blocked", None, "party_letter")
    assert after["party_letter"][0] == "pending"
    assert after["student_id_card"][0] == "passed" and after["library"][0] == "passed"
    ev = db.session.execute(sa.select(Event.action, Event.old, Event.new, Event.actor).where(
        Event.graduate_id == g.id, Event.task_key == "certificates").order_by(Event.id.desc())).first()
    assert (ev.old, ev.new, ev.actor) == ("not_required", "blocked", "engine")
    c = db.session.scalar(sa.select(Clearance).where(Clearance.graduate_id == g.id))
    assert projection_mismatches(c) == []
    # and the rules hold from now on: confirming the letter opens the certificates
    from app.workflow.services import Actor, apply
    apply([g.id], "party_letter", "confirm", Actor(None, "tester"))
    assert rows(db, g)["certificates"][0] == "pending"


def test_refresh_reroutes_a_corrected_loan_and_keeps_the_old_rejection(db, runner, make_graduate, start):
    g = install(db, make_graduate, start, "bug1_loan_stays", has_national_loan=False)
    assert rows(db, g)["national_loan"][0] == "pending"
    result = runner.invoke(args=["clearance", "refresh", "--cohort", "2026"])
    assert result.exit_code == 0, result.output
    after = rows(db, g)
    assert after["national_loan"][0] == "not_required"
    assert after["library"] == ("rejected", "图书未还", None)      # the legacy marker became memory
    assert after["student_id_card"][0] == "passed"
    assert "national_loan" not in (after["certificates"][2] or "")
    # a second refresh changes nothing more
    before = rows(db, g)
    runner.invoke(args=["clearance", "refresh", "--cohort", "2026"])
    assert rows(db, g) == before
