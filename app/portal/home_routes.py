"""The graduate's gates and account pages: cohort window, survey, announcements, notifications.

Every portal request of a graduate passes :func:`_graduate_gates` (after the app-wide forced
password change of ``app.auth``):

1. before the cohort's window opens, every portal page except the announcements leads to the
   waiting page, which says when it opens;
2. outside the window every POST is refused (``app.portal.window``: the portal is read-only
   after it closes);
3. while the window is open and the cohort has an active survey the graduate has not answered,
   every portal page leads to the survey.

Views marked with ``app.auth.services.public_view`` (the 离校单 verification page) are exempt.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.services import is_public_endpoint, roles_required
from app.portal import bp
from app.portal.announcements import announcements_for
from app.portal.notifications import mark_seen, new_count, notifications_for
from app.portal.surveys import (
    has_answered, option_labels, pending_survey, question_text, submit_response, validate_answers,
)
from app.portal.window import current_window, refuse_if_not_open

BANNER_ANNOUNCEMENTS = 3
# portal pages open before the window opens / without answering the survey
_BEFORE_WINDOW_OK = frozenset({"portal.waiting", "portal.announcements"})
_SURVEY_EXEMPT = frozenset({"portal.survey", "portal.waiting", "portal.announcements"})


@bp.before_request
def _graduate_gates():
    if not (current_user.is_authenticated and current_user.is_graduate) or is_public_endpoint(request.endpoint):
        return None
    refused = refuse_if_not_open()
    if refused is not None:
        return refused
    window = current_window()
    if window.state == "before":
        if request.endpoint not in _BEFORE_WINDOW_OK:
            return redirect(url_for("portal.waiting"))
        return None
    if (window.is_open and request.endpoint not in _SURVEY_EXEMPT
            and current_user.preloaded("pending_survey_id") is not None):
        return redirect(url_for("portal.survey"))
    return None


@bp.app_context_processor
def _portal_helpers():
    def home_banner():
        """Data of ``portal/_home_banner.html``: the window and the latest announcements."""
        window = current_window()
        if window is None:
            return None
        latest = announcements_for(current_user.cohort_id, BANNER_ANNOUNCEMENTS + 1)
        return {"window": window, "announcements": latest[:BANNER_ANNOUNCEMENTS],
                "more": len(latest) > BANNER_ANNOUNCEMENTS}

    def notification_count() -> int:
        """The header badge (graduates only; one query)."""
        if not (current_user.is_authenticated and current_user.is_graduate) or current_user.must_change_password:
            return 0
        return new_count(current_user.id, current_user.notifications_seen_at)

    return {"home_banner": home_banner, "notification_count": notification_count}


@bp.route("/waiting")
@roles_required("graduate")
def waiting():
    """Before the window opens: when it opens, and the school's announcements."""
    window = current_window()
    if window.state != "before":
        return redirect(url_for("portal.sheet"))
    return render_template("portal/waiting.html", window=window,
                           announcements=announcements_for(current_user.cohort_id))


@bp.route("/announcements")
@roles_required("graduate")
def announcements():
    return render_template("portal/announcements.html", announcements=announcements_for(current_user.cohort_id))


@bp.route("/survey", methods=["GET", "POST"])
@roles_required("graduate")
def survey():
    """Answer the cohort's survey once; then the sheet."""
    pending = pending_survey(current_user.id, current_user.cohort_id)
    if pending is None:
        return redirect(url_for("portal.sheet"))
    answers: dict = {}
    errors: dict[str, str] = {}
    if request.method == "POST":
        answers, errors = validate_answers(pending, request.form)
        if not errors:
            if submit_response(pending, current_user.id, answers) or has_answered(pending.id, current_user.id):
                flash(_("Thank you for answering the survey."), "success")
                return redirect(url_for("portal.sheet"), code=303)
        flash(_("Some answers are missing or not valid; see the marked questions."), "danger")
        answers = {q["key"]: (request.form.getlist(q["key"]) if q["kind"] == "multichoice"
                              else request.form.get(q["key"], "")) for q in pending.questions}
    return render_template("portal/survey.html", survey=pending, answers=answers, errors=errors,
                           question_text=question_text, option_labels=option_labels), 422 if errors else 200


@bp.route("/notifications")
@roles_required("graduate")
def notifications():
    """Changes to the graduate's items, new ones marked; visiting marks them seen."""
    seen = current_user.notifications_seen_at
    notices = notifications_for(current_user.id, seen)
    mark_seen(current_user.id)
    return render_template("portal/notifications.html", notices=notices)
