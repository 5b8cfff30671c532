"""IDOR matrix: a logged-in graduate A can never read or change another graduate's data.

Every endpoint a graduate can reach is listed in ``ROUTES`` with how to aim it at somebody
else's data: ids and tokens in the URL, ids in the query string or the form. The world has
three graduates with clearances: A (the attacker: a rejected item with an open appeal),
B (the victim: a "not passed" reason, a declined appeal, a survey answer, every item done and
the clearance submitted, so a 离校单 token exists) and C (eligible, not submitted: a wrongly
scoped "submit" would change C).

For every route:

* A's own URL works (so a 404 below means something);
* B's id or token in the URL answers like a nonexistent one (404) and shows nothing of B's;
* B's ids slipped into the query string or the form change nothing of B's or C's and show
  nothing of B's (the page is A's own);
* every POST aimed at B changes no row of anybody but A (a snapshot of the whole database
  minus A's rows is compared).

``test_every_graduate_endpoint_is_in_the_matrix`` fails when an endpoint appears that the
matrix does not know: add it to ``ROUTES`` (or to ``STAFF_PREFIXES`` if only staff reach it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import pytest
import sqlalchemy as sa


# Endpoints checked by tests/web/test_role_matrix.py (staff only), and Flask's own.
STAFF_PREFIXES = ("desk.", "admin.", "reports.")
IGNORED = {"static"}

SECRET_REASON = "乙的驳回原因-B-SECRET-REASON"
SECRET_APPEAL = "乙的申诉-B-SECRET-APPEAL"
SECRET_ANSWER = "乙的申诉答复-B-SECRET-ANSWER"
SECRET_SURVEY = "乙的问卷回答-B-SECRET-SURVEY"
A_APPEAL = "甲的申诉：我已经还书了"
PASSWORD = "my-own-pass-1"


# ----------------------------------------------------------------------------- the world
@dataclass(frozen=True)
class Who:
    """Plain values of a graduate (ORM objects expire between requests)."""

    id: int
    student_no: str
    name: str
    id_card: str
    class_name: str
    dorm_room: str
    phone: str

    @classmethod
    def of(cls, g) -> "Who":
        return cls(g.id, g.student_no, g.name, g.id_card, g.class_name, g.dorm_room, g.phone)


@dataclass
class World:
    a: Who
    b: Who
    c: Who
    appeal_a: int
    appeal_b: int
    token_b: str
    missing_id: int = 987654
    missing_token: str = "x" * 32
    survey_id: int | None = None

    def secrets_of_b(self) -> list[str]:
        """Strings that only B's own pages may show."""
        return [self.b.student_no, self.b.id_card, SECRET_REASON, SECRET_APPEAL, SECRET_ANSWER, SECRET_SURVEY]

    def ids_of(self, who: str) -> dict[str, Any]:
        """Every id-like parameter name a route might read, with the values of ``who``."""
        if who == "B":
            g, appeal, token = self.b, self.appeal_b, self.token_b
        elif who == "A":
            g, appeal, token = self.a, self.appeal_a, self.token_b
        else:
            raise ValueError(who)
        return {"graduate_id": g.id, "gid": g.id, "id": g.id, "student_no": g.student_no,
                "appeal_id": appeal, "appeal": appeal, "token": token, "user_id": g.id,
                "clearance_id": g.id}


def _actor():
    from app.workflow.services import Actor

    return Actor(None, "matrix operator")


def _complete(graduate_id: int) -> None:
    """Confirm every open item but the certificates until the clearance is eligible."""
    from app.core.enums import OPEN_STATUSES
    from app.extensions import db
    from app.portal.queries import sheet_for
    from app.workflow.services import apply

    for _round in range(30):
        sheet = sheet_for(graduate_id)
        todo = [i.key for i in sheet.items if i.status in OPEN_STATUSES and not i.meta.get("certificate")]
        if not todo:
            break
        for key in todo:
            apply([graduate_id], key, "confirm", _actor())
    db.session.remove()


@pytest.fixture()
def world(db, make_graduate, start, published, cohort):
    from app.graduates.models import Graduate
    from app.portal.appeals import decline_appeal, submit_appeal
    from app.portal.models import Appeal, Survey, SurveyResponse
    from app.portal.slip import submit_clearance
    from app.workflow.models import Clearance
    from app.workflow.services import apply

    a = make_graduate(student_no="20261110001", name="甲同学", dorm_room="101", class_name="软件2201")
    b = make_graduate(student_no="20269990002", name="乙同学", dorm_room="乙909", class_name="数据2209")
    c = make_graduate(student_no="20265550003", name="丙同学", dorm_room="505", class_name="数据2205")
    start(a, b, c)
    ids = (a.id, b.id, c.id)
    cohort_id = cohort.id
    actor = _actor()
    apply([ids[0]], "student_id_card", "reject", actor, reason="学生证未上交")
    appeal_a = submit_appeal(ids[0], "student_id_card", A_APPEAL, actor).appeal.id
    apply([ids[1]], "student_id_card", "reject", actor, reason=SECRET_REASON)
    appeal_b = submit_appeal(ids[1], "student_id_card", SECRET_APPEAL, actor).appeal.id
    decline_appeal(db.session.get(Appeal, appeal_b), actor, SECRET_ANSWER)
    _complete(ids[1])
    _complete(ids[2])
    submit_clearance(ids[1], actor)
    survey = Survey(cohort_id=cohort_id, title="离校调查", questions=[
        {"key": "q1", "text": "你对学校的建议", "kind": "text", "required": False}])
    db.session.add(survey)
    db.session.flush()
    db.session.add_all([SurveyResponse(survey_id=survey.id, graduate_id=ids[0], answers={"q1": "甲的回答"}),
                        SurveyResponse(survey_id=survey.id, graduate_id=ids[1], answers={"q1": SECRET_SURVEY})])
    db.session.commit()
    survey_id = survey.id
    token_b = db.session.scalar(sa.select(Clearance.slip_token).where(Clearance.graduate_id == ids[1]))
    assert token_b
    statuses = dict(db.session.execute(sa.select(Clearance.graduate_id, Clearance.status)).all())
    assert statuses[ids[1]] in ("eligible", "completed") and statuses[ids[2]] in ("eligible", "completed"), statuses
    w = World(*(Who.of(db.session.get(Graduate, i)) for i in ids),
              appeal_a=appeal_a, appeal_b=appeal_b, token_b=token_b, survey_id=survey_id)
    db.session.remove()
    return w


def others_snapshot(exclude_graduate: int) -> dict[str, list[tuple]]:
    """Every row of every table except the rows that belong to graduate ``exclude_graduate``."""
    from app.extensions import db
    from app.workflow.models import Clearance

    db.session.remove()
    own_clearances = set(db.session.scalars(
        sa.select(Clearance.id).where(Clearance.graduate_id == exclude_graduate)))
    snap: dict[str, list[tuple]] = {}
    for table in db.metadata.sorted_tables:
        stmt = sa.select(table)
        cols = table.c
        if table.name == "graduates":
            # A's own row may change (password, notifications seen): only the others count
            stmt = stmt.where(cols.id != exclude_graduate)
        elif "graduate_id" in cols:
            stmt = stmt.where(sa.or_(cols.graduate_id.is_(None), cols.graduate_id != exclude_graduate))
        elif "clearance_id" in cols and own_clearances:
            stmt = stmt.where(sa.or_(cols.clearance_id.is_(None), cols.clearance_id.not_in(own_clearances)))
        rows = db.session.execute(stmt).all()
        snap[table.name] = sorted((tuple(map(repr, r)) for r in rows))
    db.session.remove()
    return snap


def assert_unchanged(before: dict, after: dict, what: str) -> None:
    changed = [name for name in before if before[name] != after.get(name)]
    assert not changed, f"{what} changed rows of other graduates in: {', '.join(changed)}"


def assert_shows_nothing_of_b(w: World, body: str, what: str) -> None:
    leaked = [s for s in w.secrets_of_b() if s and s in body]
    assert not leaked, f"{what} shows B's data: {leaked}"


# ----------------------------------------------------------------------------- the matrix
@dataclass(frozen=True)
class Route:
    """How the matrix aims one graduate-facing endpoint at A's own or B's data.

    ``url(w, who)``: the URL with the ids/tokens of ``who`` ("A", "B" or "missing").
    ``own``: statuses A gets on their own URL (GET); ``None`` for POST-only endpoints.
    ``form(w, who)``: form data of a POST aimed at ``who`` (None: the endpoint takes no POST).
    ``public``: no login needed (shows what is public by design, never B's secrets).
    ``url_ids``: the URL carries an id/token: B's must answer like a missing one.
    """

    url: Callable[[World, str], str]
    own: tuple[int, ...] | None = (200,)
    form: Callable[[World, str], dict[str, Any]] | None = None
    public: bool = False
    url_ids: bool = False
    get: bool = True


def _plain(path: str) -> Callable[[World, str], str]:
    return lambda w, who: path


def _ids_form(extra: dict[str, Any] | None = None):
    def make(w: World, who: str) -> dict[str, Any]:
        data = {k: str(v) for k, v in w.ids_of(who).items()}
        data.update(extra or {})
        return data
    return make


def _appeal_url(w: World, who: str) -> str:
    return f"/me/appeals/{ {'A': w.appeal_a, 'B': w.appeal_b}.get(who, w.missing_id) }"


def _verify_url(w: World, who: str) -> str:
    return f"/verify/{w.token_b if who in ('A', 'B') else w.missing_token}"


ROUTES: dict[str, Route] = {
    # -- auth: graduates log in, change and reset their password, log out
    "auth.root": Route(_plain("/"), own=(302,), public=True),
    "auth.login": Route(_plain("/login"), own=(200, 302), public=True,
                        form=lambda w, who: {"kind": "graduate", "username": w.b.student_no, "password": "wrong-1"}),
    "auth.logout": Route(_plain("/logout"), own=None, get=False, form=_ids_form()),
    "auth.change_password": Route(_plain("/password"), form=_ids_form(
        {"current": "my-own-pass-1", "new": "another-pass-2", "confirm": "another-pass-2",
         "new2": "another-pass-2"})),
    "auth.reset_password": Route(_plain("/password/reset"), public=True,
                                 form=lambda w, who: {"student_no": w.b.student_no, "id_card": "110101199001011237",
                                                      "username": w.b.student_no}),
    # -- the portal
    "portal.sheet": Route(_plain("/me")),
    "portal.diagram": Route(_plain("/me/diagram")),
    "portal.diagram_data": Route(_plain("/me/diagram.json")),
    "portal.history": Route(_plain("/me/history")),
    "portal.appeals": Route(_plain("/me/appeals")),
    "portal.appeal_detail": Route(_appeal_url, url_ids=True),
    "portal.appeal_new": Route(lambda w, who: "/me/items/electricity/appeal",
                               form=_ids_form({"text": "甲的申诉：电费已缴", "task_key": "student_id_card"})),
    "portal.notifications": Route(_plain("/notifications")),
    "portal.announcements": Route(_plain("/announcements")),
    "portal.waiting": Route(_plain("/waiting"), own=(200, 302)),
    "portal.survey": Route(_plain("/survey"), own=(200, 302, 303),
                           form=_ids_form({"q1": "甲想改成乙的回答"})),
    "portal.submit": Route(_plain("/me/submit"), own=None, get=False, form=_ids_form()),
    "portal.slip": Route(_plain("/me/slip"), own=(200, 302, 303)),
    "portal.verify_slip": Route(_verify_url, public=True, url_ids=True),
}


def graduate_endpoints(app) -> set[str]:
    return {r.endpoint for r in app.url_map.iter_rules()
            if r.endpoint not in IGNORED and not r.endpoint.startswith(STAFF_PREFIXES)}


def test_every_graduate_endpoint_is_in_the_matrix(app):
    """A new graduate-facing route must be added to ROUTES (with how to aim it at B's data)."""
    unknown = graduate_endpoints(app) - set(ROUTES)
    assert not unknown, (
        "NEW graduate-facing endpoint(s) not covered by the IDOR matrix: " + ", ".join(sorted(unknown))
        + ". Add them to ROUTES in tests/web/test_idor_matrix.py (or to STAFF_PREFIXES if only staff reach them).")
    gone = set(ROUTES) - graduate_endpoints(app)
    assert not gone, "ROUTES lists endpoint(s) that no longer exist: " + ", ".join(sorted(gone))
    for endpoint, route in ROUTES.items():
        methods = set().union(*(r.methods for r in app.url_map.iter_rules(endpoint)))
        assert ("POST" in methods) == (route.form is not None), f"{endpoint}: POST in the app vs the matrix"


def rule_endpoints(app, path: str, method: str) -> str:
    adapter = app.url_map.bind("localhost")
    return adapter.match(path, method=method)[0]


ENDPOINTS = sorted(ROUTES)


def log_in(client, who: Who) -> None:
    """Log ``who`` in with a password of their own (a fast PBKDF2 hash instead of seconds of scrypt)."""
    from werkzeug.security import generate_password_hash

    from app.extensions import db
    from app.graduates.models import Graduate

    db.session.execute(sa.update(Graduate).where(Graduate.id == who.id).values(
        password_hash=generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")))
    db.session.commit()
    db.session.remove()
    resp = client.post("/login", data={"kind": "graduate", "username": who.student_no, "password": PASSWORD})
    assert resp.status_code == 302, resp.status_code


@pytest.fixture()
def as_a(client, world):
    log_in(client, world.a)
    return client


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if ROUTES[e].get])
def test_a_reads_only_their_own_data(app, as_a, world, endpoint):
    route = ROUTES[endpoint]
    w = world
    own_url = route.url(w, "A")
    assert rule_endpoints(app, own_url.split("?")[0], "GET") == endpoint
    before = others_snapshot(w.a.id)
    resp = as_a.get(own_url)
    if route.own is not None and not route.public:
        assert resp.status_code in route.own, f"A's own {own_url}: {resp.status_code}"
    if not (route.public and route.url_ids):
        assert_shows_nothing_of_b(w, resp.get_data(as_text=True), f"A's {own_url}")

    # B's ids slipped into the query string: still A's page, nothing of B's
    query = "&".join(f"{k}={v}" for k, v in w.ids_of("B").items())
    sep = "&" if "?" in own_url else "?"
    resp = as_a.get(f"{own_url}{sep}{query}")
    assert resp.status_code < 500
    if not (route.public and route.url_ids):
        # links on the page repeat the query string (language switch): only the rest counts
        body = re.sub(r'href="[^"]*"', "", resp.get_data(as_text=True))
        assert_shows_nothing_of_b(w, body, f"{own_url} with B's ids in the query")

    if route.url_ids:
        b_resp, missing = as_a.get(route.url(w, "B")), as_a.get(route.url(w, "missing"))
        if route.public:
            # public by design (the 离校单 QR page): shows validity, name, masked number, date only
            body = b_resp.get_data(as_text=True)
            assert b_resp.status_code == 200
            assert_shows_nothing_of_b(w, body, "the public verification page")
            assert missing.status_code == 404
        else:
            assert b_resp.status_code == 404, f"A opened B's {route.url(w, 'B')}: {b_resp.status_code}"
            assert missing.status_code == 404
            assert_shows_nothing_of_b(w, b_resp.get_data(as_text=True), f"A on B's {route.url(w, 'B')}")
    assert_unchanged(before, others_snapshot(w.a.id), f"GET {endpoint}")


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if ROUTES[e].form is not None])
def test_a_cannot_change_others_data(app, as_a, world, endpoint):
    route = ROUTES[endpoint]
    w = world
    before = others_snapshot(w.a.id)
    for who in ("B",) + (("missing",) if route.url_ids else ()):
        url = route.url(w, who)
        resp = as_a.post(url, data=route.form(w, "B"))
        assert resp.status_code < 500, f"POST {url}: {resp.status_code}"
        if resp.status_code == 200:
            assert_shows_nothing_of_b(w, resp.get_data(as_text=True), f"POST {url}")
        if route.url_ids and not route.public:
            assert resp.status_code in (404, 405), f"POST to B's {url}: {resp.status_code}"
        # also with the ids in the query string
        query = "&".join(f"{k}={v}" for k, v in w.ids_of("B").items())
        resp = as_a.post(f"{url}?{query}", data=route.form(w, "B"))
        assert resp.status_code < 500
    assert_unchanged(before, others_snapshot(w.a.id), f"POST {endpoint} aimed at B")


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if not ROUTES[e].public])
def test_anonymous_is_sent_to_login(client, world, endpoint):
    route = ROUTES[endpoint]
    before = others_snapshot(-1)
    url = route.url(world, "B")
    resp = client.get(url) if route.get else client.post(url, data=route.form(world, "B"))
    if endpoint == "auth.logout":
        assert resp.status_code in (302, 303)
    else:
        assert resp.status_code in (302, 303, 401), f"anonymous {url}: {resp.status_code}"
        assert "/login" in resp.headers.get("Location", ""), resp.headers.get("Location")
    if route.form is not None and route.get:
        resp = client.post(url, data=route.form(world, "B"))
        assert resp.status_code in (302, 303, 401) and "/login" in resp.headers.get("Location", "")
    assert_unchanged(before, others_snapshot(-1), f"anonymous {endpoint}")


def test_b_sees_their_own_secrets(client, world):
    """The secrets are really on B's pages: the checks above could not pass by accident."""
    log_in(client, world.b)
    sheet = client.get("/me").get_data(as_text=True)
    assert world.b.student_no in sheet or world.b.name in sheet
    appeal = client.get(f"/me/appeals/{world.appeal_b}")
    assert appeal.status_code == 200
    assert SECRET_APPEAL in appeal.get_data(as_text=True) and SECRET_ANSWER in appeal.get_data(as_text=True)
    history = client.get("/me/history").get_data(as_text=True)
    assert SECRET_REASON in history


def test_verification_page_shows_only_what_is_public(client, world):
    """The QR page: validity, name, masked student number, date; nothing else about B."""
    from app.portal.slip import mask_student_no

    resp = client.get(f"/verify/{world.token_b}")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert world.b.name in body
    assert world.b.student_no not in body and world.b.id_card not in body
    assert mask_student_no(world.b.student_no) in body
    for leak in (SECRET_REASON, SECRET_APPEAL, SECRET_ANSWER, world.b.class_name, world.b.dorm_room, world.b.phone):
        assert leak not in body
