"""The graduate's own pages: clearance sheet (离校单), live process diagram and history.

No URL carries a graduate id: every view reads the logged-in graduate's own data, so there is
nothing to guess. Staff get 403 (``roles_required``), anonymous visitors the login page.
"""
from __future__ import annotations

from flask import abort, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_login import current_user

from app.auth.services import roles_required
from app.core.i18n import GTYPE_LABELS, STATUS_LABELS, is_english, item_name
from app.core.readonly import read_only
from app.portal import bp
from app.portal.queries import all_checkpoints, diagram_for, history_for, sheet_for
from app.portal.sheet_cache import cached_page
from app.portal.window import school_today

HISTORY_PER_PAGE = 25


def _password_change_needed():
    """The redirect to the forced password change, or None."""
    if current_user.must_change_password:
        return redirect(url_for("auth.change_password"))
    return None


@bp.route("/me")
@read_only
@roles_required("graduate")
def sheet():
    if (redirect_to := _password_change_needed()) is not None:
        return redirect_to
    graduate = current_user.graduate
    today = school_today()
    return cached_page(graduate, today, lambda: render_template(
        "portal/sheet.html", graduate=graduate, sheet=sheet_for(graduate.id), today=today))


@bp.route("/me/diagram")
@read_only
@roles_required("graduate")
def diagram():
    if (redirect_to := _password_change_needed()) is not None:
        return redirect_to
    graduate = current_user.graduate
    sheet = sheet_for(graduate.id, with_appeals=False)
    return render_template("portal/diagram.html", graduate=graduate, sheet=sheet, today=school_today())


@bp.route("/me/diagram.json")
@read_only
@roles_required("graduate")
def diagram_data():
    """The published BPMN of the graduate's version and every item's status (projection only)."""
    if current_user.must_change_password:
        abort(403)
    sheet = sheet_for(current_user.graduate.id, with_appeals=False)
    if sheet is None:
        abort(404)
    diagram = diagram_for(sheet.process_version_id)
    items = {
        item.key: {
            "status": item.status,
            "label": str(STATUS_LABELS.get(item.status, item.status)),
            "name": item_name(item.meta),
            "checkpoint": item.checkpoint.key,
            "reason": item.reason,
            "blockers": [b["key"] for b in item.blockers],
            "waived_until": item.waived_until.isoformat() if item.waived_until else None,
            "updated_at": item.updated_at.isoformat() + "Z" if item.updated_at else None,
        }
        for item in sheet.items
    }
    english = is_english()
    labels = None
    if english:
        # the diagram's own labels are Chinese: lanes get their checkpoint's English name, the
        # process its graduate type, tasks their items' names; other labels are dropped
        locale = str(get_locale())
        labels = {"lanes": {cp.name: cp.display_name(locale) for cp in all_checkpoints()},
                  "process": str(GTYPE_LABELS.get(diagram.gtype, diagram.gtype))}
    response = jsonify(xml=diagram.xml, gtype=diagram.gtype, version=diagram.version,
                       clearance_status=sheet.clearance_status, items=items, labels=labels)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/me/history")
@read_only
@roles_required("graduate")
def history():
    if (redirect_to := _password_change_needed()) is not None:
        return redirect_to
    page = request.args.get("page", 1, type=int) or 1
    history = history_for(current_user.graduate.id, page, HISTORY_PER_PAGE)
    if page > 1 and not history.entries:
        abort(404)
    return render_template("portal/history.html", graduate=current_user.graduate, history=history)
