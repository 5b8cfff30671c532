from flask import render_template

from app.auth.services import roles_required
from app.desk import bp


@bp.route("/")
@roles_required("operator", "admin")
def index():
    return render_template("desk/index.html")
