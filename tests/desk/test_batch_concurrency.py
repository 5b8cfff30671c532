"""Several operators (OS processes) batching overlapping dorm rooms at once on PostgreSQL: no lost update,
no duplicate event, every row passed exactly once (row lock + version check + expected statuses)."""
from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import run_processes
import sqlalchemy as sa

from app.core.enums import ItemStatus
from app.workflow.models import Clearance, ClearanceItem, Event
from app.workflow.services import projection_mismatches

ROOT = Path(__file__).resolve().parents[2]

WORKER = textwrap.dedent("""
    import json, random, sys, time
    import sqlalchemy as sa
    from app import create_app
    from app.desk.batch import confirm_group, group_rows, parse_group
    from app.extensions import db
    from app.workflow.models import Checkpoint
    from app.workflow.services import Actor
    url, name, cohort_id, rooms = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    start_at = float(sys.argv[5])
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
    rng = random.Random(name)
    done, refused = [], 0
    with app.app_context():
        cp = db.session.scalar(sa.select(Checkpoint).where(Checkpoint.key == "dormitory"))
        actor = Actor(None, name, "batch")
        db.session.rollback()
        time.sleep(max(0.0, start_at - time.time()))     # every operator starts at the same moment
        for text in rooms:
            group = parse_group(cohort_id, "dorm", text)
            rows = group_rows(cp, group, "dorm_checkout")
            wanted = {r.graduate_id for r in rows if r.selectable and rng.random() < 0.8}
            seen = {r.graduate_id: r.status for r in rows}
            for _ in range(6):
                ids = sorted(wanted)
                if not ids:
                    break
                result = confirm_group(cp, group, "dorm_checkout", ids, seen, actor)
                if result.applied:
                    done += ids
                    break
                refused += 1
                # like the operator: look at the fresh list, keep only rows still open
                seen = {r.graduate_id: r.status for r in result.rows}
                wanted = {r.graduate_id for r in result.rows if r.selectable and r.graduate_id in wanted}
    print(json.dumps({"done": done, "refused": refused}))
""")


@pytest.mark.postgres_only
@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
                    reason="needs PostgreSQL (TEST_DATABASE_URL)")
def test_operators_batching_overlapping_dorms_at_once(db, db_url, make_graduate, start, cohort, tmp_path):
    rooms = ["9栋-101", "9栋-102", "9栋-103", "9栋-104"]
    graduates = [make_graduate(dorm_building="9栋", dorm_room=r.split("-")[1]) for r in rooms for _ in range(6)]
    start(*graduates)
    # two operators start with the same room at the same moment, a third one from the other end
    orders = [rooms, rooms, rooms[::-1]]
    start_at = time.time() + 8
    outputs = [json.loads(line) for line in run_processes(
        tmp_path, WORKER, [[db_url, f"op{i}", str(cohort.id), json.dumps(order), str(start_at)]
                           for i, order in enumerate(orders)])]

    db.session.expire_all()
    winners = [gid for out in outputs for gid in out["done"]]
    print("refused batches per operator:", [out["refused"] for out in outputs])
    assert len(winners) == len(set(winners))               # nobody confirmed a row another already had
    confirms = dict(db.session.execute(
        sa.select(Event.graduate_id, sa.func.count()).where(Event.task_key == "dorm_checkout",
                                                            Event.action == "confirm")
        .group_by(Event.graduate_id)).all())
    assert set(confirms.values()) == {1}
    assert set(confirms) == set(winners)
    passed = set(db.session.scalars(sa.select(ClearanceItem.graduate_id).where(
        ClearanceItem.task_key == "dorm_checkout", ClearanceItem.status == ItemStatus.PASSED)))
    assert passed == set(winners)
    for clearance in db.session.scalars(sa.select(Clearance)):
        assert projection_mismatches(clearance) == []


CONFIRM_WORKER = textwrap.dedent("""
    import json, sys, time
    from app import create_app
    from app.core.enums import Source
    from app.desk.excel import AlreadyConfirmed, confirm_upload
    from app.desk.models import DeskUpload
    from app.extensions import db
    from app.workflow.services import Actor
    url, name, upload_id, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upload = db.session.get(DeskUpload, upload_id)       # both see it unconfirmed
        db.session.rollback()
        upload = db.session.get(DeskUpload, upload_id)
        time.sleep(max(0.0, start_at - time.time()))
        try:
            done = confirm_upload(upload, Actor(None, name, Source.IMPORT))
            print(json.dumps({"won": True, "rows": len(done.result)}))
        except AlreadyConfirmed:
            print(json.dumps({"won": False}))
""")


@pytest.mark.postgres_only
@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
                    reason="needs PostgreSQL (TEST_DATABASE_URL)")
def test_two_operators_confirming_the_same_excel_preview_at_once(db, db_url, make_graduate, start, cohort,
                                                                 tmp_path):
    """A double click or two browser tabs: exactly one confirmation applies the rows, once."""
    from app.desk.excel import preview_upload
    from app.workflow.models import Checkpoint

    graduates = [make_graduate() for _ in range(30)]
    start(*graduates)
    csv = "学号,结果,原因\n" + "".join(f"{g.student_no},{'不通过' if i % 3 == 0 else '通过'},欠电费 {i} 元\n"
                                        for i, g in enumerate(graduates))
    checkpoint = db.session.scalar(sa.select(Checkpoint).where(Checkpoint.key == "utilities"))
    upload, parsed = preview_upload(checkpoint, cohort.id, "electricity", "x.csv", csv.encode(), None)
    assert upload is not None, parsed.errors
    start_at = time.time() + 6
    outputs = [json.loads(line) for line in run_processes(
        tmp_path, CONFIRM_WORKER, [[db_url, f"op{i}", str(upload.id), str(start_at)] for i in range(3)])]
    assert sorted(o["won"] for o in outputs) == [False, False, True], outputs
    assert [o["rows"] for o in outputs if o["won"]] == [30]
    db.session.expire_all()
    events = dict(db.session.execute(
        sa.select(Event.action, sa.func.count()).where(Event.task_key == "electricity",
                                                       Event.action.in_(("confirm", "reject")))
        .group_by(Event.action)).all())
    assert events == {"confirm": 20, "reject": 10}
    for clearance in db.session.scalars(sa.select(Clearance)):
        assert projection_mismatches(clearance) == []
