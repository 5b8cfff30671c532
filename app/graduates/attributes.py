"""The graduate attributes that gateway conditions and auto-pass rules may read.

This list *is* the expression sandbox's namespace: a condition that names anything
else is refused at validation time.
"""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.graduates.models import Graduate

# name -> (python type, Chinese label, English label)
ATTRIBUTES: dict[str, tuple[type, str, str]] = {
    "gtype": (str, "毕业生类别", "graduate type"),
    "college": (str, "学院", "college"),
    "major": (str, "专业", "major"),
    "class_name": (str, "班级", "class"),
    "campus": (str, "校区", "campus"),
    "dorm_building": (str, "宿舍楼", "dormitory building"),
    "has_national_loan": (bool, "国家助学贷款", "national student loan"),
    "has_origin_loan": (bool, "生源地助学贷款", "origin-place student loan"),
    "party_member": (bool, "党员", "party member"),
    "league_member": (bool, "团员", "league member"),
    "borrowed_instrument": (bool, "借用教学仪器", "borrowed teaching instrument"),
    "borrowed_switch": (bool, "借用交换机", "borrowed network switch"),
    "library_books": (int, "未还图书（册）", "library books on loan"),
    "library_fines": (float, "图书馆欠费（元）", "library fines (yuan)"),
    "arrears": (float, "欠费（元）", "arrears (yuan)"),
    "lives_on_campus": (bool, "在校住宿", "lives on campus"),
    "certificates_deferred": (bool, "暂缓发放证书", "certificates deferred"),
}

ATTRIBUTE_NAMES = frozenset(ATTRIBUTES)


def attributes_of(graduate: "Graduate") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, (typ, _zh, _en) in ATTRIBUTES.items():
        value = getattr(graduate, name)
        if isinstance(value, Decimal):
            value = float(value)
        elif typ is float and value is None:
            value = 0.0
        out[name] = value
    return out
