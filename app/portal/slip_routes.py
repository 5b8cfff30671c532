"""Submit clearance once, the printable 离校单 and the public verification page ``/verify/<token>``."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.services import public_view, roles_required
from app.core.time import utcnow
from app.extensions import limiter
from app.portal import bp
from app.portal.slip import SubmitRefused, qr_svg, slip_for, slip_rows, submit_clearance, submit_state, verify
from app.portal.window import require_open_window
from app.workflow.services import Actor

bp.add_app_template_global(submit_state, "submit_state")


@bp.route("/me/submit", methods=["POST"])
@roles_required("graduate")
@require_open_window
def submit():
    actor = Actor(None, current_user.graduate.name, remote_addr=request.remote_addr)
    try:
        submit_clearance(current_user.graduate.id, actor)
    except SubmitRefused as refused:
        flash(refused.message, "info" if refused.code == "already" else "warning")
        return redirect(url_for("portal.sheet", _anchor="submit"), code=303)
    flash(_("Your clearance is submitted. Print this clearance slip or show it on your phone at the "
            "certificate desk."), "success")
    return redirect(url_for("portal.slip"), code=303)


@bp.route("/me/slip")
@roles_required("graduate")
def slip():
    data = slip_for(current_user.graduate.id)
    if data is None:
        flash(_("The clearance slip is available once every item is done and you have submitted your "
                "clearance."), "info")
        return redirect(url_for("portal.sheet", _anchor="submit"), code=303)
    verify_url = url_for("portal.verify_slip", token=data.token, _external=True)
    response = current_app.make_response(render_template(
        "portal/slip.html", slip=data, rows=slip_rows(data), verify_url=verify_url, qr=qr_svg(verify_url),
        now=utcnow()))
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/verify/<path:token>")
@public_view
@limiter.limit(lambda: current_app.config.get("VERIFY_RATE_LIMIT", "30 per minute;300 per hour"))
def verify_slip(token: str):
    result = verify(token)
    response = current_app.make_response(
        (render_template("portal/verify.html", result=result), 200 if result.valid else 404))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response
