"""The statistics tab of the desk (/desk/stats): panel, refresh, drill-down, lists, export, permissions."""
from __future__ import annotations

import html as html_lib
import io
import re

import pytest
from openpyxl import load_workbook

from app.workflow.services import Actor, apply
from tests.web.test_portal_sheet import text

ACTOR = Actor.system("test")


@pytest.fixture()
def varied(db, make_graduate, start):
    """财务处: 赵一 passed (auto), 钱二 pending, 孙三 rejected, 李四 waived, 周五 passed, 吴六 blocked."""
    g = {
        "u1": make_graduate(name="赵一", college="计算机学院", class_name="软件2201", arrears=0),
        "u2": make_graduate(name="钱二", college="计算机学院", class_name="软件2201", arrears=100,
                            dorm_building="3栋", dorm_room="101", phone="13900000002"),
        "u3": make_graduate(name="孙三", college="计算机学院", class_name="软件2202", arrears=200),
        "u4": make_graduate(name="李四", college="外国语学院", class_name="英语2201", arrears=300),
        "u5": make_graduate(name="周五", college="外国语学院", class_name="英语2201", arrears=50),
        "p1": make_graduate(name="吴六", college="资源学院", class_name="资源硕2301", gtype="postgraduate_dual",
                            arrears=10),
    }
    start(*g.values())
    apply([g["u3"].id], "finance", "reject", ACTOR, reason="欠学费 200 元")
    apply([g["u4"].id], "finance", "waive", ACTOR, reason="家庭困难，缓交")
    apply([g["u5"].id], "finance", "confirm", ACTOR)
    return {k: (v.id, v.student_no) for k, v in g.items()}


def links(resp) -> dict[str, str]:
    """Visible text of every link -> its href (unescaped)."""
    page = resp.get_data(as_text=True)
    return {re.sub(r"<[^>]+>|\s+", "", m.group(2)): html_lib.unescape(m.group(1))
            for m in re.finditer(r'<a [^>]*href="([^"]+)"[^>]*>(.*?)</a>', page, re.S)}


def row_cells(resp, label: str) -> list[str]:
    """The cells of the table row whose header cell is ``label`` (text only)."""
    page = resp.get_data(as_text=True)
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S):
        cells = [re.sub(r"<[^>]+>|\s+", "", c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)]
        if cells and cells[0] == label:
            return cells[1:]
    raise AssertionError(f"no row {label!r}")


# columns: pending, not passed, blocked, passed, waived, not required, total, done %
def test_panel_counts_by_item_and_by_college(client, login_staff, varied):
    login_staff("op", "finance")
    resp = client.get("/desk/stats?cp=finance")
    assert resp.status_code == 200
    page = text(resp)
    assert "财务处" in page and "待办理" in page and "未通过" in page and "缓交" in page
    assert row_cells(resp, "缴清欠费/缴清学杂费、财务借款") == ["1", "1", "1", "2", "1", "0", "6", "50%"]
    assert row_cells(resp, "计算机学院") == ["1", "1", "0", "1", "0", "0", "3", "33%"]
    assert row_cells(resp, "外国语学院") == ["0", "0", "0", "1", "1", "0", "2", "100%"]
    assert row_cells(resp, "资源学院") == ["0", "0", "1", "0", "0", "0", "1", "0%"]


def test_drill_down_from_college_to_classes(client, login_staff, varied):
    login_staff("op", "finance")
    college_link = links(client.get("/desk/stats?cp=finance"))["计算机学院"]
    resp = client.get(college_link)
    assert resp.status_code == 200
    assert row_cells(resp, "软件2201") == ["1", "0", "0", "1", "0", "0", "2", "50%"]
    assert row_cells(resp, "软件2202") == ["0", "1", "0", "0", "0", "0", "1", "0%"]
    assert "英语2201" not in text(resp)
    back = links(client.get(college_link + "&lang=en"))["Allcolleges"]
    assert row_cells(client.get(back), "外国语学院")[6] == "2"


def test_the_panel_refreshes_itself_and_on_demand(client, login_staff, varied, db):
    login_staff("op", "finance")
    full = client.get("/desk/stats?cp=finance").get_data(as_text=True)
    assert re.search(r'id="lx-stats"[^>]*hx-trigger="every 30s \[!document\.hidden\]', full.replace("\n", " "))
    assert "visibilitychange[!document.hidden] from:document" in full       # at once when the tab is back
    assert re.search(r'<a [^>]*hx-get="[^"]*"[^>]*hx-target="#lx-stats"[^>]*>\s*<i [^>]*></i>(刷新|Refresh)', full)
    # a confirmation elsewhere shows up in the next refresh, which returns the panel alone
    apply([varied["u2"][0]], "finance", "confirm", ACTOR)
    resp = client.get("/desk/stats?cp=finance", headers={"HX-Request": "true"})
    fragment = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<html" not in fragment and fragment.lstrip().startswith("<div id=\"lx-stats\"")
    assert row_cells(resp, "缴清欠费/缴清学杂费、财务借款")[:4] == ["0", "1", "1", "3"]
    assert "no-store" in resp.headers["Cache-Control"]


def test_a_number_opens_the_list_of_those_graduates(client, login_staff, varied):
    login_staff("op", "finance")
    resp = client.get("/desk/stats?cp=finance&college=计算机学院")
    page = resp.get_data(as_text=True)
    # the "not passed" number of class 软件2202
    href = next(html_lib.unescape(h) for h in re.findall(r'href="(/desk/stats/list[^"]*)"', page)
                if "status=rejected" in h and "class_name=%E8%BD%AF%E4%BB%B62202" in h)
    listing = client.get(href)
    assert listing.status_code == 200
    shown = text(listing)
    assert "孙三" in shown and "欠学费 200 元" in shown and varied["u3"][1] in shown
    assert "钱二" not in shown and "赵一" not in shown
    gid = varied["u3"][0]
    assert f'/desk/?cp=finance&amp;graduate_id={gid}' in listing.get_data(as_text=True)
    # pending at the whole checkpoint: one graduate, with dorm and phone
    shown = text(client.get("/desk/stats/list?cp=finance&status=pending"))
    assert "钱二" in shown and "3栋-101" in shown and "13900000002" in shown and "孙三" not in shown


def test_list_pages(client, login_staff, make_graduate, start):
    grads = [make_graduate(name=f"欠费{i:02d}", arrears=10 + i) for i in range(53)]
    start(*grads)
    login_staff("op", "finance")
    first = client.get("/desk/stats/list?cp=finance&status=pending&lang=en")
    assert "53 items" in text(first)
    assert "欠费00" in text(first) and "欠费49" in text(first) and "欠费50" not in text(first)
    second = client.get(links(first)["2"])
    assert "欠费50" in text(second) and "欠费52" in text(second) and "欠费49" not in text(second)
    assert client.get("/desk/stats/list?cp=finance&status=nonsense").status_code == 404


def read_xlsx(resp):
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in resp.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(resp.data)).active
    return [[c.value for c in row] for row in ws.iter_rows()], ws


def test_export_of_the_pending_list(client, login_staff, varied):
    login_staff("op", "finance")
    rows, ws = read_xlsx(client.get("/desk/stats/export.xlsx?cp=finance&lang=en"))
    assert rows[0] == ["Student number", "Name", "College", "Major", "Class", "Dormitory", "Phone", "Item",
                       "Status", "Reason", "Last change"]
    body = {r[1]: r for r in rows[1:]}
    assert set(body) == {"钱二", "孙三"}                          # pending and not passed only
    assert body["孙三"][8] == "Not passed" and body["孙三"][9] == "欠学费 200 元"
    assert body["钱二"][8] == "Pending" and body["钱二"][5] == "3栋-101" and body["钱二"][6] == "13900000002"
    # student numbers stay text (leading zero, no scientific notation)
    number_cells = [row[0] for row in ws.iter_rows(min_row=2)]
    assert {c.value for c in number_cells} == {varied["u2"][1], varied["u3"][1]}
    assert all(c.data_type == "s" and c.number_format == "@" and c.value.startswith("0") for c in number_cells)


def test_export_has_chinese_headers_by_default(client, login_staff, varied):
    login_staff("op", "finance")
    resp = client.get("/desk/stats/export.xlsx?cp=finance")
    rows, _ws = read_xlsx(resp)
    assert rows[0] == ["学号", "姓名", "学院", "专业", "班级", "宿舍", "电话", "事项", "状态", "原因", "最近更新"]
    assert {r[8] for r in rows[1:]} == {"待办理", "未通过"}
    assert "filename*=UTF-8''" in resp.headers["Content-Disposition"]


def test_export_follows_the_drill_down(client, login_staff, varied):
    login_staff("op", "finance")
    rows, _ws = read_xlsx(client.get("/desk/stats/export.xlsx?cp=finance&college=计算机学院&class_name=软件2202"))
    assert [r[1] for r in rows[1:]] == ["孙三"]


def test_operator_of_another_checkpoint_gets_403(client, login_staff, varied):
    login_staff("op", "library")
    for url in ("/desk/stats?cp=finance", "/desk/stats/list?cp=finance&status=pending",
                "/desk/stats/export.xlsx?cp=finance"):
        assert client.get(url).status_code == 403, url
    assert client.get("/desk/stats?cp=library").status_code == 200
    # without ?cp= the operator's own checkpoint
    own = client.get("/desk/stats").get_data(as_text=True)
    assert re.search(r'<h1 class="lx-cp-name[^>]*>.*图书馆</h1>', own)


def test_admin_sees_every_checkpoint(client, login_staff, varied):
    login_staff("boss", role="admin")
    resp = client.get("/desk/stats?cp=finance")
    assert resp.status_code == 200 and row_cells(resp, "缴清欠费/缴清学杂费、财务借款")[6] == "6"
    assert client.get("/desk/stats?cp=no-such-checkpoint").status_code == 404


def test_graduates_and_strangers_are_kept_out(client, db, varied, make_graduate, login_graduate):
    resp = client.get("/desk/stats?cp=finance")
    assert resp.status_code in (302, 401) and "/login" in resp.headers.get("Location", "/login")
    g = make_graduate(name="毕业生")
    login_graduate(g)
    assert client.get("/desk/stats?cp=finance").status_code == 403
    assert client.get("/desk/stats/export.xlsx?cp=finance").status_code == 403


def test_empty_checkpoint_says_so(client, login_staff, published):
    login_staff("op", "finance")
    resp = client.get("/desk/stats?cp=finance")
    assert resp.status_code == 200
    assert "本离校点暂时还没有需要办理的事项" in text(resp)
    assert "导出" not in text(resp) and "export.xlsx" not in resp.get_data(as_text=True)
