"""Notifications: what changed on the graduate's items since their last visit, in-app and by e-mail.

In-app: derived from the audit trail (``events`` of this graduate with an action in
:data:`NOTIFY_ACTIONS`) plus answered appeals; "new" means after ``Graduate.notifications_seen_at``,
which the notifications page moves forward. The header badge costs one query
(:func:`new_count`, two indexed COUNTs in one SELECT).

E-mail (only when ``MAIL_SERVER`` is configured and the graduate has an address): a collector
watches every insert into ``events`` made through the session - the bulk inserts of
``app.workflow.services`` as well as ORM-added rows - and, right before the transaction commits,
writes one ``email_outbox`` row per graduate with a summary of their changes (one bulk insert, in
the same transaction as the change: rolled back with it). After the commit a background thread
delivers the pending messages; ``flask --app app notifications send`` does the same (cron / retry).
Each message is claimed by a conditional UPDATE first, so two senders never send it twice; a
failed one is retried until ``MAIL_MAX_ATTEMPTS``.
"""
from __future__ import annotations

import logging
import smtplib
import threading
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from flask_babel import force_locale, gettext as _
from sqlalchemy import event as sa_event
from sqlalchemy.orm import ORMExecuteState, Session

from app.core.i18n import STATUS_LABELS, item_name
from app.core.time import utcnow
from app.extensions import db
from app.graduates.models import Graduate
from app.portal.models import Appeal, AppealStatus, EmailOutbox
from app.workflow.models import Clearance, Event, ProcessVersion

log = logging.getLogger(__name__)

# Item changes a graduate is told about ("status": the whole clearance changed, e.g. eligible).
NOTIFY_ACTIONS = ("confirm", "reject", "reopen", "waive", "unwaive", "auto_pass", "auto_revert",
                  "cascade", "expire", "status")
# E-mails also tell about answered appeals (in-app they come from the appeals table).
MAIL_ACTIONS = (*NOTIFY_ACTIONS, "appeal_resolved", "appeal_declined")


# ----------------------------------------------------------------------------- in-app
def _since(column, seen: datetime | None):
    return sa.true() if seen is None else column > seen


def new_count(graduate_id: int, seen: datetime | None) -> int:
    """How many notifications are new: one SELECT of two COUNTs on indexed columns."""
    events = (sa.select(sa.func.count()).select_from(Event)
              .where(Event.graduate_id == graduate_id, Event.action.in_(NOTIFY_ACTIONS), _since(Event.at, seen))
              .scalar_subquery())
    appeals = (sa.select(sa.func.count()).select_from(Appeal)
               .where(Appeal.graduate_id == graduate_id, Appeal.status != AppealStatus.OPEN,
                      Appeal.answered_at.is_not(None), _since(Appeal.answered_at, seen))
               .scalar_subquery())
    return db.session.scalar(sa.select(events + appeals)) or 0


@dataclass
class Notice:
    """One line of the notifications page."""

    at: datetime
    kind: str                         # "event" or "appeal"
    action: str                       # event action, or the appeal's status
    meta: dict[str, Any] | None       # the item's metadata (None: the whole clearance)
    old: str | None
    new: str | None
    reason: str | None
    source: str | None
    is_new: bool


def _item_meta(graduate_id: int) -> dict[str, dict[str, Any]]:
    items_meta = db.session.scalar(
        sa.select(ProcessVersion.items_meta)
        .join(Clearance, Clearance.process_version_id == ProcessVersion.id)
        .where(Clearance.graduate_id == graduate_id))
    return {m["key"]: m for m in (items_meta or [])}


def notifications_for(graduate_id: int, seen: datetime | None, limit: int = 100) -> list[Notice]:
    """The latest changes (new ones flagged), newest first: three queries."""
    meta = _item_meta(graduate_id)
    out = [
        Notice(r.at, "event", r.action, meta.get(r.task_key, {"key": r.task_key, "name": r.task_key})
               if r.task_key else None, r.old, r.new, r.reason, r.source, seen is None or r.at > seen)
        for r in db.session.execute(
            sa.select(Event.at, Event.action, Event.task_key, Event.old, Event.new, Event.reason, Event.source)
            .where(Event.graduate_id == graduate_id, Event.action.in_(NOTIFY_ACTIONS))
            .order_by(Event.id.desc()).limit(limit))
    ]
    out += [
        Notice(r.answered_at, "appeal", r.status, meta.get(r.task_key, {"key": r.task_key, "name": r.task_key}),
               None, None, r.answer, None, seen is None or r.answered_at > seen)
        for r in db.session.execute(
            sa.select(Appeal.answered_at, Appeal.status, Appeal.task_key, Appeal.answer)
            .where(Appeal.graduate_id == graduate_id, Appeal.status != AppealStatus.OPEN,
                   Appeal.answered_at.is_not(None))
            .order_by(Appeal.answered_at.desc()).limit(limit))
    ]
    out.sort(key=lambda n: n.at, reverse=True)
    return out[:limit]


def mark_seen(graduate_id: int) -> None:
    """Everything up to now has been seen (the badge goes back to zero)."""
    db.session.execute(sa.update(Graduate).where(Graduate.id == graduate_id)
                       .values(notifications_seen_at=utcnow()))
    db.session.commit()


# ----------------------------------------------------------------------------- e-mail: enqueue
def mail_enabled() -> bool:
    return has_app_context() and bool(current_app.config.get("MAIL_SERVER"))


_PENDING = "lx_mail_events"      # Session.info key: event rows of this transaction
_KICK = "lx_mail_kick"           # Session.info key: outbox rows were written, send after commit


@sa_event.listens_for(Session, "do_orm_execute")
def _collect_bulk_events(state: ORMExecuteState) -> None:
    """Remember the rows of every ``insert(Event)`` (the workflow's bulk inserts)."""
    if not state.is_insert or not mail_enabled():
        return
    table = getattr(state.statement, "table", None)
    if table is None or table.name != Event.__tablename__:
        return
    params = state.parameters
    rows = params if isinstance(params, list) else [params] if params else []
    state.session.info.setdefault(_PENDING, []).extend(
        (r.get("graduate_id"), r.get("clearance_id"), r.get("task_key"), r.get("action"), r.get("old"),
         r.get("new"), r.get("reason")) for r in rows
        if r.get("graduate_id") and (r.get("action") in MAIL_ACTIONS or r.get("action") == "start"))


@sa_event.listens_for(Session, "before_commit")
def _enqueue_before_commit(session: Session) -> None:
    if not mail_enabled():
        session.info.pop(_PENDING, None)
        return
    pending = session.info.pop(_PENDING, [])
    pending += [(e.graduate_id, e.clearance_id, e.task_key, e.action, e.old, e.new, e.reason)
                for e in session.new if isinstance(e, Event) and e.action in MAIL_ACTIONS and e.graduate_id]
    # the automatic results of starting a process are not news: the graduate has not seen it yet
    started = {row[0] for row in pending if row[3] == "start"}
    pending = [row for row in pending if row[0] not in started]
    if pending and enqueue(session, pending):
        session.info[_KICK] = True


@sa_event.listens_for(Session, "after_rollback")
def _forget_on_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_KICK, None)


@sa_event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    if session.info.pop(_KICK, False) and current_app.config.get("MAIL_SEND_AFTER_COMMIT", True):
        app = current_app._get_current_object()
        threading.Thread(target=_send_in_background, args=(app,), name="lixiao-mail", daemon=True).start()


def _change_line(meta: dict[str, Any], action: str, new: str | None, reason: str | None) -> str:
    if action == "status":
        text = _("Your clearance is now: %(status)s", status=STATUS_LABELS.get(new or "", new or ""))
    elif action == "appeal_declined":
        text = item_name(meta) + ": " + _("your appeal was declined")
    elif action == "appeal_resolved":
        text = item_name(meta) + ": " + _("your appeal was resolved")
    else:
        text = f"{item_name(meta)}: {STATUS_LABELS.get(new or '', new or '')}"
    if reason:
        text += f" ({reason})"
    return "- " + text


def enqueue(session: Session, pending: list[tuple]) -> int:
    """One outbox row per graduate with an e-mail address; one bulk INSERT. Returns the rows written."""
    by_graduate: dict[int, list[tuple]] = {}
    for row in pending:
        by_graduate.setdefault(row[0], []).append(row)
    recipients = dict(session.execute(
        sa.select(Graduate.id, Graduate.email).where(Graduate.id.in_(list(by_graduate)), Graduate.email != "")).all())
    if not recipients:
        return 0
    clearance_ids = {r[1] for gid in recipients for r in by_graduate[gid] if r[1]}
    version_of = dict(session.execute(sa.select(Clearance.id, Clearance.process_version_id)
                                      .where(Clearance.id.in_(clearance_ids))).all()) if clearance_ids else {}
    metas: dict[int, dict[str, dict[str, Any]]] = {}
    for vid in set(version_of.values()):
        items_meta = session.scalar(sa.select(ProcessVersion.items_meta).where(ProcessVersion.id == vid))
        metas[vid] = {m["key"]: m for m in (items_meta or [])}
    now = utcnow()
    school = current_app.config.get("SCHOOL_NAME", "")
    rows = []
    for gid, address in recipients.items():
        changes = by_graduate[gid]
        blocks = []
        for locale in ("zh_CN", "en"):          # Chinese first, then English (the language is unknown)
            with force_locale(locale):
                lines = [_change_line(metas.get(version_of.get(cid), {}).get(key) or {"key": key, "name": key},
                                      action, new, reason)
                         for _gid, cid, key, action, _old, new, reason in changes]
                blocks.append("\n".join([_("Your graduation clearance has changed:"), *lines, "",
                                         _("Log in to the clearance portal for the details.")]))
        with force_locale("zh_CN"):
            subject = _("Graduation clearance: %(n)d change(s)", n=len(changes))
        rows.append({"graduate_id": gid, "to_addr": address[:200], "subject": f"[{school}] {subject}"[:200],
                     "body": "\n\n----\n\n".join(blocks), "created_at": now, "attempts": 0})
    session.execute(sa.insert(EmailOutbox), rows)
    return len(rows)


# ----------------------------------------------------------------------------- e-mail: send
def _smtp(config) -> smtplib.SMTP:
    timeout = config.get("MAIL_TIMEOUT", 10)
    if config.get("MAIL_USE_SSL"):
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=timeout)
    else:
        smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=timeout)
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
    if config.get("MAIL_USERNAME"):
        smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
    return smtp


def _message(row, config) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr((config.get("SCHOOL_NAME", ""), config["MAIL_DEFAULT_SENDER"]))
    msg["To"] = row.to_addr
    msg["Subject"] = row.subject
    msg["Message-ID"] = make_msgid(domain=config["MAIL_DEFAULT_SENDER"].rpartition("@")[2] or None)
    msg.set_content(row.body)
    return msg


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0


def send_pending(limit: int = 500) -> SendReport:
    """Deliver pending outbox messages over one SMTP connection (each claimed first, one commit each)."""
    config = current_app.config
    report = SendReport()
    if not config.get("MAIL_SERVER"):
        return report
    rows = db.session.execute(
        sa.select(EmailOutbox.id, EmailOutbox.to_addr, EmailOutbox.subject, EmailOutbox.body, EmailOutbox.attempts)
        .where(EmailOutbox.sent_at.is_(None), EmailOutbox.attempts < config.get("MAIL_MAX_ATTEMPTS", 5))
        .order_by(EmailOutbox.id).limit(limit)).all()
    db.session.commit()
    if not rows:
        return report
    smtp: smtplib.SMTP | None = None
    try:
        for row in rows:
            claimed = db.session.execute(
                sa.update(EmailOutbox)
                .where(EmailOutbox.id == row.id, EmailOutbox.sent_at.is_(None), EmailOutbox.attempts == row.attempts)
                .values(attempts=row.attempts + 1, last_error="sending"))
            db.session.commit()
            if claimed.rowcount != 1:
                continue                      # another sender has it
            try:
                smtp = smtp or _smtp(config)
                smtp.send_message(_message(row, config))
            except (OSError, smtplib.SMTPException) as exc:
                report.failed += 1
                log.warning("e-mail %s to %s failed: %s", row.id, row.to_addr, exc)
                db.session.execute(sa.update(EmailOutbox).where(EmailOutbox.id == row.id)
                                   .values(last_error=str(exc)[:1000]))
                db.session.commit()
                if smtp is not None and not isinstance(exc, smtplib.SMTPRecipientsRefused):
                    smtp.close()
                    smtp = None
                continue
            report.sent += 1
            db.session.execute(sa.update(EmailOutbox).where(EmailOutbox.id == row.id)
                               .values(sent_at=utcnow(), last_error=None))
            db.session.commit()
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
    return report


_send_lock = threading.Lock()


def _send_in_background(app: Flask) -> None:
    """After a commit: deliver what is pending (one sender thread per process at a time)."""
    if not _send_lock.acquire(blocking=False):
        return        # the running sender picks the new rows up on its next round
    try:
        with app.app_context():
            while send_pending().sent:
                pass
    except Exception:  # noqa: BLE001 - a background thread must not die silently
        log.exception("sending notification e-mails failed")
    finally:
        _send_lock.release()
