"""Role × page matrix over every staff endpoint (``desk.*``, and ``admin.*`` / ``reports.*`` if any).

Every endpoint is listed in ``PAGES`` with the checkpoint X it belongs to and how to call it
(URL, form). For each one, GET and POST, the matrix checks:

* anonymous -> redirect to the login page;
* a graduate -> 403 (or a redirect away from the desk);
* an operator of another checkpoint Y -> 403 (also when the form names Y as the checkpoint
  but the graduate's item of X, the "cp spoof");
* the leader -> 403, unless the page is marked read-only for leaders;
* an operator of X and an admin -> 200 for GET, for POST a success (redirect / 200) that really
  changes the database.

Every refused POST must change nothing: the whole database is compared before and after.
``test_every_staff_endpoint_is_in_the_matrix`` fails when a staff endpoint appears that the
matrix does not know. ``test_post_without_csrf_token_is_refused`` runs an app with CSRF ON.
"""
from __future__ import annotations

import contextvars
import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Callable

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

STAFF_PREFIXES = ("desk.", "admin.", "reports.")
IN_30_DAYS = (date.today() + timedelta(days=30)).isoformat()
PASSWORD = "secret-pass"
GRADUATE_PASSWORD = "my-own-pass-1"


class Client(FlaskClient):
    """Every request in a fresh context, as in production (see tests/web/conftest.py)."""

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


# ----------------------------------------------------------------------------- the world
@dataclass
class World:
    g: int            # undergraduate: electricity pending (utilities), finance pending (arrears)
    g_passed: int     # electricity passed (for re-open)
    g_waived: int     # finance waived (for restore)
    g_eligible: int   # every item done but the certificates (for the certificate desk)
    template_ref: str  # a saved reason template of utilities
    graduate_no: str
    appeal: int        # g's open appeal about electricity (utilities)
    upload: int        # an Excel batch of utilities (previewed, not confirmed)
    dorm: str          # g's dorm, "building-room"


def _actor():
    from app.workflow.services import Actor

    return Actor(None, "matrix setup")


def _complete(graduate_id: int) -> None:
    from app.core.enums import OPEN_STATUSES
    from app.extensions import db
    from app.portal.queries import sheet_for
    from app.workflow.services import apply

    for _round in range(30):
        todo = [i.key for i in sheet_for(graduate_id).items
                if i.status in OPEN_STATUSES and not i.meta.get("certificate")]
        if not todo:
            break
        for key in todo:
            apply([graduate_id], key, "confirm", _actor())
    db.session.remove()


def cheap_hash(password: str) -> str:
    """A fast PBKDF2 hash: the same check_password_hash path as the default, without seconds of scrypt."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password, method="pbkdf2:sha256:1000")


@pytest.fixture()
def world(db, make_graduate, start, published):
    from app.auth.models import User
    from app.desk.excel import preview_upload
    from app.desk.models import ReasonTemplate
    from app.portal.appeals import submit_appeal
    from app.workflow.models import Checkpoint
    from app.workflow.services import apply

    g = make_graduate(student_no="20260000101", arrears=Decimal("120.50"), dorm_room="201")
    g_passed = make_graduate(student_no="20260000102", dorm_room="202")
    g_waived = make_graduate(student_no="20260000103", arrears=Decimal("99"), dorm_room="203")
    g_eligible = make_graduate(student_no="20260000104", dorm_room="204")
    start(g, g_passed, g_waived, g_eligible)
    ids = [x.id for x in (g, g_passed, g_waived, g_eligible)]
    g_cohort, g_dorm = g.cohort_id, g.dorm
    g.password_hash = cheap_hash(GRADUATE_PASSWORD)
    db.session.commit()
    apply([ids[1]], "electricity", "confirm", _actor())
    apply([ids[2]], "finance", "waive", _actor(), reason="缓交证明 2026-001")
    _complete(ids[3])
    utilities_id = db.session.scalar(sa.select(Checkpoint.id).where(Checkpoint.key == "utilities"))
    template = ReasonTemplate(checkpoint_id=utilities_id, text="欠电费 {金额} 元", text_en="", sort_order=10)
    db.session.add(template)
    db.session.commit()
    by_key = {c.key: c for c in db.session.scalars(sa.select(Checkpoint))}
    staff_hash = cheap_hash(PASSWORD)
    for username, keys, role in (
            ("op_utilities", ["utilities"], "operator"), ("op_library", ["library"], "operator"),
            ("op_certificates", ["certificates"], "operator"), ("op_waiver", ["waiver"], "operator"),
            ("admin1", [], "admin"), ("leader1", [], "leader")):
        db.session.add(User(username=username, role=role, display_name=username, password_hash=staff_hash,
                            checkpoints=[by_key[k] for k in keys]))
    db.session.commit()
    appeal = submit_appeal(ids[0], "electricity", "电费已经缴清了", _actor()).appeal.id
    op_id = db.session.scalar(sa.select(User.id).where(User.username == "op_utilities"))
    utilities = db.session.get(Checkpoint, utilities_id)
    upload, parsed = preview_upload(utilities, g_cohort, "electricity", "batch.csv",
                                    "学号\n20260000101\n".encode(), op_id)
    assert upload is not None, parsed.errors
    w = World(*ids, template_ref=f"t{template.id}", graduate_no="20260000101", appeal=appeal,
              upload=upload.id, dorm=g_dorm)
    db.session.remove()
    return w


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table."""
    from app.extensions import db

    db.session.remove()
    snap = {t.name: sorted(tuple(map(repr, r)) for r in db.session.execute(sa.select(t)).all())
            for t in db.metadata.sorted_tables}
    db.session.remove()
    return snap


def changed_tables(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]


# ----------------------------------------------------------------------------- the matrix
@dataclass(frozen=True)
class Page:
    """One staff endpoint: the checkpoint X it belongs to and how to call it.

    ``url(w, cp)`` / ``form(w, cp)`` build the request for checkpoint key ``cp`` (X normally; the
    other operator's own key for the cp-spoof attempt). ``form`` None: no POST.
    ``get``: the endpoint answers GET. ``leader``: a read-only page leaders may open.
    ``changes``: an allowed POST changes the database (checked for the X operator and admin).
    ``spoof``: the form carries X's graduate/item, so "cp = my own checkpoint" is tried too.
    ``any_operator``: not about one checkpoint (e.g. the blank Excel template): every operator may.
    """

    cp: str
    url: Callable[[World, str], str]
    form: Callable[[World, str], dict[str, Any]] | None = None
    get: bool = True
    leader: bool = False
    changes: bool = True
    spoof: bool = False
    any_operator: bool = False


def q(path: str, **fixed: Any) -> Callable[[World, str], str]:
    """A URL with ?cp=<key> (and fixed query arguments; callables get the world)."""
    def make(w: World, cp: str) -> str:
        args = {"cp": cp, **{k: (v(w) if callable(v) else v) for k, v in fixed.items()}}
        return path + "?" + "&".join(f"{k}={v}" for k, v in args.items() if v is not None)
    return make


def plain(path: str) -> Callable[[World, str], str]:
    return lambda w, cp: path


PAGES: dict[str, Page] = {
    # -- the desk core
    "desk.index": Page("utilities", q("/desk/", graduate_id=lambda w: w.g)),
    "desk.counts": Page("utilities", q("/desk/counts")),
    "desk.confirm": Page("utilities", plain("/desk/confirm"), get=False, spoof=True,
                         form=lambda w, cp: {"cp": cp, "graduate_id": w.g, "task": "electricity"}),
    "desk.reject": Page("utilities", plain("/desk/reject"), get=False, spoof=True,
                        form=lambda w, cp: {"cp": cp, "graduate_id": w.g, "task": "electricity",
                                            "reason": "欠电费 35.5 元"}),
    "desk.reopen": Page("utilities", plain("/desk/reopen"), get=False, spoof=True,
                        form=lambda w, cp: {"cp": cp, "graduate_id": w.g_passed, "task": "electricity",
                                            "reason": "电费账单更正"}),
    "desk.record": Page("utilities", lambda w, cp: f"/desk/record/{w.g}?cp={cp}"),
    "desk.reasons": Page("utilities", q("/desk/reasons"),
                         form=lambda w, cp: {"cp": cp, "text": "宿舍电表读数有误", "text_en": ""}),
    "desk.delete_reason_template": Page("utilities", plain("/desk/reasons/delete"), get=False, spoof=True,
                                        form=lambda w, cp: {"cp": cp, "ref": w.template_ref}),
    # -- certificate desk
    "desk.certificates": Page("certificates", q("/desk/certificates", graduate_id=lambda w: w.g_eligible)),
    "desk.certificates_ready": Page("certificates", q("/desk/certificates/ready")),
    "desk.certificates_issue": Page("certificates", plain("/desk/certificates/issue"), get=False, spoof=True,
                                    form=lambda w, cp: {"cp": cp, "graduate_id": w.g_eligible}),
    # -- 缓交 desk
    "desk.waiver": Page("waiver", lambda w, cp: f"/desk/waiver?graduate_id={w.g}"),
    "desk.waiver_list": Page("waiver", plain("/desk/waiver/lifted")),
    "desk.waiver_lift": Page("waiver", plain("/desk/waiver/lift"), get=False,
                             form=lambda w, cp: {"graduate_id": w.g, "task": "finance", "reason": "缓交证明 2026-002"}),
    "desk.waiver_end_date": Page("waiver", plain("/desk/waiver/end-date"), get=False,
                                 form=lambda w, cp: {"graduate_id": w.g_waived, "task": "finance",
                                                     "reason": "延期至下月", "until": IN_30_DAYS}),
    "desk.waiver_restore": Page("waiver", plain("/desk/waiver/restore"), get=False,
                                form=lambda w, cp: {"graduate_id": w.g_waived, "task": "finance",
                                                    "reason": "缓交到期"}),
    # -- class / dorm batch, Excel batch
    "desk.batch_group": Page("utilities", q("/desk/batch", graduate_id=lambda w: w.g, by="dorm", task="electricity")),
    "desk.batch_confirm": Page("utilities", plain("/desk/batch/confirm"), get=False, spoof=True,
                               form=lambda w, cp: {"cp": cp, "cohort": "2026", "task": "electricity", "by": "dorm",
                                                   "group": w.dorm, "g": str(w.g), "graduate_id": str(w.g)}),
    "desk.excel_upload": Page("utilities", q("/desk/excel"), spoof=True, form=lambda w, cp: {
        "cp": cp, "cohort": "2026", "task": "electricity",
        "file": (io.BytesIO("学号\n20260000101\n".encode()), "batch.csv")}),
    "desk.excel_template": Page("utilities", plain("/desk/excel/template.xlsx"), any_operator=True),
    "desk.excel_preview": Page("utilities", lambda w, cp: f"/desk/excel/{w.upload}"),
    "desk.excel_result_file": Page("utilities", lambda w, cp: f"/desk/excel/{w.upload}/result.xlsx"),
    "desk.excel_confirm": Page("utilities", lambda w, cp: f"/desk/excel/{w.upload}/confirm", get=False,
                               form=lambda w, cp: {"cp": cp}),
    # -- appeals queue
    "desk.appeals": Page("utilities", q("/desk/appeals")),
    "desk.appeal_answer": Page("utilities", lambda w, cp: f"/desk/appeals/{w.appeal}/answer", get=False, spoof=True,
                               form=lambda w, cp: {"cp": cp, "outcome": "decline", "answer": "电费系统显示仍欠费"}),
    # -- statistics
    "desk.stats": Page("utilities", q("/desk/stats")),
    "desk.stats_list": Page("utilities", q("/desk/stats/list", item="electricity", status="pending")),
    "desk.stats_export": Page("utilities", q("/desk/stats/export.xlsx", item="electricity")),
}

OTHER = {"utilities": "library", "certificates": "library", "waiver": "utilities", "library": "utilities"}


def staff_endpoints(app) -> set[str]:
    return {r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith(STAFF_PREFIXES)}


def methods_of(app, endpoint: str) -> set[str]:
    return set().union(*(r.methods for r in app.url_map.iter_rules(endpoint))) - {"HEAD", "OPTIONS"}


def test_every_staff_endpoint_is_in_the_matrix(app):
    unknown = staff_endpoints(app) - set(PAGES)
    assert not unknown, (
        "NEW staff endpoint(s) not covered by the role matrix: " + ", ".join(sorted(unknown))
        + ". Add them to PAGES in tests/web/test_role_matrix.py.")
    gone = set(PAGES) - staff_endpoints(app)
    assert not gone, "PAGES lists endpoint(s) that no longer exist: " + ", ".join(sorted(gone))
    for endpoint, page in PAGES.items():
        methods = methods_of(app, endpoint)
        assert ("GET" in methods) == page.get, f"{endpoint}: GET in the app vs the matrix"
        assert ("POST" in methods) == (page.form is not None), f"{endpoint}: POST in the app vs the matrix"


# ----------------------------------------------------------------------------- logins
ROLES = ("anonymous", "graduate", "op_utilities", "op_library", "op_certificates", "op_waiver", "admin1", "leader1")


@pytest.fixture()
def clients(app, world):
    """role -> a client logged in as that role (all logged in before the test takes its snapshot)."""
    made: dict[str, Client] = {}
    for role in ROLES:
        c = made[role] = Client(app, app.response_class, use_cookies=True)
        if role == "anonymous":
            continue
        if role == "graduate":
            data = {"kind": "graduate", "username": world.graduate_no, "password": GRADUATE_PASSWORD}
        else:
            data = {"kind": "staff", "username": role, "password": PASSWORD}
        resp = c.post("/login", data=data)
        assert resp.status_code == 302, (role, resp.status_code)
    return made.__getitem__


def login_target(resp) -> bool:
    return resp.status_code in (302, 303) and "/login" in resp.headers.get("Location", "")


def refused(resp) -> bool:
    """403, or a redirect that does not lead into the desk."""
    if resp.status_code == 403:
        return True
    return resp.status_code in (302, 303) and "/desk" not in resp.headers.get("Location", "")


def roles_for(page: Page) -> dict[str, str]:
    """role name -> expected outcome: 'login', 'refused', 'ok'."""
    own = f"op_{page.cp}"
    other = f"op_{OTHER[page.cp]}"
    return {"anonymous": "login", "graduate": "refused", other: "ok" if page.any_operator else "refused",
            "leader1": "ok" if page.leader else "refused", own: "ok", "admin1": "ok"}


@pytest.mark.parametrize("endpoint", sorted(e for e, p in PAGES.items() if p.get))
def test_get(app, world, clients, endpoint):
    page = PAGES[endpoint]
    before = snapshot()
    for role, expect in roles_for(page).items():
        url = page.url(world, page.cp)
        resp = clients(role).get(url)
        if expect == "login":
            assert login_target(resp), f"anonymous GET {url}: {resp.status_code} {resp.headers.get('Location')}"
        elif expect == "refused":
            assert refused(resp), f"{role} GET {url}: {resp.status_code} {resp.headers.get('Location')}"
        else:
            assert resp.status_code == 200, f"{role} GET {url}: {resp.status_code} {resp.headers.get('Location')}"
    assert changed_tables(before, snapshot()) == [], f"GET {endpoint} changed the database"


@pytest.mark.parametrize("endpoint", sorted(e for e, p in PAGES.items() if p.form is not None))
def test_post(app, world, clients, endpoint):
    page = PAGES[endpoint]
    roles = roles_for(page)
    other = f"op_{OTHER[page.cp]}"
    attempts = [(role, page.cp) for role, expect in roles.items() if expect != "ok"]
    if page.spoof:
        attempts.append((other, OTHER[page.cp]))     # "my own checkpoint", X's graduate and item
    before = snapshot()
    for role, cp in attempts:
        url, data = page.url(world, cp), page.form(world, cp)
        resp = clients(role).post(url, data=data)
        if roles.get(role) == "login":
            assert login_target(resp), f"anonymous POST {url}: {resp.status_code}"
        elif cp != page.cp:
            # refused outright, or "no such item / template here" (the database check below decides)
            assert resp.status_code in (302, 303, 403, 404, 422), f"{role} POST {url} with cp={cp}: {resp.status_code}"
        else:
            assert refused(resp), f"{role} POST {url}: {resp.status_code} {resp.headers.get('Location')}"
        changed = changed_tables(before, snapshot())
        assert not changed, f"{role}'s refused POST {endpoint} (cp={cp}) changed: {changed}"

    for role in [r for r, expect in roles.items() if expect == "ok"]:
        before = snapshot()
        url, data = page.url(world, page.cp), page.form(world, page.cp)
        resp = clients(role).post(url, data=data)
        assert resp.status_code in (200, 302, 303), f"{role} POST {url}: {resp.status_code}"
        if resp.status_code in (302, 303):
            assert "/login" not in resp.headers["Location"]
        if page.changes and role != "leader1":
            assert changed_tables(before, snapshot()), f"{role}'s POST {endpoint} changed nothing"
            break   # the state moved on (item confirmed, ...): the admin case is the same code path


@pytest.mark.parametrize("endpoint", sorted(e for e, p in PAGES.items() if p.form is not None and p.changes))
def test_admin_post_works(app, world, clients, endpoint):
    """Admins act at every checkpoint (the loop above stops after the operator's success)."""
    page = PAGES[endpoint]
    before = snapshot()
    resp = clients("admin1").post(page.url(world, page.cp), data=page.form(world, page.cp))
    assert resp.status_code in (200, 302, 303), resp.status_code
    assert changed_tables(before, snapshot()), f"admin's POST {endpoint} changed nothing"


# ----------------------------------------------------------------------------- CSRF
@pytest.fixture()
def csrf_app(app, db_url):
    from app import create_app
    from app.extensions import db

    csrf_on = create_app({"TESTING": True, "SECRET_KEY": "csrf-secret", "SQLALCHEMY_DATABASE_URI": db_url,
                          "WTF_CSRF_ENABLED": True, "RATELIMIT_ENABLED": False})
    yield csrf_on
    with csrf_on.app_context():
        db.engine.dispose()


def _token(body: str) -> str:
    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', body) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', body)
    assert m, "no csrf_token on the page"
    return m.group(1)


def test_post_without_csrf_token_is_refused(csrf_app, world):
    c = Client(csrf_app, csrf_app.response_class, use_cookies=True)
    # logging in needs the token too
    resp = c.post("/login", data={"kind": "staff", "username": "op_utilities", "password": PASSWORD})
    assert resp.status_code == 400
    token = _token(c.get("/login").get_data(as_text=True))
    resp = c.post("/login", data={"kind": "staff", "username": "op_utilities", "password": PASSWORD,
                                  "csrf_token": token})
    assert resp.status_code == 302
    before = snapshot()
    page = PAGES["desk.confirm"]
    form = page.form(world, page.cp)
    for data, headers in ((form, {}), ({**form, "csrf_token": "forged"}, {}),
                          (form, {"X-CSRFToken": "forged", "HX-Request": "true"})):
        resp = c.post("/desk/confirm", data=data, headers=headers)
        assert resp.status_code == 400, resp.status_code
    assert not changed_tables(before, snapshot())
    # with the page's token (form field, or htmx's X-CSRFToken header) the same POST works
    token = _token(c.get(f"/desk/?cp=utilities&graduate_id={world.g}").get_data(as_text=True))
    resp = c.post("/desk/confirm", data=form, headers={"X-CSRFToken": token})
    assert resp.status_code == 303
    assert changed_tables(before, snapshot())


# ----------------------------------------------------------------------------- staff on graduate pages
def test_staff_get_no_graduate_page(app, world, clients):
    """Operators, admins and leaders are not graduates: every portal page refuses them (403 or a
    redirect), except the public ones (the 离校单 verification page)."""
    from werkzeug.routing import IntegerConverter

    dummy = {"task_key": "electricity", "token": "not-a-token"}
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("portal.") or "GET" not in rule.methods:
            continue
        if getattr(app.view_functions[rule.endpoint], "lx_public", False):
            continue
        args = {name: (1 if isinstance(conv, IntegerConverter) else dummy.get(name, "x"))
                for name, conv in rule._converters.items()}
        url = rule.build(args)[1]
        for role in ("op_utilities", "admin1", "leader1"):
            resp = clients(role).get(url)
            assert resp.status_code in (302, 303, 403, 404), f"{role} GET {url}: {resp.status_code}"
            checked += 1
    assert checked >= 3 * 5


def test_graduate_post_without_csrf_token_is_refused(csrf_app, world):
    c = Client(csrf_app, csrf_app.response_class, use_cookies=True)
    token = _token(c.get("/login").get_data(as_text=True))
    resp = c.post("/login", data={"kind": "graduate", "username": world.graduate_no,
                                  "password": GRADUATE_PASSWORD, "csrf_token": token})
    assert resp.status_code == 302
    before = snapshot()
    for url, data in (("/me/items/finance/appeal", {"text": "学费已缴清"}), ("/me/submit", {}),
                      ("/password", {"current": GRADUATE_PASSWORD, "new": "new-pass-123", "confirm": "new-pass-123"})):
        resp = c.post(url, data=data)
        assert resp.status_code == 400, (url, resp.status_code)
    assert not changed_tables(before, snapshot())
    token = _token(c.get("/me/items/finance/appeal").get_data(as_text=True))
    resp = c.post("/me/items/finance/appeal", data={"text": "学费已缴清", "csrf_token": token})
    assert resp.status_code == 303
    assert "appeals" in changed_tables(before, snapshot())
