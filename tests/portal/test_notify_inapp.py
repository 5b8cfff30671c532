"""In-app notifications: what changed on the graduate's items since the last visit, and the badge."""
from __future__ import annotations

import re

import sqlalchemy as sa


def badge(html: str) -> str | None:
    m = re.search(r'id="lx-badge"[^>]*>([^<]+)<', html)
    return m.group(1) if m else None


def test_badge_counts_changes_since_the_last_visit(client, db, graduate, make_graduate, start):
    from app.workflow.services import Actor, apply

    html = client.get("/me").get_data(as_text=True)
    assert badge(html) is None                            # the start of the process is not news
    client.get("/notifications")
    apply([graduate.id], "student_id_card", "confirm", Actor.system("王老师", "manual"))
    apply([graduate.id], "dorm_checkout", "reject", Actor.system("宿管", "manual"), reason="钥匙未交")
    other = make_graduate()
    start(other)
    apply([other.id], "student_id_card", "confirm", Actor.system("王老师", "manual"))   # not ours
    assert badge(client.get("/me").get_data(as_text=True)) == "2"
    html = client.get("/notifications").get_data(as_text=True)
    assert "上交学生证" in html and "已通过" in html and "钥匙未交" in html and "未通过" in html
    assert html.count('lx-notice lx-new') == 2 and "有 2 项变动" in html
    assert 'href="/me#item-student_id_card"' in html
    # seen: the badge is gone, the list keeps them (no longer new)
    html = client.get("/me").get_data(as_text=True)
    assert badge(html) is None and 'aria-label="消息通知"' in html
    html = client.get("/notifications").get_data(as_text=True)
    assert "上交学生证" in html and "lx-notice lx-new" not in html and "没有新的变动" in html
    apply([graduate.id], "dorm_checkout", "confirm", Actor.system("宿管", "manual"))
    assert badge(client.get("/me").get_data(as_text=True)) == "1"


def test_answered_appeals_and_reversals_are_notified(client, db, graduate):
    from app.core.time import utcnow
    from app.portal.models import Appeal, AppealStatus
    from app.workflow.models import ClearanceItem
    from app.workflow.services import Actor, apply

    client.get("/notifications")
    apply([graduate.id], "student_id_card", "confirm", Actor.system("王老师", "manual"))
    apply([graduate.id], "student_id_card", "reopen", Actor.system("王老师", "manual"), reason="误操作")
    item = db.session.scalar(sa.select(ClearanceItem).where(ClearanceItem.graduate_id == graduate.id,
                                                            ClearanceItem.task_key == "dorm_checkout"))
    db.session.add(Appeal(graduate_id=graduate.id, item_id=item.id, checkpoint_id=item.checkpoint_id,
                          task_key="dorm_checkout", text="我已经交了钥匙", status=AppealStatus.DECLINED,
                          answer="请本人到宿管中心办理", answered_at=utcnow()))
    db.session.add(Appeal(graduate_id=graduate.id, item_id=item.id, checkpoint_id=item.checkpoint_id,
                          task_key="dorm_checkout", text="still open"))                 # unanswered: not news
    db.session.commit()
    assert badge(client.get("/me").get_data(as_text=True)) == "3"
    html = client.get("/notifications").get_data(as_text=True)
    assert "您对“清理宿舍物品、退宿”的申诉已有答复" in html and "请本人到宿管中心办理" in html and "未采纳" in html
    assert "误操作" in html and "此前：已通过" in html
    en = client.get("/notifications?lang=en").get_data(as_text=True)
    assert "Your appeal about" in en and "Nothing new since your last visit." in en


def test_the_badge_is_one_cheap_query(db, graduate):
    from app.portal.notifications import new_count
    from app.workflow.services import Actor, apply

    from app.graduates.models import Graduate

    seen = db.session.scalar(sa.select(Graduate.notifications_seen_at).where(Graduate.id == graduate.id))
    assert seen is not None                                   # set at the first login
    gid = graduate.id
    apply([gid], "student_id_card", "confirm", Actor.system("王老师", "manual"))
    statements = []

    def count(conn, cursor, statement, *args):  # noqa: ARG001
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert new_count(gid, seen) == 1
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1 and "events" in statements[0] and "appeals" in statements[0]


def test_staff_pages_have_no_bell(client, login_staff):
    login_staff("lib", "library")
    html = client.get("/desk/", follow_redirects=True).get_data(as_text=True)
    assert "lx-bell" not in html
    assert client.get("/notifications").status_code == 403
