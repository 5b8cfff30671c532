"""Desk batches: a class or dorm room at once (按班级 / 按宿舍批量操作) and Excel batches (导入 EXCEL).

Pages are thin: the use cases are in ``app.desk.batch`` and ``app.desk.excel``.
Link from the single-graduate desk:
``url_for('desk.batch_group', cp=checkpoint.key, graduate_id=graduate.id, by='class' | 'dorm', task=key)``.
"""
from __future__ import annotations

from urllib.parse import quote

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from app.auth.services import roles_required
from app.core.i18n import is_english, item_name
from app.desk import bp
from app.desk.batch import (
    GROUP_KINDS,
    MAX_GROUP,
    BatchItem,
    batch_actor,
    checkpoint_items,
    cohorts_in_scope,
    confirm_group,
    group_of,
    group_rows,
    group_suggestions,
    items_meta,
    parse_group,
)
from app.desk.excel import (
    APPLIED,
    MAX_BYTES,
    MAX_ROWS,
    VERDICT_CLASSES,
    VERDICTS,
    AlreadyConfirmed,
    confirm_upload,
    counts,
    import_actor,
    preview_upload,
    result_workbook,
    template_workbook,
)
from app.desk.models import DeskUpload
from app.desk.queries import graduate_in_scope
from app.desk.routes import _current_checkpoint
from app.extensions import db
from app.graduates.models import Cohort
from app.workflow.models import Checkpoint, ProcessVersion

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _join(names: list[str]) -> str:
    return ", ".join(names) if is_english() else "、".join(names)


def _cohort(cohorts: list[Cohort], value) -> Cohort | None:
    """The cohort picked by year (or id) in the request, else the newest with clearances."""
    for c in cohorts:
        if value and str(value) in (str(c.year), f"id{c.id}"):
            return c
    return cohorts[0] if cohorts else None


def _item_or_refuse(items: list[BatchItem], cohort_id: int, key: str | None) -> BatchItem | None:
    """The item ``key`` of this checkpoint; 403 when it is another checkpoint's item, 404 when unknown."""
    if not key:
        return None
    for item in items:
        if item.key == key:
            return item
    if key in items_meta(cohort_id):
        abort(403, _("This item belongs to a checkpoint you do not work at."))
    abort(404)


def _download(data: bytes, filename: str) -> Response:
    return Response(data, mimetype=XLSX, headers={
        "Content-Disposition": f"attachment; filename=\"batch.xlsx\"; filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "no-store"})


# ----------------------------------------------------------------------------- class / dorm
@bp.route("/batch")
@roles_required("operator", "admin")
def batch_group():
    checkpoint, mine = _current_checkpoint(request.args.get("cp"))
    if checkpoint is None:
        return render_template("desk/batch_group.html", checkpoint=None, checkpoints=mine)
    return _render_group(checkpoint, mine, request.args)


def _render_group(checkpoint, mine, args, *, problems=None, rows=None, status: int = 200):
    cohorts = cohorts_in_scope()
    graduate = None
    gid = args.get("graduate_id", type=int)
    if gid is not None:
        graduate = graduate_in_scope(gid)
        if graduate is None:
            abort(404)
    cohort = next((c for c in cohorts if graduate and c.id == graduate.cohort_id), None) \
        or _cohort(cohorts, args.get("cohort"))
    ctx = dict(checkpoint=checkpoint, checkpoints=mine, cohorts=cohorts, cohort=cohort, graduate=graduate,
               items=[], item=None, by="class", group=None, group_text="", rows=None, suggestions=[],
               problems=problems or [], max_group=MAX_GROUP)
    if cohort is None:
        return render_template("desk/batch_group.html", **ctx), status
    items = checkpoint_items(checkpoint, cohort.id)
    item = _item_or_refuse(items, cohort.id, args.get("task"))
    by = args.get("by")
    if by not in GROUP_KINDS:
        by = item.batch_mode if item and item.batch_mode in GROUP_KINDS else (
            "dorm" if any(i.batch_mode == "dorm" for i in items) and not any(i.batch_mode == "class" for i in items)
            else "class")
    if item is None:
        item = next((i for i in items if i.batch_mode == by), None) or next(
            (i for i in items if i.batch_mode in GROUP_KINDS), None) or (items[0] if items else None)
    group_text = (args.get("group") or "").strip()[:100]
    if graduate is not None and group_text in ("", graduate.class_name, graduate.dorm):
        group = group_of(graduate, by)     # switching class <-> dorm keeps the graduate in front of you
    else:
        group = parse_group(cohort.id, by, group_text)
    if graduate is not None and group is not None and not group.label.strip("-"):
        group = None                       # the graduate has no class / dorm on record
    ctx.update(items=items, item=item, by=by, group=group, group_text=group.text if group else group_text)
    if group is not None and item is not None:
        ctx["rows"] = rows if rows is not None else group_rows(checkpoint, group, item.key)
    if group_text and (group is None or not ctx["rows"]):
        ctx["suggestions"] = group_suggestions(cohort.id, by, group_text)
    switch = {k: v for k, v in (("graduate_id", gid), ("by", by), ("group", group_text or None),
                                ("cohort", cohort.year)) if v is not None}
    ctx["switch_args"] = switch
    return render_template("desk/batch_group.html", **ctx), status


@bp.route("/batch/confirm", methods=["POST"])
@roles_required("operator", "admin")
def batch_confirm():
    form = request.form
    checkpoint, mine = _current_checkpoint(form.get("cp") or "-")
    cohorts = cohorts_in_scope()
    cohort = _cohort(cohorts, form.get("cohort"))
    if cohort is None:
        abort(404)
    items = checkpoint_items(checkpoint, cohort.id)
    item = _item_or_refuse(items, cohort.id, form.get("task"))
    if item is None:
        abort(400, _("The form is incomplete. Please reload the page and try again."))
    by = form.get("by")
    group = parse_group(cohort.id, by, form.get("group") or "")
    if group is None:
        abort(400, _("The form is incomplete. Please reload the page and try again."))
    args = {"cp": checkpoint.key, "cohort": cohort.year, "by": by, "group": group.text, "task": item.key}
    if form.get("graduate_id", type=int):
        args["graduate_id"] = form.get("graduate_id", type=int)
    try:
        ids = [int(v) for v in form.getlist("g")][:MAX_GROUP + 1]
    except ValueError:
        abort(400, _("The form is incomplete. Please reload the page and try again."))
    if not ids:
        flash(_("Tick at least one graduate."), "warning")
        return redirect(url_for("desk.batch_group", **args), 303)
    seen = {gid: form.get(f"seen-{gid}") for gid in ids if form.get(f"seen-{gid}")}
    outcome = confirm_group(checkpoint, group, item.key, ids, seen, batch_actor(current_user.user))
    if not outcome.applied:
        return _render_group(checkpoint, mine, MultiDict(args), problems=outcome.problems, rows=outcome.rows,
                             status=409)
    names = [r.name for r in outcome.confirmed]
    flash(_("%(item)s confirmed for %(count)d graduate(s) of %(group)s: %(names)s.", item=item.name,
            count=len(names), group=group.label, names=_join(names)), "success")
    return redirect(url_for("desk.batch_group", **args), 303)


# ----------------------------------------------------------------------------- Excel
def _upload_for(upload_id: int):
    """The upload and its checkpoint; 403 when the operator does not work there."""
    upload = db.session.get(DeskUpload, upload_id)
    if upload is None:
        abort(404)
    key = db.session.scalar(db.select(Checkpoint.key).where(Checkpoint.id == upload.checkpoint_id))
    checkpoint, mine = _current_checkpoint(key or "-")
    return upload, checkpoint, mine


def _item_label(upload: DeskUpload) -> str:
    for (meta,) in db.session.execute(db.select(ProcessVersion.items_meta).order_by(ProcessVersion.id.desc())):
        for m in meta or []:
            if m["key"] == upload.task_key:
                return item_name(m)
    return upload.task_key


@bp.route("/excel", methods=["GET", "POST"])
@roles_required("operator", "admin")
def excel_upload():
    checkpoint, mine = _current_checkpoint(request.values.get("cp"))
    if checkpoint is None:
        return render_template("desk/excel_upload.html", checkpoint=None, checkpoints=mine)
    cohorts = cohorts_in_scope()
    cohort = _cohort(cohorts, request.values.get("cohort"))
    items = checkpoint_items(checkpoint, cohort.id) if cohort else []
    errors: list[str] = []
    chosen = request.values.get("task")
    if request.method == "POST":
        item = _item_or_refuse(items, cohort.id, chosen) if cohort else None
        file = request.files.get("file")
        if item is None:
            errors.append(_("Choose the item the file is about."))
        elif file is None or not file.filename:
            errors.append(_("Choose a file to upload."))
        else:
            data = file.stream.read(MAX_BYTES + 1)
            upload, parsed = preview_upload(checkpoint, cohort.id, item.key, file.filename, data,
                                            current_user.user.id)
            if upload is not None:
                for w in parsed.warnings:
                    flash(w, "warning")
                if parsed.blank_rows:
                    flash(_("%(count)d blank row(s) skipped.", count=parsed.blank_rows), "info")
                return redirect(url_for("desk.excel_preview", upload_id=upload.id), 303)
            errors.extend(parsed.errors)
    recent = list(db.session.scalars(
        db.select(DeskUpload).where(DeskUpload.checkpoint_id == checkpoint.id)
        .order_by(DeskUpload.id.desc()).limit(8))) if checkpoint else []
    return render_template(
        "desk/excel_upload.html", checkpoint=checkpoint, checkpoints=mine, cohorts=cohorts, cohort=cohort,
        items=items, chosen=chosen, errors=errors, recent=recent, max_mb=MAX_BYTES // 1048576, max_rows=MAX_ROWS,
        item_labels={i.key: i.name for i in items},
    ), (422 if errors else 200)


@bp.route("/excel/template.xlsx")
@roles_required("operator", "admin")
def excel_template():
    return _download(template_workbook(), _("batch-template") + ".xlsx")


@bp.route("/excel/<int:upload_id>")
@roles_required("operator", "admin")
def excel_preview(upload_id: int):
    upload, checkpoint, mine = _upload_for(upload_id)
    switched = request.args.get("cp")
    if switched and switched != checkpoint.key:      # the checkpoint switcher: that checkpoint's upload page
        return redirect(url_for("desk.excel_upload", cp=switched), 303)
    rows = upload.rows
    results = {r["line"]: r for r in (upload.result or [])}
    only = request.args.get("only")
    shown = [r for r in rows if not only or r["verdict"] == only
             or (only == "problems" and r["verdict"] not in APPLIED)]
    return render_template(
        "desk/excel_preview.html", checkpoint=checkpoint, checkpoints=mine, upload=upload, rows=shown,
        all_count=len(rows), counts=counts(rows), results=results, verdicts=VERDICTS,
        verdict_classes=VERDICT_CLASSES, applied=APPLIED, item_label=_item_label(upload), only=only,
        ok_count=sum(1 for r in results.values() if r["ok"]),
        switch_args={"upload_id": upload.id},
    )


@bp.route("/excel/<int:upload_id>/confirm", methods=["POST"])
@roles_required("operator", "admin")
def excel_confirm(upload_id: int):
    upload, checkpoint, _mine = _upload_for(upload_id)
    try:
        upload = confirm_upload(upload, import_actor(current_user.user))
    except AlreadyConfirmed:
        flash(_("This file was already confirmed; nothing was applied again."), "warning")
        return redirect(url_for("desk.excel_preview", upload_id=upload_id), 303)
    results = upload.result or []
    ok = sum(1 for r in results if r["ok"])
    flash(_("%(ok)d of %(count)d row(s) applied.", ok=ok, count=len(results)),
          "success" if ok == len(results) else "warning")
    return redirect(url_for("desk.excel_preview", upload_id=upload_id), 303)


@bp.route("/excel/<int:upload_id>/result.xlsx")
@roles_required("operator", "admin")
def excel_result_file(upload_id: int):
    upload, _checkpoint, _mine = _upload_for(upload_id)
    stem = (upload.filename.rsplit(".", 1)[0] or "batch")[:80]
    return _download(result_workbook(upload, _item_label(upload)), f"{stem}-{_('result')}.xlsx")
