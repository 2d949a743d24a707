"""Excel workbooks (openpyxl, write-only: rows stream to the file, memory stays flat).

Exports hold figures and case facts, never residents' personal data.
"""

import io
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook

from cases.models import Priority, Rating, Source, Status
from gov_platform.spreadsheets import new_sheet
from grids.models import Area, Tier

from .kpis import HANDLED_STATUSES, KPIS, Kpis
from .models import Colour
from .selectors import path_length
from .workhours import WorkClock

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Excel's sheet holds 1,048,576 rows; a larger list is cut here and says so in its last row.
MAX_CASE_ROWS = 1_000_000


def _local(moment):
    # Excel has no time zones: write local wall-clock time.
    if isinstance(moment, datetime):
        return timezone.localtime(moment).replace(tzinfo=None)
    return moment


def _saved(workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _kpi_header(first_columns):
    header = list(first_columns)
    for kpi in KPIS:
        label = str(kpi.label)
        header += [label, _("%(kpi)s (previous)") % {"kpi": label}, _("%(kpi)s (change)") % {"kpi": label}]
    return header


def _kpi_cells(kpis: Kpis):
    cells = []
    for figure in kpis.figures.values():
        cells += [figure.value, figure.previous, figure.change]
    return cells


def kpi_workbook(*, area, period, children, departments, kpis) -> bytes:
    """The area's KPIs, its children's and its departments' (ranked), and the definitions used."""
    workbook = Workbook(write_only=True)
    sheet = new_sheet(workbook, _("KPIs"))
    sheet.append([_("Period"), str(period), _("Previous period"), str(period.previous())])
    sheet.append(_kpi_header([_("Code"), _("Area"), _("Tier")]))
    sheet.append([area.code, area.name, area.get_tier_display(), *_kpi_cells(kpis)])
    for row in children:
        sheet.append([row.area.code, row.area.name, row.area.get_tier_display(), *_kpi_cells(row.kpis)])
    sheet = new_sheet(workbook, _("Departments"))
    sheet.append(_kpi_header([_("Rank"), _("Code"), _("Department")]))
    for row in departments:
        sheet.append([row.rank, row.department.code, row.department.name, *_kpi_cells(row.kpis)])
    # Assisting tasks (协办) count apart from the cases a department led.
    sheet = new_sheet(workbook, _("Assisting tasks"))
    sheet.append(
        [
            _("Code"),
            _("Department"),
            _("Assisting tasks named"),
            _("Assisting tasks done"),
            _("Done by the sub-deadline"),
            _("Assisting tasks on time"),
            _("Sent back"),
            _("Waived"),
        ]
    )
    for row in departments:
        if row.assists is not None:
            counts = row.assists.counts
            sheet.append(
                [
                    row.department.code,
                    row.department.name,
                    counts["named"],
                    counts["done"],
                    counts["on_time"],
                    row.assists.on_time_rate,
                    counts["returned"],
                    counts["waived"],
                ]
            )
    sheet = new_sheet(workbook, _("Definitions"))
    sheet.append([_("Figure"), _("Definition")])
    for kpi in KPIS:
        sheet.append([str(kpi.label), str(kpi.definition)])
    return _saved(workbook)


def safety_workbook(*, month, rows) -> bytes:
    from .models import DIMENSIONS

    workbook = Workbook(write_only=True)
    sheet = new_sheet(workbook, _("Safety index"))
    tiers, colours = dict(Tier.choices), dict(Colour.choices)
    sheet.append(
        [
            _("Month"),
            _("Code"),
            _("Area"),
            _("Tier"),
            _("Population"),
            _("Safety index"),
            _("Colour"),
            _("Rank"),
            _("Change from the previous month"),
            *[str(d.label) for d in DIMENSIONS],
            _("Overdue cases"),
        ]
    )
    for row in rows:
        cases = row.inputs.get("cases", {})
        sheet.append(
            [
                f"{row.month:%Y-%m}",
                row.area_code,
                row.area_name,
                str(tiers.get(row.tier, row.tier)),
                row.population,
                row.score,
                str(colours.get(row.colour, "")),
                row.rank,
                row.change,
                *[cases.get(d.value) if row.tier == Tier.GRID else None for d in DIMENSIONS],
                row.inputs.get("overdue") if row.tier == Tier.GRID else None,
            ]
        )
    return _saved(workbook)


CASE_FIELDS = [
    "number",
    "title",
    "category__parent__name",
    "category__name",
    "area_path",
    "grid__name",
    "source",
    "priority",
    "status",
    "reported_at",
    "assessed_at",
    "assigned_at",
    "handle_deadline",
    "original_handle_deadline",
    "suspension_count",
    "suspended_until",
    "handled_at",
    "closed_at",
    "rework_count",
    "send_back_count",
    "rating",
    "handling_department__name",
    "handling_area__name",
]


def write_cases(qs, fileobj, *, clock: WorkClock) -> int:
    """Write the case list of ``qs`` to ``fileobj``; returns the number of cases written."""
    names = dict(Area.objects.filter(tier__in=[Tier.STREET, Tier.COMMUNITY]).values_list("path", "name"))
    street_length, community_length = path_length(Tier.STREET), path_length(Tier.COMMUNITY)
    statuses, sources, priorities, ratings = (
        dict(Status.choices),
        dict(Source.choices),
        dict(Priority.choices),
        dict(Rating.choices),
    )
    yes, no = _("yes"), _("no")
    workbook = Workbook(write_only=True)
    sheet = new_sheet(workbook, _("Cases"))
    sheet.append(
        [
            _("Case number"),
            _("Title"),
            _("Category group"),
            _("Category"),
            _("Street"),
            _("Community"),
            _("Grid"),
            _("Source"),
            _("Priority"),
            _("Status"),
            _("Reported at"),
            _("Assessed at"),
            _("Assigned at"),
            _("Handle deadline"),
            _("Original handle deadline"),
            _("Times suspended"),
            _("Suspended until"),
            _("Handled at"),
            _("Closed at"),
            _("Handled on time"),
            _("Handled by the original deadline"),
            _("Working hours to handle"),
            _("Rework count"),
            _("Send-back count"),
            _("Rating"),
            _("Handling unit"),
        ]
    )
    written = 0
    for row in qs.order_by("pk").values(*CASE_FIELDS).iterator(chunk_size=2000):
        if written == MAX_CASE_ROWS:
            sheet.append([_("Cut at %(n)d cases: narrow the area or period.") % {"n": MAX_CASE_ROWS}])
            break
        handled = row["status"] in HANDLED_STATUSES and row["handled_at"] is not None
        on_time = on_time_original = hours = None
        if handled:
            deadline, original = row["handle_deadline"], row["original_handle_deadline"]
            on_time = yes if deadline is not None and row["handled_at"] <= deadline else no
            on_time_original = yes if original is not None and row["handled_at"] <= original else no
            if row["assigned_at"] is not None:
                hours = clock.hours(row["assigned_at"], row["handled_at"])
                hours = None if hours is None else round(hours, 2)
        path = row["area_path"]
        sheet.append(
            [
                row["number"],
                row["title"],
                row["category__parent__name"],
                row["category__name"],
                names.get(path[:street_length], ""),
                names.get(path[:community_length], ""),
                row["grid__name"],
                str(sources.get(row["source"], row["source"])),
                str(priorities.get(row["priority"], row["priority"])),
                str(statuses.get(row["status"], row["status"])),
                _local(row["reported_at"]),
                _local(row["assessed_at"]),
                _local(row["assigned_at"]),
                _local(row["handle_deadline"]),
                _local(row["original_handle_deadline"]),
                row["suspension_count"],
                row["suspended_until"],
                _local(row["handled_at"]),
                _local(row["closed_at"]),
                on_time,
                on_time_original,
                hours,
                row["rework_count"],
                row["send_back_count"],
                str(ratings.get(row["rating"], "")) if row["rating"] else "",
                row["handling_department__name"] or row["handling_area__name"] or "",
            ]
        )
        written += 1
    workbook.save(fileobj)
    return written
