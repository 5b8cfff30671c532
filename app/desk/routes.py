"""Operator desk (离校点工作台): find a graduate, see this checkpoint's items, confirm them."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.services import roles_required
from app.core.i18n import is_english, item_name
from app.desk import bp
from app.desk.forms import ConfirmForm
from app.desk.queries import (
    checkpoint_counts,
    checkpoints_for,
    graduate_at,
    graduate_in_scope,
    item_checkpoint_ids,
    search_graduates,
)
from app.portal.queries import meta_for_version
from app.workflow.services import Actor, BatchRefused, ConcurrentChange, apply


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


def _list(names: list[str]) -> str:
    return ", ".join(names) if is_english() else "、".join(names)


@bp.route("/")
@roles_required("operator", "admin")
def index():
    checkpoint, mine = _current_checkpoint(request.args.get("cp"))
    if checkpoint is None:
        return render_template("desk/index.html", checkpoint=None, checkpoints=mine)
    q = (request.args.get("q") or "").strip()[:64]
    result = None
    view = None
    if q:
        result = search_graduates(q)
        if len(result.graduates) == 1:
            return redirect(url_for("desk.index", cp=checkpoint.key, graduate_id=result.graduates[0].id), 303)
    gid = request.args.get("graduate_id", type=int)
    if gid is not None and not q:
        graduate = graduate_in_scope(gid)
        if graduate is None:
            abort(404)
        view = graduate_at(graduate, checkpoint)
    return render_template(
        "desk/index.html", checkpoint=checkpoint, checkpoints=mine, q=q, result=result, view=view,
        counts=checkpoint_counts(checkpoint),
        form=ConfirmForm(formdata=None, graduate_id=gid, cp=checkpoint.key),
    )


@bp.route("/confirm", methods=["POST"])
@roles_required("operator", "admin")
def confirm():
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400, _("The form is incomplete. Please reload the page and try again."))
    checkpoint, _mine = _current_checkpoint(form.cp.data)
    gid = form.graduate_id.data
    back = redirect(url_for("desk.index", cp=checkpoint.key, graduate_id=gid), 303)
    graduate = graduate_in_scope(gid)
    if graduate is None:
        abort(404)
    keys = list(dict.fromkeys(k for k in request.form.getlist("task") if k))[:50]
    if not keys:
        flash(_("Tick at least one item to confirm."), "warning")
        return back
    owners = item_checkpoint_ids(gid, keys)
    allowed = {cp.id for cp in checkpoints_for(current_user)}
    for key in keys:
        if key not in owners:
            abort(404)
        if owners[key] not in allowed:
            abort(403, _("This item belongs to a checkpoint you do not work at."))
    meta = meta_for_version(graduate.clearance.process_version_id)
    actor = Actor.for_user(current_user.user)
    done, refused = [], []
    for key in keys:
        name = item_name(meta.get(key) or {"key": key})
        try:
            apply([gid], key, "confirm", actor)
            done.append(name)
        except BatchRefused as exc:
            refused.append(exc.result.failed[0].message)
        except ConcurrentChange:
            refused.append(_("%(item)s was changed by someone else at the same moment; please try again.",
                             item=name))
    if done:
        flash(_("%(name)s: confirmed %(items)s.", name=graduate.name, items=_list(done)), "success")
    for message in refused:
        flash(message, "danger")
    return back
