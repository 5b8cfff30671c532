"""Chinese resident ID-card numbers (GB 11643-1999): 17 digits plus a check character."""
from __future__ import annotations

import re
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_PATTERN = re.compile(r"^\d{17}[\dX]$")


def check_character(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def normalise(value: object) -> str:
    """Text as typed or as Excel stored it: strip spaces, upper-case x, undo float formatting."""
    if value is None:
        return ""
    if isinstance(value, float):
        # Excel keeps 15 significant digits: an 18-digit number stored as a float has lost digits.
        text = f"{value:.0f}"
    elif isinstance(value, int):
        text = str(value)
    else:
        text = str(value).strip().replace(" ", "").replace("\u3000", "")
        if text.endswith(".0") and text[:-2].isdigit():
            text = text[:-2]
    return text.upper()


def problem(number: str) -> str | None:
    """None if valid, else a short English reason (translated by callers)."""
    if not number:
        return "missing"
    if not _PATTERN.match(number):
        return "format"
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return "birth_date"
    if check_character(number[:17]) != number[17]:
        return "checksum"
    return None


def is_valid(number: str) -> bool:
    return problem(number) is None


def make_id_number(seed: int, region: str = "430100", birth: str = "20030115") -> str:
    """A syntactically valid number for tests and demo data (not a real person)."""
    first17 = f"{region}{birth}{seed % 1000:03d}"
    return first17 + check_character(first17)
