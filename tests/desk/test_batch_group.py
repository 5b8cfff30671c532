"""Class / dorm batches (app.desk.batch): the list, all or nothing, changes made meanwhile."""
from __future__ import annotations

import sqlalchemy as sa

from app.core.enums import ItemStatus, Source
from app.desk.batch import (
    checkpoint_items,
    confirm_group,
    group_of,
    group_rows,
    group_suggestions,
    parse_group,
)
from app.workflow.models import Checkpoint, ClearanceItem, Event
from app.workflow.services import Actor, apply


def cp(db, key: str) -> Checkpoint:
    return db.session.scalar(sa.select(Checkpoint).where(Checkpoint.key == key))


def status(db, graduate_id: int, key: str) -> str:
    db.session.expire_all()
    return db.session.scalar(sa.select(ClearanceItem.status).where(
        ClearanceItem.graduate_id == graduate_id, ClearanceItem.task_key == key))


ACTOR = Actor(None, "宿管员", Source.BATCH)


def dorm(make_graduate, start, n=4, **kw):
    graduates = [make_graduate(dorm_building="12栋", dorm_room="305", **kw) for _ in range(n)]
    start(*graduates)
    return graduates


def test_items_of_the_checkpoint_with_their_batch_mode(db, published, cohort):
    items = checkpoint_items(cp(db, "college"), cohort.id)
    assert [i.key for i in items] == ["party_letter", "league_transfer", "instruments", "national_loan"]
    assert {i.key: i.batch_mode for i in items}["instruments"] == "class"
    assert [i.key for i in checkpoint_items(cp(db, "dormitory"), cohort.id)] == ["dorm_checkout"]


def test_parse_a_typed_dorm_and_class(db, cohort):
    assert parse_group(cohort.id, "dorm", " 12栋305 ").label == "12栋-305"
    assert parse_group(cohort.id, "dorm", "12-305").dorm_building == "12"
    assert parse_group(cohort.id, "dorm", "nonsense") is None
    assert parse_group(cohort.id, "class", "软件 2201").class_name == "软件 2201"


def test_the_list_shows_everyone_with_status_and_who_can_be_ticked(db, make_graduate, start, cohort):
    a, b, c = dorm(make_graduate, start, 3)
    post = make_graduate(dorm_building="12栋", dorm_room="305", gtype="postgraduate_dual")
    elsewhere = make_graduate(dorm_building="12栋", dorm_room="306")
    start(post, elsewhere)
    apply([b.id], "dorm_checkout", "confirm", ACTOR)
    rows = {r.graduate_id: r for r in group_rows(cp(db, "dormitory"), group_of(a, "dorm"), "dorm_checkout")}
    assert set(rows) == {a.id, b.id, c.id, post.id}
    assert rows[a.id].selectable and rows[c.id].selectable
    assert rows[b.id].status == ItemStatus.PASSED and not rows[b.id].selectable
    # the postgraduate's 退宿审核 waits for the advisor: visible, not selectable, says why
    assert rows[post.id].status == ItemStatus.BLOCKED and not rows[post.id].selectable
    assert "导师毕业条件审核" in rows[post.id].why_not
    # electricity is a utilities item, not a dormitory one: not selectable at the dormitory desk
    assert not any(r.selectable for r in group_rows(cp(db, "dormitory"), group_of(a, "dorm"), "electricity"))


def test_confirm_a_dorm_in_one_go(db, make_graduate, start):
    graduates = dorm(make_graduate, start, 4)
    ids = [g.id for g in graduates]
    result = confirm_group(cp(db, "dormitory"), group_of(graduates[0], "dorm"), "dorm_checkout", ids[:3],
                           {gid: "pending" for gid in ids}, ACTOR)
    assert result.applied and not result.problems
    assert [r.graduate_id for r in result.confirmed] == ids[:3]
    assert [status(db, gid, "dorm_checkout") for gid in ids] == ["passed"] * 3 + ["pending"]
    events = db.session.execute(sa.select(Event.graduate_id, Event.source, Event.actor).where(
        Event.task_key == "dorm_checkout", Event.action == "confirm")).all()
    assert sorted(e.graduate_id for e in events) == sorted(ids[:3])
    assert {(e.source, e.actor) for e in events} == {("batch", "宿管员")}
    fresh = {r.graduate_id: r.status for r in group_rows(cp(db, "dormitory"), group_of(graduates[0], "dorm"),
                                                          "dorm_checkout")}
    assert fresh[ids[0]] == "passed" and fresh[ids[3]] == "pending"


def test_a_row_that_cannot_be_ticked_refuses_the_whole_batch(db, make_graduate, start):
    a, b, c = dorm(make_graduate, start, 3)
    apply([b.id], "dorm_checkout", "confirm", ACTOR)
    result = confirm_group(cp(db, "dormitory"), group_of(a, "dorm"), "dorm_checkout", [a.id, b.id, c.id], {}, ACTOR)
    assert not result.applied
    assert [p.graduate_id for p in result.problems] == [b.id]
    assert "已通过" in result.problems[0].message
    assert status(db, a.id, "dorm_checkout") == status(db, c.id, "dorm_checkout") == "pending"


def test_a_graduate_of_another_dorm_posted_by_hand_is_refused(db, make_graduate, start):
    a, b = dorm(make_graduate, start, 2)
    other = make_graduate(dorm_building="3栋", dorm_room="101")
    start(other)
    result = confirm_group(cp(db, "dormitory"), group_of(a, "dorm"), "dorm_checkout", [a.id, other.id], {}, ACTOR)
    assert not result.applied and [p.graduate_id for p in result.problems] == [other.id]
    assert status(db, a.id, "dorm_checkout") == status(db, other.id, "dorm_checkout") == "pending"


def test_a_change_made_meanwhile_refuses_everything_and_says_which(db, make_graduate, start):
    a, b, c = dorm(make_graduate, start, 3)
    seen = {a.id: "pending", b.id: "pending", c.id: "pending"}
    # another operator rejects b after our list was shown
    apply([b.id], "dorm_checkout", "reject", Actor(None, "other", Source.MANUAL), reason="钥匙未交")
    result = confirm_group(cp(db, "dormitory"), group_of(a, "dorm"), "dorm_checkout", [a.id, b.id, c.id], seen, ACTOR)
    assert not result.applied
    assert [p.graduate_id for p in result.problems] == [b.id]
    assert "未通过" in result.problems[0].message
    assert {r.graduate_id: r.status for r in result.rows}[b.id] == "rejected"
    assert status(db, a.id, "dorm_checkout") == "pending"


def test_a_class_batch_of_forty(db, make_graduate, start, cohort):
    graduates = [make_graduate(class_name="软件2203") for _ in range(40)]
    start(*graduates)
    rows = group_rows(cp(db, "student_affairs"), group_of(graduates[0], "class"), "student_id_card")
    assert len(rows) == 40 and all(r.selectable for r in rows)
    result = confirm_group(cp(db, "student_affairs"), group_of(graduates[0], "class"), "student_id_card",
                           [r.graduate_id for r in rows], {r.graduate_id: r.status for r in rows}, ACTOR)
    assert result.applied and len(result.confirmed) == 40
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ClearanceItem).where(
        ClearanceItem.task_key == "student_id_card", ClearanceItem.status == "passed")) == 40


def test_suggestions_for_a_mistyped_group(db, make_graduate, start, cohort):
    make_graduate(class_name="软件2201")
    make_graduate(class_name="软件2202")
    make_graduate(dorm_building="12栋", dorm_room="305")
    assert group_suggestions(cohort.id, "class", "2202") == ["软件2202"]
    assert "12栋-305" in group_suggestions(cohort.id, "dorm", "12 305")
