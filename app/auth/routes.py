from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import bp
from app.auth.forms import ChangePasswordForm, LoginForm
from app.auth.services import (
    GraduatePrincipal,
    StaffPrincipal,
    authenticate_graduate,
    authenticate_staff,
    set_graduate_password,
)
from app.extensions import db, limiter


def _home_for(principal) -> str:
    if principal.is_graduate:
        return url_for("portal.sheet")
    return url_for("desk.index")


def _safe_next() -> str | None:
    """The ``next`` page Flask-Login asked for, if it is a path on this site (no open redirect)."""
    target = request.args.get("next") or ""
    if (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and all(" " < c != "\x7f" for c in target)):
        return target
    return None


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
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
            login_user(principal)
            if principal.is_graduate and principal.must_change_password:
                flash(_("Please change your initial password first."), "warning")
                return redirect(url_for("auth.change_password"))
            return redirect(_safe_next() or _home_for(principal))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
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
            set_graduate_password(db.session.merge(current_user.graduate), form.new.data)
            flash(_("Password changed."), "success")
            return redirect(url_for("portal.sheet"))
    return render_template("auth/change_password.html", form=form)


@bp.route("/")
def root():
    if current_user.is_authenticated:
        return redirect(_home_for(current_user))
    return redirect(url_for("auth.login", **({"lang": request.args["lang"]} if "lang" in request.args else {})))
