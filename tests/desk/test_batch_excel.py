"""Excel batches (app.desk.excel): reading real files, verdicts, confirming once, the result file."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from app.core.enums import Source
from app.desk.excel import (
    AlreadyConfirmed,
    confirm_upload,
    parse_batch_file,
    preview_upload,
    result_workbook,
    template_workbook,
)
from app.desk.models import DeskUpload
from app.graduates.models import Cohort
from app.workflow.models import Checkpoint, ClearanceItem, Event
from app.workflow.services import Actor, apply

ACTOR = Actor(None, "水电中心", Source.IMPORT)


def xlsx(path: Path, rows: list[list], *, text_col0: bool = False) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    if text_col0:
        for cell in ws["A"]:
            cell.number_format = "@"
    wb.save(path)
    return path


def mentions(message: str, *words: str) -> bool:
    """Chinese once the fragment translations/pending/b.po is merged, the English msgid before."""
    return any(w in message for w in words)


def cp(db, key: str) -> Checkpoint:
    return db.session.scalar(sa.select(Checkpoint).where(Checkpoint.key == key))


def status(db, graduate_id: int, key: str) -> tuple[str, str | None]:
    db.session.expire_all()
    row = db.session.execute(sa.select(ClearanceItem.status, ClearanceItem.reason).where(
        ClearanceItem.graduate_id == graduate_id, ClearanceItem.task_key == key)).one()
    return row.status, row.reason


def preview(db, cohort, path: Path, key: str = "electricity", checkpoint: str = "utilities"):
    upload, parsed = preview_upload(cp(db, checkpoint), cohort.id, key, path.name, path.read_bytes(), None)
    return upload, parsed


def by_line(upload: DeskUpload) -> dict[int, dict]:
    return {r["line"]: r for r in upload.rows}


def test_chinese_headers_outcomes_reasons_blank_rows_and_every_verdict(db, make_graduate, start, cohort, tmp_path):
    a, b, c, passed, post = (make_graduate() for _ in range(5))
    post.gtype = "postgraduate_single"
    db.session.commit()
    other_cohort = Cohort(year=2025, name="2025届")
    db.session.add(other_cohort)
    db.session.commit()
    old = make_graduate(cohort_id=other_cohort.id)
    start(a, b, c, passed, post)
    apply([passed.id], "electricity", "confirm", ACTOR)
    path = xlsx(tmp_path / "电费.xlsx", [
        ["序号", "学号", "姓名", "结果", "原因"],
        [1, a.student_no, a.name, "通过", None],                 # 2 will pass
        [2, b.student_no, None, "不通过", "欠电费 35.5 元"],        # 3 will reject
        [None, None, None, None, None],                         # 4 blank: skipped
        [3, c.student_no, None, "不通过", None],                  # 5 missing reason
        [4, passed.student_no, None, None, None],               # 6 already passed
        [5, "2099999999", None, "通过", None],                   # 7 unknown
        [6, a.student_no, None, "通过", None],                   # 8 duplicate of row 2
        [7, old.student_no, None, None, None],                  # 9 other cohort
        [8, post.student_no, None, None, None],                 # 10 postgraduates have no electricity item
        [9, c.student_no + "", "不是这个人", None, None],           # 11 duplicate of row 5 (same student)
        [10, "", None, "maybe", None],                          # 12 invalid: no number, unknown outcome
    ], text_col0=False)
    upload, parsed = preview(db, cohort, path)
    assert parsed.errors == [] and parsed.blank_rows == 1
    rows = by_line(upload)
    assert {n: r["verdict"] for n, r in rows.items()} == {
        2: "pass", 3: "reject", 5: "missing_reason", 6: "already_passed", 7: "unknown", 8: "duplicate",
        9: "other_cohort", 10: "not_required", 11: "duplicate", 12: "invalid"}
    assert "第 2 行" in rows[8]["message"] or "row 2" in rows[8]["message"]
    assert "2025届" in rows[9]["message"]

    done = confirm_upload(upload, ACTOR)
    assert done.applied_at is not None
    assert {r["line"]: r["ok"] for r in done.result} == {2: True, 3: True}
    assert status(db, a.id, "electricity") == ("passed", None)
    assert status(db, b.id, "electricity") == ("rejected", "欠电费 35.5 元")
    assert status(db, c.id, "electricity")[0] == "pending"
    sources = set(db.session.scalars(sa.select(Event.source).where(Event.task_key == "electricity",
                                                                   Event.graduate_id.in_([a.id, b.id]))))
    assert sources == {"import"}
    with pytest.raises(AlreadyConfirmed):
        confirm_upload(upload, ACTOR)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event).where(
        Event.graduate_id == a.id, Event.task_key == "electricity", Event.action == "confirm")) == 1


def test_english_headers_and_outcome_words(db, make_graduate, start, cohort, tmp_path):
    a, b, c = (make_graduate() for _ in range(3))
    start(a, b, c)
    path = xlsx(tmp_path / "utilities.xlsx", [
        ["Student No", "Outcome", "Reason"],
        [a.student_no, "pass", None], [b.student_no, 0, "unpaid 12 yuan"], [c.student_no, 1, None]])
    upload, _parsed = preview(db, cohort, path)
    assert [r["verdict"] for r in upload.rows] == ["pass", "reject", "pass"]


def test_numeric_cells_lose_leading_zeros_and_get_them_back(db, make_graduate, start, cohort, tmp_path):
    g = make_graduate(student_no="0012345")
    h = make_graduate(student_no="2022000777")
    start(g, h)
    path = xlsx(tmp_path / "numbers.xlsx", [["学号"], [12345], [2022000777.0], [12345.5]])
    upload, parsed = preview(db, cohort, path)
    rows = upload.rows
    assert rows[0]["verdict"] == "pass" and rows[0]["student_no"] == "0012345"
    assert "0012345" in rows[0]["message"]
    assert rows[1]["verdict"] == "pass" and rows[1]["graduate_id"] == h.id
    assert rows[2]["verdict"] == "invalid"
    assert parsed.warnings      # the operator is told to format the column as text


def test_gbk_and_utf8_bom_csv_files(db, make_graduate, start, cohort, tmp_path):
    a, b = make_graduate(), make_graduate()
    start(a, b)
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(f"学号,结果,原因\r\n{a.student_no},通过,\r\n{b.student_no},不通过,宿舍钥匙未交\r\n".encode("gbk"))
    upload, parsed = preview(db, cohort, gbk, "dorm_checkout", "dormitory")
    assert not parsed.errors
    assert [(r["verdict"], r["reason"]) for r in upload.rows] == [("pass", ""), ("reject", "宿舍钥匙未交")]
    bom = tmp_path / "bom.csv"
    bom.write_bytes(("\ufeff学号\n" + a.student_no + "\n").encode("utf-8"))
    upload, parsed = preview(db, cohort, bom, "dorm_checkout", "dormitory")
    assert [r["verdict"] for r in upload.rows] == ["pass"]


@pytest.mark.parametrize("name,content,message", [
    ("no-number.xlsx", None, ("学号",)),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, (".xlsx",)),
    ("old.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, (".xls",)),
    ("fake.xlsx", b"this is not a workbook", ("损坏",)),
    ("empty.csv", b"", ("空",)),
    ("binary.csv", b"\x00\x01\x02\x03", ("文本",)),
    ("big.csv", b"x" * (6 * 1024 * 1024), ("太大", "too large")),
])
def test_broken_files_get_a_clear_message_and_store_nothing(db, cohort, published, tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:
        xlsx(path, [["姓名", "结果"], ["张三", "通过"]])
    else:
        path.write_bytes(content)
    upload, parsed = preview(db, cohort, path)
    assert upload is None and parsed.errors and mentions(parsed.errors[0], *message)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DeskUpload)) == 0


def test_formulas_are_refused_row_by_row(db, make_graduate, start, cohort, tmp_path):
    a = make_graduate()
    start(a)
    path = xlsx(tmp_path / "f.xlsx", [["学号", "结果"], ['=HYPERLINK("http://x","1")', "通过"], [a.student_no, "通过"]])
    upload, _ = preview(db, cohort, path)
    assert [r["verdict"] for r in upload.rows] == ["invalid", "pass"]
    assert mentions(upload.rows[0]["message"], "公式", "formula")


def test_a_zip_bomb_is_refused_before_parsing(db, cohort, published, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/worksheets/sheet1.xml", b"0" * (70 * 1024 * 1024))
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(buf.getvalue())
    upload, parsed = preview(db, cohort, path)
    assert upload is None and mentions(parsed.errors[0], "太大", "too large")


def test_rows_changed_after_the_preview_are_not_applied_and_say_why(db, make_graduate, start, cohort, tmp_path):
    a, b = make_graduate(), make_graduate()
    start(a, b)
    upload, _ = preview(db, cohort, xlsx(tmp_path / "x.xlsx", [["学号"], [a.student_no], [b.student_no]]))
    apply([b.id], "electricity", "reject", Actor(None, "other", Source.MANUAL), reason="另有欠费")
    done = confirm_upload(upload, ACTOR)
    res = {r["line"]: r for r in done.result}
    assert res[2]["ok"] and not res[3]["ok"] and res[3]["code"] == "changed"
    assert status(db, b.id, "electricity") == ("rejected", "另有欠费")


def test_result_file_has_every_row_and_keeps_formula_text_inert(db, make_graduate, start, cohort, tmp_path):
    a = make_graduate()
    start(a)
    upload, _ = preview(db, cohort, xlsx(tmp_path / "r.xlsx", [
        ["学号", "结果", "原因"], [a.student_no, "通过", None], ["=cmd|' /C calc'!A0", None, None],
        ["123", "不通过", "=1+1"]]))
    confirm_upload(upload, ACTOR)
    data = result_workbook(db.session.get(DeskUpload, upload.id), "清理电费")
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    assert len(values) == 4
    assert values[1][1] == a.student_no and values[1][6] == "已通过"
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)


def test_template_has_the_headers_and_text_student_numbers(db):
    ws = openpyxl.load_workbook(io.BytesIO(template_workbook())).active
    assert [c.value for c in ws[1]] == ["学号", "姓名", "结果", "原因"]
    assert ws["A2"].number_format == "@"


def test_blank_rows_are_skipped_and_counted(app, tmp_path):
    path = xlsx(tmp_path / "b.xlsx", [[None], ["学号", "原因"], ["001", None], [None, None], ["002", None],
                                       [None, None], [None, None]])
    with app.test_request_context():
        parsed = parse_batch_file(path.name, path.read_bytes())
    assert [(ln.line, ln.student_no) for ln in parsed.lines] == [(3, "001"), (5, "002")]
    assert parsed.blank_rows == 1


def test_a_title_row_above_the_headers_is_fine(app, tmp_path):
    path = xlsx(tmp_path / "t.xlsx", [["2026届毕业生退宿名单"], [], ["序号", "学号", "姓名"], [1, "2022001", "张三"]])
    with app.test_request_context():
        parsed = parse_batch_file(path.name, path.read_bytes())
    assert not parsed.errors
    assert [(ln.line, ln.student_no, ln.name) for ln in parsed.lines] == [(4, "2022001", "张三")]


def _crash_on(monkeypatch, action: str):
    """Make the Excel confirmation die while applying ``action`` (as a killed worker would)."""
    import app.desk.excel as excel

    real = excel.apply

    def dying(ids, key, act, *args, **kwargs):
        if act == action:
            raise RuntimeError("worker killed")
        return real(ids, key, act, *args, **kwargs)

    monkeypatch.setattr(excel, "apply", dying)


def test_a_crash_between_the_two_phases_keeps_what_was_applied_on_record(db, make_graduate, start, cohort,
                                                                           tmp_path, monkeypatch):
    a, b = make_graduate(), make_graduate()
    start(a, b)
    upload, _ = preview(db, cohort, xlsx(tmp_path / "x.xlsx", [["学号", "结果", "原因"], [a.student_no, "通过", ""],
                                                               [b.student_no, "不通过", "欠电费 30 元"]]))
    _crash_on(monkeypatch, "reject")
    with pytest.raises(RuntimeError):
        confirm_upload(upload, ACTOR)
    db.session.expire_all()
    saved = db.session.get(DeskUpload, upload.id)
    assert saved.applied_at is not None                        # confirmed: a second click is refused
    assert [(r["line"], r["ok"]) for r in saved.result] == [(2, True)]   # the pass row, on record
    assert status(db, a.id, "electricity")[0] == "passed" and status(db, b.id, "electricity")[0] == "pending"
    sheet = openpyxl.load_workbook(io.BytesIO(result_workbook(saved, "电费"))).active
    outcomes = {sheet.cell(row=i, column=2).value: sheet.cell(row=i, column=7).value for i in (2, 3)}
    assert outcomes[b.student_no] in ("not applied", "未办理") and outcomes[a.student_no] in ("Passed", "已通过")
    with pytest.raises(AlreadyConfirmed):
        confirm_upload(saved, ACTOR)


def test_a_crash_before_anything_was_applied_leaves_the_upload_to_confirm_again(db, make_graduate, start, cohort,
                                                                                 tmp_path, monkeypatch):
    a = make_graduate()
    start(a)
    upload, _ = preview(db, cohort, xlsx(tmp_path / "x.xlsx", [["学号"], [a.student_no]]))
    with monkeypatch.context() as m:
        _crash_on(m, "confirm")
        with pytest.raises(RuntimeError):
            confirm_upload(upload, ACTOR)
    db.session.expire_all()
    saved = db.session.get(DeskUpload, upload.id)
    assert saved.applied_at is None and saved.result is None
    done = confirm_upload(saved, ACTOR)
    assert [(r["line"], r["ok"]) for r in done.result] == [(2, True)]
    assert status(db, a.id, "electricity")[0] == "passed"
