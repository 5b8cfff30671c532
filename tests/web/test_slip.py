"""Submit clearance once, the printable 离校单 with its QR code, and the public verification page."""
from __future__ import annotations

import html as htmllib
import re
import textwrap
from pathlib import Path

import pytest

from tests.conftest import run_processes
import segno
import sqlalchemy as sa

from app.portal.slip import mask_student_no
from app.workflow.models import Clearance, ClearanceItem, Event
from app.workflow.services import Actor, apply
from tests.web.conftest import english, text

OP = Actor(None, "tester")
ROOT = Path(__file__).resolve().parents[2]


def complete_all_but_certificates(db, graduate_id: int) -> None:
    """Confirm every open item except the certificate step (the graduate becomes eligible)."""
    from app.portal.queries import meta_for_version

    clearance = db.session.scalar(sa.select(Clearance).where(Clearance.graduate_id == graduate_id))
    meta = meta_for_version(clearance.process_version_id)
    for _round in range(len(meta) + 1):
        todo = [k for k in db.session.scalars(sa.select(ClearanceItem.task_key).where(
                    ClearanceItem.graduate_id == graduate_id, ClearanceItem.status.in_(("pending", "rejected"))))
                if not meta[k].get("certificate")]
        if not todo:
            break
        for key in todo:
            apply([graduate_id], key, "confirm", OP)
    db.session.expire_all()


def clearance_of(db, g) -> Clearance:
    db.session.expire_all()
    return db.session.scalar(sa.select(Clearance).where(Clearance.graduate_id == g.id))


def verify_url_of(html: str) -> str:
    m = re.search(r'class="lx-qr-url[^"]*">([^<]+)<', html)
    assert m, "the slip shows its verification URL"
    return htmllib.unescape(m.group(1)).strip()


@pytest.fixture()
def submitted(client, db, make_graduate, start, login_graduate):
    """A logged-in graduate (English UI) who has submitted: (graduate, slip page html)."""
    g = make_graduate(name="王小明", student_no="202201230123", college="计算机学院", class_name="软件2201",
                      league_member=True)
    start(g)
    complete_all_but_certificates(db, g.id)
    login_graduate(g)
    english(client)
    resp = client.post("/me/submit")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/me/slip")
    return g, client.get("/me/slip").get_data(as_text=True)


def test_not_eligible_has_no_button_but_says_what_is_missing(client, db, make_graduate, start, login_graduate):
    g = make_graduate()
    start(g)
    login_graduate(g)
    english(client)
    html = client.get("/me").get_data(as_text=True)
    assert 'action="/me/submit"' not in html
    missing = html.split('id="submit"', 1)[1].split("</div>", 2)[0] + html.split('lx-submit-missing', 1)[1][:800]
    assert "Still missing" in htmllib.unescape(missing)
    assert "Settle the dormitory electricity bill" in htmllib.unescape(missing)
    resp = client.post("/me/submit")                       # forged POST: refused, nothing recorded
    assert resp.status_code == 303
    assert "cannot be submitted" in text(client.get("/me"))
    c = clearance_of(db, g)
    assert c.submitted_at is None and c.slip_token is None
    assert client.get("/me/slip").status_code == 303       # no slip before submission...
    assert "once every item is done and you have submitted" in text(client.get("/me"))   # ...and why


def test_submit_once(client, db, make_graduate, start, login_graduate):
    g = make_graduate()
    start(g)
    complete_all_but_certificates(db, g.id)
    assert clearance_of(db, g).status == "eligible"       # certificates issuable, not issued yet
    login_graduate(g)
    english(client)
    html = client.get("/me").get_data(as_text=True)
    assert 'action="/me/submit"' in html and "can be submitted only once" in htmllib.unescape(html)
    assert "submit your clearance below, then bring the clearance slip" in htmllib.unescape(html)
    assert "Submit your clearance now?" in htmllib.unescape(html)        # the button asks first
    certificates = html.split('id="item-certificates"', 1)[1].split('class="lx-item', 1)[0]
    assert 'data-status="pending"' in certificates and "lx-appeal" not in certificates   # nothing to appeal
    resp = client.post("/me/submit")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/me/slip")
    c = clearance_of(db, g)
    token, when = c.slip_token, c.submitted_at
    assert when is not None and token and len(token) >= 32
    assert client.post("/me/submit").status_code == 303     # the second submit is refused
    page = text(client.get("/me"))
    assert "already submitted" in page and "only once" in page
    c = clearance_of(db, g)
    assert (c.slip_token, c.submitted_at) == (token, when)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(
        Event.graduate_id == g.id, Event.action == "submit")) == 1
    # the sheet now links to the slip instead of the button
    html = client.get("/me").get_data(as_text=True)
    assert 'action="/me/submit"' not in html and 'href="/me/slip"' in html
    assert "bring your clearance slip (printed or on your phone)" in htmllib.unescape(html)
    assert "Class of 2026" in text(client.get("/me/slip"))               # not the Chinese cohort name


def test_slip_shows_the_graduate_every_item_and_a_qr_code_of_the_verify_url(submitted, db):
    g, html = submitted
    page = text_of(html)
    for expected in ("王小明", "202201230123", "计算机学院", "软件2201", "Example University",
                     "Graduate clearance slip", "Submitted"):
        assert expected in page, expected
    c = clearance_of(db, g)
    keys = set(db.session.scalars(sa.select(ClearanceItem.task_key).where(ClearanceItem.graduate_id == g.id)))
    shown = dict(re.findall(r'data-key="([a-z_]+)" data-status="([a-z_]+)"', html))
    assert set(shown) == keys                              # every item of every checkpoint
    assert shown["library"] == "passed" and shown["certificates"] == "pending"
    assert "Not required" in page and "Passed" in page
    assert c.submitted_at.strftime("%Y-%m-") in page
    url = verify_url_of(html)
    assert url == f"http://localhost/verify/{c.slip_token}"
    assert qr_encodes(html, url)                            # the QR code encodes exactly that URL
    assert not qr_encodes(html, url + "x")
    assert "@page" in html and "A4" in html                # print CSS


def qr_modules(html: str) -> set[tuple[int, int]]:
    """The dark modules (row, column) of the slip's inline SVG QR code, read back from its path."""
    svg = html.split('class="lx-qr', 1)[1].split("</svg>", 1)[0]
    path = re.search(r'<path[^>]*class="qrline"[^>]* d="([^"]+)"', svg).group(1)
    dark, x, y = set(), 0.0, 0.0
    for cmd, a, b in re.findall(r"([MmHh])\s*(-?[\d.]+)(?:[ ,](-?[\d.]+))?", path):
        if cmd == "M":
            x, y = float(a), float(b)
        elif cmd == "m":
            x, y = x + float(a), y + float(b)
        else:                                              # h: a horizontal run of dark modules
            n = int(float(a))
            dark |= {(int(y), int(x) + i) for i in range(n)}
            x += n
    top, left = min(r for r, _c in dark), min(c for _r, c in dark)
    return {(r - top, c - left) for r, c in dark}


def qr_encodes(html: str, url: str) -> bool:
    """Whether the page's QR code is the QR code of ``url`` (at whatever error correction level)."""
    shown = qr_modules(html)
    for level in "LMQH":
        q = segno.make_qr(url, error=level, boost_error=False)
        if shown == {(r, c) for r, row in enumerate(q.matrix) for c, v in enumerate(row) if v}:
            return True
    return False


def text_of(html: str) -> str:
    html = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_verify_page_shows_only_validity_name_masked_number_and_date(submitted, app, db):
    g, html = submitted
    url = verify_url_of(html)
    anonymous = app.test_client()                          # no login needed
    resp = anonymous.get(url.replace("http://localhost", "") + "?lang=en")
    assert resp.status_code == 200
    page = text(resp)
    assert "Valid" in page and "王小明" in page and "2022****0123" in page
    assert clearance_of(db, g).submitted_at.strftime("%Y-%m-%d") in page
    for secret in (g.student_no, g.id_card, g.id_card[-6:], "计算机学院", "软件2201", g.phone, g.dorm_building,
                   "Library", "library"):
        assert secret not in resp.get_data(as_text=True), secret
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("token", ["nope", "A" * 32, "x" * 65, "%27%20OR%201=1--", "..%2F..%2Fetc"])
def test_unknown_tokens_are_not_valid(client, db, token):
    resp = client.get(f"/verify/{token}?lang=en")
    assert resp.status_code == 404
    page = text(resp)
    assert "Not valid" in page and "Traceback" not in page


def test_slip_becomes_invalid_when_an_item_is_reopened(submitted, app, db):
    g, html = submitted
    path = verify_url_of(html).replace("http://localhost", "")
    anonymous = app.test_client()
    apply([g.id], "certificates", "reject", OP, reason="照片未交")            # still eligible: valid
    assert anonymous.get(path).status_code == 200
    apply([g.id], "student_id_card", "reopen", OP, reason="学生证未收到")
    resp = anonymous.get(path + "?lang=en")
    assert resp.status_code == 404 and "王小明" not in resp.get_data(as_text=True)
    apply([g.id], "student_id_card", "confirm", OP)
    assert anonymous.get(path).status_code == 200


def test_slip_still_valid_after_certificates_are_issued(submitted, app, db):
    g, html = submitted
    apply([g.id], "certificates", "confirm", OP)
    assert clearance_of(db, g).status == "completed"
    assert app.test_client().get(verify_url_of(html).replace("http://localhost", "")).status_code == 200


def test_only_the_graduate_sees_their_slip(client, db, make_graduate, start, login_graduate, login_staff,
                                           submitted):
    g, html = submitted
    other = make_graduate()
    start(other)
    client.post("/logout")
    login_graduate(other)
    resp = client.get("/me/slip")
    assert resp.status_code == 303                                      # their own (not submitted) slip
    assert g.name not in client.get("/me").get_data(as_text=True)
    client.post("/logout")
    login_staff("lib", "library")
    assert client.get("/me/slip").status_code == 403
    client.post("/logout")
    assert client.get("/me/slip").status_code == 302                    # to the login page


def test_mask_student_no():
    assert mask_student_no("202201230123") == "2022****0123"
    assert mask_student_no("0202200123") == "020****123"
    assert mask_student_no("12345678") == "12****78"
    assert mask_student_no("1234") == "****"
    assert mask_student_no("") == ""


@pytest.fixture()
def limited_client(db, db_url):
    """A second app on the same database with rate limiting on (the suite's app has it off)."""
    from app import create_app
    from app.extensions import limiter

    limited = create_app({
        "TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": db_url,
        "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://",
        "VERIFY_RATE_LIMIT": "5 per minute",
    })
    limiter.reset()
    try:
        yield limited.test_client()
    finally:
        limiter.reset()
        limiter.enabled = False
        with limited.app_context():
            from app.extensions import db as _db

            _db.engine.dispose()


def test_verify_is_rate_limited(limited_client):
    codes = [limited_client.get(f"/verify/guess{n}", environ_base={"REMOTE_ADDR": "10.3.0.1"}).status_code
             for n in range(7)]
    assert codes == [404] * 5 + [429, 429]
    assert limited_client.get("/verify/guess", environ_base={"REMOTE_ADDR": "10.3.0.2"}).status_code == 404


WORKER = textwrap.dedent("""
    import sys, time
    from app import create_app
    from app.portal.slip import SubmitRefused, submit_clearance
    from app.workflow.services import Actor
    url, gid, start_at = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        from app.extensions import db
        db.session.execute(db.text("SELECT 1"))          # connect before the start line
        db.session.rollback()
        while time.time() < start_at:
            time.sleep(0.001)
        try:
            submit_clearance(gid, Actor(None, "tab"))
            print("won")
        except SubmitRefused as exc:
            print("refused:" + exc.code)
""")


def test_concurrent_submits_exactly_one_wins(db, db_url, make_graduate, start, tmp_path):
    import time

    g = make_graduate()
    start(g)
    complete_all_but_certificates(db, g.id)
    start_at = time.time() + 4
    outcomes = run_processes(tmp_path, WORKER, [[db_url, str(g.id), str(start_at)]] * 4, 120)
    assert sorted(outcomes) == ["refused:already"] * 3 + ["won"], outcomes
    c = clearance_of(db, g)
    assert c.submitted_at is not None and c.slip_token
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(
        Event.graduate_id == g.id, Event.action == "submit")) == 1
