"""`flask graduates import`: real files written to tmp_path, real database, what the user sees."""
from __future__ import annotations

import csv
import io
import time
import zipfile
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from app.graduates.idcard import check_character, make_id_number
from app.graduates.models import Graduate
from app.graduates.services import ERROR, NEW, UPDATE, import_roster

ID1, ID2, ID3, ID4 = (make_id_number(n) for n in (1, 2, 3, 4))
BAD_CHECK = ID2[:17] + ("0" if ID2[17] != "0" else "1")  # right format, wrong check character

ZH_HEADER = ["学号", "姓名", "身份证号", "类别", "学院", "专业", "班级", "宿舍", "手机", "是否党员", "国家助学贷款",
             "欠费", "未还图书"]
EN_HEADER = ["Student Number", "Name", "ID_Card", "Type", "College", "Major", "Class", "Dorm Building", "Room",
             "Phone", "Email", "Advisor", "party_member", "has_origin_loan", "Library Fines", "Lives On Campus"]


# ---------------------------------------------------------------- helpers

def write_csv(tmp_path, rows, name="roster.csv", encoding="utf-8", delimiter=",", bom=False):
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter).writerows(rows)  # quotes "1,234.5" as Excel would
    text = buf.getvalue()
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)
    path = tmp_path / name
    path.write_bytes(data)
    return path


def write_xlsx(tmp_path, rows, name="roster.xlsx", title="名单"):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    for row in rows:
        ws.append(list(row))
    path = tmp_path / name
    wb.save(path)
    return path


def run(runner, path, *args, year="2026"):
    with force_locale("en"):
        result = runner.invoke(args=["graduates", "import", str(path), "--cohort", year, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def lines(result) -> list[str]:
    return result.output.splitlines()


def graduates(db) -> dict[str, Graduate]:
    db.session.expire_all()
    return {g.student_no: g for g in db.session.scalars(sa.select(Graduate))}


def count(db) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Graduate))


# ---------------------------------------------------------------- CSV

def test_utf8_csv_with_chinese_headers_imports_every_field(db, cohort, runner, tmp_path):
    path = write_csv(tmp_path, [
        ZH_HEADER,
        ["0020230001", "张三", ID1, "本科生", "计算机学院", "软件工程", "软件2201", "12栋305", "13800000001", "是", "有",
         "1,234.5", "3"],
        ["0020230002", "李四", ID2.lower() if ID2.endswith("X") else ID2, "双证研究生", "数学学院", "数学", "数学2201",
         "7-201", "", "否", "", "", ""],
        ["0020230003", "王五", ID3, "单证", "", "", "", "", "", "", "", "¥0.5", "0"],
    ])
    result = run(runner, path)
    assert result.exit_code == 0, result.output
    assert lines(result) == ["3 new, 0 updated, 0 errors, 0 blank rows skipped", "Imported into cohort 2026."]
    g = graduates(db)
    assert sorted(g) == ["0020230001", "0020230002", "0020230003"]
    a, b, c = g["0020230001"], g["0020230002"], g["0020230003"]
    assert (a.name, a.id_card, a.gtype, a.college, a.major, a.class_name) == \
        ("张三", ID1, "undergraduate", "计算机学院", "软件工程", "软件2201")
    assert (a.dorm_building, a.dorm_room, a.phone) == ("12栋", "305", "13800000001")
    assert (a.party_member, a.has_national_loan, a.arrears, a.library_books) == (True, True, Decimal("1234.50"), 3)
    assert (b.gtype, b.dorm_building, b.dorm_room, b.party_member, b.has_national_loan) == \
        ("postgraduate_dual", "7", "201", False, False)
    assert (c.gtype, c.arrears, c.dorm_building, c.lives_on_campus) == ("postgraduate_single", Decimal("0.50"), "", True)
    assert a.cohort_id == cohort.id and a.password_hash is None


def test_utf8_bom_csv(db, cohort, runner, tmp_path):
    path = write_csv(tmp_path, [["学号", "姓名", "身份证号", "类别"], ["2020123456", "张三", ID1, "本科"]], bom=True)
    result = run(runner, path)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output  # the BOM is not part of the first header
    assert graduates(db)["2020123456"].name == "张三"


def test_gbk_csv_with_chinese_headers(db, cohort, runner, tmp_path):
    path = write_csv(tmp_path, [
        ["学号", "姓名", "身份证号码", "学生类别", "学院", "宿舍楼", "房间号", "导师"],
        ["2020123456", "欧阳娜娜", ID1, "本科生", "外国语学院", "桃李苑3栋", "512", "钱老师"],
    ], encoding="gbk")
    assert (tmp_path / "roster.csv").read_bytes().decode("gbk")  # really GBK, not UTF-8
    with pytest.raises(UnicodeDecodeError):
        (tmp_path / "roster.csv").read_bytes().decode("utf-8")
    result = run(runner, path)
    assert result.exit_code == 0, result.output
    g = graduates(db)["2020123456"]
    assert (g.name, g.college, g.dorm_building, g.dorm_room, g.advisor) == ("欧阳娜娜", "外国语学院", "桃李苑3栋", "512", "钱老师")


@pytest.mark.parametrize("delimiter", ["\t", ";"])
def test_tab_and_semicolon_delimited_csv(db, cohort, runner, tmp_path, delimiter):
    path = write_csv(tmp_path, [["学号", "姓名", "身份证号", "类别"], ["2020123456", "张三", ID1, "本科生"]],
                     delimiter=delimiter)
    result = run(runner, path)
    assert result.exit_code == 0, result.output
    assert graduates(db)["2020123456"].name == "张三"


# ---------------------------------------------------------------- xlsx

def test_xlsx_with_english_headers_and_title_rows_above(db, cohort, runner, tmp_path):
    path = write_xlsx(tmp_path, [
        [],
        [None, None],
        EN_HEADER,
        ["S001", "Li Lei", ID1, "undergraduate", "Physics", "Optics", "P2201", "Building 5", 101, "+86 138",
         "li@example.edu", "Dr Wang", "Y", "N", 2.5, "false"],
        ["S002", "Han Meimei", ID2, "postgraduate_single", None, None, None, None, None, None, None, None, 1, 0,
         None, True],
    ])
    result = run(runner, path)
    assert result.exit_code == 0, result.output
    assert lines(result)[0] == "2 new, 0 updated, 0 errors, 0 blank rows skipped"
    g = graduates(db)
    a, b = g["S001"], g["S002"]
    assert (a.college, a.dorm_building, a.dorm_room, a.phone, a.email, a.advisor) == \
        ("Physics", "Building 5", "101", "+86 138", "li@example.edu", "Dr Wang")
    assert (a.party_member, a.has_origin_loan, a.library_fines, a.lives_on_campus) == \
        (True, False, Decimal("2.50"), False)
    assert (b.gtype, b.party_member, b.has_origin_loan, b.lives_on_campus, b.library_fines) == \
        ("postgraduate_single", True, False, True, Decimal("0.00"))


def test_xlsx_numeric_student_numbers_and_id_numbers(db, cohort, runner, tmp_path):
    """学号 typed as a number loses its leading zeros (warned); an 18-digit ID number stored as a number
    has lost digits (Excel keeps 15) and is refused."""
    digits_lost = int(ID2[:17] + "0") if ID2[17] == "X" else int(ID2)
    path = write_xlsx(tmp_path, [
        ["学号", "姓名", "身份证号", "类别"],
        [20230001, "张三", ID1, "本科生"],             # number: leading zeros of "0020230001" already gone
        [2020123456.0, "李四", ID3, "本科生"],         # float with .0
        ["0020230003", "王五", float(digits_lost), "本科生"],
    ])
    result = run(runner, path)
    assert result.exit_code == 1
    assert lines(result) == [
        "warning: Student numbers on 2 row(s) (2, 3) were stored as numbers: leading zeros, if any, are lost. "
        "Format the column as text to keep them.",
        "ROW 4: 0020230003: ID-card number stored as a number, digits lost; format the column as text",
        "2 new, 0 updated, 1 errors, 0 blank rows skipped",
        "Nothing imported: correct the file and import it again.",
    ]
    assert count(db) == 0

    fixed = write_xlsx(tmp_path, [["学号", "姓名", "身份证号", "类别"], [20230001, "张三", ID1, "本科生"],
                                  [2020123456.0, "李四", ID3, "本科生"], ["0020230003", "王五", ID2, "本科生"]],
                       name="fixed.xlsx")
    result = run(runner, fixed)
    assert result.exit_code == 0, result.output
    assert sorted(graduates(db)) == ["0020230003", "2020123456", "20230001"]


# ---------------------------------------------------------------- row errors

def test_one_bad_row_among_good_ones_imports_nothing(db, cohort, runner, tmp_path):
    path = write_csv(tmp_path, [
        ["学号", "姓名", "身份证号", "类别", "欠费", "住校"],
        ["2020000001", "甲", ID1, "本科生", "0", "是"],
        ["2020000002", "乙", ID2, "本科生", "", ""],
        ["2020000003", "丙", ID3, "本科生", "", ""],
        ["2020123456", "丁", BAD_CHECK, "本科生", "", ""],
        ["2020000005", "", "", "研究生", "十元", "也许"],
        ["", "戊", "43010220030230001X", "博士后", "", ""],
        ["2020000007", "己", "4301022003011500", "本科生", "", ""],
        ["2020000008", "庚", ID4, "本科生", "", ""],
    ])
    result = run(runner, path)
    assert result.exit_code == 1
    assert lines(result) == [
        "ROW 5: 2020123456: invalid ID-card number (check digit)",
        'ROW 6: 2020000005: missing name; missing ID-card number; graduate type "研究生" is ambiguous: '
        'write 双证研究生 or 单证研究生; bad number in "欠费": "十元"; not a yes/no value in "住校": "也许"',
        'ROW 7: -: missing student number; invalid ID-card number (birth date); unknown graduate type "博士后"',
        "ROW 8: 2020000007: invalid ID-card number (format: 17 digits and a digit or X)",
        "4 new, 0 updated, 4 errors, 0 blank rows skipped",
        "Nothing imported: correct the file and import it again.",
    ]
    assert count(db) == 0


def test_duplicates_inside_the_file(db, cohort, runner, tmp_path):
    path = write_csv(tmp_path, [
        ["学号", "姓名", "身份证号", "类别"],
        ["2020000001", "甲", ID1, "本科生"],
        ["2020000002", "乙", ID2, "本科生"],
        ["2020000001", "甲二", ID3, "本科生"],
        ["2020000004", "丁", ID2, "本科生"],
        ["2020000005", "戊", ID4, "本科生"],
    ])
    result = run(runner, path)
    assert result.exit_code == 1
    assert lines(result)[:4] == [
        "ROW 2: 2020000001: duplicate student number (also on row 4)",
        "ROW 3: 2020000002: same ID-card number as row 5 (student number 2020000004)",
        "ROW 4: 2020000001: duplicate student number (also on row 2)",
        "ROW 5: 2020000004: same ID-card number as row 3 (student number 2020000002)",
    ]
    assert lines(result)[4] == "1 new, 0 updated, 4 errors, 0 blank rows skipped"
    assert count(db) == 0


def test_id_number_of_another_graduate_already_in_the_cohort(db, cohort, runner, tmp_path, make_graduate):
    make_graduate(student_no="2019000009", name="老生", id_card=ID1)
    path = write_csv(tmp_path, [["学号", "姓名", "身份证号", "类别"], ["2020000001", "新生", ID1, "本科生"]])
    result = run(runner, path)
    assert result.exit_code == 1
    assert lines(result)[0] == "ROW 2: 2020000001: same ID-card number as 2019000009 老生, already in this cohort"
    assert count(db) == 1


# ---------------------------------------------------------------- re-import

def test_reimport_updates_instead_of_duplicating(db, cohort, runner, tmp_path, make_graduate):
    kept = make_graduate(student_no="2019000009", name="不在文件里", college="老学院",
                         id_card=make_id_number(999, birth="19990101"))
    first = write_csv(tmp_path, [
        ["学号", "姓名", "身份证号", "类别", "学院", "是否党员", "欠费"],
        ["0020000001", "甲", ID1, "本科生", "计算机学院", "是", "100"],
        ["0020000002", "乙", ID2, "本科生", "计算机学院", "否", "0"],
    ], name="first.csv")
    assert run(runner, first).exit_code == 0
    g = graduates(db)
    ids = {k: v.id for k, v in g.items()}
    g["0020000002"].phone = "13900000000"  # a column the next file does not have
    db.session.commit()

    second = write_csv(tmp_path, [
        ["学号", "姓名", "身份证号", "类别", "学院", "是否党员", "欠费"],
        ["0020000001", "甲（改名）", ID1, "双证研究生", "数学学院", "", ""],
        ["0020000002", "乙", ID3, "本科生", "计算机学院", "是", "5"],
        ["0020000003", "丙", ID2, "本科生", "", "", ""],   # ID2 freed by row 3: no conflict
    ], name="second.csv")
    result = run(runner, second)
    assert result.exit_code == 0, result.output
    assert lines(result)[0] == "1 new, 2 updated, 0 errors, 0 blank rows skipped"
    g = graduates(db)
    assert count(db) == 4
    a, b = g["0020000001"], g["0020000002"]
    assert a.id == ids["0020000001"] and b.id == ids["0020000002"]
    assert (a.name, a.gtype, a.college, a.party_member, a.arrears) == \
        ("甲（改名）", "postgraduate_dual", "数学学院", False, Decimal("0.00"))
    assert (b.id_card, b.party_member, b.arrears, b.phone) == (ID3, True, Decimal("5.00"), "13900000000")
    assert g["0020000003"].id_card == ID2
    assert (g["2019000009"].name, g["2019000009"].college) == (kept.name, "老学院")


def test_same_student_number_in_another_cohort_is_a_new_graduate(db, cohort, runner, tmp_path):
    from app.graduates.models import Cohort

    db.session.add(Cohort(year=2025, name="2025届"))
    db.session.commit()
    path = write_csv(tmp_path, [["学号", "姓名", "身份证号", "类别"], ["2020000001", "甲", ID1, "本科生"]])
    assert run(runner, path, year="2025").exit_code == 0
    result = run(runner, path)
    assert lines(result)[0] == "1 new, 0 updated, 0 errors, 0 blank rows skipped"
    assert count(db) == 2


# ---------------------------------------------------------------- whole-file problems

def test_missing_required_columns(db, cohort, runner, tmp_path):
    path = write_csv(tmp_path, [["学号", "名字", "学院"], ["2020000001", "甲", "计算机学院"]])
    result = run(runner, path)
    assert result.exit_code == 1
    assert lines(result) == [
        "error: Missing required columns: 姓名 (name), 身份证号 (id_card), 类别 (type).",
        "Nothing imported: correct the file and import it again.",
    ]
    assert count(db) == 0


def test_unknown_columns_are_reported_once_and_ignored(db, cohort, runner, tmp_path):
    path = write_csv(tmp_path, [
        ["序号", "学号", "姓名", "身份证号", "类别", "备注", "籍贯"],
        ["1", "2020000001", "甲", ID1, "本科生", "x", "湖南"],
        ["2", "2020000002", "乙", ID2, "本科生", "y", "湖北"],
    ])
    result = run(runner, path)
    assert result.exit_code == 0
    assert lines(result) == ['warning: Unknown columns ignored: "备注", "籍贯".',
                             "2 new, 0 updated, 0 errors, 0 blank rows skipped", "Imported into cohort 2026."]


@pytest.mark.parametrize("name, data, message", [
    ("roster.xlsx", b"\x8a\x01 random bytes, not a zip \xff" * 20,
     "error: Cannot read the Excel file: it is damaged or not an .xlsx workbook."),
    ("roster.xlsx", None, "error: Cannot read the Excel file: it is damaged or not an .xlsx workbook."),
    ("roster.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512,
     "error: This is an old-format .xls workbook (or an encrypted one): open it in Excel and save it as .xlsx."),
    ("roster.xls", b"whatever", 'error: Unsupported file type ".xls": use an .xlsx workbook or a .csv file.'),
    ("roster.csv", b"", "error: The file is empty."),
    ("roster.xlsx", b"", "error: The file is empty."),
    ("roster.csv", b" \r\n,,,\r\n\r\n", "error: The file is empty."),
    ("roster.csv", b"\x81\xff\xfe\xfa" * 10, "error: Cannot read the CSV file: unknown text encoding; "
                                                    "save it as CSV UTF-8."),
    ("roster.csv", "学号,姓名,身份证号,类别\r\n".encode(), "error: No students below the header row (row 1)."),
])
def test_unreadable_files_give_a_clear_message(db, cohort, runner, tmp_path, name, data, message):
    if data is None:  # a zip, but no workbook in it
        buf = tmp_path / "z.zip"
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("hello.txt", "not a workbook")
        data = buf.read_bytes()
    path = tmp_path / name
    path.write_bytes(data)
    result = run(runner, path)
    assert result.exit_code == 1
    assert lines(result) == [message, "Nothing imported: correct the file and import it again."]


def test_empty_xlsx_and_missing_file(db, cohort, runner, tmp_path):
    result = run(runner, write_xlsx(tmp_path, []))
    assert (result.exit_code, lines(result)[0]) == (1, "error: The file is empty.")
    result = run(runner, tmp_path / "nope.csv")
    assert result.exit_code == 1
    assert lines(result)[0].startswith("error: cannot read ")
    result = run(runner, write_csv(tmp_path, [["学号", "姓名", "身份证号", "类别"], ["1", "甲", ID1, "本科生"]]),
                 year="1999")
    assert result.exit_code == 1 and "cohort 1999 does not exist" in result.output


def test_xlsx_renamed_to_csv(db, cohort, runner, tmp_path):
    xlsx = write_xlsx(tmp_path, [["学号", "姓名", "身份证号", "类别"]])
    path = tmp_path / "roster.csv"
    path.write_bytes(xlsx.read_bytes())
    result = run(runner, path)
    assert (result.exit_code, lines(result)[0]) == \
        (1, "error: This is an Excel workbook, not CSV text: save it as .xlsx and upload that.")


def test_blank_rows_are_skipped_and_counted(db, cohort, runner, tmp_path):
    path = write_xlsx(tmp_path, [
        ["学号", "姓名", "身份证号", "类别", "备注"],
        ["2020000001", "甲", ID1, "本科生"],
        [],
        [None, "  ", None, None, "only an unknown column"],
        ["2020000004", "丁", BAD_CHECK, "本科生"],
        [],
        [],  # trailing blank rows are not counted
    ])
    result = run(runner, path)
    assert result.exit_code == 1
    assert lines(result)[1:3] == ["ROW 5: 2020000004: invalid ID-card number (check digit)",
                                  "1 new, 0 updated, 1 errors, 2 blank rows skipped"]


# ---------------------------------------------------------------- dry run

def test_dry_run_writes_nothing(db, cohort, runner, tmp_path, make_graduate):
    make_graduate(student_no="2020000001", name="旧名", id_card=ID1)
    path = write_csv(tmp_path, [["学号", "姓名", "身份证号", "类别"], ["2020000001", "新名", ID1, "本科生"],
                                ["2020000002", "乙", ID2, "本科生"]])
    result = run(runner, path, "--dry-run")
    assert result.exit_code == 0
    assert lines(result) == ["1 new, 1 updated, 0 errors, 0 blank rows skipped", "Dry run: nothing written."]
    g = graduates(db)
    assert list(g) == ["2020000001"] and g["2020000001"].name == "旧名"

    bad = write_csv(tmp_path, [["学号", "姓名", "身份证号", "类别"], ["2020000002", "乙", BAD_CHECK, "本科生"]],
                    name="bad.csv")
    result = run(runner, bad, "--dry-run")
    assert result.exit_code == 1
    assert lines(result)[0] == "ROW 2: 2020000002: invalid ID-card number (check digit)"


# ---------------------------------------------------------------- the service (shared with the web page)

def test_service_report(db, cohort, make_graduate):
    make_graduate(student_no="2020000001", id_card=ID1)
    data = "\n".join(["学号,姓名,身份证号,类别,爱好", f"2020000001,甲,{ID1},本科生,", ",,,,", f"2020000002,乙,{ID2},本科生,",
                      f"2020000003,丙,{BAD_CHECK},本科生,"]).encode("utf-8")
    with force_locale("en"):
        report = import_roster(cohort, "名单.csv", data)
    assert not report.ok and not report.written and not report.errors
    assert [(r.number, r.student_no, r.name, r.verdict) for r in report.rows] == [
        (2, "2020000001", "甲", UPDATE), (4, "2020000002", "乙", NEW), (5, "2020000003", "丙", ERROR)]
    assert report.rows[2].messages == ["invalid ID-card number (check digit)"]
    assert report.counts == {NEW: 1, UPDATE: 1, ERROR: 1, "blank": 1}
    assert report.warnings == ['Unknown columns ignored: "爱好".']
    assert count(db) == 1

    good = data.replace(BAD_CHECK.encode(), ID3.encode())
    report = import_roster(cohort, "名单.csv", good, dry_run=True)
    assert report.ok and not report.written and count(db) == 1
    report = import_roster(cohort, "名单.csv", good)
    assert report.ok and report.written and count(db) == 3


def test_messages_are_translatable(db, cohort):
    """Default locale (zh_CN) without a catalogue falls back to the English msgids; no crash."""
    report = import_roster(cohort, "x.csv", b"a,b\n1,2\n")
    assert report.errors and "学号" in report.errors[0]


def test_helpers():
    from app.graduates.importer import norm_header, split_dorm

    assert split_dorm("12栋305") == ("12栋", "305")
    assert split_dorm("12-305") == ("12", "305")
    assert split_dorm("桃李苑3栋512室") == ("桃李苑3栋", "512")
    assert split_dorm("A3 305") == ("A3", "305")
    assert split_dorm("12305") is None
    assert norm_header("\ufeff 欠费（元）") == norm_header("欠费") == "欠费"
    assert norm_header("Student_No") == norm_header("student no") == "studentno"
    assert check_character(ID1[:17]) == ID1[17]


def test_twenty_thousand_rows(db, cohort, tmp_path):
    header = "学号,姓名,身份证号,类别,学院,专业,班级,宿舍,手机,是否党员,欠费"
    rows = [header]
    for i in range(20000):
        birth = f"{1990 + i // 1000:04d}0101"  # 1000 seeds per birth date: unique ID numbers
        rows.append(f"{2020000000 + i},学生{i},{make_id_number(i, birth=birth)},本科生,计算机学院,软件工程,"
                    f"软件{i % 40},{i % 30}栋{i % 600},13800000000,否,0")
    data = "\n".join(rows).encode("utf-8")
    started = time.monotonic()
    report = import_roster(cohort, "big.csv", data)
    first = time.monotonic() - started
    assert report.ok and report.written, report.error_rows[:3]
    assert count(db) == 20000
    started = time.monotonic()
    report = import_roster(cohort, "big.csv", data)
    second = time.monotonic() - started
    assert report.counts[UPDATE] == 20000 and count(db) == 20000
    assert first < 30 and second < 30, (first, second)
