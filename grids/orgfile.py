"""Reading and writing the organisation file (Excel or CSV), one record per row.

Columns, in this order (the header may be in Chinese or English):

    类型 type        area / department / party (or 区域 / 部门 / 党组织)
    层级 tier        the area tier, or the party organisation kind; empty for departments
    编码 code        national unit-grid code for areas; a unique code otherwise
    名称 name
    上级编码 parent  parent area code for areas; the attached area for departments and party organisations
    人口 population, 户数 households (areas)
    党员数 members, 负责人 head (party organisations), 电话 phone (departments)
"""

import csv
import io
from dataclasses import dataclass

from django.utils.translation import gettext as _
from openpyxl import Workbook, load_workbook

from gov_platform.spreadsheets import csv_writer, new_sheet, strip_quote_prefix

from .models import PartyOrgKind, Tier

COLUMNS = [
    ("type", "类型"),
    ("tier", "层级"),
    ("code", "编码"),
    ("name", "名称"),
    ("parent", "上级编码"),
    ("population", "人口"),
    ("households", "户数"),
    ("members", "党员数"),
    ("head", "负责人"),
    ("phone", "电话"),
]
HEADER_ALIASES = {alias.lower(): key for key, zh in COLUMNS for alias in (key, zh)}

RECORD_TYPES = {
    "area": "area",
    "区域": "area",
    "department": "department",
    "部门": "department",
    "party": "party",
    "党组织": "party",
}
RECORD_TYPE_LABELS = {"area": "区域", "department": "部门", "party": "党组织"}
TIER_ALIASES = {
    **{t.value: t.value for t in Tier},
    "区": "district",
    "街道": "street",
    "社区": "community",
    "村居": "community",
    "网格": "grid",
    "楼院": "building",
    "街巷": "building",
}
TIER_LABELS = {"district": "区", "street": "街道", "community": "社区", "grid": "网格", "building": "楼院"}
PARTY_KIND_ALIASES = {
    **{k.value: k.value for k in PartyOrgKind},
    "街道工委": PartyOrgKind.STREET_COMMITTEE,
    "社区党委": PartyOrgKind.COMMUNITY_COMMITTEE,
    "网格党支部": PartyOrgKind.GRID_BRANCH,
    "楼院党小组": PartyOrgKind.BUILDING_GROUP,
    "党员中心户": PartyOrgKind.MEMBER_HOUSEHOLD,
}
PARTY_KIND_LABELS = {v: k for k, v in PARTY_KIND_ALIASES.items() if k != v}

MAX_ROWS = 200_000


class OrgFileError(ValueError):
    """The file as a whole cannot be read (not a row-level problem)."""


@dataclass(frozen=True)
class Row:
    line: int
    values: dict


def read_rows(uploaded, filename: str, *, columns=None, required: int = 5) -> list[Row]:
    """The rows of an uploaded .xlsx or .csv file, each a dict keyed by column; ``columns`` are (key, Chinese
    header) pairs, default the organisation file's, and the first ``required`` of them must be in the header."""
    columns = COLUMNS if columns is None else columns
    aliases = HEADER_ALIASES if columns is COLUMNS else {a.lower(): key for key, zh in columns for a in (key, zh)}
    name = filename.lower()
    if name.endswith(".xlsx"):
        raw = _read_xlsx(uploaded)
    elif name.endswith(".csv"):
        raw = _read_csv(uploaded)
    else:
        raise OrgFileError(_("Only .xlsx or .csv files are accepted."))
    rows = list(raw)
    if not rows:
        raise OrgFileError(_("The file is empty."))
    header = [str(c or "").strip().lower() for c in rows[0]]
    keys = [aliases.get(h) for h in header]
    missing = [zh for key, zh in columns[:required] if key not in keys]
    if missing:
        raise OrgFileError(_("The header lacks the columns: %(columns)s.") % {"columns": "、".join(missing)})
    if len(rows) - 1 > MAX_ROWS:
        raise OrgFileError(_("The file has more than %(n)d rows.") % {"n": MAX_ROWS})
    result = []
    for line, cells in enumerate(rows[1:], start=2):
        if all(c is None or str(c).strip() == "" for c in cells):
            continue
        values = {key: _cell(cells[i]) if i < len(cells) else "" for i, key in enumerate(keys) if key}
        result.append(Row(line=line, values=values))
    return result


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # An apostrophe the export put before text Excel would take for a formula is not data.
    return strip_quote_prefix(str(value).strip())


def _read_csv(uploaded):
    data = uploaded.read()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise OrgFileError(_("The file encoding is not recognised; save it as UTF-8."))
    return csv.reader(io.StringIO(text))


def _read_xlsx(uploaded):
    try:
        workbook = load_workbook(uploaded, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds on a broken file
        raise OrgFileError(_("The Excel file cannot be read (%(error)s).") % {"error": exc.__class__.__name__}) from exc
    sheet = workbook.worksheets[0]
    return sheet.iter_rows(values_only=True)


def write_xlsx(records) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = new_sheet(workbook, "组织架构")
    sheet.append([zh for _, zh in COLUMNS])
    for record in records:
        sheet.append([record.get(key, "") for key, _ in COLUMNS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write_csv(records) -> bytes:
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow([zh for _, zh in COLUMNS])
    for record in records:
        writer.writerow([record.get(key, "") for key, _ in COLUMNS])
    # A BOM so that Excel opens the Chinese text correctly.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
