"""Read a graduate roster (.xlsx or .csv) into checked rows; no database access here.

What the parser accepts
-----------------------
* ``.xlsx``: the first worksheet; cached values, not formulas (``data_only``).
* ``.csv``: UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 (a superset of GBK);
  comma, tab or semicolon delimited (sniffed on the header line).
* The header row is the first non-empty row; headers are matched in Chinese or English after
  removing spaces, underscores, hyphens, a BOM and anything in brackets (``欠费（元）`` is ``欠费``)
  and case-folding. Unknown columns are reported once as a warning and ignored.
* Required columns: 学号, 姓名, 身份证号, 类别; without them the whole file is refused.
* Row numbers are the ones the user sees in Excel (the header row has its own number).
* A row with nothing in any recognised column is blank: skipped and counted, not an error
  (trailing blank rows after the last student are not counted).

Student numbers are text. Leading zeros survive only when the cell is *text*: when Excel
stored a student number as a number (``123`` or ``2020123456.0``) the integer is taken as the
text and any leading zeros are already gone; such rows are named in a warning asking the user to
format the column as text. ID-card numbers stored as numbers with more than 15 digits have lost
digits (Excel keeps 15 significant digits) and are refused with a message saying so.

Messages go through ``flask_babel.gettext`` (English msgids), so an application context is needed.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable

from flask_babel import gettext as _

from app.core.domain import DomainError
from app.core.enums import GraduateType
from app.graduates import idcard
from app.graduates.attributes import ATTRIBUTES

SUPPORTED_EXTENSIONS = (".xlsx", ".csv")
REQUIRED = ("student_no", "name", "id_card", "gtype")
# how the required columns are named in "missing required columns" (file language, not UI language)
REQUIRED_LABELS = {"student_no": "学号 (student_no)", "name": "姓名 (name)",
                   "id_card": "身份证号 (id_card)", "gtype": "类别 (type)"}

TEXT_FIELDS = {  # field -> maximum length (the column sizes in app.graduates.models)
    "college": 64, "major": 64, "class_name": 64, "campus": 32, "phone": 32, "email": 120, "advisor": 64,
}
BOOL_FIELDS = ("has_national_loan", "has_origin_loan", "party_member", "league_member", "borrowed_instrument",
               "borrowed_switch", "lives_on_campus", "certificates_deferred")
INT_FIELDS = ("library_books",)
MONEY_FIELDS = ("library_fines", "arrears")
MONEY_MAX = Decimal("99999999.99")  # Numeric(10, 2)
INT_MAX = 2**31 - 1
STUDENT_NO_MAX = 32
NAME_MAX = 64
DORM_BUILDING_MAX = 32
DORM_ROOM_MAX = 16

# Values a new graduate gets for a column the file does not have (and for a blank cell).
DEFAULTS: dict[str, Any] = {
    **{f: "" for f in TEXT_FIELDS}, "dorm_building": "", "dorm_room": "",
    **{f: False for f in BOOL_FIELDS}, "lives_on_campus": True,
    "library_books": 0, "library_fines": Decimal("0.00"), "arrears": Decimal("0.00"),
}

# column key -> header aliases. "dorm" is the combined 宿舍 column (split into building and room).
_ALIASES: dict[str, tuple[str, ...]] = {
    "student_no": ("学号", "学生学号", "student_no", "student number", "student id", "studentno"),
    "name": ("姓名", "学生姓名", "name", "student name", "full name"),
    "id_card": ("身份证号", "身份证号码", "身份证", "证件号码", "证件号", "公民身份号码", "id_card", "id card",
                "id card number", "id card no", "id number", "id no"),
    "gtype": ("类别", "学生类别", "毕业生类别", "类型", "type", "gtype", "graduate type", "student type"),
    "college": ("学院", "院系", "所在学院", "college", "department"),
    "major": ("专业", "major"),
    "class_name": ("班级", "class", "class_name"),
    "dorm": ("宿舍", "寝室", "dorm", "dormitory"),
    "dorm_building": ("宿舍楼", "楼栋", "楼号", "dorm_building", "building", "dormitory building"),
    "dorm_room": ("宿舍号", "房间号", "寝室号", "房号", "dorm_room", "room", "room number"),
    "campus": ("校区", "campus"),
    "phone": ("手机", "手机号", "手机号码", "电话", "联系电话", "phone", "mobile", "telephone"),
    "email": ("邮箱", "电子邮箱", "电子邮件", "email", "e-mail"),
    "advisor": ("导师", "指导教师", "advisor", "supervisor"),
    "party_member": ("是否党员", "党员", "中共党员", "party_member", "party member"),
    "league_member": ("团员", "是否团员", "共青团员", "league_member", "league member"),
    "has_national_loan": ("国家助学贷款", "国家贷款", "has_national_loan", "national loan"),
    "has_origin_loan": ("生源地贷款", "生源地助学贷款", "has_origin_loan", "origin loan"),
    "borrowed_instrument": ("借用教学仪器", "借用仪器", "borrowed_instrument"),
    "borrowed_switch": ("借用交换机", "borrowed_switch"),
    "library_books": ("未还图书", "借阅册数", "未还图书册数", "library_books", "library books"),
    "library_fines": ("图书欠费", "图书馆欠费", "library_fines", "library fines"),
    "arrears": ("欠费", "欠费金额", "arrears"),
    "lives_on_campus": ("住校", "在校住宿", "是否住校", "lives_on_campus", "lives on campus"),
    "certificates_deferred": ("暂缓发证", "暂缓发放证书", "certificates_deferred", "certificates deferred"),
}
# Columns that are common in rosters and carry nothing to import: ignored without a warning.
_SILENTLY_IGNORED = ("序号", "no.", "no", "#")

_GTYPES: dict[str, str] = {}
for _value, _words in {
    GraduateType.UNDERGRADUATE: ("本科生", "本科", "本科毕业生", "undergraduate"),
    GraduateType.POSTGRADUATE_DUAL: ("双证研究生", "双证", "研究生双证", "postgraduate_dual",
                                     "postgraduate (dual certificate)"),
    GraduateType.POSTGRADUATE_SINGLE: ("单证研究生", "单证", "研究生单证", "postgraduate_single",
                                       "postgraduate (single certificate)"),
}.items():
    for _w in _words:
        _GTYPES[re.sub(r"[\s_\-()]+", "", unicodedata.normalize("NFKC", _w)).casefold()] = str(_value)
del _value, _words, _w
_AMBIGUOUS_GTYPES = {"研究生", "postgraduate", "硕士", "硕士研究生", "博士", "博士研究生"}

_TRUE = {"是", "y", "yes", "1", "true", "有", "√", "✓"}
_FALSE = {"否", "n", "no", "0", "false", "无", "没有", "×", "✗"}

_SCIENTIFIC = re.compile(r"^\d+(\.\d+)?E\+?\d+$", re.IGNORECASE)
_XLS_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2: old .xls, or an encrypted .xlsx


def norm_header(value: Any) -> str:
    text = unicodedata.normalize("NFKC", "" if value is None else str(value)).replace("\ufeff", "")
    text = re.sub(r"\(.*?\)|\[.*?\]|【.*?】", "", text)
    return re.sub(r"[\s_\-*:]+", "", text).casefold()


def _build_header_index() -> dict[str, str]:
    index: dict[str, str] = {}
    names: dict[str, tuple[str, ...]] = {k: v for k, v in _ALIASES.items()}
    for attr, (_typ, zh, en) in ATTRIBUTES.items():  # the labels the UI shows are accepted too
        if attr in names:
            names[attr] = names[attr] + (zh, en, attr)
    for key, aliases in names.items():
        for alias in aliases:
            n = norm_header(alias)
            assert index.get(n, key) == key, f"header alias {alias!r} used for {index[n]} and {key}"
            index[n] = key
    return index


HEADER_INDEX = _build_header_index()


@dataclass
class ParsedRow:
    number: int                       # row number as Excel shows it
    student_no: str = ""
    name: str = ""
    id_card: str = ""
    gtype: str = ""
    values: dict[str, Any] = field(default_factory=dict)  # other model fields, only columns in the file
    messages: list[str] = field(default_factory=list)
    id_card_valid: bool = False
    student_no_was_number: bool = False


@dataclass
class ParsedRoster:
    fields: set[str] = field(default_factory=set)   # model fields the file provides (besides the required)
    rows: list[ParsedRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the whole file is refused
    blank_rows: int = 0
    header_row: int = 0


class RosterFileError(DomainError):
    code = "roster_file"
    status = 400
    """The file cannot be read as a roster; the message is for the user."""


# ---------------------------------------------------------------- reading the grid

def _read_xlsx(data: bytes, data_only: bool = True) -> list[tuple[Any, ...]]:
    if data.startswith(_XLS_SIGNATURE):
        raise RosterFileError(_("This is an old-format .xls workbook (or an encrypted one): "
                                "open it in Excel and save it as .xlsx."))
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise RosterFileError(_("Cannot read the Excel file: it is damaged or not an .xlsx workbook."))
    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles, data validation, ...
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=data_only)
            try:
                if not wb.worksheets:
                    raise RosterFileError(_("The workbook has no worksheet."))
                ws = wb.worksheets[0]
                if hasattr(ws, "reset_dimensions"):  # chartsheets have none
                    ws.reset_dimensions()  # do not trust the stored dimensions: read every cell
                return [tuple(r) for r in ws.iter_rows(values_only=True)]
            finally:
                wb.close()
    except RosterFileError:
        raise
    except Exception:  # noqa: BLE001  (zip without a workbook, bad XML, ...: all "damaged")
        raise RosterFileError(
            _("Cannot read the Excel file: it is damaged or not an .xlsx workbook.")) from None


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8")
        except UnicodeDecodeError:
            raise RosterFileError(_("Cannot read the CSV file: it says UTF-8 but is not valid UTF-8.")) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise RosterFileError(_("Cannot read the CSV file: it is not valid UTF-16 text.")) from None
    if data.startswith(b"PK\x03\x04") or data.startswith(_XLS_SIGNATURE):
        raise RosterFileError(_("This is an Excel workbook, not CSV text: save it as .xlsx and upload that."))
    if b"\x00" in data:
        raise RosterFileError(_("Cannot read the CSV file: it is not a text file."))
    for encoding in ("utf-8", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterFileError(_("Cannot read the CSV file: unknown text encoding; save it as CSV UTF-8."))


def _read_csv(data: bytes) -> list[tuple[Any, ...]]:
    text = _decode(data)
    header_line = next((line for line in text.splitlines() if line.strip()), "")
    try:
        delimiter = csv.Sniffer().sniff(header_line, delimiters=",\t;").delimiter
    except csv.Error:
        counts = {d: header_line.count(d) for d in ",\t;"}
        delimiter = max(counts, key=counts.get) if any(counts.values()) else ","
    try:
        return [tuple(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise RosterFileError(_("Cannot read the CSV file: %(reason)s", reason=str(exc))) from None


def read_grid(filename: str, data: bytes, *, formulas: bool = False) -> list[tuple[Any, ...]]:
    """All rows of the first sheet (row 1 first); raises RosterFileError.

    ``formulas``: an .xlsx formula cell is its formula text (``"=A1"``) instead of its cached value.
    """
    ext = ("." + filename.rsplit(".", 1)[-1].lower()) if filename and "." in filename else ""
    if ext not in SUPPORTED_EXTENSIONS:
        raise RosterFileError(_("Unsupported file type %(ext)s: use an .xlsx workbook or a .csv file.",
                                ext=f'"{ext}"' if ext else _("(no extension)")))
    if not data:
        raise RosterFileError(_("The file is empty."))
    if ext == ".xlsx":
        return _read_xlsx(data, data_only=not formulas)
    return _read_csv(data)


# ---------------------------------------------------------------- cell conversions

def blank_cell(value: Any) -> bool:
    """An empty cell (None or only whitespace)."""
    return value is None or (isinstance(value, str) and not value.strip())


def cell_text(value: Any) -> str:
    """A cell as text: numbers without a trailing .0, booleans as 1/0, stripped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _shown(value: Any) -> str:
    """A cell value quoted for a message."""
    return f'"{cell_text(value)}"'


class _RowChecker:
    """Converts one row's cells; collects every problem in ``row.messages``."""

    def __init__(self, row: ParsedRow, headers: dict[str, str]):
        self.row = row
        self.headers = headers  # column key -> header text as in the file

    def fail(self, message: str) -> None:
        self.row.messages.append(message)

    def limited(self, key: str, text: str, limit: int) -> str:
        if len(text) > limit:
            self.fail(_('"%(column)s" is too long (at most %(max)d characters)', column=self.headers[key], max=limit))
        return text

    def student_no(self, value: Any) -> None:
        if isinstance(value, bool):
            value = cell_text(value)
        if isinstance(value, float):
            if not value.is_integer():
                self.fail(_("student number %(value)s is not a whole number", value=_shown(value)))
                return
            value = int(value)
        if isinstance(value, int):
            self.row.student_no_was_number = True
            text = str(value)
        else:
            text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", cell_text(value)))
            if re.fullmatch(r"\d+\.0+", text):
                text = text.split(".")[0]
            elif _SCIENTIFIC.match(text):
                self.fail(_("student number %(value)s is in scientific notation, digits lost; "
                            "format the column as text", value=_shown(value)))
                return
        if not text:
            self.fail(_("missing student number"))
            return
        self.row.student_no = self.limited("student_no", text, STUDENT_NO_MAX)

    def name(self, value: Any) -> None:
        text = cell_text(value)
        if not text:
            self.fail(_("missing name"))
        self.row.name = self.limited("name", text, NAME_MAX)

    def id_card(self, value: Any) -> None:
        if isinstance(value, float) or (isinstance(value, str) and _SCIENTIFIC.match(value.strip())):
            number = idcard.normalise(value)
            if isinstance(value, str) or len(number) > 15:
                self.fail(_("ID-card number stored as a number, digits lost; format the column as text"))
                return
        elif isinstance(value, str):
            number = idcard.normalise(unicodedata.normalize("NFKC", value))
        else:
            number = idcard.normalise(value)
        reason = idcard.problem(number)
        if reason == "missing":
            self.fail(_("missing ID-card number"))
        elif reason == "format":
            self.fail(_("invalid ID-card number (format: 17 digits and a digit or X)"))
        elif reason == "birth_date":
            self.fail(_("invalid ID-card number (birth date)"))
        elif reason == "checksum":
            self.fail(_("invalid ID-card number (check digit)"))
        else:
            self.row.id_card_valid = True
        self.row.id_card = number[:18]

    def gtype(self, value: Any) -> None:
        text = cell_text(value)
        key = re.sub(r"[\s_\-()]+", "", unicodedata.normalize("NFKC", text)).casefold()
        if not key:
            self.fail(_("missing graduate type"))
        elif key in _GTYPES:
            self.row.gtype = _GTYPES[key]
        elif key in _AMBIGUOUS_GTYPES:
            self.fail(_("graduate type %(value)s is ambiguous: write 双证研究生 or 单证研究生", value=_shown(text)))
        else:
            self.fail(_("unknown graduate type %(value)s", value=_shown(text)))

    def text(self, key: str, value: Any) -> None:
        self.row.values[key] = self.limited(key, cell_text(value), TEXT_FIELDS[key])

    def boolean(self, key: str, value: Any) -> None:
        if blank_cell(value):
            self.row.values[key] = DEFAULTS[key]
            return
        if isinstance(value, bool):
            self.row.values[key] = value
            return
        word = cell_text(value).casefold()
        if word in _TRUE:
            self.row.values[key] = True
        elif word in _FALSE:
            self.row.values[key] = False
        else:
            self.fail(_('not a yes/no value in "%(column)s": %(value)s', column=self.headers[key], value=_shown(value)))

    def integer(self, key: str, value: Any) -> None:
        if blank_cell(value):
            self.row.values[key] = DEFAULTS[key]
            return
        number: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            text = re.sub(r"[\s,册本]+", "", unicodedata.normalize("NFKC", value))
            if re.fullmatch(r"\d+(\.0+)?", text):
                number = int(text.split(".")[0])
        if number is None or not 0 <= number <= INT_MAX:
            self.fail(_('bad number in "%(column)s": %(value)s', column=self.headers[key], value=_shown(value)))
            return
        self.row.values[key] = number

    def money(self, key: str, value: Any) -> None:
        if blank_cell(value):
            self.row.values[key] = DEFAULTS[key]
            return
        amount: Decimal | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        elif isinstance(value, str):
            text = re.sub(r"[\s,元¥￥]+", "", unicodedata.normalize("NFKC", value))
            if re.fullmatch(r"\d+(\.\d+)?|\.\d+", text):
                amount = Decimal(text)
        try:
            ok = amount is not None and amount.is_finite() and 0 <= amount <= MONEY_MAX
        except InvalidOperation:
            ok = False
        if not ok:
            self.fail(_('bad number in "%(column)s": %(value)s', column=self.headers[key], value=_shown(value)))
            return
        self.row.values[key] = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    def dorm(self, value: Any) -> None:
        text = unicodedata.normalize("NFKC", cell_text(value)).strip()
        if not text:
            self.row.values["dorm_building"], self.row.values["dorm_room"] = "", ""
            return
        parts = split_dorm(text)
        if parts is None:
            self.fail(_('cannot split dormitory %(value)s into building and room (write e.g. 12栋305 or 12-305)',
                        value=_shown(text)))
            return
        building, room = parts
        if len(building) > DORM_BUILDING_MAX or len(room) > DORM_ROOM_MAX:
            self.fail(_('"%(column)s" is too long (at most %(max)d characters)', column=self.headers["dorm"],
                        max=DORM_BUILDING_MAX + DORM_ROOM_MAX))
            return
        self.row.values["dorm_building"], self.row.values["dorm_room"] = building, room

    def dorm_part(self, key: str, value: Any) -> None:
        limit = DORM_BUILDING_MAX if key == "dorm_building" else DORM_ROOM_MAX
        self.row.values[key] = self.limited(key, cell_text(value), limit)


def split_dorm(text: str) -> tuple[str, str] | None:
    """``12栋305`` -> (``12栋``, ``305``); ``12-305`` -> (``12``, ``305``); None if it cannot be split."""
    text = text.strip()
    m = re.fullmatch(r"(.*\S)\s*[-/#—–]\s*(\S+?)室?", text)             # 12-305, 12栋-305, A区/305
    if not m:
        m = re.fullmatch(r"(.*(?:栋|幢|楼|舍|斋|苑))\s*([0-9A-Za-z]+[0-9A-Za-z\-]*)室?", text)  # 12栋305
    if not m:
        m = re.fullmatch(r"(\S+)\s+(\S+?)室?", text)                     # A3 305
    if not m:
        return None
    building, room = m.group(1).strip(), m.group(2).strip()
    if not building or not room:
        return None
    return building, room


# ---------------------------------------------------------------- the roster

def _row_is_blank(cells: tuple[Any, ...], columns: dict[int, str]) -> bool:
    return all(blank_cell(cells[i]) for i in columns if i < len(cells))


def parse_roster(filename: str, data: bytes) -> ParsedRoster:
    """Read and check every row; file-level problems go to ``errors`` (never raises for a bad file)."""
    out = ParsedRoster()
    try:
        grid = read_grid(filename, data)
    except RosterFileError as exc:
        out.errors.append(str(exc))
        return out

    header_index = next((i for i, cells in enumerate(grid) if any(not blank_cell(c) for c in cells)), None)
    if header_index is None:
        out.errors.append(_("The file is empty."))
        return out
    out.header_row = header_index + 1

    columns: dict[int, str] = {}     # cell index -> column key
    headers: dict[str, str] = {}     # column key -> header text
    unknown: list[str] = []
    for i, cell in enumerate(grid[header_index]):
        if blank_cell(cell):
            continue
        text = cell_text(cell).replace("\ufeff", "")
        key = HEADER_INDEX.get(norm_header(cell))
        if key is None:
            if norm_header(cell) not in _SILENTLY_IGNORED:
                unknown.append(text)
        elif key in headers:
            out.warnings.append(_('Column "%(column)s" repeats "%(first)s" and was ignored.',
                                  column=text, first=headers[key]))
        else:
            columns[i], headers[key] = key, text
    if "dorm" in headers and ("dorm_building" in headers or "dorm_room" in headers):
        out.warnings.append(_('Column "%(column)s" was ignored: the file has separate building and room columns.',
                              column=headers["dorm"]))
        columns = {i: k for i, k in columns.items() if k != "dorm"}
        del headers["dorm"]
    missing = [REQUIRED_LABELS[k] for k in REQUIRED if k not in headers]
    if missing:
        out.errors.append(_("Missing required columns: %(columns)s.", columns=", ".join(missing)))
        return out
    if unknown:
        out.warnings.append(_("Unknown columns ignored: %(columns)s.", columns=", ".join(f'"{u}"' for u in unknown)))
    out.fields = {k for k in headers if k not in REQUIRED and k != "dorm"}
    if "dorm" in headers:
        out.fields |= {"dorm_building", "dorm_room"}

    body = grid[header_index + 1:]
    last = max((i for i, cells in enumerate(body) if not _row_is_blank(cells, columns)), default=None)
    if last is None:
        out.errors.append(_("No students below the header row (row %(row)d).", row=out.header_row))
        return out

    converters: dict[str, Callable[[_RowChecker, Any], None]] = {
        "student_no": _RowChecker.student_no, "name": _RowChecker.name, "id_card": _RowChecker.id_card,
        "gtype": _RowChecker.gtype, "dorm": _RowChecker.dorm,
    }
    for key in TEXT_FIELDS:
        converters[key] = lambda c, v, k=key: c.text(k, v)
    for key in BOOL_FIELDS:
        converters[key] = lambda c, v, k=key: c.boolean(k, v)
    for key in INT_FIELDS:
        converters[key] = lambda c, v, k=key: c.integer(k, v)
    for key in MONEY_FIELDS:
        converters[key] = lambda c, v, k=key: c.money(k, v)
    for key in ("dorm_building", "dorm_room"):
        converters[key] = lambda c, v, k=key: c.dorm_part(k, v)
    # required columns first, so their messages lead; then the file's column order
    order = sorted(columns.items(), key=lambda ik: (REQUIRED.index(ik[1]) if ik[1] in REQUIRED else 99, ik[0]))

    numeric_student_nos: list[int] = []
    for offset, cells in enumerate(body[:last + 1]):
        if _row_is_blank(cells, columns):
            out.blank_rows += 1
            continue
        row = ParsedRow(number=out.header_row + 1 + offset)
        checker = _RowChecker(row, headers)
        for i, key in order:
            converters[key](checker, cells[i] if i < len(cells) else None)
        if row.student_no_was_number:
            numeric_student_nos.append(row.number)
        out.rows.append(row)

    if numeric_student_nos:
        shown = ", ".join(str(n) for n in numeric_student_nos[:10]) + (", …" if len(numeric_student_nos) > 10 else "")
        out.warnings.append(_("Student numbers on %(count)d row(s) (%(rows)s) were stored as numbers: leading zeros, "
                              "if any, are lost. Format the column as text to keep them.",
                              count=len(numeric_student_nos), rows=shown))
    return out
