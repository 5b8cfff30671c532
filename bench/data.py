"""Realistic, reproducible graduate rows for benchmarks (bulk-insert ready dicts)."""
from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from app.graduates.idcard import make_id_number

# college -> majors (undergraduate abbreviations used in class names)
COLLEGES: list[tuple[str, list[tuple[str, str]]]] = [
    ("资源学院", [("资源勘查工程", "资勘"), ("石油工程", "石油"), ("地质工程", "地工")]),
    ("地球科学学院", [("地质学", "地质"), ("地球化学", "地化")]),
    ("材料与化学学院", [("材料科学与工程", "材料"), ("应用化学", "应化")]),
    ("珠宝学院", [("宝石及材料工艺学", "宝石"), ("产品设计", "产设")]),
    ("计算机学院", [("软件工程", "软件"), ("计算机科学与技术", "计科"), ("数据科学与大数据技术", "数据")]),
    ("经济管理学院", [("会计学", "会计"), ("工商管理", "工商"), ("信息管理与信息系统", "信管")]),
    ("外国语学院", [("英语", "英语"), ("日语", "日语")]),
    ("数学与物理学院", [("数学与应用数学", "数学"), ("应用物理学", "物理")]),
    ("环境学院", [("环境工程", "环工"), ("水文与水资源工程", "水文")]),
    ("工程学院", [("土木工程", "土木"), ("机械设计制造及其自动化", "机械")]),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲建国文辉鹏飞宇浩然子涵欣怡思远梓晨雨轩佳琪嘉"
REGIONS = ("430102", "420111", "110105", "310115", "440305", "510107", "330106", "370102", "610113", "500103")
CAMPUSES = ("南望山校区", "未来城校区")
CLASS_SIZE = 40
ROOM_SIZE = 6
ROOMS_PER_FLOOR = 20
FLOORS = 6


def split_counts(n: int) -> dict[str, int]:
    ug = round(n * 0.6)
    dual = round(n * 0.3)
    return {"undergraduate": ug, "postgraduate_dual": dual, "postgraduate_single": n - ug - dual}


def _name(rnd: random.Random) -> str:
    return rnd.choice(SURNAMES) + "".join(rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2, 2))))


def _money(rnd: random.Random, lo: int, hi: int) -> Decimal:
    return Decimal(rnd.randrange(lo * 100, hi * 100)) / 100


def graduate_rows(cohort_id: int, n: int, seed: int = 2026, year: int = 2026) -> list[dict[str, Any]]:
    """``n`` graduates: 60 % undergraduate, 30 % dual-track postgraduates, 10 % single-track.

    Classes hold 40 students of one major; on-campus students share rooms of 6 in class
    order (so a dorm is usually one class); about 10 % have a student loan, 30 % are party
    members, 20 % have library books out, 10 % owe fees.
    """
    rnd = random.Random(seed)
    rows: list[dict[str, Any]] = []
    seq = 0
    for gtype, count in split_counts(n).items():
        ug = gtype == "undergraduate"
        majors = [(c, m, a) for c, ms in COLLEGES for m, a in ms]
        entry = year - (4 if ug else 3 if gtype == "postgraduate_dual" else 2)
        suffix = "" if ug else ("硕" if gtype == "postgraduate_dual" else "专硕")
        made, k = 0, 0
        while made < count:
            college, major, abbr = majors[k % len(majors)]
            class_no = k // len(majors) + 1
            class_name = f"{abbr}{suffix}{entry % 100:02d}{class_no:02d}"
            advisor = _name(rnd) + ("老师" if ug else "教授")
            for _ in range(min(CLASS_SIZE, count - made)):
                seq += 1
                made += 1
                party = rnd.random() < (0.22 if ug else 0.45)
                loan = rnd.random() < 0.10
                birth = date(entry - 18 - (0 if ug else 4), 1, 1) + timedelta(days=rnd.randrange(730))
                books = rnd.randint(1, 6) if rnd.random() < 0.20 else 0
                rows.append({
                    "cohort_id": cohort_id,
                    "student_no": f"{entry}{'1' if ug else '2' if suffix == '硕' else '3'}{seq:07d}",
                    "name": _name(rnd),
                    "id_card": make_id_number(seq, rnd.choice(REGIONS), birth.strftime("%Y%m%d")),
                    "gtype": gtype, "college": college, "major": major, "class_name": class_name,
                    "campus": CAMPUSES[0] if k % 3 else CAMPUSES[1],
                    "phone": f"1{rnd.choice('35789')}{rnd.randrange(10**9):09d}",
                    "email": f"s{seq}@cug.example.edu.cn", "advisor": advisor,
                    "has_national_loan": loan and rnd.random() < 0.7,
                    "has_origin_loan": loan and rnd.random() < 0.4,
                    "party_member": party,
                    "league_member": (not party) and rnd.random() < 0.85,
                    "borrowed_instrument": rnd.random() < 0.03,
                    "borrowed_switch": rnd.random() < 0.01,
                    "library_books": books,
                    "library_fines": _money(rnd, 1, 50) if rnd.random() < 0.04 else Decimal("0"),
                    "arrears": _money(rnd, 100, 9000) if rnd.random() < 0.10 else Decimal("0"),
                    "lives_on_campus": rnd.random() < (0.95 if ug else 0.8),
                    "certificates_deferred": rnd.random() < 0.01,
                    "dorm_building": "", "dorm_room": "",
                })
            k += 1
    _assign_rooms(rows)
    return rows


def _assign_rooms(rows: list[dict[str, Any]]) -> None:
    """Rooms of 6 in class order, undergraduates and postgraduates in separate buildings."""
    for ug in (True, False):
        slot = 0
        for r in rows:
            if not r["lives_on_campus"] or (r["gtype"] == "undergraduate") != ug:
                continue
            room_idx = slot // ROOM_SIZE
            per_building = FLOORS * ROOMS_PER_FLOOR
            building = room_idx // per_building + 1
            floor = (room_idx % per_building) // ROOMS_PER_FLOOR + 1
            room = room_idx % ROOMS_PER_FLOOR + 1
            r["dorm_building"] = f"{'' if ug else '研'}{building}栋"
            r["dorm_room"] = f"{floor}{room:02d}"
            slot += 1
