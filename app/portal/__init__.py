from flask import Blueprint

bp = Blueprint("portal", __name__)

from app.portal import appeal_routes, home_routes, routes, slip_routes  # noqa: E402,F401
