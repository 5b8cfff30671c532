"""Live statistics of the current checkpoint (实时统计区): panel, drill-down lists, pending-list export."""
from __future__ import annotations

import io
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from flask import abort, make_response, render_template, request, send_file, url_for
from flask_babel import format_datetime, get_locale, gettext as _

from app.auth.services import roles_required
from app.core.i18n import STATUS_LABELS, item_name
from app.core.time import utcnow
from app.desk import bp
from app.desk import stats as q
from app.desk.routes import _current_checkpoint
from app.graduates.models import Cohort
from app.workflow.models import Checkpoint

REFRESH_SECONDS = 30


def _cohort(cohorts: list[Cohort]) -> Cohort | None:
    """The cohort asked for (``?cohort=YEAR``), else the newest one."""
    year = request.args.get("cohort", type=int)
    if year is not None:
        for c in cohorts:
            if c.year == year:
                return c
        abort(404)
    return cohorts[0] if cohorts else None


def _arg(name: str) -> str | None:
    """A filter argument: None when absent; "" is a real value (graduates without a college or class)."""
    return request.args.get(name)[:64] if name in request.args else None


def _scope() -> dict[str, Any]:
    """Checkpoint (403 for other operators' checkpoints), cohort and item metadata of a statistics request."""
    checkpoint, mine = _current_checkpoint(request.args.get("cp"))
    cohorts = q.stat_cohorts() if checkpoint is not None else []
    cohort = _cohort(cohorts) if checkpoint is not None else None
    metas = q.checkpoint_items(checkpoint, cohort.id) if cohort is not None else []
    # a filter on the cohort only when another cohort has processes too (saves a join otherwise)
    cohort_filter = cohort.id if cohort is not None and len(cohorts) > 1 else None
    return {"checkpoint": checkpoint, "checkpoints": mine, "cohorts": cohorts, "cohort": cohort,
            "cohort_filter": cohort_filter, "metas": metas, "names": {m["key"]: item_name(m) for m in metas}}


def _selection() -> tuple[dict[str, Any], Checkpoint, Cohort]:
    """The scope of a list or export request, which needs a checkpoint and a cohort (404 without)."""
    ctx = _scope()
    checkpoint, cohort = ctx["checkpoint"], ctx["cohort"]
    if checkpoint is None or cohort is None:
        abort(404)
    return ctx, checkpoint, cohort


def _list_url(checkpoint, cohort: Cohort | None):
    """``list_url(item, status, college, class_name)`` for the ~150 numbers of the panel.

    One url_for and one urlencode per table row (the statuses only append ``&status=``).
    """
    base = url_for("desk.stats_list")
    fixed = {"cp": checkpoint.key} if checkpoint is not None else {}
    if cohort is not None:
        fixed["cohort"] = cohort.year

    @lru_cache(maxsize=None)
    def prefix(item, college, class_name) -> str:
        args = dict(fixed, item=item, college=college, class_name=class_name)
        return f"{base}?{urlencode({k: v for k, v in args.items() if v is not None})}"

    def list_url(item=None, status=None, college=None, class_name=None) -> str:
        url = prefix(item, college, class_name)
        return f"{url}&status={status}" if status else url

    return list_url


def _wants_fragment() -> bool:
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


@bp.route("/stats")
@roles_required("operator", "admin")
def stats():
    """The statistics panel; htmx requests (polling, refresh, drill-down) get the panel alone."""
    ctx = _scope()
    checkpoint, cohort, metas = ctx["checkpoint"], ctx["cohort"], ctx["metas"]
    panel = None
    if cohort is not None:
        item = request.args.get("item") or (metas[0]["key"] if metas else None)
        panel = q.panel(checkpoint, ctx["cohort_filter"], metas=metas, name=item_name, item=item,
                        college=_arg("college"), total_label=_("Total"))
    ctx.update(panel=panel, statuses=q.STATUSES, list_url=_list_url(checkpoint, cohort),
               chart=_chart(panel) if panel else None, refresh_seconds=REFRESH_SECONDS,
               switch_args={"cohort": cohort.year} if cohort is not None and len(ctx["cohorts"]) > 1 else {})
    template = "desk/stats_panel.html" if _wants_fragment() else "desk/stats.html"
    resp = make_response(render_template(template, **ctx))
    resp.headers["Vary"] = "HX-Request"
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/stats/list")
@roles_required("operator", "admin")
def stats_list():
    """The graduates behind one number of the panel (paged), linking to the desk's graduate view."""
    ctx, checkpoint, cohort = _selection()
    status = request.args.get("status") or None
    if status is not None and status not in q.LIST_STATUSES:
        abort(404)
    item = request.args.get("item") or None
    filters = {"task_key": item, "status": status, "college": _arg("college"), "class_name": _arg("class_name")}
    page = q.graduate_list(checkpoint, ctx["cohort_filter"], page=request.args.get("page", 1, type=int), **filters)
    args = {k: v for k, v in {"cp": checkpoint.key, "cohort": cohort.year, "item": item, "status": status,
                              "college": filters["college"], "class_name": filters["class_name"]}.items()
            if v is not None}
    ctx.update(page=page, filters=filters, list_args=args, switch_args={"cohort": cohort.year})
    return render_template("desk/stats_list.html", **ctx)


@bp.route("/stats/export.xlsx")
@roles_required("operator", "admin")
def stats_export():
    """The pending list (pending and not passed, with the reasons) of the selection as .xlsx."""
    ctx, checkpoint, cohort = _selection()
    rows = q.pending_list(checkpoint, ctx["cohort_filter"], task_key=request.args.get("item") or None,
                          college=_arg("college"), class_name=_arg("class_name"))
    data = pending_workbook(rows, ctx["names"])
    name = _("%(checkpoint)s pending list %(date)s.xlsx",
             checkpoint=checkpoint.display_name(str(get_locale() or "")),
             date=format_datetime(utcnow(), "yyyyMMdd-HHmm"))
    return send_file(io.BytesIO(data), as_attachment=True, download_name=name,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     max_age=0)


# chart colours of the statuses (Bootstrap's, as the badges)
CHART_COLOURS = {"pending": "#ffc107", "rejected": "#dc3545", "blocked": "#6c757d", "passed": "#198754",
                 "waived": "#0dcaf0", "not_required": "#ced4da"}


def _chart(panel: q.Panel) -> dict[str, Any]:
    """ECharts data of the breakdown table: one stacked series per status."""
    none = _("(none)")
    return {"categories": [r.label or none for r in panel.groups],
            "series": [{"name": str(STATUS_LABELS[s]), "color": CHART_COLOURS[s],
                        "data": [r.count(s) for r in panel.groups]} for s in q.STATUSES]}


def pending_workbook(rows, names: dict[str, str]) -> bytes:
    """One sheet, one row per open item; student numbers and phones as text (no 2.02E+10)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill

    headers = [_("Student number"), _("Name"), _("College"), _("Major"), _("Class"), _("Dormitory"),
               _("Phone"), _("Item"), _("Status"), _("Reason"), _("Last change")]
    widths = [16, 10, 22, 22, 14, 12, 14, 24, 10, 36, 18]
    text_columns = {0, 6}
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(_("Pending"))
    for i, w in enumerate(widths):
        ws.column_dimensions[chr(ord("A") + i)].width = w
    ws.freeze_panes = "A2"
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    head = []
    for h in headers:
        cell = WriteOnlyCell(ws, value=h)
        cell.font, cell.fill, cell.alignment = bold, fill, Alignment(vertical="center")
        head.append(cell)
    ws.append(head)
    for r in rows:
        values = [r.student_no, r.name, r.college, r.major, r.class_name, r.dorm, r.phone,
                  names.get(r.task_key, r.task_key), str(STATUS_LABELS.get(r.status, r.status)), r.reason or "",
                  format_datetime(r.updated_at, "yyyy-MM-dd HH:mm") if r.updated_at else ""]
        cells = []
        for i, v in enumerate(values):
            cell = WriteOnlyCell(ws, value=v)
            if i in text_columns:
                cell.number_format = "@"
            cells.append(cell)
        ws.append(cells)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@bp.app_template_global()
def stats_url(endpoint: str = "desk.stats", **args: Any) -> str:
    """URL of a statistics page, dropping arguments that are None."""
    return url_for(endpoint, **{k: v for k, v in args.items() if v is not None})
