"""Desk batch pages: class / dorm batch and Excel batch, permissions, all or nothing."""
from __future__ import annotations

import io
import re

import openpyxl
import sqlalchemy as sa

from app.core.enums import Source
from app.desk.models import DeskUpload
from app.workflow.models import ClearanceItem, Event
from app.workflow.services import Actor, apply
from tests.web.test_portal_sheet import text


def status(db, graduate_id, key) -> str:
    db.session.expire_all()
    return db.session.scalar(sa.select(ClearanceItem.status).where(
        ClearanceItem.graduate_id == graduate_id, ClearanceItem.task_key == key))


def room(make_graduate, start, n=4, building="7栋", number="210"):
    graduates = [make_graduate(dorm_building=building, dorm_room=number, name=f"室友{i}") for i in range(n)]
    start(*graduates)
    return graduates


def test_batch_page_from_the_graduate_lists_dorm_mates_with_status(client, db, make_graduate, start, login_staff):
    a, b, c, d = room(make_graduate, start)
    apply([b.id], "dorm_checkout", "confirm", Actor(None, "x", Source.MANUAL))
    login_staff("dorm", "dormitory")
    resp = client.get(f"/desk/batch?cp=dormitory&graduate_id={a.id}&by=dorm&task=dorm_checkout")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    page = text(resp)
    assert "7栋-210" in page and all(g.name in page for g in (a, b, c, d))
    for g in (a, c, d):
        assert f'name="g" value="{g.id}"' in html
    assert f'name="g" value="{b.id}"' not in html          # passed: shown, not selectable
    assert "已通过" in page


def test_dorm_batch_confirms_the_ticked_and_summarises(client, db, make_graduate, start, login_staff):
    a, b, c, d = room(make_graduate, start)
    login_staff("dorm", "dormitory")
    form = {"cp": "dormitory", "cohort": "2026", "by": "dorm", "group": "7栋-210", "task": "dorm_checkout",
            "g": [a.id, b.id, c.id], **{f"seen-{g.id}": "pending" for g in (a, b, c)}}
    resp = client.post("/desk/batch/confirm", data=form)
    assert resp.status_code == 303
    page = text(client.get(resp.headers["Location"]))
    assert "室友0" in page and "3" in page
    assert [status(db, g.id, "dorm_checkout") for g in (a, b, c, d)] == ["passed"] * 3 + ["pending"]
    assert set(db.session.scalars(sa.select(Event.source).where(
        Event.task_key == "dorm_checkout", Event.action == "confirm"))) == {"batch"}


def test_a_passed_row_posted_by_hand_refuses_everything(client, db, make_graduate, start, login_staff):
    a, b = room(make_graduate, start, 2)
    apply([b.id], "dorm_checkout", "confirm", Actor(None, "x", Source.MANUAL))
    login_staff("dorm", "dormitory")
    resp = client.post("/desk/batch/confirm", data={
        "cp": "dormitory", "cohort": "2026", "by": "dorm", "group": "7栋210", "task": "dorm_checkout",
        "g": [a.id, b.id]})
    assert resp.status_code == 409
    page = text(resp)
    assert b.name in page and "已通过" in page
    assert status(db, a.id, "dorm_checkout") == "pending"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(
        Event.graduate_id == a.id, Event.action == "confirm")) == 0


def test_the_page_works_on_its_own_by_typing_a_class(client, db, make_graduate, start, login_staff):
    graduates = [make_graduate(class_name="英语2204") for _ in range(3)]
    start(*graduates)
    login_staff("sa", "student_affairs")
    page = text(client.get("/desk/batch?cp=student_affairs&by=class&group=英语2204"))
    assert "上交学生证" in page and all(g.student_no in page for g in graduates)
    page = text(client.get("/desk/batch?cp=student_affairs&by=class&group=2204"))
    assert "英语2204" in page          # "did you mean"


def test_operators_batch_only_their_own_checkpoints_items(client, db, make_graduate, start, login_staff):
    a, b = room(make_graduate, start, 2)
    login_staff("dorm", "dormitory")
    assert client.get(f"/desk/batch?cp=utilities&graduate_id={a.id}&by=dorm").status_code == 403
    assert client.get(f"/desk/batch?cp=dormitory&graduate_id={a.id}&by=dorm&task=electricity").status_code == 403
    resp = client.post("/desk/batch/confirm", data={
        "cp": "dormitory", "cohort": "2026", "by": "dorm", "group": "7栋-210", "task": "electricity", "g": [a.id]})
    assert resp.status_code == 403
    resp = client.post("/desk/batch/confirm", data={
        "cp": "utilities", "cohort": "2026", "by": "dorm", "group": "7栋-210", "task": "electricity", "g": [a.id]})
    assert resp.status_code == 403
    assert status(db, a.id, "electricity") == "pending"


def _xlsx(rows) -> bytes:
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_excel_upload_preview_confirm_once_and_result_file(client, db, make_graduate, start, login_staff):
    a, b, c = (make_graduate() for _ in range(3))
    start(a, b, c)
    login_staff("util", "utilities")
    data = _xlsx([["学号", "结果", "原因"], [a.student_no, "通过", None], [b.student_no, "不通过", "欠电费 35.5 元"],
                  ["20990000", None, None]])
    resp = client.post("/desk/excel", data={"cp": "utilities", "task": "electricity",
                                            "file": (io.BytesIO(data), "电费.xlsx")},
                       content_type="multipart/form-data")
    assert resp.status_code == 303
    preview_url = resp.headers["Location"]
    page = text(client.get(preview_url))
    assert "电费.xlsx" in page and "欠电费 35.5 元" in page and "20990000" in page
    assert status(db, a.id, "electricity") == "pending"             # nothing applied before confirming
    upload_id = int(re.search(r"/excel/(\d+)", preview_url).group(1))
    resp = client.post(f"/desk/excel/{upload_id}/confirm")
    assert resp.status_code == 303
    assert status(db, a.id, "electricity") == "passed" and status(db, b.id, "electricity") == "rejected"
    resp = client.post(f"/desk/excel/{upload_id}/confirm")          # a second confirmation changes nothing
    assert resp.status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(
        Event.graduate_id == a.id, Event.action == "confirm")) == 1
    resp = client.get(f"/desk/excel/{upload_id}/result.xlsx")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    ws = openpyxl.load_workbook(io.BytesIO(resp.data)).active
    assert ws.max_row == 4


def test_a_bad_file_is_refused_with_a_message(client, db, make_graduate, start, login_staff):
    start(make_graduate())
    login_staff("util", "utilities")
    resp = client.post("/desk/excel", data={"cp": "utilities", "task": "electricity",
                                            "file": (io.BytesIO(_xlsx([["姓名"], ["张三"]])), "x.xlsx")},
                       content_type="multipart/form-data")
    assert resp.status_code == 422
    assert "学号" in text(resp)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DeskUpload)) == 0


def test_another_checkpoints_operator_cannot_see_or_confirm_an_upload(client, db, make_graduate, start, login_staff,
                                                                       operator):
    a = make_graduate()
    start(a)
    login_staff("util", "utilities")
    client.post("/desk/excel", data={"cp": "utilities", "task": "electricity",
                                     "file": (io.BytesIO(_xlsx([["学号"], [a.student_no]])), "x.xlsx")},
                content_type="multipart/form-data")
    upload_id = db.session.scalar(sa.select(DeskUpload.id))
    client.post("/logout")
    login_staff("lib", "library")
    assert client.get(f"/desk/excel/{upload_id}").status_code == 403
    assert client.post(f"/desk/excel/{upload_id}/confirm").status_code == 403
    assert client.get(f"/desk/excel/{upload_id}/result.xlsx").status_code == 403
    assert client.post("/desk/excel", data={"cp": "library", "task": "electricity"}).status_code == 403
    assert status(db, a.id, "electricity") == "pending"


def test_template_download(client, db, login_staff):
    login_staff("util", "utilities")
    resp = client.get("/desk/excel/template.xlsx")
    assert resp.status_code == 200
    assert [c.value for c in openpyxl.load_workbook(io.BytesIO(resp.data)).active[1]] == ["学号", "姓名", "结果", "原因"]


def test_switching_checkpoint_on_a_preview_goes_to_that_checkpoints_upload_page(client, db, make_graduate, start,
                                                                                login_staff):
    a = make_graduate()
    start(a)
    login_staff("both", "utilities", "dormitory")
    resp = client.post("/desk/excel", data={"cp": "utilities", "task": "electricity",
                                            "file": (io.BytesIO(_xlsx([["学号"], [a.student_no]])), "x.xlsx")},
                       content_type="multipart/form-data")
    preview_url = resp.headers["Location"]
    html = client.get(preview_url).get_data(as_text=True)
    switch = re.search(r'href="([^"]*cp=dormitory[^"]*)"', html).group(1).replace("&amp;", "&")
    resp = client.get(switch)
    assert resp.status_code == 303 and "/desk/excel?cp=dormitory" in resp.headers["Location"]


def test_a_graduate_living_off_campus_gets_a_hint_instead_of_a_list(client, db, make_graduate, start, login_staff):
    g = make_graduate(dorm_building="", dorm_room="", lives_on_campus=False, name="走读生")
    start(g)
    login_staff("dorm", "dormitory")
    resp = client.get(f"/desk/batch?cp=dormitory&graduate_id={g.id}&by=dorm")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "走读生" in text(resp) and 'name="g"' not in html and "alert-info" in html
    assert client.get("/desk/batch?cp=dormitory&graduate_id=999999&by=dorm").status_code == 404


def test_a_row_changed_by_another_operator_since_the_list_was_shown(client, db, make_graduate, start, login_staff):
    a, b, c = room(make_graduate, start, 3)
    login_staff("dorm", "dormitory")
    form = {"cp": "dormitory", "cohort": "2026", "by": "dorm", "group": "7栋-210", "task": "dorm_checkout",
            "g": [a.id, b.id, c.id], **{f"seen-{g.id}": "pending" for g in (a, b, c)}}
    # meanwhile a colleague rejects b at the counter
    apply([b.id], "dorm_checkout", "reject", Actor(None, "colleague", Source.MANUAL), reason="钥匙未交")
    resp = client.post("/desk/batch/confirm", data=form)
    assert resp.status_code == 409
    html = resp.get_data(as_text=True)
    problems = text(resp).split("室友0")[0]
    assert b.name in problems and "未通过" in problems
    assert f'name="seen-{b.id}" value="rejected"' in html          # the fresh list
    assert [status(db, g.id, "dorm_checkout") for g in (a, b, c)] == ["pending", "rejected", "pending"]


def test_the_batch_page_in_english(client, db, make_graduate, start, login_staff):
    a, b = room(make_graduate, start, 2)
    login_staff("dorm", "dormitory")
    page = text(client.get(f"/desk/batch?cp=dormitory&graduate_id={a.id}&by=dorm&lang=en"))
    assert "By dorm room" in page and "Dormitory management" in page and "Pending" in page


def test_the_batch_buttons_macro_links_to_the_batch_page(app, db, make_graduate, start):
    from flask import render_template_string

    from app.workflow.models import Checkpoint

    g = make_graduate()
    start(g)
    with app.test_request_context("/desk/"):
        cp = db.session.scalar(sa.select(Checkpoint).where(Checkpoint.key == "utilities"))
        html = render_template_string(
            '{% from "desk/batch_links.html" import batch_buttons %}{{ batch_buttons(cp, g, "electricity", "dorm") }}',
            cp=cp, g=g)
    hrefs = [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', html)]
    assert f"/desk/batch?cp=utilities&graduate_id={g.id}&by=dorm&task=electricity" in hrefs
    assert f"/desk/batch?cp=utilities&graduate_id={g.id}&by=class&task=electricity" in hrefs
