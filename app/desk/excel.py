"""Excel batch at the operator desk (seed 002: 导入 EXCEL 表批量审批).

An operator uploads an .xlsx or .csv with student numbers (and optionally an outcome and a
reason) for one item of their checkpoint. Every row gets a verdict; the preview is stored in
``desk_uploads`` and confirming applies exactly the previewed rows, once.

Public API (stable names: the pages, the desk benchmark and the tests call these)
----------------------------------------------------------------------------------
``parse_batch_file(filename, data) -> ParsedBatch``
    Read the file (no database access): header detection in Chinese or English, student numbers
    (numeric cells too), outcome words, reasons, blank rows skipped; file-level problems in
    ``errors`` (never raises for a bad file).
``preview_upload(checkpoint, cohort_id, task_key, filename, data, user_id) -> (DeskUpload | None, ParsedBatch)``
    Parse, give every row its verdict with bulk lookups (no per-row query) and store the preview
    (commits). A file that cannot be used stores nothing: ``(None, parsed)`` with ``parsed.errors``.
``verdicts(checkpoint, cohort_id, task_key, lines) -> list[dict]``
    The verdict rows alone (used by ``preview_upload``).
``confirm_upload(upload, actor) -> DeskUpload``
    Apply the previewed rows: the confirmations in ONE transaction, the rejections (each with its
    own reason) in one more; rows whose item changed since the preview are not applied and say
    so. The claim and each phase's results commit with that phase's changes. Raises
    ``AlreadyConfirmed`` for a second confirmation. ``actor``: ``import_actor(user)``.
``import_actor(user) -> Actor``
    The audit actor of an Excel batch (source ``import``).
``result_workbook(upload, item_label) -> bytes`` / ``template_workbook() -> bytes``
    The downloadable result file (every row, its verdict and outcome) and the empty template.
"""
from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core.domain import DomainError
from app.core.web import actor_for
from app.core.enums import OPEN_STATUSES, ItemStatus, Source
from app.core.i18n import STATUS_LABELS, item_name
from app.core.time import utcnow
from app.desk.batch import items_meta
from app.desk.models import DeskUpload
from app.extensions import db
from app.graduates.importer import HEADER_INDEX, RosterFileError, blank_cell, cell_text, norm_header, read_grid
from app.graduates.models import Cohort, Graduate
from app.workflow.models import Checkpoint, Clearance, ClearanceItem
from app.workflow.services import Actor, ConcurrentChange, apply

MAX_BYTES = 5 * 1024 * 1024            # the upload itself
MAX_UNZIPPED = 60 * 1024 * 1024        # an .xlsx is a zip: refuse zip bombs before parsing
MAX_ROWS = 5000
HEADER_SEARCH_ROWS = 10
REASON_MAX = 200
_CHUNK = 500                            # IN (...) lists

# verdicts: the first two are applied on confirmation, every other one is only reported
PASS, REJECT = "pass", "reject"
VERDICTS: dict[str, Any] = {
    PASS: _l("Will pass"),
    REJECT: _l("Will be rejected"),
    "already_passed": _l("Already passed"),
    "not_required": _l("Not required"),
    "waived": _l("Waived (deferred)"),
    "blocked": _l("Blocked"),
    "unknown": _l("Unknown student"),
    "other_cohort": _l("Not in this cohort"),
    "duplicate": _l("Duplicate"),
    "missing_reason": _l("Missing reason for a rejection"),
    "name_mismatch": _l("Name does not match"),
    "not_started": _l("Clearance not started"),
    "other_checkpoint": _l("Handled at another checkpoint"),
    "invalid": _l("Cannot read the row"),
}
# badge colours; every other verdict is a problem the operator should look at ("warning")
VERDICT_CLASSES = {PASS: "success", REJECT: "danger", "already_passed": "secondary", "not_required": "light",
                   "waived": "info"}
APPLIED = (PASS, REJECT)

_OUTCOME_WORDS = {
    PASS: ("通过", "已通过", "审核通过", "合格", "是", "完成", "已完成", "已办理", "已清理", "确认", "pass", "passed",
           "ok", "yes", "y", "1", "true", "√", "✓", "✔"),
    REJECT: ("不通过", "未通过", "审核不通过", "不合格", "否", "驳回", "退回", "未完成", "未办理", "未清理",
             "reject", "rejected", "fail", "failed", "no", "n", "0", "false", "×", "✗", "✘"),
}
OUTCOMES = {unicodedata.normalize("NFKC", w).casefold(): k for k, ws in _OUTCOME_WORDS.items() for w in ws}

_OWN_HEADERS = {
    "outcome": ("结果", "审核结果", "办理结果", "是否通过", "通过", "状态", "审核状态", "outcome", "result",
                "status", "pass"),
    "reason": ("原因", "不通过原因", "未通过原因", "理由", "备注", "说明", "reason", "remark", "remarks",
               "note", "comment"),
}
HEADERS: dict[str, str] = {h: k for h, k in HEADER_INDEX.items() if k in ("student_no", "name")}
for _key, _aliases in _OWN_HEADERS.items():
    for _alias in _aliases:
        HEADERS[norm_header(_alias)] = _key
del _key, _aliases, _alias
_SCIENTIFIC = re.compile(r"^\d+(\.\d+)?E\+?\d+$", re.IGNORECASE)


class AlreadyConfirmed(DomainError):
    code = "already_confirmed"
    """The upload was confirmed before (by this or another operator)."""


@dataclass
class BatchLine:
    line: int                        # row number as Excel shows it
    student_no: str = ""
    name: str = ""
    outcome: str = PASS
    reason: str = ""
    numeric: bool = False            # the student number was a number cell (leading zeros lost)
    problem: str = ""                # the row cannot be used, and why


@dataclass
class ParsedBatch:
    lines: list[BatchLine] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    blank_rows: int = 0
    columns: set[str] = field(default_factory=set)


def import_actor(user) -> Actor:
    return actor_for(user, Source.IMPORT)


# ----------------------------------------------------------------------------- reading the file
def _text(value: Any) -> str:
    """The importer's cell text, NFKC-normalised (full-width digits and spaces from Chinese input)."""
    return unicodedata.normalize("NFKC", cell_text(value)).strip()


def _formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("=") and len(value) > 1


def _student_no(line: BatchLine, value: Any) -> None:
    if isinstance(value, bool):
        line.problem = _("student number %(value)s is not a number", value=f'"{value}"')
        return
    if isinstance(value, float):
        if not value.is_integer():
            line.problem = _("student number %(value)s is not a whole number", value=f'"{value}"')
            return
        value = int(value)
    if isinstance(value, int):
        line.numeric = True
        line.student_no = str(value)
        return
    text = re.sub(r"\s+", "", _text(value))
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".")[0]
    elif _SCIENTIFIC.match(text):
        line.problem = _("student number %(value)s is in scientific notation, digits lost; "
                         "format the column as text", value=f'"{text}"')
        return
    if not text:
        line.problem = _("missing student number")
    elif len(text) > 32:
        line.problem = _("student number too long")
    line.student_no = text[:32]


def _outcome(line: BatchLine, value: Any) -> None:
    if blank_cell(value):
        return                                           # a blank outcome means "pass"
    word = _text(value).casefold()
    if word in OUTCOMES:
        line.outcome = OUTCOMES[word]
    else:
        line.problem = _('unknown outcome %(value)s: write 通过 or 不通过 (pass / reject, 1 / 0)',
                         value=f'"{_text(value)[:40]}"')


def _unzipped_size(data: bytes) -> int:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return sum(i.file_size for i in zf.infolist())
    except zipfile.BadZipFile:
        return 0                                         # read_grid says "damaged"


def parse_batch_file(filename: str, data: bytes) -> ParsedBatch:
    """Read the rows of an Excel batch; file-level problems go to ``errors``."""
    out = ParsedBatch()
    if len(data) > MAX_BYTES:
        out.errors.append(_("The file is too large (%(size)s MB); at most %(max)d MB, about %(rows)d rows.",
                            size=f"{len(data) / 1048576:.1f}", max=MAX_BYTES // 1048576, rows=MAX_ROWS))
        return out
    if filename.lower().endswith(".xlsx") and _unzipped_size(data) > MAX_UNZIPPED:
        out.errors.append(_("The workbook is too large when unpacked; keep only the student-number, "
                            "outcome and reason columns."))
        return out
    try:
        grid = read_grid(filename, data, formulas=True)
    except RosterFileError as exc:
        out.errors.append(str(exc))
        return out
    filled = [i for i, cells in enumerate(grid) if any(not blank_cell(c) for c in cells)]
    if not filled:
        out.errors.append(_("The file is empty."))
        return out
    # the header row: the first with a student-number column among the first few filled rows
    # (a title such as "2026届退宿名单" above the headers is common), else the first filled row
    head = next((i for i in filled[:HEADER_SEARCH_ROWS]
                 if any(not blank_cell(c) and HEADERS.get(norm_header(c)) == "student_no" for c in grid[i])), filled[0])
    columns: dict[int, str] = {}
    for i, cell in enumerate(grid[head]):
        key = HEADERS.get(norm_header(cell)) if not blank_cell(cell) else None
        if key and key not in columns.values():
            columns[i] = key
    out.columns = set(columns.values())
    if "student_no" not in out.columns:
        out.errors.append(_("No student-number column: the first row must be the headers, with a column named "
                            "学号 (student_no); optional: 姓名, 结果 (通过/不通过), 原因. Download the template."))
        return out
    body = grid[head + 1:]
    last = max((i for i, cells in enumerate(body)
                if any(i_ < len(cells) and not blank_cell(cells[i_]) for i_ in columns)), default=None)
    if last is None:
        out.errors.append(_("No students below the header row (row %(row)d).", row=head + 1))
        return out
    if last + 1 > MAX_ROWS:
        out.errors.append(_("The file has %(count)d rows; at most %(max)d rows per upload. Split the file.",
                            count=last + 1, max=MAX_ROWS))
        return out
    for offset, cells in enumerate(body[:last + 1]):
        values = {key: (cells[i] if i < len(cells) else None) for i, key in columns.items()}
        if all(blank_cell(v) for v in values.values()):
            out.blank_rows += 1
            continue
        line = BatchLine(line=head + 2 + offset)
        if any(_formula(v) for v in values.values()):
            line.student_no = _text(values["student_no"])[:32] if not _formula(values["student_no"]) else ""
            line.problem = _("the row contains a formula; paste the values only (Paste special → Values)")
            out.lines.append(line)
            continue
        _student_no(line, values["student_no"])
        line.name = _text(values.get("name"))[:64]
        line.reason = re.sub(r"\s+", " ", _text(values.get("reason")))
        if len(line.reason) > REASON_MAX:
            line.problem = line.problem or _("reason too long (at most %(max)d characters)", max=REASON_MAX)
        _outcome(line, values.get("outcome"))
        out.lines.append(line)
    numeric = [ln.line for ln in out.lines if ln.numeric]
    if numeric:
        out.warnings.append(_("Student numbers on %(count)d row(s) were stored as numbers; leading zeros were "
                              "restored where exactly one student matches. Format the column as text next time.",
                              count=len(numeric)))
    return out


# ----------------------------------------------------------------------------- verdicts
def _chunks(values: Sequence[Any]):
    for i in range(0, len(values), _CHUNK):
        yield values[i:i + _CHUNK]


def _find_graduates(lines: list[BatchLine]) -> dict[str, list[sa.Row]]:
    """Student number as written -> graduates with that number (every cohort), numeric cells with
    leading zeros restored. Two or three queries per 500 numbers, whatever the file."""
    numbers = sorted({ln.student_no for ln in lines if ln.student_no and not ln.problem})
    cols = (Graduate.id, Graduate.student_no, Graduate.name, Graduate.cohort_id)
    found: dict[str, list[sa.Row]] = {}
    for part in _chunks(numbers):
        for r in db.session.execute(sa.select(*cols).where(Graduate.student_no.in_(part))):
            found.setdefault(r.student_no, []).append(r)
    lost = sorted({ln.student_no for ln in lines if ln.numeric and not ln.problem and ln.student_no not in found})
    for part in _chunks(lost):
        stripped = sa.func.ltrim(Graduate.student_no, "0")
        for r in db.session.execute(sa.select(*cols, stripped.label("stripped")).where(
                stripped.in_(part), Graduate.student_no.like("0%"))):
            found.setdefault(r.stripped, []).append(r)
    return found


def verdicts(checkpoint: Checkpoint, cohort_id: int, task_key: str, lines: list[BatchLine]) -> list[dict[str, Any]]:
    meta = items_meta(cohort_id)
    found = _find_graduates(lines)
    in_cohort: dict[str, sa.Row] = {}
    for number, rows in found.items():
        mine = [r for r in rows if r.cohort_id == cohort_id]
        if len(mine) == 1:
            in_cohort[number] = mine[0]
    ids = sorted({r.id for r in in_cohort.values()})
    items: dict[int, sa.Row] = {}
    started: set[int] = set()
    for part in _chunks(ids):
        for r in db.session.execute(
                sa.select(Clearance.graduate_id, ClearanceItem.status, ClearanceItem.blocked_by,
                          ClearanceItem.checkpoint_id)
                .outerjoin(ClearanceItem, sa.and_(ClearanceItem.clearance_id == Clearance.id,
                                                  ClearanceItem.task_key == task_key))
                .where(Clearance.graduate_id.in_(part))):
            started.add(r.graduate_id)
            if r.status is not None:
                items[r.graduate_id] = r
    cohort_names = dict(db.session.execute(sa.select(Cohort.id, Cohort.name)).all())
    seen: dict[Any, int] = {}
    out = []
    for ln in lines:
        row: dict[str, Any] = {"line": ln.line, "student_no": ln.student_no, "name": ln.name, "outcome": ln.outcome,
                               "reason": ln.reason, "verdict": "invalid", "graduate_id": None, "status": None,
                               "message": ln.problem}
        out.append(row)
        if ln.problem:
            continue
        matches = found.get(ln.student_no, [])
        g = in_cohort.get(ln.student_no)
        if g is None:
            if not matches:
                row.update(verdict="unknown", message=_("no graduate has this student number"))
            elif any(r.cohort_id == cohort_id for r in matches):
                row.update(verdict="invalid", message=_("several students match %(number)s once leading zeros are "
                                                        "added; write the number as text", number=ln.student_no))
            else:
                row.update(verdict="other_cohort", message=", ".join(sorted({cohort_names.get(r.cohort_id, "")
                                                                            for r in matches})))
            continue
        row["graduate_id"] = g.id
        if g.student_no != ln.student_no:
            row["message"] = _("leading zeros restored: %(number)s", number=g.student_no)
            row["student_no"] = g.student_no
        if g.id in seen:
            row.update(verdict="duplicate", message=_("same student as row %(line)d", line=seen[g.id]))
            continue
        seen[g.id] = ln.line
        row["found_name"] = g.name
        if ln.name and ln.name.replace(" ", "") != g.name.replace(" ", ""):
            row.update(verdict="name_mismatch", message=_("the file says %(file)s, the student is %(name)s",
                                                          file=ln.name, name=g.name))
            continue
        item = items.get(g.id)
        if g.id not in started:
            row.update(verdict="not_started")
            continue
        if item is None:
            row.update(verdict="not_required", message=_("not in this graduate's process"))
            continue
        row["status"] = item.status
        if item.checkpoint_id != checkpoint.id:
            row.update(verdict="other_checkpoint")
        elif item.status == ItemStatus.PASSED:
            row.update(verdict="already_passed",
                       message=_("re-open it at the desk first to reject it") if ln.outcome == REJECT else "")
        elif item.status in (ItemStatus.NOT_REQUIRED, ItemStatus.WAIVED):
            row.update(verdict=str(item.status))
        elif item.status == ItemStatus.BLOCKED:
            names = "、".join(item_name(meta.get(k) or {"key": k}) for k in (item.blocked_by or "").split(",") if k)
            row.update(verdict="blocked", message=_("waiting for: %(blockers)s", blockers=names or _("an earlier step")))
        elif item.status in OPEN_STATUSES:
            if ln.outcome == REJECT and not ln.reason:
                row.update(verdict="missing_reason")
            else:
                row.update(verdict=ln.outcome)
    return out


def preview_upload(checkpoint: Checkpoint, cohort_id: int, task_key: str, filename: str, data: bytes,
                   user_id: int | None) -> tuple[DeskUpload | None, ParsedBatch]:
    parsed = parse_batch_file(filename, data)
    if parsed.errors:
        return None, parsed
    rows = verdicts(checkpoint, cohort_id, task_key, parsed.lines)
    upload = DeskUpload(user_id=user_id, checkpoint_id=checkpoint.id, task_key=task_key,
                        filename=(filename or "")[-200:], rows=rows,
                        result=None)
    db.session.add(upload)
    db.session.commit()
    return upload, parsed


def counts(rows: list[dict[str, Any]], key: str = "verdict") -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r[key]] = out.get(r[key], 0) + 1
    return out


# ----------------------------------------------------------------------------- applying
def confirm_upload(upload: DeskUpload, actor: Actor) -> DeskUpload:
    """Apply the previewed rows once (see the module docstring).

    The upload is claimed (``applied_at``) and each phase's results are stored in the same
    transaction as that phase's changes: whatever happens to the process, the upload never says
    "confirmed" without the rows that were applied, and rows it does not list were not applied.
    A second confirmation, even one running at the same moment, raises ``AlreadyConfirmed`` and
    changes nothing.
    """
    upload_id = upload.id
    if upload.applied_at is not None:
        raise AlreadyConfirmed(upload_id)
    rows, task_key = upload.rows, upload.task_key
    results: dict[int, dict[str, Any]] = {}
    claimed = False

    def record(current: dict[int, dict[str, Any]]) -> None:
        """Claim the upload (first time) and store the results so far, inside the open transaction."""
        stmt = sa.update(DeskUpload).where(DeskUpload.id == upload_id)
        values: dict[str, Any] = {"result": [{"line": r["line"], **current[r["line"]]}
                                             for r in rows if r["line"] in current]}
        if not claimed:
            stmt = stmt.where(DeskUpload.applied_at.is_(None))
            values["applied_at"] = utcnow()
        done = db.session.execute(stmt.values(**values).execution_options(synchronize_session=False))
        if done.rowcount != 1:
            raise AlreadyConfirmed(upload_id)

    for verdict, action in ((PASS, "confirm"), (REJECT, "reject")):
        todo = [r for r in rows if r["verdict"] == verdict]
        if not todo:
            continue
        by_gid = {r["graduate_id"]: r for r in todo}

        def phase_results(result) -> dict[int, dict[str, Any]]:
            return {by_gid[o.graduate_id]["line"]: {"ok": o.ok, "code": o.code, "message": o.message}
                    for o in result.outcomes}

        try:
            result = apply(list(by_gid), task_key, action, actor, strict=False,
                           expected={gid: r["status"] for gid, r in by_gid.items()},
                           reasons={gid: r["reason"] for gid, r in by_gid.items()} if action == "reject" else None,
                           before_commit=lambda res: record({**results, **phase_results(res)}))
        except ConcurrentChange:
            for r in todo:
                results[r["line"]] = {"ok": False, "code": "busy", "message": _(
                    "not applied: other operators were changing the same graduates; upload the file again")}
            continue
        results.update(phase_results(result))
        claimed = True
    if not claimed or any(r.get("code") == "busy" for r in results.values()):
        try:
            record(results)              # nothing applied (or a phase gave up): claim / store that
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
    db.session.expire_all()
    return db.session.get(DeskUpload, upload_id)


# ----------------------------------------------------------------------------- files
def _text_cell(ws, row: int, col: int, value: Any):
    """A cell that is always text: a value like ``=HYPERLINK(...)`` from an uploaded file stays inert."""
    cell = ws.cell(row=row, column=col, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    return cell


def result_workbook(upload: DeskUpload, item_label: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    ws = wb.active
    ws.title = _("Result")[:31]
    headers = [_("Row"), _("Student number"), _("Name"), _("Outcome in the file"), _("Reason"), _("Preview"),
               _("Result"), _("Details")]
    for col, h in enumerate(headers, 1):
        _text_cell(ws, 1, col, h).font = Font(bold=True)
    results = {r["line"]: r for r in (upload.result or [])}
    ok_fill, bad_fill = PatternFill("solid", fgColor="D1E7DD"), PatternFill("solid", fgColor="F8D7DA")
    for i, r in enumerate(upload.rows, 2):
        res = results.get(r["line"])
        if upload.applied_at is None:
            outcome, fill = _("not confirmed yet"), None
        elif res is None:
            outcome, fill = _("not applied"), None
        elif res["ok"]:
            outcome, fill = str(STATUS_LABELS["passed" if r["verdict"] == PASS else "rejected"]), ok_fill
        else:
            outcome, fill = _("refused"), bad_fill
        details = "; ".join(m for m in (r.get("message"), (res or {}).get("message")) if m)
        values = [r["line"], r["student_no"], r.get("found_name") or r.get("name") or "",
                  _("reject") if r["outcome"] == REJECT else _("pass"), r.get("reason") or "",
                  str(VERDICTS.get(r["verdict"], r["verdict"])), outcome, details]
        for col, v in enumerate(values, 1):
            cell = _text_cell(ws, i, col, v)
            if fill is not None and col == 7:
                cell.fill = fill
    for col, width in zip("ABCDEFGH", (6, 16, 12, 12, 24, 16, 12, 50)):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    info = wb.create_sheet(_("About")[:31])
    for i, (k, v) in enumerate(((_("Item"), item_label), (_("File"), upload.filename),
                                (_("Uploaded at (UTC)"), upload.created_at.strftime("%Y-%m-%d %H:%M")),
                                (_("Confirmed at (UTC)"), upload.applied_at.strftime("%Y-%m-%d %H:%M")
                                 if upload.applied_at else "")), 1):
        _text_cell(info, i, 1, k).font = Font(bold=True)
        _text_cell(info, i, 2, v)
    info.column_dimensions["A"].width = 20
    info.column_dimensions["B"].width = 40
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def template_workbook() -> bytes:
    """学号 | 姓名 | 结果 | 原因, the student-number column formatted as text, and a sheet of instructions."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "批量审核"
    for col, h in enumerate(("学号", "姓名", "结果", "原因"), 1):
        ws.cell(row=1, column=col, value=h).font = Font(bold=True)
    for row in range(2, 1002):
        ws.cell(row=row, column=1).number_format = "@"
    for col, width in zip("ABCD", (16, 12, 10, 40)):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    help_ws = wb.create_sheet(_("How to fill in")[:31])
    lines = [
        _("One student per row; the first row keeps the headers (Chinese or English: student_no, name, outcome, "
          "reason)."),
        _("学号 (student number) is required. Keep the column formatted as text so leading zeros stay."),
        _("姓名 (name) is optional; when given it must match the student, as a check against typing errors."),
        _("结果 (outcome) is optional: 通过 / pass / 1 (the default when blank) or 不通过 / reject / 0."),
        _("原因 (reason) is required for every rejection, e.g. 欠电费 35.5 元; the graduate sees it."),
        _("Blank rows are skipped. Formulas are not accepted: paste values only."),
        _("Upload .xlsx or .csv (UTF-8 or GBK); you see every row's verdict before anything is applied."),
    ]
    for i, text in enumerate(lines, 1):
        help_ws.cell(row=i, column=1, value=text)
    help_ws.column_dimensions["A"].width = 110
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
