"""Lixiao (数字离校): the Flask application factory."""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from babel import Locale
from flask import Flask, g, request, session
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.config import DEV_SECRET_KEY, DefaultConfig, env_overrides, normalise_database_url
from app.extensions import babel, csrf, db, limiter, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None, *, production: bool | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
    )
    app.config.from_object(DefaultConfig)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(env_overrides())
    app.config.from_prefixed_env("LIXIAO")
    if test_config:
        app.config.update(test_config)
    os.makedirs(app.instance_path, exist_ok=True)

    if production is None:
        production = os.environ.get("LIXIAO_ENV", "").lower() == "production"
    app.config["PRODUCTION"] = production
    if production and not app.testing and app.config["SECRET_KEY"] in (DEV_SECRET_KEY, "", None):
        raise RuntimeError(
            "Refusing to start in production with the development SECRET_KEY: "
            "set SECRET_KEY in the environment or in instance/config.py."
        )

    uri = app.config.get("SQLALCHEMY_DATABASE_URI") or f"sqlite:///{Path(app.instance_path) / 'lixiao.sqlite'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(uri)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        opts = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})   # never mutate the shared default
        opts["connect_args"] = {"timeout": 30, **opts.get("connect_args", {})}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = opts

    _init_extensions(app)
    _register_blueprints(app)
    _register_cli(app)
    from app.core import errors

    errors.init_app(app)
    from app.core import i18n

    i18n.compile_translations(ROOT / "translations")
    i18n.init_app(app)
    return app


def _init_extensions(app: Flask) -> None:
    from app import models as _models  # noqa: F401  (register every table on the metadata)

    db.init_app(app)
    from app.core import readonly

    readonly.init_app(app)     # first before_request: read-only views get an autocommit connection
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "warning"
    babel.init_app(app, locale_selector=_select_locale, default_translation_directories=str(ROOT / "translations"))
    limiter.init_app(app)

    from app.auth.services import load_principal

    login_manager.user_loader(load_principal)
    from flask_babel import lazy_gettext

    login_manager.login_message = lazy_gettext("Please log in to continue.")


@functools.cache
def _parsed_locale(identifier: str) -> Locale:
    """Babel's ``Locale.parse`` scans every known locale name (≈ 0.2 ms); Flask-Babel calls it per request."""
    return Locale.parse(identifier)


def _select_locale() -> Locale:
    from flask import current_app

    langs = current_app.config["LANGUAGES"]
    chosen = request.args.get("lang") if request else None
    if chosen in langs:
        session["lang"] = chosen
    lang = session.get("lang") if request else None
    if lang in langs:
        return _parsed_locale(lang)
    return _parsed_locale(current_app.config["BABEL_DEFAULT_LOCALE"])


def _register_blueprints(app: Flask) -> None:
    from app.auth import bp as auth_bp
    from app.desk import bp as desk_bp
    from app.portal import bp as portal_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(portal_bp)
    app.register_blueprint(desk_bp, url_prefix="/desk")


def _register_cli(app: Flask) -> None:
    from app.cli import register

    register(app)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record) -> None:  # noqa: ARG001
    import sqlite3

    if isinstance(dbapi_connection, sqlite3.Connection):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()
