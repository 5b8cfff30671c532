"""The graduate's own pages: the clearance sheet (离校单)."""
from __future__ import annotations

from flask import redirect, render_template, url_for
from flask_login import current_user

from app.auth.services import roles_required
from app.portal import bp
from app.portal.queries import sheet_for


@bp.route("/me")
@roles_required("graduate")
def sheet():
    if current_user.must_change_password:
        return redirect(url_for("auth.change_password"))
    graduate = current_user.graduate
    return render_template("portal/sheet.html", graduate=graduate, sheet=sheet_for(graduate.id))
