from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import bp
from app.auth.forms import ChangePasswordForm, LoginForm, ResetPasswordForm
from app.auth.services import (
    GraduatePrincipal,
    StaffPrincipal,
    authenticate_graduate,
    authenticate_staff,
    end_sessions,
    is_public_endpoint,
    reset_graduate_password,
    set_graduate_password,
)
from app.extensions import db, limiter
from app.portal.notifications import mark_seen

# Pages a graduate who still has the initial password may open.
_BEFORE_CHANGE_OK = frozenset({"auth.change_password", "auth.logout", "auth.root"})


def _account_key(field: str):
    """Rate-limit key per account (the submitted student number / user name), next to the per-IP one."""
    return lambda: "account:" + (request.form.get(field) or "").strip().upper()[:64]


def _too_many() -> str:
    return _("Too many attempts. For the safety of your account, please wait a few minutes and try again.")


@bp.before_app_request
def _force_initial_password_change():
    """The initial password must be changed before any other page of the site (not only the sheet)."""
    if (current_user.is_authenticated and current_user.is_graduate and current_user.must_change_password
            and request.endpoint not in _BEFORE_CHANGE_OK and not is_public_endpoint(request.endpoint)):
        if request.method == "GET":
            flash(_("Please change your initial password first."), "warning")
        return redirect(url_for("auth.change_password"), code=303)
    return None


def _home_for(principal) -> str:
    if principal.is_graduate:
        return url_for("portal.sheet")
    return url_for("desk.index")


def _start_session(principal) -> None:
    """Log ``principal`` in on a new session: nothing from before the login survives (the CSRF
    token, flashed messages, anything a planted cookie carried) except the chosen language."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    login_user(principal)


def _safe_next() -> str | None:
    """The ``next`` page Flask-Login asked for, if it is a path on this site (no open redirect)."""
    target = request.args.get("next") or ""
    if (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and all(" " < c != "\x7f" for c in target)):
        return target
    return None


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"], error_message=_too_many)
@limiter.limit(lambda: current_app.config["ACCOUNT_RATE_LIMIT"], methods=["POST"], key_func=_account_key("username"),
               error_message=_too_many)
def login():
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        if form.kind.data == "staff":
            user = authenticate_staff(form.username.data, form.password.data)
            principal = StaffPrincipal(user) if user else None
        else:
            graduate = authenticate_graduate(form.username.data, form.password.data)
            principal = GraduatePrincipal(graduate) if graduate else None
        if principal is None:
            # one message for every failure: it must not tell which field was wrong
            flash(_("Login failed: the account or the password is not right."), "danger")
        else:
            _start_session(principal)
            if principal.is_graduate and principal.notifications_seen_at is None:
                mark_seen(principal.id)     # first login: the sheet itself is the news; count from now on
            if principal.is_graduate and principal.must_change_password:
                flash(_("Please change your initial password first."), "warning")
                return redirect(url_for("auth.change_password"))
            return redirect(_safe_next() or _home_for(principal))
    return render_template("auth/login.html", form=form)


@bp.route("/password/reset", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RESET_RATE_LIMIT"], methods=["POST"], error_message=_too_many)
@limiter.limit(lambda: current_app.config["ACCOUNT_RATE_LIMIT"], methods=["POST"], key_func=_account_key("student_no"),
               error_message=_too_many)
def reset_password():
    """忘记密码 (seed 002): student number + full ID-card number restore the initial password."""
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        if reset_graduate_password(form.student_no.data, form.id_card.data, request.remote_addr):
            flash(_("Your password has been reset to the initial password (the last 6 characters of your "
                    "ID-card number). Log in with it; you will be asked to choose a new one."), "success")
            return redirect(url_for("auth.login", kind="graduate"))
        # one message for every failure: it must not tell which number was wrong or whether the account exists
        flash(_("The password could not be reset: the student number and the ID-card number do not match "
                "our records. Check both, or ask your college office."), "danger")
    return render_template("auth/reset_password.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    """Logging out ends every session of the account, not only this cookie (a copied cookie too)."""
    if current_user.is_authenticated:
        account = current_user.graduate if current_user.is_graduate else current_user.user
        end_sessions(db.session.merge(account))
        db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    if not current_user.is_graduate:
        return redirect(url_for("desk.index"))
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if authenticate_graduate(current_user.student_no, form.current.data) is None:
            flash(_("The current password is not right."), "danger")
        elif form.new.data.upper() == (current_user.id_card or "")[-6:].upper():
            flash(_("Choose a password other than the initial one."), "danger")
        else:
            graduate = db.session.merge(current_user.graduate)
            set_graduate_password(graduate, form.new.data)      # ends every session of the graduate ...
            _start_session(GraduatePrincipal(graduate))          # ... but this one goes on
            flash(_("Password changed."), "success")
            return redirect(url_for("portal.sheet"))
    return render_template("auth/change_password.html", form=form)


@bp.route("/")
def root():
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    return redirect(url_for("auth.login", **({"lang": request.args["lang"]} if "lang" in request.args else {})))
