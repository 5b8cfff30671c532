"""Sessions end when they should: a copied session cookie stops working after logout, a password
change or reset, and deactivation; a login starts a new session."""
from __future__ import annotations

import contextvars

import pytest

from tests.web.conftest import FreshContextClient, login


def _copy(app, client) -> FreshContextClient:
    """A second browser holding a copy of ``client``'s session cookie (a stolen or shared cookie)."""
    other = FreshContextClient(app, app.response_class, use_cookies=True)
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def _logged_in_as_graduate(client) -> bool:
    resp = client.get("/me")
    return resp.status_code == 200


def _logged_in_as_staff(client) -> bool:
    return client.get("/desk/").status_code == 200


def test_logout_ends_every_session_of_the_graduate(app, client, make_graduate, login_graduate):
    g = make_graduate()
    login_graduate(g)
    copy = _copy(app, client)
    assert _logged_in_as_graduate(copy)
    client.post("/logout")
    assert not _logged_in_as_graduate(client)
    resp = copy.get("/me")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    # logging in again works, and the old cookie stays dead
    assert login(client, g.student_no, "my-own-pass-1").status_code == 302
    assert _logged_in_as_graduate(client) and not _logged_in_as_graduate(copy)


def test_logout_ends_a_copied_staff_cookie(app, client, login_staff):
    login_staff("lib-op", "library")
    copy = _copy(app, client)
    assert _logged_in_as_staff(copy)
    client.post("/logout")
    assert not _logged_in_as_staff(copy)


def test_password_change_ends_the_other_sessions_but_not_this_one(app, client, make_graduate, db):
    g = make_graduate(id_card="43010020030115011X")
    assert login(client, g.student_no, "15011X").status_code == 302
    other = FreshContextClient(app, app.response_class, use_cookies=True)
    assert login(other, g.student_no, "15011X").status_code == 302
    resp = client.post("/password", data={"current": "15011X", "new": "Zq7-tide-lamp", "confirm": "Zq7-tide-lamp"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/me")
    assert _logged_in_as_graduate(client)                       # the one that changed it goes on
    resp = other.get("/me")                                     # the other one must log in again
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_reset_by_id_card_ends_every_session(app, client, make_graduate, login_graduate):
    g = make_graduate()
    login_graduate(g)
    thief = _copy(app, client)
    assert _logged_in_as_graduate(thief)
    stranger = FreshContextClient(app, app.response_class, use_cookies=True)
    resp = stranger.post("/password/reset", data={"student_no": g.student_no, "id_card": g.id_card})
    assert resp.status_code == 302
    assert not _logged_in_as_graduate(thief) and not _logged_in_as_graduate(client)


def test_deactivating_a_staff_account_ends_its_session_at_once(client, login_staff, runner, db):
    login_staff("fin-op", "finance")
    assert _logged_in_as_staff(client)
    result = runner.invoke(args=["users", "deactivate", "fin-op"])
    assert result.exit_code == 0, result.output
    assert not _logged_in_as_staff(client)
    assert login(client, "fin-op", "secret-pass", kind="staff").status_code == 200      # refused


def test_login_starts_a_new_session(app, client, make_graduate, login_graduate):
    g = make_graduate()
    with client.session_transaction() as sess:             # what a planted cookie could carry
        sess["csrf_token"] = "planted-token"
        sess["planted"] = "x"
        sess["lang"] = "en"
    before = client.get_cookie("session").value
    login_graduate(g)
    assert client.get_cookie("session").value != before
    with client.session_transaction() as sess:
        assert "planted" not in sess and sess.get("csrf_token") != "planted-token"
        assert sess["lang"] == "en"                          # the chosen language survives


@pytest.mark.parametrize("ident", ["g:{id}", "g:{id}:x", "g:{id}:7", "u:{id}:0:1"])
def test_a_session_id_without_the_current_version_is_no_login(app, client, make_graduate, ident):
    g = make_graduate()
    with client.session_transaction() as sess:
        sess["_user_id"] = ident.format(id=g.id)
        sess["_fresh"] = True
    assert not _logged_in_as_graduate(client)
