"""Error pages (HTML) and JSON errors for /api/."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from app.core.domain import DomainError


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _way_out() -> str | None:
    """Where the page's button leads: a page this person may open, never the page that failed
    (None: the account has no page yet, e.g. a leader; the button logs out instead)."""
    from flask import url_for
    from flask_login import current_user

    if not current_user.is_authenticated:
        target = url_for("auth.login")
    elif current_user.is_graduate:
        target = url_for("portal.sheet")
    elif current_user.has_role("operator", "admin"):
        target = url_for("desk.index")
    else:
        return None
    return None if target == request.path else target


def init_app(app: Flask) -> None:
    def handler(code: int, title_fn):
        def handle(err):
            message = getattr(err, "description", "") if code not in (404, 500) else ""
            if message == getattr(type(err), "description", None):
                message = ""            # werkzeug's untranslated English default, never shown
            if _wants_json():
                return jsonify(error=title_fn(), message=message), code
            return render_template("errors/error.html", code=code, title=title_fn(), message=message,
                                   way_out=_way_out()), code
        return handle

    app.register_error_handler(400, handler(400, lambda: _("Bad request")))
    app.register_error_handler(403, handler(403, lambda: _("You are not allowed to do this")))
    app.register_error_handler(404, handler(404, lambda: _("Page not found")))
    app.register_error_handler(405, handler(405, lambda: _("Method not allowed")))
    app.register_error_handler(413, handler(413, lambda: _("The upload is too large")))
    app.register_error_handler(429, handler(429, lambda: _("Too many attempts, please wait a moment")))
    app.register_error_handler(500, handler(500, lambda: _("Something went wrong on our side")))

    @app.errorhandler(DomainError)
    def domain_error(err: DomainError):
        """A refusal no route caught: answered in the user's language, never a traceback."""
        message = err.message
        if not message:
            from app.workflow.engine import ActionRefused
            from app.workflow.services import refusal_message

            message = refusal_message(err) if isinstance(err, ActionRefused) else _("This cannot be done now.")
        title = _("This cannot be done now.") if err.status == 409 else _("Bad request")
        if _wants_json():
            return jsonify(error=err.code, message=message), err.status
        return render_template("errors/error.html", code=err.status, title=title, message=message), err.status

    @app.errorhandler(CSRFError)
    def csrf_error(err):
        msg = _("The form has expired or was sent from elsewhere. Please reload the page and try again.")
        if _wants_json():
            return jsonify(error="csrf", message=msg), 400
        return render_template("errors/error.html", code=400, title=_("Bad request"), message=msg,
                               way_out=_way_out()), 400
