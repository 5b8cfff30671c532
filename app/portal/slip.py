"""Submitting the clearance (提交离校) once, the printable 离校单 and its public verification.

What "submit" means: the engine's status is ``eligible`` once every item before the certificate
step is passed, waived or not required and the certificate item(s) are open at the certificate
desk, and ``completed`` once certificates were issued (see ``Instance.status``). A graduate may
submit in either state, exactly once: submitting records ``Clearance.submitted_at`` and a random
``Clearance.slip_token``; the printed 离校单 carries a QR code of ``/verify/<token>``, which the
certificate desk (or anybody) scans instead of checking the graduate's screen. The certificate
items are printed with their current status, so a slip printed before issuance says so.

The verification page shows only validity, name, masked student number and submission date. A
slip is valid while its clearance is still ``eligible`` or ``completed``: if an item is re-opened
after submission (a late fee, an expired 缓交) the same QR code says "not valid" until the item is
done again - the slip never outlives the facts it certifies.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import segno
import sqlalchemy as sa
from flask_babel import format_datetime, gettext as _
from markupsafe import Markup

from app.core.domain import DomainError
from app.core.enums import DONE_STATUSES, ClearanceStatus
from app.core.time import utcnow
from app.extensions import db
from app.graduates.models import Cohort, Graduate
from app.portal.queries import Sheet, SheetItem, sheet_for
from app.workflow.models import Clearance, Event
from app.workflow.services import Actor

SUBMITTABLE = (ClearanceStatus.ELIGIBLE, ClearanceStatus.COMPLETED)
TOKEN_BYTES = 24          # secrets.token_urlsafe(24): 32 URL-safe characters, 192 random bits
TOKEN_MAX_LEN = 64        # Clearance.slip_token's column size


class SubmitRefused(DomainError):
    def __init__(self, message: str, code: str):
        super().__init__(message, code=code)


# ----------------------------------------------------------------------------- submit
@dataclass
class SubmitState:
    """What the sheet's submit box shows."""

    status: str
    submitted_at: datetime | None
    missing: list[SheetItem]            # items (other than certificates) still to be done
    certificates: list[SheetItem]       # the certificate step's items that apply to the graduate

    @property
    def submitted(self) -> bool:
        return self.submitted_at is not None

    @property
    def can_submit(self) -> bool:
        return not self.submitted and self.status in SUBMITTABLE and not self.missing


def _is_certificate(item: SheetItem) -> bool:
    return bool(item.meta.get("certificate"))


def submit_state(sheet: Sheet) -> SubmitState:
    """From the sheet already loaded for the page: no query."""
    missing = [i for i in sheet.items if not _is_certificate(i) and i.status not in DONE_STATUSES]
    certificates = [i for i in sheet.items if _is_certificate(i) and i.status != "not_required"]
    return SubmitState(sheet.clearance_status, sheet.submitted_at, missing, certificates)


def submit_clearance(graduate_id: int, actor: Actor) -> datetime:
    """Submit once: one atomic UPDATE ... WHERE submitted_at IS NULL AND status is submittable.

    Two submits at once (two tabs, a double click): exactly one UPDATE matches; the other is
    refused with code ``already``. Returns the submission time.
    """
    try:
        now = utcnow()
        token = secrets.token_urlsafe(TOKEN_BYTES)
        done = db.session.execute(
            sa.update(Clearance)
            .where(Clearance.graduate_id == graduate_id, Clearance.submitted_at.is_(None),
                   Clearance.status.in_(SUBMITTABLE))
            .values(submitted_at=now, slip_token=token)
            .execution_options(synchronize_session=False))
        if done.rowcount != 1:
            row = db.session.execute(sa.select(Clearance.id, Clearance.submitted_at)
                                     .where(Clearance.graduate_id == graduate_id)).first()
            db.session.rollback()
            if row is None:
                raise SubmitRefused(_("Your clearance has not started yet."), "not_started")
            if row.submitted_at is not None:
                raise SubmitRefused(_("Your clearance was already submitted on %(date)s; it can be submitted "
                                      "only once. You can print your clearance slip below.",
                                      date=format_datetime(row.submitted_at, "yyyy-MM-dd HH:mm")), "already")
            raise SubmitRefused(_("Not every item is done yet, so the clearance cannot be submitted."),
                                "not_eligible")
        clearance_id = db.session.scalar(sa.select(Clearance.id).where(Clearance.graduate_id == graduate_id))
        db.session.add(Event(graduate_id=graduate_id, clearance_id=clearance_id, task_key=None, action="submit",
                             old=None, new=None, reason=None, source=actor.source, actor_id=actor.user_id,
                             actor=(actor.label or "")[:64], remote_addr=actor.remote_addr, at=now))
        db.session.commit()
        return now
    except BaseException:
        db.session.rollback()
        raise


# ----------------------------------------------------------------------------- the slip
@dataclass
class Slip:
    graduate: Graduate
    cohort: Cohort
    sheet: Sheet
    submitted_at: datetime
    token: str

    @property
    def valid(self) -> bool:
        return self.sheet.clearance_status in SUBMITTABLE


def slip_for(graduate_id: int) -> Slip | None:
    """The graduate's submitted slip, or None before submission."""
    row = db.session.execute(
        sa.select(Clearance.submitted_at, Clearance.slip_token).where(Clearance.graduate_id == graduate_id)).first()
    if row is None or row.submitted_at is None or not row.slip_token:
        return None
    graduate = db.session.get(Graduate, graduate_id)
    sheet = sheet_for(graduate_id, with_appeals=False)
    return Slip(graduate, db.session.get(Cohort, graduate.cohort_id), sheet, row.submitted_at, row.slip_token)


def qr_svg(url: str, *, scale: int = 4) -> Markup:
    """The QR code of ``url`` as inline SVG (error correction M, quiet zone of 4 modules)."""
    svg = segno.make(url, error="m", micro=False).svg_inline(scale=scale, dark="#000", light="#fff",
                                                                border=4, omitsize=True, title=url)
    return Markup(svg)


# ----------------------------------------------------------------------------- verification
@dataclass
class Verification:
    valid: bool
    name: str = ""
    masked_no: str = ""
    submitted_at: datetime | None = None


def mask_student_no(number: str) -> str:
    """Hide the middle of a student number: at least 4 characters (a third of longer numbers).

    ``202201230123`` -> ``2022****0123``; ``0202200123`` -> ``020****123``.
    """
    number = number or ""
    hidden = max(4, len(number) // 3)
    if len(number) <= hidden:
        return "*" * len(number)
    shown = len(number) - hidden
    head = (shown + 1) // 2
    return number[:head] + "*" * hidden + number[len(number) - (shown - head):]


def verify(token: str) -> Verification:
    """Look a slip token up; anything unknown, malformed or no longer valid is simply not valid."""
    if not token or len(token) > TOKEN_MAX_LEN:
        return Verification(False)
    row = db.session.execute(
        sa.select(Clearance.status, Clearance.submitted_at, Graduate.name, Graduate.student_no)
        .join(Graduate, Graduate.id == Clearance.graduate_id)
        .where(Clearance.slip_token == token)).first()
    if row is None or row.submitted_at is None or row.status not in SUBMITTABLE:
        return Verification(False)
    return Verification(True, row.name, mask_student_no(row.student_no), row.submitted_at)


def slip_rows(slip: Slip) -> list[dict[str, Any]]:
    """Flat rows for the printed table: checkpoint (first row of its group only), item, status, date."""
    rows = []
    for group in slip.sheet.groups:
        for n, item in enumerate(group.items):
            rows.append({"checkpoint": group.checkpoint if n == 0 else None, "span": len(group.items),
                         "applies": group.applies, "item": item})
    return rows
