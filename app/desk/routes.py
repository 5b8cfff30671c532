"""Operator desk (离校点工作台): find a graduate, confirm / reject / re-open this checkpoint's items,
the graduate's clearance record (离校记录) and the checkpoint's rejection reason templates."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core.web import actor_for
from app.auth.services import roles_required
from app.core.i18n import is_english, item_name
from app.desk import bp
from app.desk.forms import ConfirmForm, DeleteReasonForm, ReasonActionForm, ReasonTemplateForm
from app.desk.queries import (
    REVERSALS,
    checkpoint_counts,
    checkpoints_for,
    graduate_at,
    graduate_in_scope,
    graduate_record,
    item_checkpoint_ids,
    search_graduates,
)
from app.desk.services import TemplateRefused, add_reason, delete_reason, reasons_for, unfilled_blank
from app.graduates.models import Graduate
from app.portal.queries import meta_for_version
from app.workflow.catalog import SPECIAL_CHECKPOINTS
from app.workflow.models import Checkpoint
from app.workflow.services import ConcurrentChange, ItemsRefused, apply_items

MAX_ITEMS = 50


def _current_checkpoint(key: str | None):
    """(the checkpoint to work at, every checkpoint this user may switch to); 403/404 when not allowed."""
    mine = checkpoints_for(current_user)
    if not key:
        return (mine[0] if mine else None), mine
    for cp in mine:
        if cp.key == key:
            return cp, mine
    if current_user.has_role("admin"):
        abort(404)
    abort(403, _("You do not work at this checkpoint."))


def _posted_checkpoint():
    """The checkpoint a desk form was sent for (403 before anything else when it is not the user's)."""
    key = (request.form.get("cp") or "").strip()
    if not key:
        abort(400, _("The form is incomplete. Please reload the page and try again."))
    return _current_checkpoint(key)


def _posted_graduate() -> Graduate:
    graduate = graduate_in_scope(request.form.get("graduate_id", type=int) or 0)
    if graduate is None:
        abort(404)
    return graduate


def _check_items(graduate_id: int, keys: list[str], checkpoint: Checkpoint) -> None:
    """404 for a key that is not an item of this graduate, 403 for an item of another checkpoint."""
    owners = item_checkpoint_ids(graduate_id, keys)
    for key in keys:
        if key not in owners:
            abort(404)
        if owners[key] != checkpoint.id:
            abort(403, _("This item belongs to a checkpoint you do not work at."))


def _list(names: list[str]) -> str:
    return ", ".join(names) if is_english() else "、".join(names)


def _desk(checkpoint: Checkpoint, mine: list[Checkpoint], *, graduate: Graduate | None = None, q: str = "",
          result=None, reason_form: ReasonActionForm | None = None, open_action: str | None = None,
          status: int = 200):
    view = graduate_at(graduate, checkpoint) if graduate is not None else None
    gid = graduate.id if graduate is not None else None
    return render_template(
        "desk/index.html", checkpoint=checkpoint, checkpoints=mine, q=q, result=result, view=view,
        reasons=reasons_for(checkpoint) if view is not None and view.items else [],
        form=ConfirmForm(formdata=None, graduate_id=gid, cp=checkpoint.key),
        reason_form=reason_form, open_action=open_action,
        switch_args={"graduate_id": gid} if gid else None,
    ), status


@bp.route("/")
@roles_required("operator", "admin")
def index():
    checkpoint, mine = _current_checkpoint(request.args.get("cp"))
    if checkpoint is None:
        return render_template("desk/index.html", checkpoint=None, checkpoints=mine)
    if checkpoint.key in SPECIAL_CHECKPOINTS and "desk.waiver" in current_app.view_functions:
        return redirect(url_for("desk.waiver", cp=checkpoint.key))
    q = (request.args.get("q") or "").strip()[:64]
    if q:
        result = search_graduates(q)
        if len(result.graduates) == 1:
            return redirect(url_for("desk.index", cp=checkpoint.key, graduate_id=result.graduates[0].id), 303)
        return _desk(checkpoint, mine, q=q, result=result)
    gid = request.args.get("graduate_id", type=int)
    graduate = None
    if gid is not None:
        graduate = graduate_in_scope(gid)
        if graduate is None:
            abort(404)
    return _desk(checkpoint, mine, graduate=graduate)


@bp.route("/counts")
@roles_required("operator", "admin")
def counts():
    """The desk's live count panel (实时统计区), loaded by htmx after the page so a search never waits for it."""
    checkpoint, _mine = _current_checkpoint(request.args.get("cp"))
    if checkpoint is None:
        abort(404)
    return render_template("desk/_counts.html", checkpoint=checkpoint, counts=checkpoint_counts(checkpoint))


@bp.route("/confirm", methods=["POST"])
@roles_required("operator", "admin")
def confirm():
    checkpoint, _mine = _posted_checkpoint()
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400, _("The form is incomplete. Please reload the page and try again."))
    graduate = _posted_graduate()
    back = redirect(url_for("desk.index", cp=checkpoint.key, graduate_id=graduate.id), 303)
    keys = list(dict.fromkeys(k for k in request.form.getlist("task") if k))
    if not keys:
        flash(_("Tick at least one item to confirm."), "warning")
        return back
    if len(keys) > MAX_ITEMS:
        abort(400)
    _check_items(graduate.id, keys, checkpoint)
    try:
        outcomes = apply_items(graduate.id, keys, "confirm", actor_for(current_user.user))
    except ItemsRefused as exc:
        message = exc.message if len(keys) == 1 else _("Nothing was confirmed: %(reason)s", reason=exc.message)
        flash(message, "danger")
        return back
    except ConcurrentChange:
        flash(_("Someone else changed this graduate's items at the same moment; nothing was confirmed. "
                "Please try again."), "danger")
        return back
    meta = meta_for_version(graduate.clearance.process_version_id)
    done = [item_name(meta.get(o.key) or {"key": o.key}) for o in outcomes]
    flash(_("%(name)s: confirmed %(items)s.", name=graduate.name, items=_list(done)), "success")
    return back


def _reason_action(action: str):
    checkpoint, mine = _posted_checkpoint()
    graduate = _posted_graduate()
    key = (request.form.get("task") or "").strip()
    if not key:
        abort(400, _("The form is incomplete. Please reload the page and try again."))
    _check_items(graduate.id, [key], checkpoint)
    form = ReasonActionForm()
    if form.validate_on_submit():
        blank = unfilled_blank(form.reason.data)
        if blank:
            form.reason.errors.append(_("Fill in %(blank)s in the reason first.", blank=blank))
    if form.errors:
        return _desk(checkpoint, mine, graduate=graduate, reason_form=form, open_action=action, status=422)
    back = redirect(url_for("desk.index", cp=checkpoint.key, graduate_id=graduate.id), 303)
    reason = form.reason.data.strip()
    try:
        apply_items(graduate.id, [key], action, actor_for(current_user.user), reason=reason)
    except ItemsRefused as exc:
        flash(exc.message, "danger")
        return back
    except ConcurrentChange:
        flash(_("Someone else changed this graduate's items at the same moment; nothing was changed. "
                "Please try again."), "danger")
        return _desk(checkpoint, mine, graduate=graduate, reason_form=form, open_action=action, status=409)
    name = item_name(meta_for_version(graduate.clearance.process_version_id).get(key) or {"key": key})
    if action == "reject":
        flash(_("%(name)s: %(item)s marked as not passed. Reason: %(reason)s",
                name=graduate.name, item=name, reason=reason), "warning")
    else:
        flash(_("%(name)s: %(item)s re-opened. Reason: %(reason)s", name=graduate.name, item=name, reason=reason),
              "warning")
    return back


@bp.route("/reject", methods=["POST"])
@roles_required("operator", "admin")
def reject():
    """Mark an open item as not passed with a reason; it stays open and the graduate reads the reason."""
    return _reason_action("reject")


@bp.route("/reopen", methods=["POST"])
@roles_required("operator", "admin")
def reopen():
    """Re-open a passed item with a reason (refused by the engine after certificates were issued)."""
    return _reason_action("reopen")


@bp.route("/record/<int:graduate_id>")
@roles_required("operator", "admin")
def record(graduate_id: int):
    """The graduate's whole clearance record: every checkpoint's items and the event timeline."""
    checkpoint, mine = _current_checkpoint(request.args.get("cp"))
    if checkpoint is None:
        return render_template("desk/index.html", checkpoint=None, checkpoints=mine)
    graduate = graduate_in_scope(graduate_id)
    if graduate is None:
        abort(404)
    return render_template("desk/record.html", checkpoint=checkpoint, checkpoints=mine,
                           switch_args={"graduate_id": graduate.id}, rec=graduate_record(graduate),
                           reversals=REVERSALS)


@bp.route("/reasons", methods=["GET", "POST"])
@roles_required("operator", "admin")
def reasons():
    """The current checkpoint's rejection reason templates: list, add, delete."""
    if request.method == "POST":
        checkpoint, mine = _posted_checkpoint()
    else:
        checkpoint, mine = _current_checkpoint(request.args.get("cp"))
        if checkpoint is None:
            return render_template("desk/index.html", checkpoint=None, checkpoints=mine)
    form = ReasonTemplateForm(cp=checkpoint.key)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                added = add_reason(checkpoint, form.text.data, form.text_en.data, actor_for(current_user.user))
            except TemplateRefused as exc:
                form.text.errors = [str(exc)]
            else:
                flash(_("Reason added: %(text)s", text=added.text), "success")
                return redirect(url_for("desk.reasons", cp=checkpoint.key), 303)
        status = 422
    return render_template("desk/reasons.html", checkpoint=checkpoint, checkpoints=mine, form=form,
                           reasons=reasons_for(checkpoint), delete_form=DeleteReasonForm(formdata=None)), status


@bp.route("/reasons/delete", methods=["POST"])
@roles_required("operator", "admin")
def delete_reason_template():
    checkpoint, _mine = _posted_checkpoint()
    form = DeleteReasonForm()
    if not form.validate_on_submit():
        abort(400, _("The form is incomplete. Please reload the page and try again."))
    try:
        text = delete_reason(checkpoint, form.ref.data, actor_for(current_user.user))
    except TemplateRefused as exc:
        flash(str(exc), "warning")
    else:
        flash(_("Reason deleted: %(text)s", text=text), "success")
    return redirect(url_for("desk.reasons", cp=checkpoint.key), 303)
