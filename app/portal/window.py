"""The cohort's clearance window (办理时间): when graduates may act in the portal.

A cohort has optional dates ``Cohort.opens_on`` / ``Cohort.closes_on`` (both inclusive, calendar
days in the school's time zone ``BABEL_DEFAULT_TIMEZONE``). :func:`window_state` gives

* ``"before"`` – today is before ``opens_on``: graduates only see when the window opens (the
  portal's ``before_request`` sends every portal page except announcements to the waiting page);
* ``"open"``   – no dates, or today within them: everything works;
* ``"closed"`` – today is after ``closes_on``: the portal is read-only.

Use on every graduate view that changes data (appeal, submit, survey, ...)::

    from app.portal.window import require_open_window

    @bp.route("/appeal/<int:item_id>", methods=["POST"])
    @roles_required("graduate")
    @require_open_window
    def appeal(item_id): ...

For unsafe methods (POST, PUT, PATCH, DELETE) it refuses the request unless the current
graduate's window is open: the message is flashed and the browser is sent back to the sheet
(303; for htmx requests 403 with an ``HX-Redirect`` header, so htmx loads the sheet and
shows the message). GET requests pass, so a route serving both a form and its POST can
carry the decorator; such a page can call :func:`current_window` to hide its buttons.
Staff users are never affected. As a safety net the portal blueprint also refuses every
unsafe graduate request outside the window (see :func:`refuse_if_not_open`).
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from functools import wraps
from typing import Literal
from zoneinfo import ZoneInfo

from flask import current_app, flash, g, make_response, redirect, request, url_for
from flask_babel import format_date, gettext as _
from flask_login import current_user

from app.graduates.models import Cohort

WindowState = Literal["before", "open", "closed"]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def school_today() -> date:
    """Today's date in the school's time zone (a cohort's dates are local calendar days)."""
    tz = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai")
    return datetime.now(timezone.utc).astimezone(tz).date()


def window_state(cohort: Cohort, today: date | None = None) -> WindowState:
    """``before`` / ``open`` / ``closed`` for ``cohort`` on ``today`` (default: the school's today)."""
    today = today or school_today()
    if cohort.opens_on and today < cohort.opens_on:
        return "before"
    if cohort.closes_on and today > cohort.closes_on:
        return "closed"
    return "open"


class Window:
    """The current graduate's window, as templates need it."""

    def __init__(self, cohort: Cohort, state: WindowState):
        self.cohort = cohort
        self.state = state

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    @property
    def opens_on(self) -> date | None:
        return self.cohort.opens_on

    @property
    def closes_on(self) -> date | None:
        return self.cohort.closes_on

    def message(self) -> str:
        """One sentence for a banner or a refused action (empty while open without a closing date)."""
        if self.state == "before":
            return _("Online clearance for your cohort opens on %(date)s. Until then nothing can be done here.",
                     date=format_date(self.cohort.opens_on, "long"))
        if self.state == "closed":
            return _("Online clearance for your cohort closed on %(date)s. The portal is read-only now; "
                     "please contact the college or the checkpoint directly.",
                     date=format_date(self.cohort.closes_on, "long"))
        if self.cohort.closes_on:
            return _("Online clearance is open until %(date)s.", date=format_date(self.cohort.closes_on, "long"))
        return ""


def current_window() -> Window | None:
    """The logged-in graduate's window (cached per request); None for staff and anonymous users."""
    if not (current_user.is_authenticated and current_user.is_graduate):
        return None
    if "lx_window" not in g:
        cohort = current_user.graduate.cohort
        g.lx_window = Window(cohort, window_state(cohort))
    return g.lx_window


def refuse_if_not_open():
    """None if the request may go on, else the response refusing it (flash + back to the sheet)."""
    if request.method in SAFE_METHODS:
        return None
    window = current_window()
    if window is None or window.is_open:
        return None
    flash(window.message(), "warning")
    target = url_for("portal.sheet")
    if request.headers.get("HX-Request"):
        response = make_response(window.message(), 403)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


def require_open_window(view):
    """Refuse unsafe requests of graduates whose cohort window is not open (see module docstring)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        refused = refuse_if_not_open()
        if refused is not None:
            return refused
        return view(*args, **kwargs)

    return wrapped
