"""The special desks: certificate issuance (证件发放, seed 001 §3.2/3.8.3) and 缓交 (seed 001 §3.9).

Read-only queries over the projection plus the use cases of these desks (issue the certificates;
lift a restriction, change its end date, restore it); every change goes through
``app.workflow.services``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from math import ceil
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from app.core.domain import DomainError
from app.auth.models import User
from app.core.enums import DONE_STATUSES, OPEN_STATUSES, ClearanceStatus, ItemStatus
from app.desk.queries import DeskItem, _escape_like, _in_scope
from app.extensions import db
from app.graduates.models import Graduate
from app.portal.queries import meta_for_version
from app.workflow.models import Checkpoint, Clearance, ClearanceItem, Event, ProcessVersion
from app.workflow.services import (
    ActionRefused,
    Actor,
    ItemOutcome,
    apply,
    apply_items,
    local_today,
    refusal_message,
    set_waiver_end,
)

PER_PAGE = 50
WAIVER_CHECKPOINT = "waiver"
MAX_WAIVER_DAYS = 3 * 366          # a 缓交 longer than three years is a typing mistake


# ----------------------------------------------------------------------------- item metadata
@dataclass
class _Catalogue:
    certificate: dict[int, set[str]]    # checkpoint id -> certificate task keys
    waivable: dict[str, dict[str, Any]]  # task key -> metadata (latest version wins)
    by_version: dict[int, dict[str, dict[str, Any]]]   # version id -> task key -> metadata

    def meta(self, version_id: int, key: str) -> dict[str, Any]:
        return self.by_version.get(version_id, {}).get(key) or {"key": key, "name": key}


_CATALOGUE: list[tuple[tuple, _Catalogue]] = []     # [(stamp, catalogue)], replaced as a whole


def catalogue() -> _Catalogue:
    """Certificate and waivable items over every published version (cached until a new one)."""
    stamp = tuple(db.session.execute(sa.select(sa.func.count(ProcessVersion.id), sa.func.max(ProcessVersion.id),
                                               sa.func.max(ProcessVersion.published_at))).one())
    cached = _CATALOGUE[0] if _CATALOGUE else None
    if cached is not None and cached[0] == stamp:
        return cached[1]
    cert: dict[int, set[str]] = {}
    waivable: dict[str, dict[str, Any]] = {}
    by_version: dict[int, dict[str, dict[str, Any]]] = {}
    for vid, metas in db.session.execute(sa.select(ProcessVersion.id, ProcessVersion.items_meta)
                                         .order_by(ProcessVersion.id)):
        by_version[vid] = {m["key"]: m for m in metas or ()}
        for m in metas or ():
            if m.get("certificate") and m.get("checkpoint_id") is not None:
                cert.setdefault(m["checkpoint_id"], set()).add(m["key"])
            if m.get("waivable"):
                waivable[m["key"]] = m
    value = _Catalogue(cert, waivable, by_version)
    _CATALOGUE[:] = [(stamp, value)]
    return value


def certificate_keys(checkpoint: Checkpoint) -> set[str]:
    return catalogue().certificate.get(checkpoint.id, set())


def is_certificate_checkpoint(checkpoint: Checkpoint | None) -> bool:
    return checkpoint is not None and bool(certificate_keys(checkpoint))


def is_waiver_checkpoint(checkpoint: Checkpoint | None) -> bool:
    return checkpoint is not None and checkpoint.key == WAIVER_CHECKPOINT


# ----------------------------------------------------------------------------- paging
@dataclass
class Page:
    rows: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, ceil(self.total / self.per_page))

    @property
    def first(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)


def _page(stmt, page: int, per_page: int) -> Page:
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0
    pages = max(1, ceil(total / per_page))
    page = min(max(1, page), pages)
    rows = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(rows, page, per_page, total)


def _search_filter(q: str):
    """Student number (prefix) or name (part); wildcards typed by the operator are literal."""
    like = _escape_like(q)
    return sa.or_(Graduate.student_no.like(f"{like}%", escape="\\"),
                  Graduate.name.like(f"%{like}%", escape="\\"))


# ----------------------------------------------------------------------------- the graduate's sheet
@dataclass
class Sheet:
    """One graduate's whole sheet (projection), with metadata and the checkpoints of the items."""

    graduate: Graduate
    clearance: Clearance | None
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: list[DeskItem] = field(default_factory=list)

    def name_of(self, key: str | None) -> dict[str, Any]:
        if not key:
            return {}
        return self.meta.get(key) or {"key": key, "name": key}


def sheet_of(graduate: Graduate) -> Sheet:
    clearance = db.session.scalar(sa.select(Clearance).where(Clearance.graduate_id == graduate.id))
    if clearance is None:
        return Sheet(graduate, None)
    meta = meta_for_version(clearance.process_version_id)
    items = [DeskItem(i, meta.get(i.task_key) or {"key": i.task_key, "name": i.task_key},
                      [meta.get(k) or {"key": k, "name": k} for k in i.blockers])
             for i in clearance.items]
    return Sheet(graduate, clearance, meta, items)


# ----------------------------------------------------------------------------- certificate desk
@dataclass
class Issued:
    item: DeskItem
    at: datetime | None
    by: str


@dataclass
class _SheetView:
    """A desk page about one graduate's sheet."""

    sheet: Sheet

    @property
    def graduate(self) -> Graduate:
        return self.sheet.graduate

    @property
    def clearance(self) -> Clearance | None:
        return self.sheet.clearance


@dataclass
class CertificateView(_SheetView):
    here: list[DeskItem]            # certificate items of this checkpoint
    elsewhere: list[DeskItem]       # certificate items the graduate collects at another checkpoint
    unfinished: list[DeskItem]      # items still open anywhere (what keeps the certificates back)
    issued: list[Issued]
    events: list[Event]

    @property
    def issuable(self) -> list[DeskItem]:
        return [d for d in self.here if d.status in OPEN_STATUSES]

    @property
    def required_here(self) -> list[DeskItem]:
        return [d for d in self.here if d.status != ItemStatus.NOT_REQUIRED]


def certificate_view(graduate: Graduate, checkpoint: Checkpoint) -> CertificateView:
    sheet = sheet_of(graduate)
    cert_here = certificate_keys(checkpoint)
    here = [d for d in sheet.items if d.item.checkpoint_id == checkpoint.id and d.key in cert_here]
    elsewhere = [d for d in sheet.items if d.meta.get("certificate") and d.item.checkpoint_id != checkpoint.id
                 and d.status != ItemStatus.NOT_REQUIRED]
    unfinished = sorted((d for d in sheet.items if d.status not in DONE_STATUSES and not d.meta.get("certificate")),
                        key=lambda d: (d.item.checkpoint.sort_order, d.item.sort_order))
    events: list[Event] = []
    issued: list[Issued] = []
    if sheet.clearance is not None and here:
        events = list(db.session.scalars(
            sa.select(Event).where(Event.graduate_id == graduate.id, Event.task_key.in_([d.key for d in here]))
            .order_by(Event.id.desc()).limit(20)))
        for d in here:
            if d.status == ItemStatus.PASSED:
                ev = next((e for e in events if e.task_key == d.key and e.new == ItemStatus.PASSED), None)
                issued.append(Issued(d, ev.at if ev else d.item.updated_at, ev.actor if ev else ""))
    return CertificateView(sheet, here, elsewhere, unfinished, issued, events)


def ready_to_issue(checkpoint: Checkpoint, *, q: str = "", college: str = "", class_name: str = "",
                   issued: bool = False, page: int = 1, per_page: int | None = None) -> Page:
    """Graduates whose certificates are issuable here and not yet issued, by college and class;
    ``issued``: those already issued here, latest first (rows: item, graduate, version id, issued by)."""
    keys = certificate_keys(checkpoint)
    statuses = (ItemStatus.PASSED,) if issued else OPEN_STATUSES
    stmt = (sa.select(ClearanceItem, Graduate, Clearance.process_version_id,
                      sa.func.coalesce(sa.func.nullif(User.display_name, ""), User.username))
            .join(Graduate, Graduate.id == ClearanceItem.graduate_id)
            .join(Clearance, Clearance.id == ClearanceItem.clearance_id)
            .outerjoin(User, User.id == ClearanceItem.actor_id)
            .where(ClearanceItem.checkpoint_id == checkpoint.id, ClearanceItem.status.in_(statuses),
                   ClearanceItem.task_key.in_(keys or {""})))
    if issued:
        stmt = stmt.order_by(ClearanceItem.updated_at.desc(), ClearanceItem.id.desc())
    else:
        stmt = stmt.order_by(Graduate.college, Graduate.class_name, Graduate.student_no)
    if q:
        stmt = stmt.where(_search_filter(q))
    if college:
        stmt = stmt.where(Graduate.college == college)
    if class_name:
        stmt = stmt.where(Graduate.class_name == class_name)
    return _page(stmt, page, per_page or PER_PAGE)


def ready_colleges(checkpoint: Checkpoint, *, issued: bool = False) -> list[str]:
    """Colleges with graduates in that list (for the filter)."""
    keys = certificate_keys(checkpoint)
    statuses = (ItemStatus.PASSED,) if issued else OPEN_STATUSES
    return [c for c in db.session.scalars(
        sa.select(Graduate.college).join(ClearanceItem, ClearanceItem.graduate_id == Graduate.id)
        .where(ClearanceItem.checkpoint_id == checkpoint.id, ClearanceItem.status.in_(statuses),
               ClearanceItem.task_key.in_(keys or {""}))
        .distinct().order_by(Graduate.college)) if c]


class NothingToIssue(DomainError):
    code = "nothing_to_issue"
    """The graduate has no issuable certificate at this checkpoint (message says why)."""


def issue_certificates(graduate_id: int, checkpoint: Checkpoint, actor: Actor) -> list[ItemOutcome]:
    """Record that the certificates of this checkpoint were handed over: ONE transaction, audited.

    Refused (NothingToIssue) unless every other item is done, i.e. the certificate items are open.
    """
    graduate = db.session.scalar(sa.select(Graduate).where(Graduate.id == graduate_id, _in_scope()))
    if graduate is None:
        raise LookupError(graduate_id)
    view = certificate_view(graduate, checkpoint)
    if view.clearance is None:
        raise NothingToIssue(_("The clearance of this graduate has not been started yet."))
    if not view.issuable:
        if view.issued:
            raise NothingToIssue(_("The certificates were already issued."))
        if not view.required_here:
            raise NothingToIssue(_("This graduate does not collect certificates at this checkpoint."))
        raise NothingToIssue(_("Not ready for certificates yet: %(n)d item(s) are unfinished.",
                               n=len(view.unfinished)))
    return apply_items(graduate_id, [d.key for d in view.issuable], "confirm", actor)


# ----------------------------------------------------------------------------- 缓交 desk
@dataclass
class WaiverRow:
    item: DeskItem
    can_lift: bool
    can_restore: bool
    why_not: str = ""            # why neither control is available

    @property
    def restricted(self) -> bool:
        """The restriction is on (限制已开启): the item still holds back what follows."""
        return self.item.status in (ItemStatus.PENDING, ItemStatus.REJECTED, ItemStatus.BLOCKED)


@dataclass
class WaiverView(_SheetView):
    rows: list[WaiverRow]
    events: list[Event]


def waiver_view(graduate: Graduate) -> WaiverView:
    sheet = sheet_of(graduate)
    completed = sheet.clearance is not None and sheet.clearance.status == ClearanceStatus.COMPLETED
    rows = []
    for d in sheet.items:
        if not d.meta.get("waivable"):
            continue
        st = d.status
        if completed:
            rows.append(WaiverRow(d, False, False, _("Certificates were already issued: nothing can be changed.")))
        elif st in OPEN_STATUSES:
            rows.append(WaiverRow(d, True, False))
        elif st == ItemStatus.WAIVED:
            rows.append(WaiverRow(d, False, True))
        elif st == ItemStatus.PASSED:
            rows.append(WaiverRow(d, False, False, _("Already passed: there is no restriction to lift.")))
        elif st == ItemStatus.NOT_REQUIRED:
            rows.append(WaiverRow(d, False, False, _("Not required for this graduate.")))
        else:
            rows.append(WaiverRow(d, False, False,
                                  _("Waiting for an earlier step; it can be lifted once the item is open.")))
    keys = [r.item.key for r in rows]
    events = list(db.session.scalars(
        sa.select(Event).where(Event.graduate_id == graduate.id, Event.task_key.in_(keys),
                               Event.action.in_(("waive", "waive_end", "unwaive", "expire", "confirm", "auto_pass",
                                                 "reopen", "auto_revert")))
        .order_by(Event.id.desc()).limit(20))) if keys else []
    return WaiverView(sheet, rows, events)


class WaiverRefused(DomainError):
    code = "waiver_refused"
    """The 缓交 change is not possible (message says why)."""


def lift_restriction(graduate_id: int, key: str, actor: Actor, *, reason: str, until: date | None):
    """缓交: lift the restriction of one waivable item (optionally until a date), one transaction."""
    if key not in catalogue().waivable:
        raise WaiverRefused(_("This item cannot be waived."))
    if until is not None and until < local_today():
        raise WaiverRefused(_("The end date is in the past."))
    return apply([graduate_id], key, "waive", actor, reason=reason, waived_until=until)


def restore_restriction(graduate_id: int, key: str, actor: Actor, *, reason: str):
    """Put the restriction back on (撤销缓交), one transaction."""
    if key not in catalogue().waivable:
        raise WaiverRefused(_("This item cannot be waived."))
    return apply([graduate_id], key, "unwaive", actor, reason=reason)


def change_waiver_end(graduate_id: int, key: str, actor: Actor, *, reason: str, until: date | None) -> None:
    """Extend or shorten a 缓交 (a new end date, or none), one transaction."""
    if key not in catalogue().waivable:
        raise WaiverRefused(_("This item cannot be waived."))
    if until is not None and until < local_today():
        raise WaiverRefused(_("The end date is in the past."))
    try:
        set_waiver_end(graduate_id, key, until, actor, reason=reason)
    except ActionRefused as refusal:
        raise WaiverRefused(refusal_message(refusal, catalogue().waivable)) from None


EXPIRY_FILTERS = ("dated", "open_ended", "soon")


def lifted_restrictions(*, q: str = "", key: str = "", expiry: str = "", page: int = 1,
                        per_page: int | None = None) -> Page:
    """Every waived item (rows: item, graduate, version id), earliest end date first; open-ended last."""
    stmt = (sa.select(ClearanceItem, Graduate, Clearance.process_version_id)
            .join(Graduate, Graduate.id == ClearanceItem.graduate_id)
            .join(Clearance, Clearance.id == ClearanceItem.clearance_id)
            # every checkpoint listed: the (checkpoint, status) index is probed instead of a scan
            .where(ClearanceItem.checkpoint_id.in_(list(db.session.scalars(sa.select(Checkpoint.id)))),
                   ClearanceItem.status == ItemStatus.WAIVED)
            .order_by(ClearanceItem.waived_until.is_(None), ClearanceItem.waived_until,
                      Graduate.student_no, ClearanceItem.sort_order))
    if q:
        stmt = stmt.where(_search_filter(q))
    if key:
        stmt = stmt.where(ClearanceItem.task_key == key)
    if expiry == "dated":
        stmt = stmt.where(ClearanceItem.waived_until.is_not(None))
    elif expiry == "open_ended":
        stmt = stmt.where(ClearanceItem.waived_until.is_(None))
    elif expiry == "soon":
        stmt = stmt.where(ClearanceItem.waived_until <= local_today() + timedelta(days=7))
    return _page(stmt, page, per_page or PER_PAGE)
