"""The special desks: certificate issuance (证件发放) and the 缓交 checkpoint (缓交办理点).

Also starts the automatic end of 缓交 (``maybe_expire_waivers``) after desk and portal responses.
"""
from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import HiddenInput

from app.core.web import actor_for
from app.auth.services import roles_required
from app.core.i18n import item_name
from app.desk import bp
from app.desk.queries import checkpoints_for, graduate_in_scope, search_graduates
from app.desk.routes import _current_checkpoint
from app.desk.special import (
    EXPIRY_FILTERS,
    MAX_WAIVER_DAYS,
    WAIVER_CHECKPOINT,
    NothingToIssue,
    WaiverRefused,
    catalogue,
    change_waiver_end,
    certificate_view,
    is_certificate_checkpoint,
    issue_certificates,
    lift_restriction,
    lifted_restrictions,
    ready_colleges,
    ready_to_issue,
    restore_restriction,
    waiver_view,
)
from app.workflow.services import BatchRefused, ConcurrentChange, ItemsRefused, local_today


# ----------------------------------------------------------------------------- forms
class IssueForm(FlaskForm):
    graduate_id = IntegerField(widget=HiddenInput(), validators=[DataRequired()])
    cp = HiddenField(validators=[DataRequired(), Length(max=40)])


class LiftForm(FlaskForm):
    """缓交: lift the restriction of one item; the end date is optional."""

    graduate_id = IntegerField(widget=HiddenInput(), validators=[DataRequired()])
    task = HiddenField(validators=[DataRequired(), Length(max=64)])
    reason = StringField(_l("Reason / certificate number"),
                         validators=[InputRequired(_l("Please give a reason.")), Length(max=200)])
    until = DateField(_l("Lifted until (optional)"), validators=[Optional()],
                      render_kw={"autocomplete": "off"})

    def validate_reason(self, field):
        if not (field.data or "").strip():
            raise ValidationError(_("Please give a reason."))

    def validate_until(self, field):
        if field.data is None:
            return
        today = local_today()
        if field.data < today:
            raise ValidationError(_("The end date is in the past."))
        if field.data > today + timedelta(days=MAX_WAIVER_DAYS):
            raise ValidationError(_("The end date is more than three years away; please check it."))


class EndDateForm(LiftForm):
    """Change the end date of a 缓交 that is in force (empty: no end date)."""

    until = DateField(_l("New end date"), validators=[Optional()], render_kw={"autocomplete": "off"})


class RestoreForm(FlaskForm):
    graduate_id = IntegerField(widget=HiddenInput(), validators=[DataRequired()])
    task = HiddenField(validators=[DataRequired(), Length(max=64)])
    reason = StringField(_l("Reason"), validators=[InputRequired(_l("Please give a reason.")), Length(max=200)])

    def validate_reason(self, field):
        if not (field.data or "").strip():
            raise ValidationError(_("Please give a reason."))


# ----------------------------------------------------------------------------- automatic 缓交 expiry
@bp.after_app_request
def _expire_waivers_later(response):
    """After a desk or portal page was sent, end the 缓交 that are due (throttled, see the service)."""
    if request.blueprint in ("desk", "portal"):
        from app.workflow.services import maybe_expire_waivers

        app = current_app._get_current_object()
        response.call_on_close(lambda: maybe_expire_waivers(app))
    return response


# ----------------------------------------------------------------------------- certificate desk
def _certificate_checkpoint(key: str | None):
    """The certificate checkpoint to work at; another checkpoint of the user goes to its own desk."""
    if not key:
        mine = checkpoints_for(current_user)
        key = next((cp.key for cp in mine if is_certificate_checkpoint(cp)), None)
        if key is None:
            abort(403, _("None of your checkpoints issues certificates."))
    checkpoint, mine = _current_checkpoint(key)
    if not is_certificate_checkpoint(checkpoint):
        return checkpoint, mine, redirect(url_for("desk.index", cp=checkpoint.key,
                                                  graduate_id=request.args.get("graduate_id", type=int)), 303)
    return checkpoint, mine, None


def _look_up(endpoint: str, **url_args):
    """The search box and the picked graduate of a special desk's page.

    Returns ``(q, result, gid, graduate, redirect)``: a search with exactly one hit redirects to that
    graduate (``redirect``); ``graduate``: the one picked by ``graduate_id`` when nothing is searched
    (404 when out of scope).
    """
    q = (request.args.get("q") or "").strip()[:64]
    result = graduate = None
    if q:
        result = search_graduates(q)
        if len(result.graduates) == 1:
            to = url_for(endpoint, **url_args, graduate_id=result.graduates[0].id)
            return q, result, None, None, redirect(to, 303)
    gid = request.args.get("graduate_id", type=int)
    if gid is not None and not q:
        graduate = graduate_in_scope(gid)
        if graduate is None:
            abort(404)
    return q, result, gid, graduate, None


@bp.route("/certificates")
@roles_required("operator", "admin")
def certificates():
    checkpoint, mine, elsewhere = _certificate_checkpoint(request.args.get("cp"))
    if elsewhere is not None:
        return elsewhere
    q, result, gid, graduate, picked = _look_up("desk.certificates", cp=checkpoint.key)
    if picked is not None:
        return picked
    view = certificate_view(graduate, checkpoint) if graduate is not None else None
    return render_template(
        "desk/certificates.html", checkpoint=checkpoint, checkpoints=mine, q=q, result=result, view=view,
        form=IssueForm(formdata=None, graduate_id=gid, cp=checkpoint.key),
        ready=ready_to_issue(checkpoint, per_page=1).total,
        switch_args={"graduate_id": gid} if view else None,
    )


@bp.route("/certificates/issue", methods=["POST"])
@roles_required("operator", "admin")
def certificates_issue():
    form = IssueForm()
    if not form.validate_on_submit():
        abort(400, _("The form is incomplete. Please reload the page and try again."))
    checkpoint, _mine, elsewhere = _certificate_checkpoint(form.cp.data)
    if elsewhere is not None:
        abort(404)
    gid = form.graduate_id.data
    graduate = graduate_in_scope(gid)
    if graduate is None:
        abort(404)
    try:
        done = issue_certificates(gid, checkpoint, actor_for(current_user.user))
        view = certificate_view(graduate, checkpoint)
        names = "、".join(item_name(view.sheet.name_of(o.key)) for o in done)
        flash(_("%(name)s: certificates issued (%(items)s).", name=graduate.name, items=names), "success")
    except NothingToIssue as exc:
        flash(str(exc), "danger")
    except ItemsRefused as exc:
        flash(exc.message, "danger")
    except ConcurrentChange:
        flash(_("Someone else changed this graduate's clearance at the same moment; please try again."), "danger")
    return redirect(url_for("desk.certificates", cp=checkpoint.key, graduate_id=gid), 303)


@bp.route("/certificates/ready")
@roles_required("operator", "admin")
def certificates_ready():
    checkpoint, mine, elsewhere = _certificate_checkpoint(request.args.get("cp"))
    if elsewhere is not None:
        return elsewhere
    filters = {
        "q": (request.args.get("q") or "").strip()[:64],
        "college": (request.args.get("college") or "").strip()[:100],
        "class_name": (request.args.get("class_name") or "").strip()[:100],
    }
    issued = request.args.get("show") == "issued"
    page = ready_to_issue(checkpoint, issued=issued, page=request.args.get("page", 1, type=int), **filters)
    return render_template("desk/certificates_ready.html", checkpoint=checkpoint, checkpoints=mine, page=page,
                           filters=filters, issued=issued, colleges=ready_colleges(checkpoint, issued=issued),
                           counts={"ready": ready_to_issue(checkpoint, per_page=1).total,
                                   "issued": ready_to_issue(checkpoint, issued=True, per_page=1).total},
                           catalogue=catalogue())


# ----------------------------------------------------------------------------- 缓交 desk
def _waiver_checkpoint():
    """The 缓交 checkpoint (403 for everybody but its operators and admins)."""
    key = request.values.get("cp")
    if key and key != WAIVER_CHECKPOINT:
        # the checkpoint switcher keeps the page: another checkpoint has its own desk
        _current_checkpoint(key)
        return None, None, redirect(url_for("desk.index", cp=key), 303)
    checkpoint, mine = _current_checkpoint(WAIVER_CHECKPOINT)
    return checkpoint, mine, None


def _render_waiver(checkpoint, mine, *, q="", result=None, view=None, lift=None, restore=None, end=None,
                   status=200):
    gid = view.graduate.id if view else None
    if view is not None:
        lift = lift or LiftForm(formdata=None, graduate_id=gid)
        restore = restore or RestoreForm(formdata=None, graduate_id=gid)
        end = end or EndDateForm(formdata=None, graduate_id=gid)
    return render_template(
        "desk/waiver.html", checkpoint=checkpoint, checkpoints=mine, q=q, result=result, view=view,
        lift=lift, restore=restore, end=end, today=local_today(),
        max_until=local_today() + timedelta(days=MAX_WAIVER_DAYS),
    ), status


@bp.route("/waiver")
@roles_required("operator", "admin")
def waiver():
    checkpoint, mine, elsewhere = _waiver_checkpoint()
    if elsewhere is not None:
        return elsewhere
    q, result, _gid, graduate, picked = _look_up("desk.waiver")
    if picked is not None:
        return picked
    view = waiver_view(graduate) if graduate is not None else None
    return _render_waiver(checkpoint, mine, q=q, result=result, view=view)


def _waiver_change(form_class, use_case, done_message):
    """Shared by lift / change end date / restore: validate, apply ``use_case`` (one transaction) with the
    form's reason (and end date, if the form has one), say what happened."""
    checkpoint, mine, elsewhere = _waiver_checkpoint()
    if elsewhere is not None:
        abort(404)
    form = form_class()
    gid = form.graduate_id.data
    graduate = graduate_in_scope(gid) if gid else None
    if graduate is None:
        abort(400, _("The form is incomplete. Please reload the page and try again."))
    view = waiver_view(graduate)
    key = form.task.data
    if key not in {r.item.key for r in view.rows}:
        abort(404)
    if not form.validate_on_submit():
        # keep what was typed; the page shows the messages next to the fields of this item
        forms = {LiftForm: {"lift": form}, EndDateForm: {"end": form}, RestoreForm: {"restore": form}}[form_class]
        return _render_waiver(checkpoint, mine, view=view, status=422, **forms)
    name = item_name(view.sheet.name_of(key))
    try:
        dated = {"until": form.until.data} if "until" in form else {}
        use_case(gid, key, actor_for(current_user.user), reason=form.reason.data.strip(), **dated)
        flash(done_message(graduate, name, form), "success")
    except WaiverRefused as exc:
        flash(str(exc), "danger")
    except BatchRefused as exc:
        flash(exc.result.failed[0].message, "danger")
    except ConcurrentChange:
        flash(_("%(item)s was changed by someone else at the same moment; please try again.", item=name), "danger")
    return redirect(url_for("desk.waiver", graduate_id=gid), 303)


def _lifted(graduate, name, form) -> str:
    if form.until.data:
        return _("%(name)s: the restriction of %(item)s is lifted until %(date)s.", name=graduate.name,
                 item=name, date=form.until.data.isoformat())
    return _("%(name)s: the restriction of %(item)s is lifted.", name=graduate.name, item=name)


@bp.route("/waiver/lift", methods=["POST"])
@roles_required("operator", "admin")
def waiver_lift():
    return _waiver_change(LiftForm, lift_restriction, _lifted)


@bp.route("/waiver/end-date", methods=["POST"])
@roles_required("operator", "admin")
def waiver_end_date():
    return _waiver_change(EndDateForm, change_waiver_end, _lifted)


@bp.route("/waiver/restore", methods=["POST"])
@roles_required("operator", "admin")
def waiver_restore():
    def done(graduate, name, _form):
        return _("%(name)s: the restriction of %(item)s is back on.", name=graduate.name, item=name)

    return _waiver_change(RestoreForm, restore_restriction, done)


@bp.route("/waiver/lifted")
@roles_required("operator", "admin")
def waiver_list():
    checkpoint, mine, elsewhere = _waiver_checkpoint()
    if elsewhere is not None:
        return elsewhere
    waivable = catalogue().waivable
    filters = {
        "q": (request.args.get("q") or "").strip()[:64],
        "key": k if (k := request.args.get("key") or "") in waivable else "",
        "expiry": e if (e := request.args.get("expiry") or "") in EXPIRY_FILTERS else "",
    }
    page = lifted_restrictions(page=request.args.get("page", 1, type=int), **filters)
    return render_template("desk/waiver_list.html", checkpoint=checkpoint, checkpoints=mine, page=page,
                           filters=filters, waivable=waivable, today=local_today(), catalogue=catalogue())
