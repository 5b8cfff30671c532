"""Checkpoint statistics (app.desk.stats): counts against hand counts, drill-down, lists, pending list."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from app.desk import stats as q
from app.graduates.models import Cohort
from app.workflow.models import Checkpoint
from app.workflow.services import Actor, apply

ACTOR = Actor.system("test")
BPMN = Path(__file__).resolve().parents[2] / "bpmn" / "undergraduate.bpmn"


def checkpoint(db, key: str) -> Checkpoint:
    return db.session.scalar(sa.select(Checkpoint).where(Checkpoint.key == key))


@pytest.fixture()
def varied(db, make_graduate, start):
    """Seven graduates of three colleges in every status of 财务处 and of 学院离校点 (their ids).

    finance (one item, auto-passed when arrears == 0, blocked for postgraduates until the
    advisor's review):   u1 passed (auto)  u2 pending  u3 rejected  u4 waived  u5 passed (by hand)
                         p1, p2 blocked
    college (undergraduates only): party_letter u1 passed, u3 pending, others not required;
                         league_transfer u2 pending, u4 rejected, others not required;
                         instruments and national_loan not required for all five.
    """
    g = {
        "u1": make_graduate(name="赵一", college="计算机学院", class_name="软件2201", arrears=0, party_member=True),
        "u2": make_graduate(name="钱二", college="计算机学院", class_name="软件2201", arrears=100, league_member=True),
        "u3": make_graduate(name="孙三", college="计算机学院", class_name="软件2202", arrears=200, party_member=True),
        "u4": make_graduate(name="李四", college="外国语学院", class_name="英语2201", arrears=300, league_member=True),
        "u5": make_graduate(name="周五", college="外国语学院", class_name="英语2201", arrears=50),
        "p1": make_graduate(name="吴六", college="资源学院", class_name="资源硕2301", gtype="postgraduate_dual",
                            arrears=10),
        "p2": make_graduate(name="郑七", college="资源学院", class_name="资源硕2301", gtype="postgraduate_single"),
    }
    start(*g.values())
    apply([g["u3"].id], "finance", "reject", ACTOR, reason="欠学费 200 元")
    apply([g["u4"].id], "finance", "waive", ACTOR, reason="家庭困难，缓交")
    apply([g["u5"].id], "finance", "confirm", ACTOR)
    apply([g["u1"].id], "party_letter", "confirm", ACTOR)
    apply([g["u4"].id], "league_transfer", "reject", ACTOR, reason="团费未交")
    return {k: v.id for k, v in g.items()}


def names(rows) -> list[str]:
    return [r.name for r in rows]


def test_counts_by_item_match_the_hand_counts(db, varied):
    cp = checkpoint(db, "finance")
    cohort = db.session.scalar(sa.select(Cohort))
    metas = q.checkpoint_items(cp, cohort.id)
    assert [m["key"] for m in metas] == ["finance"]
    for cohort_id in (None, cohort.id):       # with and without the cohort filter
        rows = q.item_rows(cp, cohort_id, metas, lambda m: m["name"])
        assert [(r.key, r.counts) for r in rows] == [
            ("finance", {"passed": 2, "pending": 1, "rejected": 1, "waived": 1, "blocked": 2})]
        assert rows[0].total == 7 and rows[0].open == 2 and rows[0].done == 3 and rows[0].percent == 42


def test_counts_of_a_checkpoint_with_several_items_and_not_required(db, varied):
    cp = checkpoint(db, "college")
    cohort = db.session.scalar(sa.select(Cohort))
    metas = q.checkpoint_items(cp, cohort.id)
    assert [m["key"] for m in metas] == ["party_letter", "league_transfer", "instruments", "national_loan"]
    p = q.panel(cp, None, metas=metas, name=lambda m: m["name"], total_label="Total")
    assert {r.key: r.counts for r in p.items} == {
        "party_letter": {"passed": 1, "pending": 1, "not_required": 3},
        "league_transfer": {"pending": 1, "rejected": 1, "not_required": 3},
        "instruments": {"not_required": 5},
        "national_loan": {"not_required": 5},
    }
    assert p.items_total.counts == {"passed": 1, "pending": 2, "rejected": 1, "not_required": 16}
    # the breakdown is of the first item unless another is chosen
    assert p.item is None
    p = q.panel(cp, None, metas=metas, name=lambda m: m["name"], item="league_transfer")
    assert p.item == "league_transfer"
    assert [(r.key, r.counts) for r in p.groups] == [
        ("外国语学院", {"rejected": 1, "not_required": 1}),
        ("计算机学院", {"pending": 1, "not_required": 2}),
    ]
    # an unknown item falls back to every item (never a silent empty table)
    assert q.panel(cp, None, metas=metas, name=str, item="nope").item is None


def test_by_college_then_by_class(db, varied):
    cp = checkpoint(db, "finance")
    by_college = q.group_rows(cp, None, task_key="finance")
    assert [(r.key, r.counts) for r in by_college] == [
        ("外国语学院", {"waived": 1, "passed": 1}),
        ("计算机学院", {"passed": 1, "pending": 1, "rejected": 1}),
        ("资源学院", {"blocked": 2}),
    ]
    by_class = q.group_rows(cp, None, task_key="finance", college="计算机学院")
    assert [(r.key, r.counts) for r in by_class] == [
        ("软件2201", {"passed": 1, "pending": 1}),
        ("软件2202", {"rejected": 1}),
    ]
    assert q.group_rows(cp, None, task_key="finance", college="没有这个学院") == []


def test_lists_behind_the_numbers(db, varied):
    cp = checkpoint(db, "finance")
    page = q.graduate_list(cp, None, task_key="finance", status="passed")
    assert page.total == 2 and names(page.rows) == ["周五", "赵一"]     # by college, class, student number
    page = q.graduate_list(cp, None, task_key="finance", status="rejected")
    assert names(page.rows) == ["孙三"] and page.rows[0].reason == "欠学费 200 元"
    page = q.graduate_list(cp, None, status="blocked", college="资源学院", class_name="资源硕2301")
    assert names(page.rows) == ["吴六", "郑七"]
    page = q.graduate_list(cp, None, status="passed", college="计算机学院", class_name="软件2201")
    assert names(page.rows) == ["赵一"]
    open_rows = q.graduate_list(cp, None, status=q.OPEN)
    assert sorted(names(open_rows.rows)) == ["孙三", "钱二"]
    assert q.graduate_list(cp, None).total == 7


def test_paging(db, varied):
    cp = checkpoint(db, "finance")
    first = q.graduate_list(cp, None, page=1, per_page=3)
    last = q.graduate_list(cp, None, page=3, per_page=3)
    beyond = q.graduate_list(cp, None, page=99, per_page=3)
    assert (first.total, first.pages, len(first.rows), len(last.rows)) == (7, 3, 3, 1)
    assert beyond.page == 3 and names(beyond.rows) == names(last.rows)
    every = [r.graduate_id for p in (1, 2, 3) for r in q.graduate_list(cp, None, page=p, per_page=3).rows]
    assert sorted(every) == sorted(varied.values())


def test_pending_list_has_the_open_items_with_reasons(db, varied):
    rows = list(q.pending_list(checkpoint(db, "college"), None))
    assert [(r.name, r.task_key, r.status, r.reason) for r in rows] == [
        ("李四", "league_transfer", "rejected", "团费未交"),
        ("钱二", "league_transfer", "pending", None),
        ("孙三", "party_letter", "pending", None),
    ]


def test_other_cohorts_are_counted_apart(db, varied, make_graduate):
    """A second cohort with its own processes: each cohort's panel counts only its graduates."""
    from app.workflow.services import latest_versions, publish, start_graduates

    old = Cohort(year=2025, name="2025届")
    db.session.add(old)
    db.session.commit()
    publish(BPMN.read_bytes(), old, "undergraduate", "test", filename=BPMN.name)
    g = make_graduate(cohort_id=old.id, name="老生", arrears=99)
    start_graduates([g], latest_versions(old.id), ACTOR)
    db.session.commit()
    cp = checkpoint(db, "finance")
    cohorts = q.stat_cohorts()
    assert [c.year for c in cohorts] == [2026, 2025]
    metas = q.checkpoint_items(cp, old.id)
    assert q.item_rows(cp, old.id, metas, str)[0].counts == {"pending": 1}
    assert q.item_rows(cp, cohorts[0].id, metas, str)[0].total == 7
    assert q.item_rows(cp, None, metas, str)[0].total == 8
    assert names(q.graduate_list(cp, old.id).rows) == ["老生"]
