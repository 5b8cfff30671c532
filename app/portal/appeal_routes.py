"""The graduate's appeals (申诉): appeal an open item, list and read their own appeals.

Appeal ids in URLs are looked up together with the logged-in graduate's id: someone else's
appeal is a 404, like a missing one.
"""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext as _
from flask_login import current_user

from app.auth.services import roles_required
from app.core.i18n import item_name
from app.extensions import limiter
from app.portal import bp
from app.portal.appeals import TEXT_MAX, AppealRefused, appeal_of_graduate, of_graduate, row_of, submit_appeal
from app.portal.queries import sheet_for
from app.portal.window import current_window, require_open_window
from app.workflow.services import Actor


def window_open() -> bool:
    """Whether the logged-in graduate may act now (templates hide forms otherwise)."""
    window = current_window()
    return window is None or window.is_open


bp.add_app_template_global(window_open, "lx_window_open")


def _graduate_key() -> str:
    return "appeal:" + (current_user.account_key if current_user.is_authenticated else "anonymous")


def _sheet_item(task_key: str):
    """The logged-in graduate's item with this key (404 when there is none)."""
    sheet = sheet_for(current_user.graduate.id)
    item = next((i for i in sheet.items if i.key == task_key), None) if sheet else None
    if item is None:
        abort(404)
    return item


def _back_to_item(task_key: str):
    return redirect(url_for("portal.sheet", _anchor=f"item-{task_key}"), code=303)


@bp.route("/me/items/<task_key>/appeal", methods=["GET", "POST"])
@roles_required("graduate")
@require_open_window
@limiter.limit(lambda: current_app.config.get("APPEAL_RATE_LIMIT", "20 per hour"), methods=["POST"],
               key_func=_graduate_key)
def appeal_new(task_key: str):
    item = _sheet_item(task_key[:64])
    text = ""
    error = None
    if request.method == "POST":
        text = request.form.get("text") or ""
        actor = Actor(None, current_user.graduate.name, remote_addr=request.remote_addr)
        try:
            result = submit_appeal(current_user.graduate.id, item.key, text, actor)
        except LookupError:
            abort(404)
        except AppealRefused as refused:
            if refused.code in ("empty", "too_long"):
                error = refused.message           # shown at the field, with the text kept
            else:
                flash(refused.message, "warning")
                return _back_to_item(item.key)
        else:
            if result.created:
                flash(_("Your appeal about %(item)s was sent to %(office)s. You will see the answer here.",
                        item=item_name(item.meta), office=item.checkpoint.display_name(str(get_locale()))), "success")
            else:
                flash(_("Your appeal was already sent; it is waiting for the office's answer."), "info")
            return _back_to_item(item.key)
    elif item.appeal is not None and item.appeal.status == "open":
        flash(_("You already have an open appeal about this item. Please wait for the office's answer."), "info")
        return _back_to_item(item.key)
    elif not item.is_open:
        flash(_("Only a pending or not passed item can be appealed."), "info")
        return _back_to_item(item.key)
    status = 422 if error else 200
    return render_template("portal/appeal_new.html", item=item, text=text, error=error, max_len=TEXT_MAX), status


@bp.route("/me/appeals")
@roles_required("graduate")
def appeals():
    return render_template("portal/appeals.html", rows=of_graduate(current_user.graduate.id))


@bp.route("/me/appeals/<int:appeal_id>")
@roles_required("graduate")
def appeal_detail(appeal_id: int):
    appeal = appeal_of_graduate(current_user.graduate.id, appeal_id)
    if appeal is None:
        abort(404)
    return render_template("portal/appeal_detail.html", row=row_of(appeal))
