"""A per-process cache of the rendered clearance sheet (``GET /me``).

Rendering the sheet costs several milliseconds of CPU; checking whether anything on it changed
costs one small query. The cache key holds everything the page is built from:

* from :func:`_fingerprint` (ONE query): the clearance row (id, version, status, times, slip
  token; ``version`` is bumped by every item change in ``app.workflow.services.apply``), the
  graduate's latest event id (appeals, notifications, submit), the graduate's appeals (count,
  latest id, latest answer time, open count), the visible announcements of the cohort and global
  ones (count, latest id, latest publication time), the checkpoints' contact texts and the
  graduate's item rows (status, reason, source, times: a change made without ``apply`` shows too);
* from objects the request has already loaded: every column of the graduate row (name, class,
  ``notifications_seen_at``, ``synced_at``, ...) and of the cohort (window dates);
* the request: locale, the school's date (expired deferrals, the window), the host, and the
  session's raw CSRF token (the page embeds signed CSRF tokens, so a page is only ever served
  again to the session it was rendered for).

Requests with query arguments, pending flashed messages or without a CSRF token in the session
(the first render stores one) bypass the cache. Entries also expire after ``TTL`` seconds.
``SHEET_CACHE_ENTRIES`` (config, or ``LIXIAO_SHEET_CACHE_ENTRIES``) bounds the pages kept per
process; 0 turns the cache off. With a ``WTF_CSRF_TIME_LIMIT`` set, entries live at most half of
it, so the CSRF tokens signed into a cached page are always valid when it is served.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

import sqlalchemy as sa
from flask import current_app, request, session
from flask_babel import get_locale
from sqlalchemy.engine.interfaces import BindTyping

from app.core.time import utcnow
from app.extensions import db
from app.graduates.models import Cohort, Graduate
from app.portal.models import Announcement, Appeal, AppealStatus
from app.workflow.models import Checkpoint, Clearance, ClearanceItem, Event

MAX_ENTRIES = 1000                # default of SHEET_CACHE_ENTRIES: pages of ≈ 36 KB, ≈ 40 MB per worker
TTL = 600.0                       # seconds; a bound on any staleness the key might miss

_GRADUATE_COLUMNS = tuple(c.key for c in Graduate.__table__.columns if c.key != "password_hash")
_COHORT_COLUMNS = tuple(c.key for c in Cohort.__table__.columns)


class PageCache:
    """A thread-safe LRU of rendered pages with a time-to-live."""

    def __init__(self, max_entries: int = MAX_ENTRIES, ttl: float = TTL):
        self.max_entries, self.ttl = max_entries, ttl
        self._entries: OrderedDict[Hashable, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if time.monotonic() - entry[0] > self.ttl:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, page: bytes) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), page)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


sheet_cache = PageCache()


def _fingerprint_statement():
    """The fingerprint query (parameters ``gid``, ``cid``, ``now``)."""
    gid, cid = sa.bindparam("gid", type_=sa.Integer), sa.bindparam("cid", type_=sa.Integer)
    own_appeals = sa.select(sa.func.count(), sa.func.max(Appeal.id), sa.func.max(Appeal.answered_at),
                            sa.func.count().filter(Appeal.status == AppealStatus.OPEN)) \
        .where(Appeal.graduate_id == gid).subquery()
    visible = sa.select(sa.func.count(), sa.func.max(Announcement.id), sa.func.max(Announcement.published_at)) \
        .where(sa.or_(Announcement.cohort_id == cid, Announcement.cohort_id.is_(None)),
               Announcement.published_at <= sa.bindparam("now", type_=sa.DateTime)).subquery()

    def joined(*columns):
        text = sa.func.coalesce(sa.cast(columns[0], sa.String), "")
        for column in columns[1:]:
            text = text + "\x1f" + sa.func.coalesce(sa.cast(column, sa.String), "")
        return sa.func.aggregate_strings(text, "\x1e")

    contacts = joined(Checkpoint.key, Checkpoint.name, Checkpoint.name_en, Checkpoint.place, Checkpoint.phone,
                      Checkpoint.office_hours, Checkpoint.instructions, Checkpoint.place_en,
                      Checkpoint.office_hours_en, Checkpoint.instructions_en)
    items = joined(ClearanceItem.task_key, ClearanceItem.status, ClearanceItem.reason, ClearanceItem.source,
                   ClearanceItem.updated_at, ClearanceItem.waived_until)
    return (
        sa.select(
            Clearance.id, Clearance.version, Clearance.status, Clearance.updated_at, Clearance.submitted_at,
            Clearance.slip_token, Clearance.process_version_id,
            sa.select(sa.func.max(Event.id)).where(Event.graduate_id == gid).scalar_subquery(),
            *own_appeals.c, *visible.c,
            sa.select(contacts).select_from(Checkpoint).scalar_subquery(),
            sa.select(items).where(ClearanceItem.graduate_id == gid).scalar_subquery(),
        )
        .select_from(Graduate)
        .outerjoin(Clearance, Clearance.graduate_id == Graduate.id)
        .join(own_appeals, sa.true()).join(visible, sa.true())
        .where(Graduate.id == gid)
    )


_compiled: dict[str, tuple[sa.TextClause, dict]] = {}


def _fingerprint(graduate_id: int, cohort_id: int) -> tuple:
    """Everything the sheet reads from the database that the request has not loaded yet (1 query).

    The statement is compiled once per dialect into plain SQL: building the expression and its
    SQLAlchemy cache key on every request would cost more than the query itself.
    """
    dialect = db.session.get_bind().dialect
    entry = _compiled.get(dialect.name)
    if entry is None:
        plain = type(dialect)(paramstyle="named")
        plain.bind_typing = BindTyping.NONE          # no "::TYPE" after parameters (PostgreSQL): text() syntax
        compiled = _fingerprint_statement().compile(dialect=plain)
        text = sa.text(compiled.string).bindparams(sa.bindparam("now", type_=sa.DateTime))
        constants = {k: v for k, v in compiled.params.items() if k not in ("gid", "cid", "now")}
        entry = _compiled[dialect.name] = (text, constants)
    text, constants = entry
    row = db.session.execute(text, {**constants, "gid": graduate_id, "cid": cohort_id, "now": utcnow()}).one()
    return tuple(row)


def cache_key(graduate: Graduate, today) -> tuple | None:
    """The key of this request's sheet, or None when the page must not come from the cache."""
    if request.args or session.get("_flashes"):
        return None
    raw_token = session.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    if not raw_token:
        return None
    cohort = graduate.cohort
    return (
        tuple(getattr(graduate, name) for name in _GRADUATE_COLUMNS),
        tuple(getattr(cohort, name) for name in _COHORT_COLUMNS),
        _fingerprint(graduate.id, graduate.cohort_id),
        str(get_locale()), today, request.host_url, raw_token,
    )


def cached_page(graduate: Graduate, today, render: Callable[[], str]) -> str | bytes:
    """The sheet from the cache when nothing it depends on changed; else ``render()`` (and keep it)."""
    limit = current_app.config.get("SHEET_CACHE_ENTRIES", MAX_ENTRIES)
    if not limit:
        return render()
    sheet_cache.max_entries = limit
    csrf_limit = current_app.config.get("WTF_CSRF_TIME_LIMIT")
    # a cached page carries CSRF tokens signed when it was rendered: keep it well within their life
    sheet_cache.ttl = min(TTL, csrf_limit / 2) if csrf_limit else TTL
    key = cache_key(graduate, today)
    if key is None:
        return render()
    page = sheet_cache.get(key)
    if page is None:
        page = render().encode()
        sheet_cache.put(key, page)
    return page
