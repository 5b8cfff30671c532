"""An item confirmed at the counter (or in a batch) answers the graduate's open appeal on it."""
from __future__ import annotations

import sqlalchemy as sa

from app.core.enums import Source
from app.portal.appeals import submit_appeal
from app.portal.models import Appeal
from app.workflow.models import Event
from app.workflow.services import Actor, apply, apply_items

OPERATOR = Actor(None, "水电操作员", Source.MANUAL)


def _appeal_status(db, graduate_id, key):
    return db.session.scalar(sa.select(Appeal.status).where(Appeal.graduate_id == graduate_id,
                                                            Appeal.task_key == key))


def test_batch_confirmation_resolves_open_appeals_of_those_items_only(db, make_graduate, start):
    a, b = make_graduate(), make_graduate()
    start(a, b)
    for g in (a, b):
        submit_appeal(g.id, "electricity", "电费已经缴清了", Actor(None, g.name, Source.MANUAL))
    apply([a.id], "electricity", "confirm", OPERATOR)
    db.session.expire_all()
    assert _appeal_status(db, a.id, "electricity") == "resolved"
    assert _appeal_status(db, b.id, "electricity") == "open"          # b's item is still open
    events = db.session.execute(sa.select(Event.graduate_id, Event.actor).where(
        Event.action == "appeal_resolved")).all()
    assert [(e.graduate_id, e.actor) for e in events] == [(a.id, "水电操作员")]


def test_confirming_several_items_at_the_desk_resolves_the_appeal(db, make_graduate, start):
    g = make_graduate()
    start(g)
    submit_appeal(g.id, "electricity", "已缴", Actor(None, g.name, Source.MANUAL))
    apply_items(g.id, ["electricity"], "confirm", OPERATOR)
    db.session.expire_all()
    assert _appeal_status(db, g.id, "electricity") == "resolved"


def test_a_rejection_leaves_the_appeal_open(db, make_graduate, start):
    g = make_graduate()
    start(g)
    submit_appeal(g.id, "electricity", "已缴", Actor(None, g.name, Source.MANUAL))
    apply([g.id], "electricity", "reject", OPERATOR, reason="欠电费 35.5 元")
    db.session.expire_all()
    assert _appeal_status(db, g.id, "electricity") == "open"
