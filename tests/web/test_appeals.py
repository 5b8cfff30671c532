"""Appeals (申诉): a graduate appeals an open item, the checkpoint's desk resolves or declines it."""
from __future__ import annotations

import re
import textwrap
import time
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from app.portal.models import Appeal
from app.workflow.models import ClearanceItem, Event
from app.workflow.services import Actor, apply
from tests.web.conftest import english, text
from tests.conftest import run_processes

OP = Actor(None, "tester")
ROOT = Path(__file__).resolve().parents[2]


def status_of(db, g, key: str) -> str:
    db.session.expire_all()
    return db.session.scalar(sa.select(ClearanceItem.status).where(
        ClearanceItem.graduate_id == g.id, ClearanceItem.task_key == key))


def appeals_of(db, g) -> list[Appeal]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Appeal).where(Appeal.graduate_id == g.id).order_by(Appeal.id)))


def actions(db, g) -> list[str]:
    return list(db.session.scalars(sa.select(Event.action).where(Event.graduate_id == g.id).order_by(Event.id)))


def appeal(client, key: str, body: str):
    return client.post(f"/me/items/{key}/appeal", data={"text": body})


def answer(client, appeal_id: int, cp: str, outcome: str, body: str = "", back: str = "queue"):
    return client.post(f"/desk/appeals/{appeal_id}/answer",
                       data={"cp": cp, "outcome": outcome, "answer": body, "back": back})


def as_operator(client, login_staff, username: str, *checkpoints: str):
    client.post("/logout")
    login_staff(username, *checkpoints)
    english(client)


def as_graduate(client, login_graduate, g):
    client.post("/logout")
    login_graduate(g)
    english(client)
    english(client)


def test_appeal_reaches_the_desk_which_confirms_the_item(client, db, make_graduate, start, login_graduate,
                                                         login_staff):
    g = make_graduate()
    start(g)
    apply([g.id], "dorm_checkout", "reject", OP, reason="钥匙未交")
    login_graduate(g)
    english(client)
    sheet = client.get("/me").get_data(as_text=True)
    assert 'action="/me/items/dorm_checkout/appeal"' in sheet            # the inline form of the rejected item
    assert 'action="/me/items/library/appeal"' not in sheet              # passed at start: nothing to appeal

    resp = appeal(client, "dorm_checkout", "  钥匙已于 5 月 20 日交给值班室  ")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/me#item-dorm_checkout")
    [a] = appeals_of(db, g)
    assert (a.status, a.text, a.task_key) == ("open", "钥匙已于 5 月 20 日交给值班室", "dorm_checkout")
    page = text(client.get("/me"))
    assert "钥匙已于 5 月 20 日交给值班室" in page and "waiting for the office's answer" in page
    assert actions(db, g)[-1] == "appeal"

    as_operator(client, login_staff, "dorm", "dormitory")
    queue = client.get("/desk/appeals?cp=dormitory")
    assert queue.status_code == 200
    q = text(queue)
    assert g.name in q and "钥匙已于 5 月 20 日交给值班室" in q and "Clear the dormitory and check out" in q
    assert re.search(r'lx-open-count">\s*1\s*<', queue.get_data(as_text=True))       # the count badge
    resp = answer(client, a.id, "dormitory", "resolve", "已核实")
    assert resp.status_code == 303 and "/desk/appeals?cp=dormitory" in resp.headers["Location"]
    assert status_of(db, g, "dorm_checkout") == "passed"
    [a] = appeals_of(db, g)
    assert (a.status, a.answer, a.answered_by) == ("resolved", "已核实", "dorm")
    tail = db.session.execute(sa.select(Event.action, Event.task_key, Event.actor).where(Event.graduate_id == g.id)
                              .order_by(Event.id.desc()).limit(2)).all()
    assert {t.action for t in tail} == {"confirm", "appeal_resolved"}
    assert all(t.task_key == "dorm_checkout" and t.actor == "dorm" for t in tail)
    assert "No open appeals at this checkpoint" in text(client.get("/desk/appeals?cp=dormitory"))
    assert "已核实" in text(client.get("/desk/appeals?cp=dormitory&state=answered"))

    client.post("/logout")
    login_graduate(g)
    english(client)
    page = text(client.get("/me"))
    assert "The office accepted your appeal" in page and "已核实" in page
    mine = text(client.get("/me/appeals"))
    assert "Clear the dormitory and check out" in mine and "Accepted" in mine
    assert client.get(f"/me/appeals/{a.id}").status_code == 200
    assert client.get("/me/history").status_code == 200                 # the new event actions render


def test_declined_appeal_keeps_the_item_open_and_shows_the_reason(client, db, make_graduate, start,
                                                                  login_graduate, login_staff):
    g = make_graduate(library_books=2)
    start(g)
    assert status_of(db, g, "library") == "pending"
    login_graduate(g)
    english(client)
    appeal(client, "library", "书已经还了")
    [a] = appeals_of(db, g)

    as_operator(client, login_staff, "lib", "library")
    resp = answer(client, a.id, "library", "decline", "")              # a reason is required to decline
    assert resp.status_code == 422
    assert "Please write" in text(resp)
    assert appeals_of(db, g)[0].status == "open"
    resp = answer(client, a.id, "library", "decline", "系统中仍有 2 册未还：《线性代数》")
    assert resp.status_code == 303
    assert status_of(db, g, "library") == "pending"
    [a] = appeals_of(db, g)
    assert (a.status, a.answer) == ("declined", "系统中仍有 2 册未还：《线性代数》")
    assert actions(db, g)[-1] == "appeal_declined"

    client.post("/logout")
    login_graduate(g)
    english(client)
    page = text(client.get("/me"))
    assert "The office declined your appeal" in page and "系统中仍有 2 册未还：《线性代数》" in page
    assert "Appeal again" in page                                          # the item is still open: appeal again
    assert appeal(client, "library", "今天已全部归还").status_code == 303
    assert [x.status for x in appeals_of(db, g)] == ["declined", "open"]


def test_one_open_appeal_per_item_and_a_double_submit_creates_one(client, db, make_graduate, start,
                                                                  login_graduate):
    g = make_graduate()
    start(g)
    login_graduate(g)
    english(client)
    assert appeal(client, "electricity", "电费已缴清").status_code == 303
    again = appeal(client, "electricity", "电费已缴清")                    # the same form sent twice
    assert again.status_code == 303
    assert "already sent" in text(client.get("/me"))
    other = appeal(client, "electricity", "另一段文字")
    assert other.status_code == 303
    assert "waiting for the office's answer" in text(client.get("/me"))
    assert len(appeals_of(db, g)) == 1
    assert actions(db, g).count("appeal") == 1
    # another item can be appealed at the same time
    assert appeal(client, "dorm_checkout", "已退宿").status_code == 303
    assert len(appeals_of(db, g)) == 2


def test_bad_appeal_text_is_explained_and_kept(client, db, make_graduate, start, login_graduate):
    g = make_graduate()
    start(g)
    login_graduate(g)
    english(client)
    resp = appeal(client, "electricity", "   ")
    assert resp.status_code == 422 and "Please write" in text(resp)
    long = "我" * 501
    resp = appeal(client, "electricity", long)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "Please keep it to 500 characters" in text(resp) and long in html                 # what was typed is not lost
    assert appeals_of(db, g) == []
    form = client.get("/me/items/electricity/appeal")
    assert form.status_code == 200 and 'maxlength="500"' in form.get_data(as_text=True)


def test_only_open_items_can_be_appealed(client, db, make_graduate, start, login_graduate):
    g = make_graduate(lives_on_campus=False)
    start(g)
    login_graduate(g)
    english(client)
    assert status_of(db, g, "library") == "passed"
    assert status_of(db, g, "electricity") == "not_required"
    for key in ("library", "electricity", "certificates"):               # passed, not required, blocked
        resp = appeal(client, key, "请核实")
        assert resp.status_code == 303
    assert appeals_of(db, g) == []
    assert "Only a pending or not passed item can be appealed" in text(client.get("/me"))
    assert appeal(client, "no_such_item", "x").status_code == 404


def test_appeals_of_another_graduate_are_404(client, db, make_graduate, start, login_graduate):
    me, other = make_graduate(), make_graduate()
    start(me, other)
    login_graduate(other)
    english(client)
    appeal(client, "electricity", "别人的申诉")
    [theirs] = appeals_of(db, other)
    client.post("/logout")
    login_graduate(me)
    english(client)
    assert client.get(f"/me/appeals/{theirs.id}").status_code == 404
    assert "别人的申诉" not in client.get("/me/appeals").get_data(as_text=True)
    assert client.get("/me/appeals/999999").status_code == 404


def test_desk_queue_is_scoped_to_the_operators_checkpoints(client, db, make_graduate, start, login_graduate,
                                                           login_staff):
    g = make_graduate(library_books=1)
    start(g)
    login_graduate(g)
    english(client)
    appeal(client, "library", "已还书")
    appeal(client, "electricity", "已缴电费")
    lib, elec = appeals_of(db, g)

    as_operator(client, login_staff, "utilities-op", "utilities")
    q = text(client.get("/desk/appeals?cp=utilities"))
    assert "已缴电费" in q and "已还书" not in q
    assert client.get("/desk/appeals?cp=library").status_code == 403        # not their checkpoint
    assert answer(client, lib.id, "library", "resolve").status_code == 403
    assert answer(client, lib.id, "utilities", "resolve").status_code == 403  # their cp, another cp's appeal
    assert appeals_of(db, g)[0].status == "open" and status_of(db, g, "library") == "pending"
    assert answer(client, 999999, "utilities", "resolve").status_code == 404

    client.post("/logout")
    login_staff("boss", role="admin")
    assert "已还书" in text(client.get("/desk/appeals?cp=library"))
    assert answer(client, lib.id, "library", "resolve").status_code == 303
    assert status_of(db, g, "library") == "passed"


def test_queue_is_newest_first_and_answered_twice_is_refused(client, db, make_graduate, start, login_graduate,
                                                             login_staff):
    first, second = make_graduate(name="先申诉"), make_graduate(name="后申诉")
    start(first, second)
    for g, body in ((first, "第一条"), (second, "第二条")):
        client.post("/logout")
        login_graduate(g)
        english(client)
        appeal(client, "electricity", body)
    as_operator(client, login_staff, "utilities-op", "utilities")
    q = text(client.get("/desk/appeals?cp=utilities"))
    assert q.index("第二条") < q.index("第一条")
    [a] = appeals_of(db, first)
    assert answer(client, a.id, "utilities", "decline", "未见缴费记录").status_code == 303
    resp = answer(client, a.id, "utilities", "resolve")
    assert resp.status_code == 303
    assert "already answered" in text(client.get("/desk/appeals?cp=utilities"))
    assert status_of(db, first, "electricity") == "pending"                # the late "resolve" changed nothing
    assert actions(db, first).count("appeal_declined") == 1 and "appeal_resolved" not in actions(db, first)


def test_confirming_the_item_at_the_counter_resolves_the_appeal(client, db, make_graduate, start,
                                                                login_graduate, login_staff):
    g = make_graduate()
    start(g)
    login_graduate(g)
    english(client)
    appeal(client, "electricity", "已缴")
    apply([g.id], "electricity", "confirm", OP)                          # confirmed at the counter meanwhile
    [a] = appeals_of(db, g)
    assert a.status == "resolved"
    assert actions(db, g).count("confirm") == 1 and actions(db, g)[-1] == "appeal_resolved"
    as_operator(client, login_staff, "utilities-op", "utilities")
    assert answer(client, a.id, "utilities", "resolve").status_code == 303   # a late "resolve" changes nothing
    assert actions(db, g).count("appeal_resolved") == 1


def test_desk_graduate_panel_answers_in_place(client, db, make_graduate, start, login_graduate, login_staff):
    g = make_graduate()
    start(g)
    login_graduate(g)
    english(client)
    appeal(client, "electricity", "电费已经交了")
    [a] = appeals_of(db, g)
    as_operator(client, login_staff, "utilities-op", "utilities")
    panel = client.get(f"/desk/?cp=utilities&graduate_id={g.id}")
    assert panel.status_code == 200
    assert "电费已经交了" in text(panel) and f'action="/desk/appeals/{a.id}/answer"' in panel.get_data(as_text=True)
    resp = answer(client, a.id, "utilities", "resolve", back="graduate")
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith(f"/desk/?cp=utilities&graduate_id={g.id}")
    assert status_of(db, g, "electricity") == "passed"


def test_no_appeals_after_the_window_closed(client, db, make_graduate, start, login_graduate, cohort):
    g = make_graduate()
    start(g)
    cohort.closes_on = date.today() - timedelta(days=2)
    db.session.commit()
    login_graduate(g)
    english(client)
    assert 'action="/me/items/electricity/appeal"' not in client.get("/me").get_data(as_text=True)
    resp = appeal(client, "electricity", "已缴")
    assert resp.status_code == 303
    assert appeals_of(db, g) == []


def test_english_labels(client, db, make_graduate, start, login_graduate, login_staff):
    g = make_graduate()
    start(g)
    login_graduate(g)
    english(client)
    appeal(client, "electricity", "paid already")
    page = text(client.get("/me/appeals?lang=en"))
    assert "My appeals" in page and "Waiting for an answer" in page


WORKER = textwrap.dedent("""
    import sys, time
    from app import create_app
    from app.portal.appeals import AppealRefused, submit_appeal
    from app.workflow.services import Actor
    url, gid, body, start_at = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        from app.extensions import db
        db.session.execute(db.text("SELECT 1"))
        db.session.rollback()
        while time.time() < start_at:
            time.sleep(0.001)
        try:
            print("created" if submit_appeal(gid, "electricity", body, Actor(None, "tab")).created else "same")
        except AppealRefused as exc:
            print("refused:" + exc.code)
""")


def test_simultaneous_appeals_about_one_item_create_one(db, db_url, make_graduate, start, tmp_path):
    """Two tabs (or a double click) at the same moment: one open appeal, one event."""
    g = make_graduate()
    start(g)
    start_at = time.time() + 4
    bodies = ["已缴清", "已缴清", "收据在此", "收据在此"]
    outcomes = run_processes(tmp_path, WORKER, [[db_url, str(g.id), body, str(start_at)] for body in bodies], 120)
    assert outcomes.count("created") == 1, outcomes
    assert set(outcomes) <= {"created", "same", "refused:open_exists"}
    [a] = appeals_of(db, g)
    assert actions(db, g).count("appeal") == 1
    # the identical text of the winner was recognised as the same appeal, the other text refused
    winner = bodies[outcomes.index("created")]
    assert a.text == winner
    for body, outcome in zip(bodies, outcomes):
        if outcome != "created":
            assert outcome == ("same" if body == winner else "refused:open_exists")


def test_answers_and_appeals_need_the_csrf_token(db, db_url, make_graduate, start):
    """The suite's app has CSRF off; this one has it on, as in production."""
    from app import create_app
    from app.auth.services import set_graduate_password

    g = make_graduate()
    start(g)
    set_graduate_password(g, "my-own-pass-1")
    strict = create_app({"TESTING": True, "SECRET_KEY": "csrf-test", "SQLALCHEMY_DATABASE_URI": db_url,
                         "WTF_CSRF_ENABLED": True, "RATELIMIT_ENABLED": False})
    c = strict.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', c.get("/login").get_data(as_text=True))
    assert token
    resp = c.post("/login", data={"kind": "graduate", "username": g.student_no, "password": "my-own-pass-1",
                                  "csrf_token": token.group(1)})
    assert resp.status_code == 302
    assert c.post("/me/items/electricity/appeal", data={"text": "已缴"}).status_code == 400
    assert c.post("/me/submit").status_code == 400
    assert appeals_of(db, g) == []
    form = c.get("/me/items/electricity/appeal").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert c.post("/me/items/electricity/appeal", data={"text": "已缴", "csrf_token": csrf}).status_code == 303
    [a] = appeals_of(db, g)
    assert c.post(f"/desk/appeals/{a.id}/answer", data={"cp": "utilities", "outcome": "resolve"}).status_code == 400
    with strict.app_context():
        from app.extensions import db as _db

        _db.engine.dispose()


def test_appeal_posts_are_rate_limited_per_graduate(db, db_url, make_graduate, start):
    from app import create_app
    from app.auth.services import set_graduate_password
    from app.extensions import limiter

    g = make_graduate()
    start(g)
    set_graduate_password(g, "my-own-pass-1")
    limited = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": db_url,
                          "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": True,
                          "RATELIMIT_STORAGE_URI": "memory://", "APPEAL_RATE_LIMIT": "3 per minute"})
    limiter.reset()
    try:
        c = limited.test_client()
        c.post("/login", data={"kind": "graduate", "username": g.student_no, "password": "my-own-pass-1"})
        codes = [c.post("/me/items/electricity/appeal", data={"text": ""}).status_code for _ in range(4)]
        assert codes == [422, 422, 422, 429]
        assert c.get("/me/items/electricity/appeal").status_code == 200        # reading is not limited
    finally:
        limiter.reset()
        limiter.enabled = False
        with limited.app_context():
            from app.extensions import db as _db

            _db.engine.dispose()


def test_the_appeals_tab_shows_how_many_are_waiting(client, db, make_graduate, start, login_graduate,
                                                    login_staff):
    g = make_graduate()
    start(g)
    login_graduate(g)
    appeal(client, "electricity", "电费已缴")
    as_operator(client, login_staff, "utilities-op", "utilities")
    page = client.get("/desk/?cp=utilities").get_data(as_text=True)
    assert re.search(r'title="Open appeals">1</span>', page)
    apply([g.id], "electricity", "confirm", OP)
    page = client.get("/desk/?cp=utilities").get_data(as_text=True)
    assert "Open appeals" not in page
