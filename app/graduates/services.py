"""Graduate roster services (no click, no request: shared by the CLI and the web upload page)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from app.extensions import db
from app.graduates.importer import DEFAULTS, ParsedRow, parse_roster
from app.graduates.models import Cohort, Graduate

NEW = "new"          # verdict: a student number not yet in the cohort; will be inserted
UPDATE = "update"    # verdict: the student number exists in the cohort; its fields will be updated
ERROR = "error"      # verdict: the row is refused (see messages); nothing of the file is written


@dataclass
class RowResult:
    number: int            # row number as Excel shows it
    student_no: str
    name: str
    verdict: str           # NEW, UPDATE or ERROR
    messages: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    filename: str
    dry_run: bool = False
    rows: list[RowResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)   # file-level: the whole file was refused
    blank_rows: int = 0
    written: bool = False                             # True once the import is committed

    @property
    def counts(self) -> dict[str, int]:
        out = {NEW: 0, UPDATE: 0, ERROR: 0}
        for row in self.rows:
            out[row.verdict] += 1
        out["blank"] = self.blank_rows
        return out

    @property
    def error_rows(self) -> list[RowResult]:
        return [r for r in self.rows if r.verdict == ERROR]

    @property
    def ok(self) -> bool:
        """Nothing wrong with the file or any row (a dry run can be ok without writing)."""
        return not self.errors and not any(r.verdict == ERROR for r in self.rows)


def _rows_text(rows: list[ParsedRow]) -> str:
    return ", ".join(str(r.number) for r in rows)


def _cross_check(rows: list[ParsedRow], existing: dict[str, tuple[int, str, str]]) -> None:
    """Problems between rows, and between rows and the cohort already in the database."""
    by_student_no: dict[str, list[ParsedRow]] = defaultdict(list)
    for row in rows:
        if row.student_no:
            by_student_no[row.student_no].append(row)
    for same in by_student_no.values():
        if len(same) > 1:
            for row in same:
                others = [r for r in same if r is not row]
                row.messages.append(_("duplicate student number (also on row %(rows)s)", rows=_rows_text(others)))

    by_id: dict[str, list[ParsedRow]] = defaultdict(list)
    for row in rows:
        if row.id_card_valid:
            by_id[row.id_card].append(row)
    for same in by_id.values():
        for row in same:
            others = [r for r in same if r.student_no != row.student_no]
            if others:
                row.messages.append(_("same ID-card number as row %(rows)s (student number %(student_no)s)",
                                      rows=_rows_text(others),
                                      student_no=", ".join(dict.fromkeys(r.student_no or "-" for r in others))))

    # graduates already in the cohort and not in this file keep their ID-card numbers
    in_file = set(by_student_no)
    existing_by_id: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for student_no, (_id, id_card, name) in existing.items():
        if student_no not in in_file:
            existing_by_id[id_card].append((student_no, name))
    for id_card, same in by_id.items():
        for student_no, name in existing_by_id.get(id_card, ()):
            for row in same:
                row.messages.append(_("same ID-card number as %(student_no)s %(name)s, already in this cohort",
                                      student_no=student_no, name=name))


def import_roster(cohort: Cohort, filename: str, data: bytes, *, dry_run: bool = False) -> ImportReport:
    """Check a roster file (.xlsx/.csv) and import it into ``cohort`` in one transaction.

    A student number already in the cohort updates that graduate: the name, ID-card number, type
    and every column present in the file (a blank cell sets the default; absent columns are left as
    they are). Graduates of the cohort missing from the file are not touched. If the file or any row
    is bad, or on a dry run, nothing is written. The report says what happened (or would happen)
    to every row; ``report.written`` is True once committed.
    """
    parsed = parse_roster(filename, data)
    report = ImportReport(filename=filename, dry_run=dry_run, warnings=parsed.warnings, errors=parsed.errors,
                          blank_rows=parsed.blank_rows)
    if parsed.errors:
        return report

    existing: dict[str, tuple[int, str, str]] = {
        student_no: (gid, id_card, name)
        for gid, student_no, id_card, name in db.session.execute(
            sa.select(Graduate.id, Graduate.student_no, Graduate.id_card, Graduate.name)
            .where(Graduate.cohort_id == cohort.id))
    }
    _cross_check(parsed.rows, existing)

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    new_defaults = {k: v for k, v in DEFAULTS.items() if k not in parsed.fields}
    for row in parsed.rows:
        if row.messages:
            verdict = ERROR
        elif row.student_no in existing:
            verdict = UPDATE
            updates.append({"id": existing[row.student_no][0], "name": row.name, "id_card": row.id_card,
                            "gtype": row.gtype, **row.values})
        else:
            verdict = NEW
            inserts.append({"cohort_id": cohort.id, "student_no": row.student_no, "name": row.name,
                            "id_card": row.id_card, "gtype": row.gtype, **new_defaults, **row.values})
        report.rows.append(RowResult(row.number, row.student_no, row.name, verdict, row.messages))

    if not report.ok or dry_run:
        return report
    try:
        if inserts:
            db.session.execute(sa.insert(Graduate), inserts)
        if updates:
            db.session.execute(sa.update(Graduate), updates)
        db.session.commit()
    except sa.exc.SQLAlchemyError as exc:
        db.session.rollback()
        report.errors.append(_("The database refused the import, nothing was written: %(reason)s",
                               reason=str(getattr(exc, "orig", None) or exc).splitlines()[0]))
        return report
    report.written = True
    if updates:
        _refresh_started([u["id"] for u in updates])
    return report


def _refresh_started(graduate_ids: list[int]) -> None:
    """Changed source attributes re-evaluate the auto-pass rules of started clearances."""
    from app.core.enums import Source
    from app.workflow.models import Clearance
    from app.workflow.services import Actor, apply

    started = list(db.session.scalars(sa.select(Clearance.graduate_id).where(Clearance.graduate_id.in_(graduate_ids))))
    for i in range(0, len(started), 200):
        apply(started[i:i + 200], None, "refresh", Actor.system("roster import", Source.IMPORT), strict=False)
