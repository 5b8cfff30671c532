from flask import render_template

from app.auth.services import roles_required
from app.portal import bp


@bp.route("/me")
@roles_required("graduate")
def sheet():
    return render_template("portal/sheet.html")
