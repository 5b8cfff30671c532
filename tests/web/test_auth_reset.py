"""Forgot password (seed 002), the forced change of the initial password, rate limits."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.web.conftest import login

FAILED = "无法重置密码：学号与身份证号与我们的记录不符。请核对两者，或联系学院办公室。"


def reset(client, student_no, id_card, **kw):
    return client.post("/password/reset", data={"student_no": student_no, "id_card": id_card}, **kw)


def alerts(html: str) -> list[str]:
    return [re.sub(r"\s+", " ", m).strip()
            for m in re.findall(r'<div class="alert[^"]*"[^>]*>.*?<div>(.*?)</div>', html, re.S)]


def test_reset_restores_the_initial_password_which_must_be_changed_again(client, make_graduate, db):
    from app.auth.services import set_graduate_password
    from app.workflow.models import Event

    g = make_graduate(id_card="43010020030115011X")
    set_graduate_password(db.session.merge(g), "forgotten-pass")
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/password/reset"' in page and "忘记密码" in page
    assert client.get("/password/reset").status_code == 200
    resp = reset(client, g.student_no, "43010020030115011x")        # lower-case x is fine
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert "密码已重置为初始密码" in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert login(client, g.student_no, "forgotten-pass").status_code == 200   # the old one is gone
    resp = login(client, g.student_no, "15011X")
    assert resp.headers["Location"].endswith("/password")
    assert client.get("/me").headers["Location"].endswith("/password")
    # audited, with the address it came from
    event = db.session.scalar(sa.select(Event).where(Event.action == "password_reset"))
    assert event.graduate_id == g.id and event.remote_addr == "127.0.0.1" and event.actor == g.student_no


def test_reset_failure_says_the_same_whatever_was_wrong(client, make_graduate, db):
    from app.auth.services import set_graduate_password
    from app.workflow.models import Event

    g = make_graduate(id_card="43010020030115011X")
    set_graduate_password(db.session.merge(g), "kept-pass-1")
    pages = {
        "wrong id": reset(client, g.student_no, "430100200301150129").get_data(as_text=True),
        "unknown number": reset(client, "20999999999", "43010020030115011X").get_data(as_text=True),
        "last 6 only": reset(client, g.student_no, "15011X").get_data(as_text=True),
    }
    for name, html in pages.items():
        assert alerts(html) == [FAILED], name
        assert "不存在" not in html and "身份证号错误" not in html
    # the pages differ only in the values typed in
    strip = [re.sub(r'value="[^"]*"', "", html) for html in pages.values()]
    assert strip[0] == strip[1] == strip[2]
    assert login(client, g.student_no, "kept-pass-1").status_code == 302    # nothing was reset
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)
                             .where(Event.action == "password_reset")) == 0


def test_the_initial_password_cannot_be_bypassed_on_any_graduate_url(app, client, make_graduate):
    from app.auth.services import is_public_endpoint

    g = make_graduate(id_card="43010020030115011X")
    assert login(client, g.student_no, "15011X").headers["Location"].endswith("/password")
    checked = 0
    with app.test_request_context():
        rules = [r for r in app.url_map.iter_rules()
                 if r.endpoint.startswith("portal.") and not is_public_endpoint(r.endpoint)
                 and "verify" not in r.endpoint]
    for rule in rules:
        url = rule.rule
        for arg in rule.arguments:
            url = re.sub(rf"<(?:[^:<>]+:)?{arg}>", "1", url)
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            resp = client.open(url, method=method)
            assert resp.status_code in (302, 303), (method, url, resp.status_code)
            assert resp.headers["Location"].endswith("/password"), (method, url)
            checked += 1
    assert checked >= 4
    # what stays reachable: the change itself and logging out
    assert client.get("/password").status_code == 200
    assert client.post("/logout").headers["Location"].endswith("/login")


# ----------------------------------------------------------------------------- rate limits
@pytest.fixture()
def limited_client(db, db_url):
    """A second app on the same database with rate limiting on (the suite's app has it off)."""
    from app import create_app
    from app.extensions import limiter

    limited = create_app({
        "TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": db_url,
        "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://",
        "LOGIN_RATE_LIMIT": "20 per minute", "RESET_RATE_LIMIT": "6 per minute",
        "ACCOUNT_RATE_LIMIT": "3 per minute",
    })
    from tests.web.conftest import FreshContextClient

    limiter.reset()
    try:
        yield FreshContextClient(limited, limited.response_class, use_cookies=True)
    finally:
        limiter.reset()
        limiter.enabled = False
        with limited.app_context():
            from app.extensions import db as _db

            _db.engine.dispose()


def _from(ip: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": ip}}


def test_reset_brute_force_is_stopped_per_account_and_per_address(limited_client, make_graduate):
    g = make_graduate()
    other = make_graduate()
    # guessing one student's ID number from many addresses: the account limit stops it
    codes = [reset(limited_client, g.student_no, f"4301002003011501{n:02d}", **_from(f"10.0.0.{n}")).status_code
             for n in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    page = reset(limited_client, g.student_no, g.id_card, **_from("10.0.1.1"))
    assert page.status_code == 429                       # even the right number waits now
    html = page.get_data(as_text=True)
    assert "尝试次数过多" in html and "请稍等几分钟再试" in html and "Traceback" not in html
    assert 'href="/"' in html or "返回首页" in html
    # another account from yet another address is not affected
    assert reset(limited_client, other.student_no, "000", **_from("10.0.2.1")).status_code == 200
    # one address trying many accounts: the per-address limit stops it
    codes = [reset(limited_client, f"2099{n:07d}", "000", **_from("10.9.9.9")).status_code for n in range(8)]
    assert codes[:6] == [200] * 6 and codes[6:] == [429, 429]


def test_login_is_limited_per_account(limited_client, make_graduate):
    g = make_graduate()

    def attempt(password, ip):
        return limited_client.post("/login", data={"kind": "graduate", "username": g.student_no,
                                                   "password": password}, **_from(ip))

    codes = [attempt(f"guess-{n}", f"10.1.0.{n}").status_code for n in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert "尝试次数过多" in attempt("x", "10.1.1.1").get_data(as_text=True)
