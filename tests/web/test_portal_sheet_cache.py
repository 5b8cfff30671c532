"""The per-process cache of ``GET /me`` never serves a page that is out of date or someone else's."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.portal.sheet_cache import sheet_cache
from app.workflow.models import Checkpoint, ClearanceItem
from app.workflow.services import Actor, apply
from tests.web.conftest import FreshContextClient, english, login

OP = Actor(None, "tester")


def page(client) -> str:
    """The sheet without the CSRF tokens' signatures (they carry a timestamp)."""
    resp = client.get("/me")
    assert resp.status_code == 200
    return re.sub(r'name="csrf_token" value="[^"]+"', "", resp.get_data(as_text=True))


def item_status(html: str, key: str) -> str:
    return re.search(rf'id="item-{key}" data-status="([a-z_]+)"', html).group(1)


def first_open_key(db, g) -> str:
    return db.session.scalar(sa.select(ClearanceItem.task_key).where(
        ClearanceItem.graduate_id == g.id, ClearanceItem.status == "pending").order_by(ClearanceItem.id))


@pytest.fixture()
def warm(client, graduate):
    """The graduate's sheet, rendered twice: the second time from the cache."""
    sheet_cache.clear()
    client.get("/me")                 # the first page view stores the session's CSRF token
    first = page(client)
    assert len(sheet_cache) == 1
    assert page(client) == first      # served from the cache, identical
    return first


def test_repeated_views_come_from_the_cache(client, graduate, warm, monkeypatch):
    import app.portal.routes as routes

    monkeypatch.setattr(routes, "sheet_for", lambda *a, **k: pytest.fail("rendered again"))
    assert page(client) == warm


def test_confirming_and_rejecting_items_show(client, db, graduate, warm):
    key = first_open_key(db, graduate)
    assert item_status(warm, key) == "pending"
    apply([graduate.id], key, "confirm", OP)
    assert item_status(page(client), key) == "passed"
    apply([graduate.id], key, "reopen", OP, reason="搞错了")
    apply([graduate.id], key, "reject", OP, reason="钥匙未交")
    html = page(client)
    assert item_status(html, key) == "rejected" and "钥匙未交" in html


def test_direct_item_change_shows(client, db, graduate, warm):
    """Even a change made without ``apply`` (no version bump) reaches the page."""
    key = first_open_key(db, graduate)
    db.session.execute(sa.update(ClearanceItem).where(ClearanceItem.graduate_id == graduate.id,
                                                      ClearanceItem.task_key == key)
                       .values(status="rejected", reason="欠费 12 元"))
    db.session.commit()
    html = page(client)
    assert item_status(html, key) == "rejected" and "欠费 12 元" in html


def test_new_announcement_shows(client, runner, graduate, warm):
    assert "lx-announcements" not in warm
    assert runner.invoke(args=["announcements", "add", "--title", "离校时间安排"]).exit_code == 0
    assert "离校时间安排" in page(client)


def test_appeal_and_its_answer_show(client, db, graduate, warm):
    from app.portal.appeals import decline_appeal
    from app.portal.models import Appeal

    key = first_open_key(db, graduate)
    assert client.post(f"/me/items/{key}/appeal", data={"text": "我已经还书了"}).status_code in (302, 303)
    html = page(client)
    assert 'data-appeal-status="open"' in html
    appeal = db.session.scalar(sa.select(Appeal).where(Appeal.graduate_id == graduate.id))
    decline_appeal(appeal, OP, "没有查到记录")
    html = page(client)
    assert 'data-appeal-status="declined"' in html and "没有查到记录" in html


def test_checkpoint_contact_change_shows(client, db, graduate, warm):
    db.session.execute(sa.update(Checkpoint).values(phone="0571-88888888"))
    db.session.commit()
    assert "0571-88888888" in page(client)


def test_profile_change_shows(client, db, graduate, warm):
    from app.graduates.models import Graduate

    db.session.execute(sa.update(Graduate).where(Graduate.id == graduate.id).values(class_name="改名后的班级"))
    db.session.commit()
    assert "改名后的班级" in page(client)


def test_notifications_badge_follows_changes_and_reading(client, db, graduate, warm):
    assert 'id="lx-badge"' not in warm
    apply([graduate.id], first_open_key(db, graduate), "reject", OP, reason="请到办公室")
    assert 'id="lx-badge"' in page(client)
    assert client.get("/notifications").status_code == 200
    assert 'id="lx-badge"' not in page(client)


def test_language_switch_shows(client, graduate, warm):
    english(client)
    html = page(client)
    assert html != warm and "Clearance sheet" in html


def test_another_session_gets_its_own_page(app, client, db, graduate, warm, make_graduate, start):
    other = make_graduate()
    start(other)
    from app.auth.services import set_graduate_password

    set_graduate_password(db.session.merge(other), "other-pass-1")
    second = FreshContextClient(app, app.response_class, use_cookies=True)
    assert login(second, other.student_no, "other-pass-1").status_code == 302
    second.get("/me")
    html = page(second)
    assert other.student_no in html and graduate.student_no not in html
    # the same graduate in a new session: a page of its own (its own CSRF token)
    third = FreshContextClient(app, app.response_class, use_cookies=True)
    assert login(third, graduate.student_no, "my-own-pass-1").status_code == 302
    token = lambda resp: re.search(r'name="csrf_token" value="([^"]+)"', resp.get_data(as_text=True))  # noqa: E731
    mine, theirs = token(client.get("/me")), token(third.get("/me"))
    if mine and theirs:
        assert mine.group(1) != theirs.group(1)


def test_flashed_messages_and_query_args_bypass_the_cache(client, graduate, warm):
    with client.session_transaction() as session:
        session["_flashes"] = [("info", "一条提示")]
    assert "一条提示" in page(client)
    assert "一条提示" not in page(client)                # shown once, as before
    size = len(sheet_cache)
    assert client.get("/me?x=1").status_code == 200
    assert len(sheet_cache) == size


def test_a_survey_published_meanwhile_comes_before_the_cached_sheet(client, db, runner, graduate, warm, tmp_path):
    """The survey gate is read with the graduate on every request (no cache of its own)."""
    import json

    survey = {"title": "毕业生离校调查", "questions": [
        {"key": "dest", "text": "您的毕业去向", "kind": "choice", "options": ["就业", "升学"]}]}
    path = tmp_path / "survey.json"
    path.write_text(json.dumps(survey, ensure_ascii=False), encoding="utf-8")
    assert runner.invoke(args=["surveys", "load", str(path), "--cohort", "2026"]).exit_code == 0
    resp = client.get("/me")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/survey")
    assert client.post("/survey", data={"dest": "就业"}).status_code == 303
    assert "您的毕业去向" not in page(client)


def test_read_only_pages_write_nothing(app, client, graduate, warm):
    """Views marked ``read_only`` run without a transaction: they must never write."""
    from sqlalchemy import event

    from app.extensions import db

    endpoints = sorted(e for e, view in app.view_functions.items() if getattr(view, "lx_read_only", False))
    assert {"portal.sheet", "portal.diagram", "portal.diagram_data", "portal.history"} <= set(endpoints)
    urls = {rule.endpoint: rule.rule for rule in app.url_map.iter_rules() if rule.endpoint in endpoints}
    statements = []
    listener = lambda conn, cursor, statement, *a: statements.append(statement)  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        for endpoint in endpoints:
            sheet_cache.clear()
            assert client.get(urls[endpoint]).status_code == 200, endpoint
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    writes = [s for s in statements if s.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    assert statements and not writes, writes


def test_a_cached_sheet_costs_two_queries(client, graduate, warm):
    """The graduate (with cohort and survey gate) and the page's fingerprint: nothing else."""
    from tests.web.test_portal_sheet import _count_queries

    assert len(_count_queries(client, "/me")) == 2


def test_the_cache_can_be_turned_off(app, client, db, graduate, warm):
    app.config["SHEET_CACHE_ENTRIES"] = 0
    try:
        sheet_cache.clear()
        key = first_open_key(db, graduate)
        assert item_status(page(client), key) == "pending" and len(sheet_cache) == 0
        apply([graduate.id], key, "confirm", OP)
        assert item_status(page(client), key) == "passed" and len(sheet_cache) == 0
    finally:
        app.config["SHEET_CACHE_ENTRIES"] = 1000


def test_pages_expire_well_before_their_csrf_tokens(app, client, graduate, warm, monkeypatch):
    """With a CSRF time limit, a cached page (and the tokens signed into it) lives at most half of it."""
    import app.portal.sheet_cache as cache

    app.config["WTF_CSRF_TIME_LIMIT"] = 60
    try:
        page(client)
        assert cache.sheet_cache.ttl == 30
        clock = [cache.time.monotonic() + 31]
        monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
        import app.portal.routes as routes

        rendered = []
        real = routes.sheet_for
        monkeypatch.setattr(routes, "sheet_for", lambda *a, **k: rendered.append(1) or real(*a, **k))
        page(client)
        assert rendered == [1]                  # expired: rendered again with fresh tokens
    finally:
        app.config["WTF_CSRF_TIME_LIMIT"] = None
