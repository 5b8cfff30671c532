"""Notification e-mails: written to the outbox with the change, delivered to a real local SMTP server."""
from __future__ import annotations

import email
import socket
import threading
import time
from email.policy import default as default_policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from app.portal.models import EmailOutbox
from app.workflow.services import Actor, BatchRefused, apply

OP = Actor.system("王老师", "manual")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook name)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=default_policy))
        return "250 OK"

    def wait(self, n: int, timeout: float = 10) -> list:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


@pytest.fixture()
def smtp(app):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    saved = {k: app.config.get(k) for k in ("MAIL_SERVER", "MAIL_PORT", "MAIL_SEND_AFTER_COMMIT")}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port, MAIL_SEND_AFTER_COMMIT=True)
    try:
        yield inbox
    finally:
        for t in threading.enumerate():           # let a background sender finish before the db is cleaned
            if t.name == "lixiao-mail":
                t.join(10)
        app.config.update(saved)
        controller.stop()


def outbox(db) -> list[EmailOutbox]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(EmailOutbox).order_by(EmailOutbox.id)))


def wait_sent(db, n: int, timeout: float = 10) -> list[EmailOutbox]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = outbox(db)
        if sum(r.sent_at is not None for r in rows) >= n:
            return rows
        time.sleep(0.05)
    return outbox(db)


def test_a_change_is_mailed_right_after_the_commit(db, smtp, make_graduate, start):
    g = make_graduate(email="xiaoming@example.edu.cn")
    nobody = make_graduate(email="")
    start(g, nobody)
    assert outbox(db) == []                              # starting the process mails nobody
    apply([g.id, nobody.id], "dorm_checkout", "reject", OP, reason="钥匙未交")
    rows = wait_sent(db, 1)
    assert [r.to_addr for r in rows] == ["xiaoming@example.edu.cn"]      # only those with an address
    assert rows[0].sent_at is not None and rows[0].attempts == 1 and rows[0].last_error is None
    [msg] = smtp.wait(1)
    assert msg["To"] == "xiaoming@example.edu.cn" and "离校手续有 1 项更新" in msg["Subject"]
    body = msg.get_content()
    assert "清理宿舍物品、退宿: 未通过 (钥匙未交)" in body           # Chinese first
    assert "Not passed" in body and "Log in to the clearance portal" in body  # then English


def test_nothing_is_queued_when_the_change_is_rolled_back(db, smtp, make_graduate, start):
    ok = make_graduate(email="a@example.edu.cn")
    other = make_graduate(email="b@example.edu.cn")
    start(ok, other)
    apply([other.id], "student_id_card", "confirm", OP)
    wait_sent(db, 1)
    # a strict batch where one graduate is refused: nothing is applied, nothing is mailed
    with pytest.raises(BatchRefused):
        apply([ok.id, other.id], "student_id_card", "confirm", OP)
    assert [r.to_addr for r in outbox(db)] == ["b@example.edu.cn"]


def test_a_class_batch_writes_one_message_per_graduate_in_one_insert(db, smtp, app, make_graduate, start):
    app.config["MAIL_SEND_AFTER_COMMIT"] = False
    graduates = [make_graduate(email=f"s{n}@example.edu.cn") for n in range(30)]
    start(*graduates)
    inserts = []

    def count(conn, cursor, statement, *args):  # noqa: ARG001
        if statement.lstrip().upper().startswith("INSERT INTO EMAIL_OUTBOX"):
            inserts.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        apply([g.id for g in graduates], "student_id_card", "confirm", OP)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    rows = outbox(db)
    assert len(rows) == 30 and all(r.sent_at is None for r in rows)
    assert len(inserts) <= 2          # executemany: one statement (SQLite may split by parameter limits)
    assert smtp.messages == []


def test_cli_sends_pending_messages_and_retries_failures(db, smtp, app, runner, make_graduate, start):
    app.config["MAIL_SEND_AFTER_COMMIT"] = False
    g = make_graduate(email="xiaoming@example.edu.cn")
    start(g)
    apply([g.id], "student_id_card", "confirm", OP)
    # the server is unreachable: the failure is recorded, the message stays pending
    port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = free_port()
    result = runner.invoke(args=["notifications", "send"])
    assert result.exit_code == 1 and "0 sent, 1 failed" in result.output
    [row] = outbox(db)
    assert row.sent_at is None and row.attempts == 1 and row.last_error
    app.config["MAIL_PORT"] = port
    result = runner.invoke(args=["notifications", "send"])
    assert result.exit_code == 0 and "1 sent, 0 failed" in result.output
    [row] = outbox(db)
    assert row.sent_at is not None and row.attempts == 2 and row.last_error is None
    assert len(smtp.wait(1)) == 1
    # nothing left: a second run sends nothing again
    assert "0 sent, 0 failed" in runner.invoke(args=["notifications", "send"]).output
    assert len(smtp.messages) == 1


def test_no_outbox_without_smtp(db, app, make_graduate, start, runner):
    assert not app.config.get("MAIL_SERVER")
    g = make_graduate(email="xiaoming@example.edu.cn")
    start(g)
    apply([g.id], "student_id_card", "confirm", OP)
    assert outbox(db) == []
    result = runner.invoke(args=["notifications", "send"])
    assert result.exit_code == 1 and "MAIL_SERVER is not configured" in result.output


def test_a_declined_appeal_is_mailed(db, smtp, make_graduate, start):
    from app.portal.appeals import decline_appeal, submit_appeal

    g = make_graduate(email="xiaoming@example.edu.cn")
    start(g)
    appeal = submit_appeal(g.id, "dorm_checkout", "我已经交了钥匙", Actor(None, g.name)).appeal
    assert outbox(db) == []                              # the graduate's own appeal is not news to them
    decline_appeal(appeal, OP, "请本人到宿管中心办理")
    [msg] = smtp.wait(1)
    body = msg.get_content()
    assert "清理宿舍物品、退宿: 您的申诉未被采纳 (请本人到宿管中心办理)" in body
    assert "your appeal was declined" in body
