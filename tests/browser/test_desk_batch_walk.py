"""A dorm-centre operator (宿管中心) batches a dorm room and uploads an Excel list, desktop and tablet."""
from __future__ import annotations

import sqlalchemy as sa

from app.core.enums import Source
from app.workflow.models import ClearanceItem
from app.workflow.services import Actor, apply
from tests.browser.conftest import TABLET


def statuses(db, ids) -> list[str]:
    db.session.expire_all()
    rows = dict(db.session.execute(sa.select(ClearanceItem.graduate_id, ClearanceItem.status).where(
        ClearanceItem.task_key == "dorm_checkout", ClearanceItem.graduate_id.in_(ids))).all())
    return [rows[i] for i in ids]


def test_dorm_batch_and_excel_upload(db, new_page, operator, ui_login, shot, make_graduate, start, tmp_path):
    room = [make_graduate(dorm_building="12栋", dorm_room="305", name=n) for n in ("张伟", "李娜", "王芳", "刘洋", "陈静", "杨帆")]
    others = [make_graduate(dorm_building="12栋", dorm_room="306", name=n) for n in ("赵磊", "孙丽")]
    start(*room, *others)
    apply([room[1].id], "dorm_checkout", "confirm", Actor(None, "宿管", Source.MANUAL))
    operator("dorm", "dormitory")

    page = new_page()
    ui_login(page, "dorm", "secret-pass", kind="staff")
    # a POST without the CSRF token is refused and changes nothing
    forged = page.request.post("/desk/batch/confirm", form={
        "cp": "dormitory", "cohort": "2026", "by": "dorm", "group": "12栋-305", "task": "dorm_checkout",
        "g": str(room[0].id)})
    assert forged.status == 400
    assert statuses(db, [room[0].id]) == ["pending"]
    # from the graduate in front of the desk: 按宿舍批量操作
    page.goto(f"/desk/batch?cp=dormitory&graduate_id={room[0].id}&by=dorm&task=dorm_checkout")
    table = page.locator("table.lx-batch-table")
    assert table.locator("tbody tr").count() == 6
    assert page.locator("#batch-submit").is_disabled()
    page.check("#batch-all")
    assert page.locator("#batch-n").inner_text() == "5"        # the passed row is not selectable
    page.uncheck(f"#g-{room[5].id}")
    assert page.locator("#batch-n").inner_text() == "4"
    shot(page, "desk-batch-dorm-desktop")
    page.click("#batch-submit")
    page.wait_for_load_state()
    assert "张伟" in page.locator(".alert-success").inner_text()
    assert statuses(db, [g.id for g in room]) == ["passed"] * 5 + ["pending"]
    shot(page, "desk-batch-dorm-done-desktop")

    # Excel batch: a GBK CSV file from the utilities-style ledger, with a rejection and a stranger
    path = tmp_path / "退宿名单.csv"
    path.write_bytes(("学号,姓名,结果,原因\r\n"
                      f"{room[5].student_no},杨帆,通过,\r\n"
                      f"{others[0].student_no},赵磊,不通过,钥匙未交\r\n"
                      "\r\n"
                      f"{others[1].student_no},孙丽,不通过,\r\n"
                      "2099123456,无名,通过,\r\n").encode("gbk"))
    page.click("a.nav-link:has-text('Excel')")
    shot(page, "desk-excel-upload-desktop")
    page.select_option("#excel-task", "dorm_checkout")
    page.set_input_files("#excel-file", str(path))
    page.click("form[enctype] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("tr[data-verdict=pass]").count() == 1
    assert page.locator("tr[data-verdict=reject]").count() == 1
    assert page.locator("tr[data-verdict=missing_reason]").count() == 1
    assert page.locator("tr[data-verdict=unknown]").count() == 1
    shot(page, "desk-excel-preview-desktop")
    page.click("#excel-confirm button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#excel-summary").is_visible()
    with page.expect_download() as download:
        page.click("#excel-summary a.btn-success")
    assert download.value.suggested_filename.endswith(".xlsx")
    shot(page, "desk-excel-done-desktop")
    db.session.expire_all()
    assert statuses(db, [room[5].id, others[0].id, others[1].id]) == ["passed", "rejected", "pending"]

    # tablet (820 px): the page used on its own, typing the room
    tablet = new_page(viewport=TABLET)
    ui_login(tablet, "dorm", "secret-pass", kind="staff")
    tablet.click("a.nav-link[href*='/desk/batch']")
    tablet.check("#by-dorm", force=True)
    tablet.fill("#batch-group", "12栋306")
    tablet.press("#batch-group", "Enter")
    tablet.wait_for_load_state()
    assert tablet.locator("table.lx-batch-table tbody tr").count() == 2
    shot(tablet, "desk-batch-dorm-tablet")
    tablet.click("a.nav-link[href*='/desk/excel']")
    tablet.set_input_files("#excel-file", str(path))
    tablet.click("form[enctype] button[type=submit]")
    tablet.wait_for_load_state()
    assert tablet.locator("tr[data-verdict=already_passed]").count() == 1      # 杨帆 was applied above
    shot(tablet, "desk-excel-preview-tablet")
