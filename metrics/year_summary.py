"""The year summary of one unit for the annual review (述职评议): its recorded appraisal by month with ranks,
its KPIs by month and for the year, and the accountability decisions concerning it. One workbook and
one printable page, both from ``summary`` (scope applied there)."""

import io
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.translation import gettext as _
from openpyxl import Workbook

from gov_platform.spreadsheets import new_sheet

from . import accountability, appraisal
from .kpis import KPI_BY_KEY, Kpis, Period
from .models import AccountabilityRecord, AppraisalScore, AppraisalTier

SUMMARY_KPIS = [
    "reported",
    "closed",
    "on_time_rate",
    "closure_rate",
    "rework_rate",
    "misdispatch_rate",
    "satisfaction_rate",
]


@dataclass
class MonthRow:
    month: date
    score: AppraisalScore
    units: int  # units of the tier with a score that month
    kpis: Kpis

    @property
    def figures(self) -> list[str]:
        figures = self.kpis.figures
        return [figures[key].display for key in SUMMARY_KPIS]


@dataclass
class YearSummary:
    year: int
    tier: str
    unit_key: str
    unit_name: str
    unit_code: str
    months: list[MonthRow] = field(default_factory=list)
    year_kpis: Kpis | None = None
    records: list[AccountabilityRecord] = field(default_factory=list)

    @property
    def tier_label(self) -> str:
        return str(AppraisalTier(self.tier).label)

    @property
    def mean_score(self):
        scored = [r.score.score for r in self.months if r.score.score is not None]
        return round(sum(scored) / len(scored), 2) if scored else None

    @property
    def kpi_columns(self):
        return [KPI_BY_KEY[key] for key in SUMMARY_KPIS]

    @property
    def year_figures(self) -> list[str]:
        figures = self.year_kpis.figures
        return [figures[key].display for key in SUMMARY_KPIS]


def url_for(score: AppraisalScore) -> str:
    query = urlencode({"tier": score.tier, "unit": score.unit_key, "year": score.month.year})
    return reverse("admin:metrics_appraisalscore_summary") + "?" + query


def _records_q(first: AppraisalScore) -> Q:
    """The accountability records concerning the unit (areas: their subtree; workers: their grid or them)."""
    if first.tier == AppraisalTier.DEPARTMENT:
        return Q(department_id=first.department_id)
    if first.tier == AppraisalTier.GRID_WORKER:
        return Q(person_id=first.user_id) | Q(area__path=first.unit_path)
    return Q(area__path__startswith=first.unit_path)


def summary(*, user, tier: str, unit_key: str, year: int) -> YearSummary:
    """Raises PermissionDenied when the user reads no recorded score of that unit in that year. Four queries."""
    scores = list(
        appraisal.visible_scores(user).filter(tier=tier, unit_key=unit_key, month__year=year).order_by("month")
    )
    if not scores:
        raise PermissionDenied(_("No recorded appraisal of this unit in that year is yours to read."))
    units = dict(
        AppraisalScore.objects.filter(tier=tier, month__year=year, score__isnull=False)
        .order_by()
        .values("month")
        .annotate(n=Count("pk"))
        .values_list("month", "n")
    )
    last = scores[-1]
    result = YearSummary(year=year, tier=tier, unit_key=unit_key, unit_name=last.unit_name, unit_code=last.unit_code)
    for score in scores:
        result.months.append(MonthRow(score.month, score, units.get(score.month, 0), appraisal.kpis_of(score)))
    period = Period(date(year, 1, 1), date(year, 12, 31))
    result.year_kpis = Kpis.summed([r.kpis for r in result.months], period, period.previous())
    result.records = list(
        AccountabilityRecord.objects.filter(accountability.visible_q(user))
        .filter(_records_q(last), decided_at__year=year, decision__isnull=False)
        .select_related("decision", "area", "department", "person")
        .order_by("decided_at")
    )
    return result


def workbook(result: YearSummary) -> bytes:
    book = Workbook(write_only=True)
    sheet = new_sheet(book, _("Appraisal by month"))
    sheet.append([_("Unit"), result.unit_name, _("Tier"), result.tier_label, _("Year"), result.year])
    sheet.append([])
    sheet.append(
        [
            _("Month"),
            _("Score"),
            _("Computed score"),
            _("Points from figures"),
            _("Deductions"),
            _("Rank"),
            _("Units ranked"),
            _("Change from the previous month"),
            *[str(k.label) for k in result.kpi_columns],
        ]
    )
    for row in result.months:
        s = row.score
        sheet.append(
            [
                f"{row.month:%Y-%m}",
                s.score,
                s.computed_score,
                s.base,
                s.deductions,
                s.rank,
                row.units,
                s.change,
                *[row.kpis.value(k.key) for k in result.kpi_columns],
            ]
        )
    sheet.append([_("Year"), result.mean_score, None, None, None, None, None, None, *[
        result.year_kpis.value(k.key) for k in result.kpi_columns
    ]])  # fmt: skip

    parts = new_sheet(book, _("Parts"))
    parts.append([_("Month"), _("Part"), _("Figure"), _("Weight"), _("Points")])
    for row in result.months:
        for part in row.score.parts:
            figure = part.get("count", part.get("value"))
            parts.append(
                [
                    f"{row.month:%Y-%m}",
                    str(appraisal.part_label(part["key"])),
                    "" if figure is None else str(figure),
                    part.get("weight", ""),
                    part.get("points") or "",
                ]
            )

    records = new_sheet(book, _("Accountability"))
    records.append([_("Decided at"), _("Unit concerned"), _("Person concerned"), _("Found through"), _("Finding"),
                    _("Verification (查核)"), _("Decision"), _("Acknowledged at")])  # fmt: skip
    for rec in result.records:
        records.append(
            [
                f"{rec.decided_at:%Y-%m-%d}",
                rec.unit_name,
                rec.person.display_name
                if rec.person and hasattr(rec.person, "display_name")
                else str(rec.person or ""),
                rec.get_source_display(),
                rec.finding,
                rec.verification,
                rec.decision.name,
                f"{rec.acknowledged_at:%Y-%m-%d}" if rec.acknowledged_at else "",
            ]
        )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
