"""Error pages speak the page's language and never loop: the button leads to a page the person may open."""
from __future__ import annotations


def test_leader_403_is_translated_and_does_not_loop(page, operator, ui_login):
    operator("leader", role="leader")
    ui_login(page, "leader", "secret-pass", kind="staff")
    main = page.locator("main")
    assert "403" in main.inner_text()
    assert "permission" not in main.inner_text()          # werkzeug's English default is not shown
    assert main.locator("a[href='/']").count() == 0         # "/" leads a leader straight back here
    main.get_by_role("button", name="退出登录").click()
    page.wait_for_load_state()
    assert "/login" in page.url


def test_graduate_403_leads_back_to_the_sheet(page, db, make_graduate, start, ui_login):
    from app.auth.services import set_graduate_password

    g = make_graduate(name="林晓")
    start(g)
    set_graduate_password(db.session.merge(g), "err-pass-123")
    ui_login(page, g.student_no, "err-pass-123")
    response = page.goto("/desk/")
    assert response.status == 403
    assert "permission" not in page.locator("main").inner_text()
    page.locator("main a.btn").click()
    page.wait_for_load_state()
    assert page.url.endswith("/me")
