"""The cohort's clearance window: waiting page before, read-only after, open in between."""
from __future__ import annotations

from datetime import date, timedelta


def test_window_state_boundaries(app):
    from app.graduates.models import Cohort
    from app.portal.window import window_state

    day = date(2026, 6, 1)
    assert window_state(Cohort(year=1), day) == "open"                       # no dates: always open
    c = Cohort(year=2, opens_on=date(2026, 5, 25), closes_on=date(2026, 6, 6))  # seed 002: 5月25日—6月6日
    assert window_state(c, date(2026, 5, 24)) == "before"
    assert window_state(c, date(2026, 5, 25)) == "open"                      # both days count
    assert window_state(c, date(2026, 6, 6)) == "open"
    assert window_state(c, date(2026, 6, 7)) == "closed"


def _set_window(db, cohort, opens_on=None, closes_on=None):
    cohort.opens_on, cohort.closes_on = opens_on, closes_on
    db.session.commit()


def test_before_the_window_graduates_only_see_when_it_opens(client, db, cohort, graduate):
    from app.portal.announcements import publish_announcement
    from app.portal.window import school_today

    opens = school_today() + timedelta(days=3)
    _set_window(db, cohort, opens, opens + timedelta(days=10))
    publish_announcement("离校系统开放时间", "6月5日起登录查看", cohort=cohort)
    for url in ("/me", "/me/history", "/me/diagram", "/notifications"):
        resp = client.get(url)
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/waiting"), url
    html = client.get("/waiting").get_data(as_text=True)
    assert f"{opens.year}年{opens.month}月{opens.day}日" in html and "在此之前暂不能办理" in html
    assert "离校系统开放时间" in html and "6月5日起登录查看" in html           # announcements are there
    assert "<form" not in html.split("<main", 1)[1].replace('action="/logout"', "")  # nothing to act on
    assert client.get("/announcements").status_code == 200
    # a POST is refused with the message
    resp = client.post("/survey", data={})
    assert resp.status_code == 303
    assert "在此之前暂不能办理" in client.get("/waiting").get_data(as_text=True)
    # English
    html = client.get("/waiting?lang=en").get_data(as_text=True)
    assert "opens on" in html and str(opens.year) in html


def test_after_the_window_the_portal_is_read_only(client, db, cohort, graduate):
    from app.portal.window import school_today

    _set_window(db, cohort, school_today() - timedelta(days=20), school_today() - timedelta(days=1))
    html = client.get("/me").get_data(as_text=True)
    assert 'data-window="closed"' in html and "系统现仅供查看" in html
    item = graduate.clearance.items[0].task_key
    for url in ("/survey", "/me/submit", f"/me/items/{item}/appeal"):
        resp = client.post(url, data={"text": "我已经还书了"})
        assert resp.status_code == 303 and resp.headers["Location"].endswith("/me"), url
        assert "系统现仅供查看" in client.get("/me").get_data(as_text=True)
    # htmx requests: 403 and htmx is told where to go
    resp = client.post("/me/submit", headers={"HX-Request": "true"})
    assert resp.status_code == 403 and resp.headers["HX-Redirect"].endswith("/me")
    from app.portal.models import Appeal

    assert db.session.query(Appeal).count() == 0
    # reading still works
    assert client.get("/me/history").status_code == 200


def test_open_window_shows_the_closing_date(client, db, cohort, graduate):
    from app.portal.window import school_today

    closes = school_today() + timedelta(days=2)
    _set_window(db, cohort, school_today(), closes)
    html = client.get("/me").get_data(as_text=True)
    assert 'data-window="open"' in html and f"{closes.month}月{closes.day}日" in html


def test_require_open_window_decorator_refuses_only_unsafe_methods(app, db, cohort, make_graduate):
    import contextvars

    from flask_login import login_user

    from app.auth.services import GraduatePrincipal
    from app.portal.window import require_open_window, school_today

    g = make_graduate(password_hash="x")
    view = require_open_window(lambda: "done")

    def call(method, graduate=None):
        def run():      # a fresh context: nothing cached from the test's app context
            with app.test_request_context("/anything", method=method):
                if graduate is not None:
                    login_user(GraduatePrincipal(db.session.merge(graduate)))
                resp = view()
                return resp if resp == "done" else resp.status_code
        return contextvars.Context().run(run)

    _set_window(db, cohort, None, school_today() - timedelta(days=1))
    assert call("GET", g) == "done"
    assert call("POST", g) == 303
    assert call("POST") == "done"                                     # not a graduate: not affected
    _set_window(db, cohort, None, school_today())                     # the closing day still counts
    assert call("POST", g) == "done"
