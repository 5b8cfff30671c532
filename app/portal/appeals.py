"""Appeals (申诉): a graduate objects to one open item ("我已还书"); that checkpoint's desk answers.

Use cases (each one transaction, audited in ``events``):

* :func:`submit_appeal` – the graduate appeals a pending or not-passed item (one open appeal per
  item; a double submit finds the first one and creates nothing);
* :func:`resolve_appeal` – an operator of the item's checkpoint confirms the item through
  :func:`app.workflow.services.apply` and resolves the appeal in the same transaction;
* :func:`decline_appeal` – the operator answers with a reason; the item stays open.

Events: ``appeal`` (reason = the graduate's text), ``appeal_resolved`` (reason = the operator's note,
if any; the confirmation itself is the usual ``confirm`` event) and ``appeal_declined`` (reason =
the operator's answer). Their ``old``/``new`` columns stay empty: an appeal changes no item status.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from app.core.domain import DomainError
from app.core.enums import DONE_STATUSES, OPEN_STATUSES, ItemStatus
from app.core.time import utcnow
from app.extensions import db
from app.graduates.models import Graduate
from app.portal.models import Appeal, AppealStatus
from app.portal.queries import meta_for_version
from app.workflow.models import Checkpoint, Clearance, ClearanceItem, Event
from app.workflow.services import Actor, BatchRefused, BatchResult, ConcurrentChange, apply

TEXT_MAX = 500          # the graduate's text
ANSWER_MAX = 500        # the operator's answer
PER_PAGE = 30


class AppealRefused(DomainError):
    """The use case cannot be done; ``message`` is for the user (already translated)."""

    def __init__(self, message: str, code: str = "refused"):
        super().__init__(message, code=code)


def clean_text(text: str | None, limit: int, what: str) -> str:
    """Stripped text, or AppealRefused with a message saying what is wrong."""
    text = (text or "").strip()
    if not text:
        raise AppealRefused(_("Please write %(what)s.", what=what), "empty")
    if len(text) > limit:
        raise AppealRefused(_("Please keep it to %(max)d characters (now %(len)d).", max=limit, len=len(text)),
                            "too_long")
    return text


def _event(graduate_id: int, task_key: str, action: str, reason: str | None, actor: Actor, now: datetime
           ) -> Event:
    clearance_id = db.session.scalar(sa.select(Clearance.id).where(Clearance.graduate_id == graduate_id))
    return Event(graduate_id=graduate_id, clearance_id=clearance_id, task_key=task_key,
                 action=action, old=None, new=None, reason=reason, source=actor.source,
                 actor_id=actor.user_id, actor=(actor.label or "")[:64], remote_addr=actor.remote_addr, at=now)


# ----------------------------------------------------------------------------- graduate
@dataclass
class Submitted:
    appeal: Appeal
    created: bool            # False: an identical open appeal already existed (double submit)


def submit_appeal(graduate_id: int, task_key: str, text: str, actor: Actor) -> Submitted:
    """The graduate appeals one of their items. LookupError when it is not their item."""
    text = clean_text(text, TEXT_MAX, _("what you want the office to know"))
    # Take the item's row lock first (PostgreSQL; on SQLite the database write lock), so two
    # submits of the same appeal at once queue here and the second one sees the first.
    locked = db.session.execute(
        sa.update(ClearanceItem)
        .where(ClearanceItem.graduate_id == graduate_id, ClearanceItem.task_key == task_key)
        .values(status=ClearanceItem.status)
        .execution_options(synchronize_session=False))
    if locked.rowcount != 1:
        db.session.rollback()
        raise LookupError(task_key)
    try:
        item = db.session.execute(
            sa.select(ClearanceItem.id, ClearanceItem.checkpoint_id, ClearanceItem.status)
            .where(ClearanceItem.graduate_id == graduate_id, ClearanceItem.task_key == task_key)).one()
        existing = db.session.scalar(
            sa.select(Appeal).where(Appeal.item_id == item.id, Appeal.status == AppealStatus.OPEN))
        if existing is not None:
            if existing.text == text:
                db.session.rollback()
                return Submitted(existing, created=False)
            raise AppealRefused(_("You already have an open appeal about this item. Please wait for the "
                                  "office's answer."), "open_exists")
        if item.status not in OPEN_STATUSES:
            raise AppealRefused(_("Only a pending or not passed item can be appealed."), "not_open")
        now = utcnow()
        appeal = Appeal(graduate_id=graduate_id, item_id=item.id, checkpoint_id=item.checkpoint_id,
                        task_key=task_key, text=text, status=AppealStatus.OPEN, created_at=now)
        db.session.add(appeal)
        db.session.add(_event(graduate_id, task_key, "appeal", text, actor, now))
        db.session.commit()
        return Submitted(appeal, created=True)
    except BaseException:
        db.session.rollback()
        raise


def appeal_of_graduate(graduate_id: int, appeal_id: int) -> Appeal | None:
    """The appeal if it is this graduate's (None otherwise: the caller answers 404)."""
    return db.session.scalar(sa.select(Appeal).where(Appeal.id == appeal_id, Appeal.graduate_id == graduate_id))


# ----------------------------------------------------------------------------- operator
def _claim(appeal_id: int, status: str, answer: str | None, actor: Actor, now: datetime) -> None:
    """Answer the appeal if it is still open (an atomic UPDATE), else AppealRefused."""
    done = db.session.execute(
        sa.update(Appeal).where(Appeal.id == appeal_id, Appeal.status == AppealStatus.OPEN)
        .values(status=status, answer=answer, answered_by_id=actor.user_id,
                answered_by=(actor.label or "")[:64], answered_at=now)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise AppealRefused(_("This appeal was already answered."), "answered")


def resolve_appeal(appeal: Appeal, actor: Actor, note: str | None = None) -> None:
    """Confirm the appealed item and resolve the appeal, in ONE transaction.

    An item that is already passed (someone confirmed it meanwhile, or the office's data synced)
    only resolves the appeal. A refusal of the engine (e.g. the item waits for a precondition
    again) raises AppealRefused with the engine's message and changes nothing.
    """
    note = (note or "").strip()
    if len(note) > ANSWER_MAX:
        raise AppealRefused(_("Please keep it to %(max)d characters (now %(len)d).", max=ANSWER_MAX,
                              len=len(note)), "too_long")
    appeal_id, graduate_id, item_id, task_key = appeal.id, appeal.graduate_id, appeal.item_id, appeal.task_key
    status = db.session.scalar(sa.select(ClearanceItem.status).where(ClearanceItem.id == item_id))
    if appeal.status != AppealStatus.OPEN:
        raise AppealRefused(_("This appeal was already answered."), "answered")
    if status in (ItemStatus.PASSED, ItemStatus.NOT_REQUIRED):
        _resolve_without_confirming(appeal, actor, note)
        return

    def finish(result: BatchResult) -> None:       # inside apply's transaction, before its commit
        now = utcnow()
        _claim(appeal_id, AppealStatus.RESOLVED, note or None, actor, now)
        db.session.add(_event(graduate_id, task_key, "appeal_resolved", note or None, actor, now))

    try:
        apply([graduate_id], task_key, "confirm", actor, reason=note or None, before_commit=finish)
    except BatchRefused as exc:
        db.session.expire_all()
        if db.session.scalar(sa.select(Appeal.status).where(Appeal.id == appeal_id)) != AppealStatus.OPEN:
            raise AppealRefused(_("This appeal was already answered."), "answered") from exc
        raise AppealRefused(exc.result.failed[0].message, exc.result.failed[0].code) from exc
    except ConcurrentChange as exc:
        raise AppealRefused(_("The item was changed by someone else at the same moment; please try again."),
                            "concurrent") from exc


def _resolve_without_confirming(appeal: Appeal, actor: Actor, note: str) -> None:
    try:
        now = utcnow()
        _claim(appeal.id, AppealStatus.RESOLVED, note or None, actor, now)
        db.session.add(_event(appeal.graduate_id, appeal.task_key, "appeal_resolved", note or None, actor, now))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def decline_appeal(appeal: Appeal, actor: Actor, answer: str) -> None:
    """Answer the appeal with a reason; the item stays as it is."""
    answer = clean_text(answer, ANSWER_MAX, _("the reason for the graduate"))
    try:
        now = utcnow()
        _claim(appeal.id, AppealStatus.DECLINED, answer, actor, now)
        db.session.add(_event(appeal.graduate_id, appeal.task_key, "appeal_declined", answer, actor, now))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


# ----------------------------------------------------------------------------- queries
@dataclass
class AppealRow:
    """An appeal with what a list shows about it (no ORM lazy loads in loops)."""

    appeal: Appeal
    graduate: Graduate
    checkpoint: Checkpoint
    item_status: str
    meta: dict[str, Any]

    @property
    def is_open(self) -> bool:
        return self.appeal.status == AppealStatus.OPEN

    @property
    def item_done(self) -> bool:
        return self.item_status in DONE_STATUSES


@dataclass
class AppealPage:
    rows: list[AppealRow]
    page: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def _rows(stmt) -> list[AppealRow]:
    """AppealRows for a select of (Appeal, Graduate, Checkpoint, item status, process version id)."""
    out = []
    metas: dict[int, dict[str, dict[str, Any]]] = {}      # one metadata load per process version
    for appeal, graduate, checkpoint, item_status, version_id in db.session.execute(stmt):
        if version_id not in metas:
            metas[version_id] = meta_for_version(version_id)
        meta = metas[version_id].get(appeal.task_key) or {"key": appeal.task_key, "name": appeal.task_key}
        out.append(AppealRow(appeal, graduate, checkpoint, item_status, meta))
    return out


def _base():
    return (sa.select(Appeal, Graduate, Checkpoint, ClearanceItem.status, Clearance.process_version_id)
            .join(Graduate, Graduate.id == Appeal.graduate_id)
            .join(Checkpoint, Checkpoint.id == Appeal.checkpoint_id)
            .join(ClearanceItem, ClearanceItem.id == Appeal.item_id)
            .join(Clearance, Clearance.id == ClearanceItem.clearance_id))


def queue(checkpoint_id: int, state: str = "open", page: int = 1, per_page: int = PER_PAGE) -> AppealPage:
    """One checkpoint's appeals, newest first: ``open`` ones or ``answered`` ones."""
    page = max(1, page)
    stmt = _base().where(Appeal.checkpoint_id == checkpoint_id)
    if state == "answered":
        stmt = stmt.where(Appeal.status != AppealStatus.OPEN).order_by(Appeal.answered_at.desc(), Appeal.id.desc())
    else:
        stmt = stmt.where(Appeal.status == AppealStatus.OPEN).order_by(Appeal.id.desc())
    rows = _rows(stmt.limit(per_page + 1).offset((page - 1) * per_page))
    return AppealPage(rows[:per_page], page, len(rows) > per_page)


def counts(checkpoint_id: int) -> dict[str, int]:
    """{'open': n, 'answered': m} for the checkpoint's queue."""
    rows = db.session.execute(
        sa.select(Appeal.status, sa.func.count()).where(Appeal.checkpoint_id == checkpoint_id)
        .group_by(Appeal.status))
    out = {"open": 0, "answered": 0}
    for status, n in rows:
        out["open" if status == AppealStatus.OPEN else "answered"] += n
    return out


def open_for_graduate_at(graduate_id: int, checkpoint_id: int) -> list[AppealRow]:
    """The graduate's open appeals at this checkpoint (the desk's graduate panel), oldest first."""
    return _rows(_base().where(Appeal.graduate_id == graduate_id, Appeal.checkpoint_id == checkpoint_id,
                               Appeal.status == AppealStatus.OPEN).order_by(Appeal.id))


def of_graduate(graduate_id: int) -> list[AppealRow]:
    """Every appeal of the graduate, newest first."""
    return _rows(_base().where(Appeal.graduate_id == graduate_id).order_by(Appeal.id.desc()))


def row_of(appeal: Appeal) -> AppealRow:
    return _rows(_base().where(Appeal.id == appeal.id))[0]
