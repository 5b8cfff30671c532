"""The checkpoint's appeal queue (申诉处理): graduates' appeals about this checkpoint's items.

An operator answers only appeals of the checkpoints they work at (403 otherwise): "resolve"
confirms the item (one transaction with the appeal's answer), "decline" answers with a reason
and leaves the item open.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core.web import actor_for
from app.auth.services import roles_required
from app.core.i18n import item_name
from app.desk import bp
from app.desk.routes import _current_checkpoint
from app.extensions import db
from app.portal import appeals as svc
from app.appeals.models import Appeal


STATES = ("open", "answered")


def graduate_open_appeals(graduate_id: int, checkpoint_id: int) -> list[svc.AppealRow]:
    """For the desk's graduate panel (templates/desk/_graduate_appeals.html)."""
    return svc.open_for_graduate_at(graduate_id, checkpoint_id)


bp.add_app_template_global(graduate_open_appeals, "graduate_open_appeals")


def _queue_page(checkpoint, mine, state: str, page: int, *, focus=None, errors=None, drafts=None,
                status: int = 200):
    """The queue; ``focus``: an appeal whose answer was refused, shown first with the typed text kept."""
    data = svc.queue(checkpoint.id, state, page)
    if focus is not None:
        data.rows = [focus] + [r for r in data.rows if r.appeal.id != focus.appeal.id]
    return render_template(
        "desk/appeals.html", checkpoint=checkpoint, checkpoints=mine, state=state, data=data,
        counts=svc.counts(checkpoint.id), errors=errors or {}, drafts=drafts or {}, answer_max=svc.ANSWER_MAX,
        switch_args={"state": state},
    ), status


@bp.route("/appeals")
@roles_required("operator", "admin")
def appeals():
    checkpoint, mine = _current_checkpoint(request.args.get("cp"))
    if checkpoint is None:
        return render_template("desk/appeals.html", checkpoint=None, checkpoints=mine)
    state = request.args.get("state") if request.args.get("state") in STATES else "open"
    page = request.args.get("page", 1, type=int) or 1
    return _queue_page(checkpoint, mine, state, page)


@bp.route("/appeals/<int:appeal_id>/answer", methods=["POST"])
@roles_required("operator", "admin")
def appeal_answer(appeal_id: int):
    checkpoint, mine = _current_checkpoint(request.form.get("cp"))
    appeal = db.session.get(Appeal, appeal_id)
    if appeal is None or checkpoint is None:
        abort(404)
    if appeal.checkpoint_id not in {cp.id for cp in mine}:
        abort(403, _("This appeal is about a checkpoint you do not work at."))
    if appeal.checkpoint_id != checkpoint.id:
        checkpoint = next(cp for cp in mine if cp.id == appeal.checkpoint_id)
    outcome = request.form.get("outcome")
    answer = request.form.get("answer") or ""
    from_graduate = request.form.get("back") == "graduate"
    graduate_id = appeal.graduate_id
    row = svc.row_of(appeal)
    label = f"{row.graduate.name} · {item_name(row.meta)}"
    actor = actor_for(current_user.user)
    try:
        if outcome == "resolve":
            svc.resolve_appeal(appeal, actor, answer)
            flash(_("%(what)s: appeal resolved, the item is confirmed.", what=label), "success")
        elif outcome == "decline":
            svc.decline_appeal(appeal, actor, answer)
            flash(_("%(what)s: appeal declined; the graduate sees your reason.", what=label), "success")
        else:
            abort(400, _("The form is incomplete. Please reload the page and try again."))
    except svc.AppealRefused as refused:
        if refused.code in ("empty", "too_long"):
            # keep what the operator typed: show the queue with the message at this appeal
            return _queue_page(checkpoint, mine, "open", 1, focus=row, errors={appeal_id: refused.message},
                               drafts={appeal_id: answer}, status=422)
        flash(f"{label}: {refused.message}", "danger")
    if from_graduate:
        return redirect(url_for("desk.index", cp=checkpoint.key, graduate_id=graduate_id), code=303)
    return redirect(url_for("desk.appeals", cp=checkpoint.key), code=303)
