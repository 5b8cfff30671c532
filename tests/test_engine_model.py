"""Model-based test of the engine rules (docs/requirements.md, "Engine rules").

The oracle below is written from the three default diagrams and the written rules, not from the
engine's code: each graduate type is a list of items with the condition that makes it apply, the
items it waits for, its auto-pass rule and whether it may be waived. Random sequences of every
operation (confirm, reject, re-open, waive, un-waive, attribute corrections) run through the real
services on the real database; after every step the projection, the clearance's status and version
and the audit events must be what the oracle says.

``pytest tests/test_engine_model.py --model-sequences 200`` runs a longer search (CI runs the
default, a few thousand steps in all, plus the named regressions from issue 9).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
import sqlalchemy as sa

from app.workflow.models import Clearance, ClearanceItem, Event
from app.workflow.services import Actor, BatchRefused, apply, projection_mismatches, update_attributes

OP = Actor(None, "model")

# ----------------------------------------------------------------------------- the model
Cond = Callable[[dict[str, Any]], bool]
ALWAYS: Cond = lambda a: True  # noqa: E731


@dataclass(frozen=True)
class M:
    key: str
    cond: Cond = ALWAYS
    after: tuple[str, ...] = ()
    rule: Cond | None = None
    reads: frozenset[str] = frozenset()        # attributes the auto rule reads
    waivable: bool = False
    certificate: bool = False


def library_rule(a):
    return a["library_books"] == 0 and a["library_fines"] == 0


def finance_rule(a):
    return a["arrears"] == 0


LIB_READS = frozenset({"library_books", "library_fines"})
FIN_READS = frozenset({"arrears"})

_UG_BRANCHES = [
    M("party_letter", lambda a: a["party_member"]),
    M("league_transfer", lambda a: a["league_member"]),
    M("instruments", lambda a: a["borrowed_instrument"]),
    M("national_loan", lambda a: a["has_national_loan"]),
    M("library", rule=library_rule, reads=LIB_READS),
    M("student_id_card"),
    M("origin_loan", lambda a: a["has_origin_loan"]),
    M("electricity", lambda a: a["lives_on_campus"]),
    M("dorm_checkout", lambda a: a["lives_on_campus"]),
    M("switch_return", lambda a: a["borrowed_switch"]),
    M("finance", rule=finance_rule, reads=FIN_READS, waivable=True),
]
_UG_ALL = tuple(m.key for m in _UG_BRANCHES)
UNDERGRADUATE = _UG_BRANCHES + [
    M("certificates", lambda a: not a["certificates_deferred"], _UG_ALL, certificate=True),
    M("deferred_certificates", lambda a: a["certificates_deferred"], _UG_ALL, certificate=True),
]

LAB_COLLEGES = ("地球科学学院", "资源学院", "材料与化学学院", "珠宝学院")
_DUAL_BRANCHES = [
    M("library", after=("advisor_review",), rule=library_rule, reads=LIB_READS),
    M("lab_equipment", after=("advisor_review",)),
    M("state_key_lab", lambda a: a["college"] in LAB_COLLEGES, ("advisor_review",)),
    M("hospital", after=("advisor_review",)),
    M("finance", after=("advisor_review",), rule=finance_rule, reads=FIN_READS, waivable=True),
    M("employment", after=("advisor_review",)),
    M("student_work", after=("advisor_review",)),
    M("league_transfer", lambda a: a["league_member"], ("advisor_review",)),
    M("graduate_secretary", after=("advisor_review",)),
    M("dorm_checkout", lambda a: a["lives_on_campus"], ("advisor_review",)),
]
DUAL = [M("advisor_review")] + _DUAL_BRANCHES + [
    M("certificates", after=("advisor_review",) + tuple(m.key for m in _DUAL_BRANCHES), certificate=True)]
_SINGLE_BRANCHES = [
    M("library", after=("advisor_review",), rule=library_rule, reads=LIB_READS),
    M("finance", after=("advisor_review",), rule=finance_rule, reads=FIN_READS, waivable=True),
    M("graduate_secretary", after=("advisor_review",)),
    M("dorm_checkout", lambda a: a["lives_on_campus"], ("advisor_review",)),
]
SINGLE = [M("advisor_review")] + _SINGLE_BRANCHES + [
    M("certificates", after=("advisor_review",) + tuple(m.key for m in _SINGLE_BRANCHES), certificate=True)]

PROCESSES = {"undergraduate": UNDERGRADUATE, "postgraduate_dual": DUAL, "postgraduate_single": SINGLE}

# attribute values the random runs pick from, per graduate type
CHOICES: dict[str, dict[str, list[Any]]] = {
    "undergraduate": {
        "party_member": [False, True], "league_member": [False, True], "borrowed_instrument": [False, True],
        "has_national_loan": [False, True], "has_origin_loan": [False, True], "lives_on_campus": [True, False],
        "borrowed_switch": [False, True], "certificates_deferred": [False, True],
        "library_books": [0, 2], "library_fines": [0.0, 5.5], "arrears": [0.0, 350.0],
        "major": ["软件工程", "地质学"],
    },
    "postgraduate_dual": {
        "college": ["计算机学院", "地球科学学院"], "league_member": [False, True], "lives_on_campus": [True, False],
        "library_books": [0, 2], "library_fines": [0.0, 5.5], "arrears": [0.0, 350.0], "major": ["软件工程", "地质学"],
    },
    "postgraduate_single": {
        "lives_on_campus": [True, False], "library_books": [0, 2], "arrears": [0.0, 350.0],
        "library_fines": [0.0, 5.5], "major": ["软件工程", "地质学"], "college": ["计算机学院", "地球科学学院"],
    },
}

DEFAULTS = dict(party_member=False, league_member=False, borrowed_instrument=False, has_national_loan=False,
                has_origin_loan=False, lives_on_campus=True, borrowed_switch=False, certificates_deferred=False,
                library_books=0, library_fines=0.0, arrears=0.0, college="计算机学院", major="软件工程")


class Refused(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass
class Mem:
    decision: str | None = None       # None | "passed" | "auto" | "waived"
    why: str | None = None            # the waiver's reason
    rej: str | None = None
    ovr: bool = False


@dataclass
class Oracle:
    items: list[M]
    attrs: dict[str, Any]
    mem: dict[str, Mem] = field(default_factory=dict)

    def __post_init__(self):
        self.by_key = {m.key: m for m in self.items}
        for m in self.items:
            self.mem.setdefault(m.key, Mem())
        self._auto(set(), set())

    # -- derived state
    def frozen(self) -> bool:
        return any(self.mem[m.key].decision for m in self.items if m.certificate)

    def applies(self, key: str) -> bool:
        if self.frozen():
            return self.mem[key].decision is not None
        return bool(self.by_key[key].cond(self.attrs))

    def done(self, key: str) -> bool:
        return self.mem[key].decision is not None

    def statuses(self) -> dict[str, tuple[str, str | None, tuple[str, ...]]]:
        out: dict[str, tuple[str, str | None, tuple[str, ...]]] = {}
        for m in self.items:                      # listed in dependency order
            mem = self.mem[m.key]
            if not self.applies(m.key):
                out[m.key] = ("not_required", None, ())
            elif mem.decision in ("passed", "auto"):
                out[m.key] = ("passed", None, ())
            elif mem.decision == "waived":
                out[m.key] = ("waived", mem.why, ())
            else:
                waiting = tuple(u for u in m.after if self.applies(u) and not self.done(u))
                if waiting:
                    out[m.key] = ("blocked", mem.rej, tuple(u for u in waiting))
                elif mem.rej:
                    out[m.key] = ("rejected", mem.rej, ())
                else:
                    out[m.key] = ("pending", None, ())
        return out

    def open_keys(self) -> set[str]:
        return {k for k, (s, _r, _b) in self.statuses().items() if s in ("pending", "rejected")}

    def clearance_status(self) -> str:
        if self.frozen():
            return "completed"
        st = self.statuses()
        if any(m.certificate and st[m.key][0] in ("pending", "rejected") for m in self.items):
            return "eligible"
        return "in_progress"

    # -- rules
    def _auto(self, before: set[str], force: set[str]) -> None:
        """(b): a rule passes an item that has just opened, or whose attributes changed."""
        while True:
            for key in sorted(self.open_keys()):
                m, mem = self.by_key[key], self.mem[key]
                if m.rule and (key not in before or key in force) and not mem.ovr and m.rule(self.attrs):
                    self.mem[key] = Mem("auto")
                    break
            else:
                return

    def _refuse_status(self, key: str) -> None:
        s = self.statuses()[key][0]
        raise Refused({"not_required": "not_required", "blocked": "blocked", "passed": "already_passed",
                       "waived": "already_waived"}.get(s, "not_open"))

    def _check_reopenable(self, key: str) -> None:
        if self.frozen():
            raise Refused("certificates_issued")
        if any(key in m.after and self.done(m.key) for m in self.items):
            raise Refused("later_items_done")

    # -- operations (raise Refused, or change the state)
    def confirm(self, key: str) -> None:
        mem = self.mem[key]
        if mem.decision == "waived":
            self.mem[key] = Mem("passed")
            return
        if key not in self.open_keys():
            self._refuse_status(key)
        before = self.open_keys()
        self.mem[key] = Mem("passed")
        self._auto(before, set())

    def reject(self, key: str, reason: str) -> None:
        if key not in self.open_keys():
            self._refuse_status(key)
        mem = self.mem[key]
        mem.rej = reason
        if self.by_key[key].rule:
            mem.ovr = True

    def waive(self, key: str, reason: str) -> None:
        if not self.by_key[key].waivable:
            raise Refused("not_waivable")
        if key not in self.open_keys():
            self._refuse_status(key)
        before = self.open_keys()
        mem = self.mem[key]
        mem.decision, mem.why = "waived", reason
        self._auto(before, set())

    def unwaive(self, key: str) -> None:
        if self.mem[key].decision != "waived":
            raise Refused("not_waived")
        self._check_reopenable(key)
        before = self.open_keys()
        mem = self.mem[key]
        mem.decision, mem.why = None, None
        self._auto(before, set())

    def reopen(self, key: str) -> None:
        if not self.done(key):
            raise Refused("not_required" if self.statuses()[key][0] == "not_required" else "not_passed")
        self._check_reopenable(key)
        self.mem[key] = Mem(ovr=bool(self.by_key[key].rule))

    def update(self, changes: dict[str, Any]) -> None:
        changed = {k for k, v in changes.items() if self.attrs.get(k) != v}
        before = self.open_keys()
        frozen = self.frozen()
        self.attrs.update(changes)
        rule_changed = {m.key for m in self.items if m.rule and m.reads & changed}
        for key in rule_changed:
            self.mem[key].ovr = False
        if not frozen:
            for m in self.items:               # (a): items that no longer apply start afresh later
                if not m.cond(self.attrs):
                    self.mem[m.key] = Mem()
            for key in sorted(rule_changed):   # an auto pass whose rule broke is undone
                mem = self.mem[key]
                if mem.decision == "auto" and not self.by_key[key].rule(self.attrs):
                    try:
                        self._check_reopenable(key)
                    except Refused:
                        continue
                    mem.decision = None
            self._auto(before, rule_changed)
        for key in rule_changed:               # a waived item whose rule now holds
            mem = self.mem[key]
            if mem.decision == "waived" and self.by_key[key].rule(self.attrs):
                self.mem[key] = Mem("auto")


# ----------------------------------------------------------------------------- the runner
class Run:
    """One graduate, driven through the services and through the oracle in step."""

    def __init__(self, db, graduate, gtype: str, attrs: dict[str, Any]):
        self.db, self.g = db, graduate
        self.oracle = Oracle(PROCESSES[gtype], dict(attrs))
        self.version = self._clearance().version
        self.events = self._event_count()
        self.log: list[str] = []
        self.check("start")

    def _clearance(self) -> Clearance:
        self.db.session.expire_all()
        return self.db.session.scalar(sa.select(Clearance).where(Clearance.graduate_id == self.g.id))

    def _event_count(self) -> dict[str, int]:
        rows = self.db.session.execute(
            sa.select(Event.task_key, sa.func.count()).where(Event.graduate_id == self.g.id,
                                                             Event.task_key.is_not(None))
            .group_by(Event.task_key))
        return dict(rows.all())

    def step(self, op: str, key: str | None = None, reason: str | None = None,
             changes: dict[str, Any] | None = None) -> str:
        """Apply one operation to both; return 'ok' or the refusal code (they must agree)."""
        self.log.append(f"{op} {key or ''} {changes or ''}".strip())
        before = self.oracle.statuses()
        expected = "ok"
        try:
            if op == "update":
                self.oracle.update(dict(changes))
            elif op in ("reject", "waive"):
                getattr(self.oracle, op)(key, reason)
            else:
                getattr(self.oracle, op)(key)
        except Refused as r:
            expected = r.code
        if op == "update":
            update_attributes(self.g.id, dict(changes), OP)
            got = "ok"
        else:
            try:
                apply([self.g.id], key, op, OP, reason=reason)
                got = "ok"
            except BatchRefused as err:
                got = err.result.failed[0].code
        assert got == expected, self.explain(f"outcome {got!r}, oracle {expected!r}")
        after = self.oracle.statuses()
        if got == "ok":
            self.version += 1
            for k in after:
                if after[k][0] != before[k][0] or k == key:
                    self.events[k] = self.events.get(k, 0) + 1
        self.check(self.log[-1])
        return got

    def check(self, what: str) -> None:
        want = self.oracle.statuses()
        rows = {r.task_key: r for r in self.db.session.execute(
            sa.select(ClearanceItem.task_key, ClearanceItem.status, ClearanceItem.reason, ClearanceItem.blocked_by,
                      ClearanceItem.source).where(ClearanceItem.graduate_id == self.g.id))}
        for key, (status, reason, blocked) in want.items():
            row = rows[key]
            assert row.status == status, self.explain(f"{key}: {row.status}, oracle {status}")
            if status in ("rejected", "waived", "blocked"):
                assert row.reason == reason, self.explain(f"{key} reason {row.reason!r}, oracle {reason!r}")
            if status == "blocked":
                assert tuple(sorted((row.blocked_by or "").split(",") if row.blocked_by else ())) \
                    == tuple(sorted(blocked)), self.explain(f"{key} blocked_by {row.blocked_by}, oracle {blocked}")
            if status == "passed":
                auto = self.oracle.mem[key].decision == "auto"
                assert (row.source == "auto") == auto, self.explain(f"{key} source {row.source}, auto={auto}")
        # the certificates never open while an applicable item is unfinished
        unfinished = [k for k, (s, _r, _b) in want.items() if s in ("pending", "rejected", "blocked")
                      and not self.oracle.by_key[k].certificate]
        if unfinished:
            assert not any(rows[m.key].status in ("pending", "rejected")
                           for m in self.oracle.items if m.certificate), self.explain("certificates open")
        c = self._clearance()
        assert c.status == self.oracle.clearance_status(), self.explain(
            f"clearance {c.status}, oracle {self.oracle.clearance_status()}")
        assert c.version == self.version, self.explain(f"version {c.version}, expected {self.version}")
        events = self._event_count()
        assert events == {k: v for k, v in self.events.items() if v}, self.explain(
            f"events {events}, expected {self.events}")

    def explain(self, problem: str) -> str:
        return f"{problem}\n  after: " + "\n    ".join(self.log[-40:])


REASONS = ["照片未交", "图书未还", "材料不全", "电费未缴清"]


def random_step(run: Run, rnd: random.Random, gtype: str) -> None:
    oracle = run.oracle
    keys = [m.key for m in oracle.items]
    st = oracle.statuses()
    roll = rnd.random()
    if roll < 0.22:
        attr = rnd.choice(list(CHOICES[gtype]))
        run.step("update", changes={attr: rnd.choice(CHOICES[gtype][attr])})
        return
    op = rnd.choices(["confirm", "reject", "reopen", "waive", "unwaive"], [40, 14, 18, 8, 6])[0]
    wanted = {"confirm": ("pending", "rejected", "waived"), "reject": ("pending", "rejected"),
              "reopen": ("passed", "waived"), "waive": ("pending", "rejected"), "unwaive": ("waived",)}[op]
    likely = [k for k in keys if st[k][0] in wanted]
    key = rnd.choice(likely) if likely and rnd.random() < 0.85 else rnd.choice(keys)
    run.step(op, key, reason=rnd.choice(REASONS) if op != "confirm" else None)


def model_graduate(make_graduate, start, gtype: str, rnd: random.Random | None, **fixed):
    attrs = dict(DEFAULTS)
    if rnd is not None:
        for name, values in CHOICES[gtype].items():
            attrs[name] = rnd.choice(values)
    attrs.update(fixed)
    g = make_graduate(gtype=gtype, **attrs)
    start(g)
    return g, attrs


@pytest.mark.parametrize("gtype", list(PROCESSES))
def test_random_sequences_agree_with_the_model(db, make_graduate, start, gtype, request):
    sequences = request.config.getoption("--model-sequences")
    steps = request.config.getoption("--model-steps")
    rnd = random.Random(f"lixiao-model-{gtype}")
    for _ in range(sequences):
        g, attrs = model_graduate(make_graduate, start, gtype, rnd)
        run = Run(db, g, gtype, attrs)
        for _step in range(steps):
            random_step(run, rnd, gtype)
        c = run._clearance()
        assert projection_mismatches(c) == []


# ----------------------------------------------------------------------------- named regressions (issue 9)
def _run(db, make_graduate, start, gtype="undergraduate", **attrs) -> Run:
    g, full = model_graduate(make_graduate, start, gtype, None, **attrs)
    return Run(db, g, gtype, full)


def status(run: Run, key: str) -> str:
    return run.oracle.statuses()[key][0]


def test_corrected_loan_drops_the_item_and_frees_the_certificates(db, make_graduate, start):
    run = _run(db, make_graduate, start, has_national_loan=True)
    run.step("confirm", "student_id_card")
    for key in ("electricity", "dorm_checkout"):
        run.step("confirm", key)
    assert status(run, "certificates") == "blocked"
    run.step("update", changes={"has_national_loan": False})
    assert status(run, "national_loan") == "not_required"
    assert status(run, "certificates") == "pending"


def test_loan_added_after_the_join_blocks_the_certificates(db, make_graduate, start):
    run = _run(db, make_graduate, start)
    for key in ("student_id_card", "electricity", "dorm_checkout"):
        run.step("confirm", key)
    assert status(run, "certificates") == "pending"
    run.step("update", changes={"has_national_loan": True})
    assert status(run, "national_loan") == "pending"
    assert status(run, "certificates") == "blocked"
    assert run.step("confirm", "certificates") == "blocked"


def test_deferral_after_the_join_switches_the_certificate_item(db, make_graduate, start):
    run = _run(db, make_graduate, start)
    for key in ("student_id_card", "electricity", "dorm_checkout"):
        run.step("confirm", key)
    run.step("update", changes={"certificates_deferred": True})
    assert status(run, "certificates") == "not_required"
    assert status(run, "deferred_certificates") == "pending"


def test_postgraduate_college_change_after_the_review_reroutes(db, make_graduate, start):
    run = _run(db, make_graduate, start, "postgraduate_dual")
    run.step("confirm", "advisor_review")
    assert status(run, "state_key_lab") == "not_required"
    run.step("update", changes={"college": "地球科学学院"})
    assert status(run, "state_key_lab") == "pending"
    run.step("update", changes={"college": "计算机学院"})
    assert status(run, "state_key_lab") == "not_required"


def test_reopening_a_dropped_party_letter_is_refused(db, make_graduate, start):
    run = _run(db, make_graduate, start, party_member=True)
    run.step("confirm", "party_letter")
    run.step("update", changes={"party_member": False})
    assert status(run, "party_letter") == "not_required"
    assert run.step("reopen", "party_letter", reason="误操作") == "not_required"


def test_reopened_finance_is_not_passed_again_by_an_unrelated_confirmation(db, make_graduate, start):
    run = _run(db, make_graduate, start)
    run.step("confirm", "electricity")
    run.step("confirm", "dorm_checkout")
    assert status(run, "finance") == "passed"
    run.step("reopen", "finance", reason="财务系统数据有误")
    run.step("confirm", "student_id_card")
    assert status(run, "finance") == "pending"
    assert status(run, "certificates") == "blocked"
    # the data the decision answered changes, and changes back: the rule decides again
    run.step("update", changes={"arrears": 350.0})
    run.step("update", changes={"arrears": 0.0})
    assert status(run, "finance") == "passed"


def test_rejected_library_is_not_passed_by_the_next_change(db, make_graduate, start):
    run = _run(db, make_graduate, start)
    run.step("reopen", "library", reason="系统数据有误")
    run.step("reject", "library", reason="图书未还")
    run.step("confirm", "student_id_card")
    run.step("update", changes={"major": "地质学"})
    assert run.oracle.statuses()["library"] == ("rejected", "图书未还", ())


def test_reopen_of_the_last_item_keeps_the_certificates_waiting(db, make_graduate, start):
    for last in ("party_letter", "electricity", "dorm_checkout"):
        run = _run(db, make_graduate, start, party_member=True)
        for key in ("student_id_card", "party_letter", "electricity", "dorm_checkout"):
            if key != last:
                run.step("confirm", key)
        run.step("confirm", last)
        assert status(run, "certificates") == "pending"
        run.step("reopen", last, reason="材料有误")
        assert status(run, "certificates") == "blocked", last
        assert run.oracle.statuses()["certificates"][2] == (last,)
        run.step("confirm", last)
        assert status(run, "certificates") == "pending"


def test_rejected_certificates_keep_their_reason_over_a_reopen(db, make_graduate, start):
    run = _run(db, make_graduate, start)
    for key in ("student_id_card", "electricity", "dorm_checkout"):
        run.step("confirm", key)
    run.step("reject", "certificates", reason="照片未交")
    run.step("reopen", "student_id_card", reason="学生证未上交")
    assert run.oracle.statuses()["certificates"] == ("blocked", "照片未交", ("student_id_card",))
    run.step("confirm", "student_id_card")
    assert run.oracle.statuses()["certificates"] == ("rejected", "照片未交", ())


def test_postgraduate_library_rejection_survives_a_reopened_review(db, make_graduate, start):
    run = _run(db, make_graduate, start, "postgraduate_single", library_books=2, arrears=350.0)
    run.step("confirm", "advisor_review")
    run.step("reject", "library", reason="2 册图书未还")
    run.step("reopen", "advisor_review", reason="审核意见有误")
    run.step("confirm", "advisor_review")
    assert run.oracle.statuses()["library"] == ("rejected", "2 册图书未还", ())


def test_paid_arrears_pass_a_waived_finance_item(db, make_graduate, start):
    run = _run(db, make_graduate, start, arrears=350.0)
    run.step("waive", "finance", reason="缓交学费")
    run.step("update", changes={"arrears": 0.0})
    assert status(run, "finance") == "passed"
