"""Login, the forced password change, logout and access control of the web pages."""
from __future__ import annotations

import pytest

from tests.web.conftest import login


def test_login_page_has_both_tabs_and_the_initial_password_hint(client):
    html = client.get("/login?lang=en").get_data(as_text=True)
    assert 'name="kind"' in html and 'value="graduate"' in html
    assert "Graduates" in html and "Staff" in html
    assert "last 6 characters of your ID-card number" in html
    staff = client.get("/login?kind=staff").get_data(as_text=True)
    assert 'value="staff"' in staff
    assert "身份证号后 6 位" not in staff          # the hint is for graduates only


def test_graduate_first_login_with_initial_password_must_change_it(client, make_graduate, db):
    g = make_graduate(id_card="43010020030115011X")
    resp = login(client, g.student_no, "15011x")            # lower-case x works too
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/password")
    # the sheet cannot be reached around the change
    assert client.get("/me").headers["Location"].endswith("/password")
    page = client.get("/password").get_data(as_text=True)
    assert "初始密码" in page
    resp = client.post("/password", data={"current": "15011X", "new": "a-better-pass", "confirm": "another-pass"})
    assert resp.status_code == 200 and "两次输入的密码不一致" in resp.get_data(as_text=True)
    resp = client.post("/password", data={"current": "wrong-one", "new": "a-better-pass", "confirm": "a-better-pass"})
    assert resp.status_code == 200 and "当前密码不正确" in resp.get_data(as_text=True)
    resp = client.post("/password", data={"current": "15011X", "new": "a-better-pass", "confirm": "a-better-pass"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/me")
    assert client.get("/me").status_code == 200
    client.post("/logout")
    assert login(client, g.student_no, "15011X").status_code == 200     # the old one no longer works
    assert login(client, g.student_no, "a-better-pass").headers["Location"].endswith("/me")


def test_wrong_password_message_does_not_say_which_field_was_wrong(client, make_graduate):
    g = make_graduate()
    wrong_password = login(client, g.student_no, "000000").get_data(as_text=True)
    unknown_user = login(client, "no-such-student", "000000").get_data(as_text=True)
    message = "登录失败：账号或密码不正确。"
    assert message in wrong_password and message in unknown_user
    for html in (wrong_password, unknown_user):
        assert "学号不存在" not in html and "密码错误" not in html
    # the page keeps the graduate tab and shows no session
    assert "退出登录" not in wrong_password


def test_staff_login_goes_to_the_desk(client, operator):
    operator("lib-op", "library")
    resp = login(client, "lib-op", "secret-pass", kind="staff")
    assert resp.headers["Location"].endswith("/desk/")
    # a staff account cannot log in on the graduate tab
    client.post("/logout")
    assert login(client, "lib-op", "secret-pass", kind="graduate").status_code == 200


@pytest.mark.parametrize("method,path", [("get", "/me"), ("get", "/desk/"), ("post", "/desk/confirm"),
                                         ("get", "/password")])
def test_unauthenticated_requests_are_sent_to_the_login_page(client, method, path):
    resp = getattr(client, method)(path)
    assert resp.status_code == 302
    assert "/login" in resp.headers["Location"]


def test_graduates_cannot_use_the_desk_and_staff_have_no_sheet(client, make_graduate, login_graduate, operator):
    g = make_graduate()
    login_graduate(g)
    assert client.get("/desk/").status_code == 403
    assert client.post("/desk/confirm", data={"graduate_id": g.id, "cp": "college", "task": "party_letter"}
                       ).status_code == 403
    client.post("/logout")
    operator("op1", "college")
    login(client, "op1", "secret-pass", kind="staff")
    assert client.get("/me").status_code == 403


def test_logout_is_a_post_form_with_csrf_token(client, make_graduate, login_graduate):
    login_graduate(make_graduate())
    html = client.get("/me").get_data(as_text=True)
    assert 'action="/logout"' in html and 'name="csrf_token"' in html
    assert client.get("/logout").status_code == 405
    client.post("/logout")
    assert client.get("/me").status_code == 302


def test_login_returns_to_the_page_asked_for_but_never_off_site(client, operator):
    operator("op2", "college")
    resp = client.get("/desk/?cp=college")
    target = resp.headers["Location"]
    assert "next=" in target
    page = client.get(target).get_data(as_text=True)
    assert 'value="staff"' in page                       # the desk's login opens the staff tab
    resp = client.post(target, data={"kind": "staff", "username": "op2", "password": "secret-pass"})
    assert resp.headers["Location"].endswith("/desk/?cp=college")
    for evil in ("//evil.example/x", "https://evil.example/", "/\t/evil.example", "/\\evil.example"):
        client.post("/logout")
        resp = client.post("/login", query_string={"next": evil},
                           data={"kind": "staff", "username": "op2", "password": "secret-pass"})
        assert resp.headers["Location"] == "/desk/", evil
