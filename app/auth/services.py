"""Authentication of staff and graduates, and the principal objects Flask-Login sees."""
from __future__ import annotations

import hmac
from functools import wraps
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from flask import abort, current_app
from flask_login import current_user
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from app.auth.models import User
from app.core.enums import Role
from app.extensions import db
from app.graduates.models import Cohort, Graduate
from app.workflow.models import Event

# A fixed hash to compare against when the account does not exist, so timing says nothing.
_DUMMY_HASH = generate_password_hash("lixiao-timing-dummy")


class StaffPrincipal:
    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_graduate = False

    def __init__(self, user: User):
        self.user = user

    def get_id(self) -> str:
        # the session version makes the id, so raising it ends every session issued before
        return f"u:{self.user.id}:{self.user.session_version}"

    @property
    def account_key(self) -> str:
        """The account, the same in every session (rate limits, audit)."""
        return f"u:{self.user.id}"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.user, name)

    def has_role(self, *roles: str) -> bool:
        return self.user.role in roles

    def checkpoint_keys(self) -> list[str]:
        return [c.key for c in self.user.checkpoints]


class GraduatePrincipal:
    is_authenticated = True
    is_active = True
    is_anonymous = False
    is_graduate = True
    role = "graduate"

    def __init__(self, graduate: Graduate, preloaded: Mapping[str, Any] | None = None):
        self.graduate = graduate
        self._preloaded = dict(preloaded or {})

    def preloaded(self, name: str) -> Any:
        """A value registered with :func:`graduate_preload`, read with the principal."""
        return self._preloaded[name]

    def get_id(self) -> str:
        return f"g:{self.graduate.id}:{self.graduate.session_version}"

    @property
    def account_key(self) -> str:
        return f"g:{self.graduate.id}"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.graduate, name)

    def has_role(self, *roles: str) -> bool:
        return "graduate" in roles

    @property
    def must_change_password(self) -> bool:
        return self.graduate.password_hash is None


# name -> function returning a scalar subquery correlated to ``Graduate``; see graduate_preload
_GRADUATE_PRELOADS: dict[str, Callable[[], sa.ColumnElement]] = {}
_graduate_statement: list[sa.Select] = []


def graduate_preload(name: str):
    """Register a per-graduate value that every graduate request needs (e.g. the portal's survey
    gate): it is read in the same query as the graduate and the cohort, one round trip less per
    request, and available as ``current_user.preloaded(name)``. Register at import time."""

    def decorator(factory: Callable[[], sa.ColumnElement]):
        _GRADUATE_PRELOADS[name] = factory
        _graduate_statement.clear()
        return factory

    return decorator


def _graduate_select() -> sa.Select:
    """The principal's query, built once: a reused statement keeps SQLAlchemy's cache key."""
    if not _graduate_statement:
        extras = [factory().label(name) for name, factory in _GRADUATE_PRELOADS.items()]
        _graduate_statement.append(
            sa.select(Graduate, *extras).options(joinedload(Graduate.cohort))
            .where(Graduate.id == sa.bindparam("gid", type_=sa.Integer)))
    return _graduate_statement[0]


def load_principal(ident: str):
    """Flask-Login's user loader: ``kind:id:session_version``. A session issued before the
    account's version was raised (logout elsewhere, password change or reset, deactivation) is
    not a login any more; nor is one without a version (issued before sessions had one)."""
    kind, raw, version = ((ident or "").split(":") + ["", ""])[:3]
    if not (raw.isdigit() and version.isdigit()):
        return None
    if kind == "u":
        user = db.session.get(User, int(raw))
        if user is None or not user.active or user.session_version != int(version):
            return None
        return StaffPrincipal(user)
    if kind == "g":
        # the cohort and the registered preloads come along: one query per graduate request
        row = db.session.execute(_graduate_select(), {"gid": int(raw)}).first()
        if row is None:
            return None
        graduate, *values = row
        if graduate.session_version != int(version):
            return None
        return GraduatePrincipal(graduate, dict(zip(_GRADUATE_PRELOADS, values)))
    return None


def end_sessions(account: User | Graduate) -> None:
    """End every login session of ``account`` (this one included) from the next request on:
    raise its session version in the database (one atomic UPDATE, so two at once both count).
    The caller commits; a session that must go on logs in again with the new version."""
    model = type(account)
    db.session.execute(sa.update(model).where(model.id == account.id)
                       .values(session_version=model.session_version + 1)
                       .execution_options(synchronize_session=False))
    db.session.flush()
    db.session.refresh(account, ["session_version"])


def deactivate_user(user: User) -> None:
    """An admin ends a staff account: it cannot log in, and its open sessions end at once."""
    user.active = False
    end_sessions(user)
    db.session.commit()


def initial_password(graduate: Graduate) -> str:
    return (graduate.id_card or "")[-6:].upper()


def _verify_once(stored_hash: str | None, password: str) -> bool:
    """Exactly one password-hash verification on every path (unknown account, initial password,
    own password, inactive account), so the answer's timing tells nothing about the account."""
    ok = check_password_hash(stored_hash or _DUMMY_HASH, password or "")
    return ok and stored_hash is not None


def authenticate_staff(username: str, password: str) -> User | None:
    user = db.session.scalar(sa.select(User).where(User.username == (username or "").strip()))
    usable = user is not None and user.active
    ok = _verify_once(user.password_hash if usable else None, password)
    return user if usable and ok else None


def find_graduate(student_no: str) -> Graduate | None:
    """The graduate with this student number in the most recent cohort."""
    return db.session.scalar(
        sa.select(Graduate).join(Cohort).where(Graduate.student_no == (student_no or "").strip())
        .order_by(Cohort.year.desc()).limit(1))


def authenticate_graduate(student_no: str, password: str) -> Graduate | None:
    graduate = find_graduate(student_no)
    password = password or ""
    ok = _verify_once(graduate.password_hash if graduate is not None else None, password)
    if graduate is None:
        return None
    if graduate.password_hash is None:      # the initial password: compared, after the same hashing
        ok = hmac.compare_digest(password.strip().upper().encode(), initial_password(graduate).encode())
        return graduate if ok and password else None
    return graduate if ok else None


def set_graduate_password(graduate: Graduate, password: str) -> None:
    """A new password; every session of the graduate ends (the caller logs the current one in again)."""
    graduate.password_hash = generate_password_hash(password)
    end_sessions(graduate)
    db.session.commit()


def reset_graduate_password(student_no: str, id_card: str, remote_addr: str | None = None) -> bool:
    """忘记密码: restore the initial password if the full ID-card number matches; audited.

    The graduate must change it again at the next login. False tells nothing about which of
    the two numbers was wrong; every path costs one password-hash verification, as a login does,
    so neither the timing nor the cost per try tells either.
    """
    graduate = find_graduate(student_no)
    given = (id_card or "").strip().upper().encode()
    _verify_once(None, id_card or "")
    if graduate is None:
        hmac.compare_digest(given, b"0" * 18)
        return False
    if not (given and hmac.compare_digest(given, (graduate.id_card or "").upper().encode())):
        return False
    graduate.password_hash = None
    end_sessions(graduate)
    db.session.add(Event(graduate_id=graduate.id, action="password_reset", source="system",
                         actor=graduate.student_no[:64], remote_addr=(remote_addr or "")[:64] or None,
                         reason="forgot password: ID-card number matched"))
    db.session.commit()
    return True


def public_view(view):
    """Mark a view that needs no login (e.g. the 离校单 verification page): the graduate gates
    (forced password change, cohort window, survey) leave it alone."""
    view.lx_public = True
    return view


def is_public_endpoint(endpoint: str | None) -> bool:
    if endpoint is None or endpoint == "static":
        return True
    view = current_app.view_functions.get(endpoint)
    return bool(getattr(view, "lx_public", False))


def create_user(username: str, role: str, password: str, checkpoint_keys: list[str] | None = None,
                display_name: str = "") -> User:
    from app.workflow.models import Checkpoint

    if role not in set(Role):
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(Role)}")
    if db.session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise ValueError(f"user {username!r} already exists")
    keys = list(dict.fromkeys(checkpoint_keys or []))
    checkpoints = list(db.session.scalars(sa.select(Checkpoint).where(Checkpoint.key.in_(keys)))) if keys else []
    missing = set(keys) - {c.key for c in checkpoints}
    if missing:
        raise ValueError(f"unknown checkpoint(s): {', '.join(sorted(missing))}")
    if role == Role.OPERATOR and not checkpoints:
        raise ValueError("an operator needs at least one --checkpoint")
    user = User(username=username, role=role, display_name=display_name or username, checkpoints=checkpoints)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def roles_required(*roles: str):
    """Coarse permission: login plus one of ``roles`` (403 otherwise)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                from flask import current_app

                return current_app.login_manager.unauthorized()
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator
