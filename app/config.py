"""Configuration layers: these defaults -> instance/config.py -> environment."""
from __future__ import annotations

import os

DEV_SECRET_KEY = "dev-insecure-change-me"

# Plain environment variables that map to config keys (besides LIXIAO_* prefixed ones).
ENV_KEYS = {
    "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "SECRET_KEY": "SECRET_KEY",
    "REDIS_URL": "RATELIMIT_STORAGE_URI",
    "MAIL_SERVER": "MAIL_SERVER",
    "MAIL_PORT": "MAIL_PORT",
    "MAIL_DEFAULT_SENDER": "MAIL_DEFAULT_SENDER",
    "MAIL_USERNAME": "MAIL_USERNAME",
    "MAIL_PASSWORD": "MAIL_PASSWORD",
    "MAIL_USE_TLS": "MAIL_USE_TLS",
    "MAIL_USE_SSL": "MAIL_USE_SSL",
}


class DefaultConfig:
    SECRET_KEY = DEV_SECRET_KEY
    SQLALCHEMY_DATABASE_URI: str | None = None  # None -> sqlite:///<instance>/lixiao.sqlite
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ("zh_CN", "en")
    WTF_CSRF_TIME_LIMIT = None
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    BPMN_MAX_BYTES = 2 * 1024 * 1024
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True     # Redis down: per-process limits rather than errors
    LOGIN_RATE_LIMIT = "10 per minute;100 per hour"          # per IP address
    RESET_RATE_LIMIT = "5 per minute;30 per hour"            # forgot password, per IP address
    ACCOUNT_RATE_LIMIT = "5 per minute;30 per hour"          # login and reset, per account
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    MAIL_SERVER: str | None = None            # notification e-mails only when set
    MAIL_PORT = 25
    MAIL_DEFAULT_SENDER = "lixiao@localhost"
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_USE_TLS = False                      # STARTTLS
    MAIL_USE_SSL = False                      # SMTP over TLS (port 465)
    MAIL_TIMEOUT = 10
    MAIL_MAX_ATTEMPTS = 5
    MAIL_SEND_AFTER_COMMIT = True             # deliver in a background thread right after the change
    SHEET_CACHE_ENTRIES = 1000                # rendered sheets kept per worker (≈ 36 KB each); 0 = no cache
    SCHOOL_NAME = "示例大学"
    SCHOOL_NAME_EN = "Example University"


def env_overrides(environ: os._Environ | dict | None = None) -> dict:
    environ = os.environ if environ is None else environ
    out = {}
    for env_name, key in ENV_KEYS.items():
        if environ.get(env_name):
            out[key] = environ[env_name]
    if "MAIL_PORT" in out:
        out["MAIL_PORT"] = int(out["MAIL_PORT"])
    for flag in ("MAIL_USE_TLS", "MAIL_USE_SSL"):
        if flag in out:
            out[flag] = out[flag].strip().lower() in ("1", "true", "yes", "on")
    return out


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings and pick the psycopg 3 driver for PostgreSQL."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url
