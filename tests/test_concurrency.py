"""Several OS processes confirming overlapping graduates at once: no lost update, no duplicated
event, projection equal to engine state (row lock on PostgreSQL, version check everywhere)."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import sqlalchemy as sa

from app.core.enums import ItemStatus
from app.workflow.models import Clearance, ClearanceItem, Event
from app.workflow.services import projection_mismatches
from tests.conftest import run_processes

ROOT = Path(__file__).resolve().parent.parent

WORKER = textwrap.dedent("""
    import json, random, sys
    from app import create_app
    from app.workflow.services import Actor, apply
    url, name, ids, keys = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
    rng = random.Random(name)
    done = {k: [] for k in keys}
    with app.app_context():
        for _ in range(3):
            for key in keys:
                group = rng.sample(ids, k=min(6, len(ids)))
                result = apply(group, key, "confirm", Actor(None, name, "batch"), strict=False)
                done[key] += [o.graduate_id for o in result.succeeded]
    print(json.dumps(done))
""")


def test_parallel_operators_never_lose_or_duplicate_updates(db, db_url, make_graduate, start, tmp_path):
    graduates = [make_graduate() for _ in range(16)]
    start(*graduates)
    ids = [g.id for g in graduates]
    keys = ["electricity", "dorm_checkout", "student_id_card"]
    outputs = [json.loads(line) for line in run_processes(
        tmp_path, WORKER, [[db_url, f"w{i}", json.dumps(ids), json.dumps(keys)] for i in range(4)])]

    db.session.expire_all()
    for key in keys:
        winners = [gid for out in outputs for gid in out[key]]
        # each graduate's item was confirmed by exactly one worker: the others were told "already passed"
        assert len(winners) == len(set(winners))
        confirmed_events = db.session.execute(
            sa.select(Event.graduate_id, sa.func.count()).where(Event.task_key == key, Event.action == "confirm")
            .group_by(Event.graduate_id)).all()
        assert all(n == 1 for _gid, n in confirmed_events), confirmed_events
        assert sorted(gid for gid, _n in confirmed_events) == sorted(winners)
        passed = set(db.session.scalars(sa.select(ClearanceItem.graduate_id).where(
            ClearanceItem.task_key == key, ClearanceItem.status == ItemStatus.PASSED)))
        assert passed == set(winners)
    for clearance in db.session.scalars(sa.select(Clearance)):
        assert projection_mismatches(clearance) == []
        changes = db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(
            Event.clearance_id == clearance.id, Event.action == "confirm"))
        assert clearance.version == 1 + changes     # every saved change bumped the version once
