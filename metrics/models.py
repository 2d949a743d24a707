"""Governance figures that are stored: the tunable rules, monthly safety-index snapshots, export jobs.

KPIs are not stored per period: whole past days are rolled up (DailyRollup, metrics.rollups) and
periods are summed from them plus the live table for today (metrics.kpis defines every figure).
The safety index is stored once a month, so a published month keeps its score
when weights, penalty or thresholds are changed later.
"""

import copy
import secrets
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.memo import SharedMemo
from cases.models import SafetyDimension
from grids.models import Area, Tier

from .fields import MicrosecondsField

# The dimensions a category may count towards (SafetyDimension without "none").
DIMENSIONS = [d for d in SafetyDimension if d.value]

_multiplier = {
    "max_digits": 4,
    "decimal_places": 2,
    "default": Decimal("1.00"),
    "validators": [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("10"))],
}


class Colour(models.TextChoices):
    GREEN = "green", _("Green")
    YELLOW = "yellow", _("Yellow")
    RED = "red", _("Red")


class MetricsSettings(models.Model):
    """The metrics' tunable rules, edited in the admin: one row. Category weights live on the category."""

    overdue_penalty = models.DecimalField(
        _("penalty per overdue case"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0.50"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=_("Points the safety index of a grid loses for each case of the month that ran past a deadline."),
    )
    green_min = models.DecimalField(
        _("green from"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("90.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=_("A safety index at or above this is green."),
    )
    yellow_min = models.DecimalField(
        _("yellow from"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("75.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=_("A safety index at or above this (and below green) is yellow; below it, red."),
    )
    staffing_standard = models.PositiveSmallIntegerField(
        _("staffing standard"),
        default=18,
        validators=[MinValueValidator(1)],
        help_text=_("Full-time community workers required per 10,000 residents."),
    )
    # Monthly quotas of patrols and household visits (巡查走访) per role, read by metrics.coverage; 0: none.
    # Household visits count households visited (户次), patrols count patrols.
    grid_worker_household_quota = models.PositiveSmallIntegerField(
        _("grid worker: households visited a month"), default=80
    )
    grid_worker_patrol_quota = models.PositiveSmallIntegerField(_("grid worker: patrols a month"), default=20)
    street_leader_household_quota = models.PositiveSmallIntegerField(
        _("street leader: households visited a month"), default=10
    )
    street_leader_patrol_quota = models.PositiveSmallIntegerField(_("street leader: patrols a month"), default=4)
    community_staff_household_quota = models.PositiveSmallIntegerField(
        _("community staff: households visited a month"), default=20
    )
    community_staff_patrol_quota = models.PositiveSmallIntegerField(_("community staff: patrols a month"), default=4)
    criminal_multiplier = models.DecimalField(_("multiplier: criminal and public security"), **_multiplier)
    governance_multiplier = models.DecimalField(_("multiplier: governance construction"), **_multiplier)
    stability_multiplier = models.DecimalField(_("multiplier: stability"), **_multiplier)
    cult_multiplier = models.DecimalField(_("multiplier: cult prevention"), **_multiplier)
    special_groups_multiplier = models.DecimalField(_("multiplier: special groups"), **_multiplier)
    correction_multiplier = models.DecimalField(_("multiplier: community correction"), **_multiplier)
    drugs_multiplier = models.DecimalField(_("multiplier: drug control"), **_multiplier)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("metrics settings")
        verbose_name_plural = _("metrics settings")

    def __str__(self):
        return str(_("Metrics settings"))

    @classmethod
    def current(cls):
        """The settings row (unsaved defaults while there is none). A dashboard reads it in several panels and
        every safety index and coverage figure needs it, so each process keeps it until it is saved in any
        process (cases.memo, metrics.signals); callers get their own copy."""
        return copy.copy(_metrics_settings.get("row", lambda: cls.objects.order_by("pk").first() or cls()))

    def clean(self):
        if self.green_min is not None and self.yellow_min is not None and self.yellow_min > self.green_min:
            raise ValidationError({"yellow_min": _("Yellow must start at or below green.")})

    def visit_quota(self, role: str, kind: str) -> int:
        """The monthly quota of ``role`` (a field role) for visits of ``kind`` (patrol or household); 0: none."""
        return getattr(self, f"{role}_{kind}_quota", 0) or 0

    @property
    def multipliers(self) -> dict[str, Decimal]:
        return {d.value: getattr(self, f"{d.value}_multiplier") for d in DIMENSIONS}

    def colour_for(self, score):
        if score is None:
            return ""
        if score >= self.green_min:
            return Colour.GREEN
        if score >= self.yellow_min:
            return Colour.YELLOW
        return Colour.RED


_metrics_settings = SharedMemo("metrics-settings")


def metrics_settings_changed():
    _metrics_settings.changed()


def forget_metrics_settings():
    """Drop this process's copy (tests start each database afresh)."""
    _metrics_settings.forget()


class SafetyIndexRun(models.Model):
    """One recorded month of the safety index, with the rules it was computed under."""

    month = models.DateField(_("month"), unique=True, help_text=_("First day of the month."))
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)
    computed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("computed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Penalty, thresholds, multipliers and every category's dimension and weight as used.
    parameters = models.JSONField(_("rules used"), default=dict)
    grids = models.PositiveIntegerField(_("grids"), default=0)

    class Meta:
        verbose_name = _("safety-index month")
        verbose_name_plural = _("safety-index months")
        ordering = ["-month"]

    def __str__(self):
        return f"{self.month:%Y-%m}"


class SafetyIndexSnapshot(models.Model):
    """The safety index of one area in one month, as it was computed; never recomputed in place."""

    run = models.ForeignKey(SafetyIndexRun, verbose_name=_("month"), on_delete=models.CASCADE, related_name="snapshots")
    month = models.DateField(_("month"))
    # The area's identity is copied: history outlives renaming, re-coding or removing an area.
    area = models.ForeignKey(
        Area, verbose_name=_("area"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    area_path = models.CharField(_("area path"), max_length=255)
    area_code = models.CharField(_("code"), max_length=18)
    area_name = models.CharField(_("name"), max_length=100)
    tier = models.CharField(_("tier"), max_length=16, choices=Tier.choices)
    population = models.PositiveIntegerField(_("population"), default=0)
    score = models.DecimalField(_("safety index"), max_digits=6, decimal_places=2, null=True, blank=True)
    colour = models.CharField(_("colour"), max_length=8, choices=Colour.choices, blank=True)
    rank = models.PositiveIntegerField(_("rank"), null=True, blank=True)
    change = models.DecimalField(
        _("change from the previous month"), max_digits=6, decimal_places=2, null=True, blank=True
    )
    # Cases and points per dimension, overdue cases (grids); grids and population weighed (above).
    inputs = models.JSONField(_("inputs"), default=dict)

    class Meta:
        verbose_name = _("safety index")
        verbose_name_plural = _("safety index")
        ordering = ["month", "tier", "rank", "area_path"]
        constraints = [
            models.UniqueConstraint(fields=["month", "area_path"], name="safety_snapshot_once_per_area_month"),
        ]
        indexes = [
            models.Index(fields=["month", "tier"], name="safety_snapshot_month_tier_idx"),
            models.Index(fields=["area_path", "month"], name="safety_snapshot_path_idx"),
        ]

    def __str__(self):
        return f"{self.area_name} {self.month:%Y-%m}"


class ExportStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Being built")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")


def export_path(instance, filename):
    # Unguessable, and never the requester's input.
    return f"exports/{timezone.localdate():%Y%m}/{secrets.token_hex(16)}.xlsx"


class ExportJob(models.Model):
    """A case list too large to build during a request: a worker writes it, the requester downloads it."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), on_delete=models.CASCADE, related_name="exports"
    )
    kind = models.CharField(_("kind"), max_length=16, default="cases", editable=False)
    parameters = models.JSONField(_("parameters"), default=dict)
    description = models.CharField(_("description"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=8, choices=ExportStatus.choices, default=ExportStatus.PENDING)
    rows = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    file = models.FileField(_("file"), upload_to=export_path, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.description or f"{self.kind} #{self.pk}"


# --- roll-ups (metrics.rollups) ----------------------------------------------------
class RollupCounts(models.Model):
    """The figures a roll-up row keeps, daily or monthly: the counts every KPI is a ratio of
    (metrics.kpis.COUNTS, same names) and the working time to handle. Abstract: the two tables keep
    their own columns (moving the fields here changed no schema)."""

    reported = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    closed = models.PositiveIntegerField(default=0)
    handled = models.PositiveIntegerField(default=0)
    on_time = models.PositiveIntegerField(default=0)
    reworked = models.PositiveIntegerField(default=0)
    send_backs = models.PositiveIntegerField(default=0)
    assignments = models.PositiveIntegerField(default=0)
    rated = models.PositiveIntegerField(default=0)
    satisfied = models.PositiveIntegerField(default=0)
    unrated = models.PositiveIntegerField(default=0)
    extended = models.PositiveIntegerField(default=0)
    suspended = models.PositiveIntegerField(default=0)
    on_time_original = models.PositiveIntegerField(default=0)
    assists_done = models.PositiveIntegerField(default=0)
    assists_on_time = models.PositiveIntegerField(default=0)
    # Working time from assignment to handling of the handled cases, in whole microseconds (exact:
    # the work clock's hours are whole days plus a difference of two moments): the sum for the mean,
    # and every value, sorted, for the exact 90th percentile.
    handle_us_sum = models.BigIntegerField(default=0)
    handle_us = MicrosecondsField()

    class Meta:
        abstract = True


class DailyRollup(RollupCounts):
    """What has happened so far to the cases reported on one local day in one grid, per category and
    handling department (RollupCounts). Field names match the case's, so one filter or grouping fits both tables."""

    day = models.DateField(_("day reported"))
    area_path = models.CharField(_("area path"), max_length=255)
    grid = models.ForeignKey(Area, on_delete=models.CASCADE, db_constraint=False, related_name="+")
    category = models.ForeignKey("cases.Category", on_delete=models.CASCADE, db_constraint=False, related_name="+")
    handling_department = models.ForeignKey(
        "grids.Department", null=True, on_delete=models.CASCADE, db_constraint=False, related_name="+"
    )

    class Meta:
        verbose_name = _("daily roll-up")
        verbose_name_plural = _("daily roll-ups")
        # One row per (day, area_path, category, handling_department): the refresh replaces a bucket's rows
        # under RollupState's lock (no unique constraint: SQLite cannot treat the null department as equal).
        indexes = [
            models.Index(fields=["day", "area_path"], name="metrics_rollup_day_path"),
            models.Index(fields=["handling_department", "day"], name="metrics_rollup_dept_day"),
        ]

    def __str__(self):
        return f"{self.day:%Y-%m-%d} {self.area_path}"


class DirtyBucket(models.Model):
    """A (day, grid path) whose roll-up rows are out of date: written in the transaction that changed a
    case, removed by the refresh that recomputed it. One row per change; the refresh merges them."""

    day = models.DateField()
    area_path = models.CharField(max_length=255)
    marked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("roll-up bucket to refresh")
        verbose_name_plural = _("roll-up buckets to refresh")

    def __str__(self):
        return f"{self.day:%Y-%m-%d} {self.area_path or '*'}"


class MonthlyRollup(RollupCounts):
    """The daily roll-ups summed by month and community (the first three levels of the grid's path), per
    category and handling department: what a district, street or community reads for whole months,
    a few rows where the daily level has about one row per case. It holds the days of the month before
    RollupState.months_through; metrics.rollups keeps it in step with the daily rows it sums."""

    month = models.DateField(_("month reported"))
    area_path = models.CharField(_("area path"), max_length=255)
    category = models.ForeignKey("cases.Category", on_delete=models.CASCADE, db_constraint=False, related_name="+")
    handling_department = models.ForeignKey(
        "grids.Department", null=True, on_delete=models.CASCADE, db_constraint=False, related_name="+"
    )

    class Meta:
        verbose_name = _("monthly roll-up")
        verbose_name_plural = _("monthly roll-ups")
        indexes = [
            models.Index(fields=["month", "area_path"], name="metrics_monthly_month_path"),
            models.Index(fields=["handling_department", "month"], name="metrics_monthly_dept_month"),
        ]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.area_path}"


class CoarseRollup(RollupCounts):
    """The monthly roll-ups summed by street and by community, and per handling department by district and by
    street (metrics.rollups.COARSE_LEVELS): a district's or a street's figures, trend and departments read a
    few rows a month instead of every community, category and department. The kept working times of each row are one sorted
    list, with every ``sample_step``-th value kept apart as ``samples``: the exact 90th percentile is found
    by counting in the samples and reading only slices near the rank (metrics.percentiles). Kept in step
    with the monthly rows by metrics.rollups.MonthDelta: counts are updated in place, and so are the values
    gained and lost since the list was last merged (``pending_gained``, ``pending_lost``: a month of a district
    at five million cases is some 400,000 values, too long to sort again on every refresh). The row's values
    are ``handle_us`` plus ``pending_gained`` less ``pending_lost``; metrics.rollups.compact merges them by
    replacing the row, never by updating its list in place (so a slice read by id always matches the
    samples read before it)."""

    month = models.DateField(_("month reported"))
    area_path = models.CharField(_("area path"), max_length=255)
    # The tier the path is cut at (0 district, 1 street, 2 community) and whether the row is per department.
    depth = models.PositiveSmallIntegerField(default=1)
    by_department = models.BooleanField(default=False)
    handling_department = models.ForeignKey(
        "grids.Department", null=True, on_delete=models.CASCADE, db_constraint=False, related_name="+"
    )
    kept = models.PositiveIntegerField(default=0)  # how many values handle_us holds
    samples = MicrosecondsField()
    sample_step = models.PositiveIntegerField(default=1)
    pending_gained = MicrosecondsField()  # sorted; none of them in pending_lost
    pending_lost = MicrosecondsField()  # sorted; each one of handle_us
    pending = models.PositiveIntegerField(default=0)  # how many values the two hold

    class Meta:
        verbose_name = _("coarse roll-up")
        verbose_name_plural = _("coarse roll-ups")
        indexes = [models.Index(fields=["month", "area_path"], name="metrics_coarse_month_path")]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.area_path}"


class RollupState(models.Model):
    """One row: when the roll-ups were last brought up to date; its row lock keeps refreshes one at a time."""

    refreshed_at = models.DateTimeField(null=True)
    rebuilt_at = models.DateTimeField(null=True)
    buckets = models.PositiveIntegerField(default=0)
    # The monthly roll-ups hold the days before this one (None: not built yet, readers use the daily rows).
    months_through = models.DateField(null=True)

    class Meta:
        verbose_name = _("roll-up state")
        verbose_name_plural = _("roll-up state")

    def __str__(self):
        return str(self._meta.verbose_name)

    @classmethod
    def current(cls) -> "RollupState":
        return cls.objects.get_or_create(pk=1)[0]


# --- appraisal (考核) and accountability (问责): metrics.appraisal, metrics.accountability ---------
_weight = {
    "max_digits": 5,
    "decimal_places": 2,
    "validators": [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
}


class AppraisalRules(models.Model):
    """The monthly appraisal's rules, edited in the admin: one row. A recorded month keeps a copy of the rules
    it was computed under (AppraisalRun.parameters), so changing them never changes a published score."""

    on_time_weight = models.DecimalField(_("weight: on-time handling rate"), default=Decimal("25"), **_weight)
    satisfaction_weight = models.DecimalField(_("weight: satisfaction rate"), default=Decimal("25"), **_weight)
    closure_weight = models.DecimalField(_("weight: closure rate"), default=Decimal("15"), **_weight)
    rework_weight = models.DecimalField(_("weight: rework rate"), default=Decimal("10"), **_weight)
    misdispatch_weight = models.DecimalField(_("weight: mis-dispatch rate"), default=Decimal("10"), **_weight)
    safety_weight = models.DecimalField(
        _("weight: safety index"),
        default=Decimal("15"),
        help_text=_("Streets, communities and grid workers (their grid): the recorded safety index of the month."),
        **_weight,
    )
    visit_weight = models.DecimalField(
        _("weight: visit coverage"),
        default=Decimal("0"),
        help_text=_(
            "Streets, communities and grid workers: households visited in the month / registered households "
            "(the patrols' coverage). At 0 the coverage is not read."
        ),
        **_weight,
    )
    street_rating_weight = models.DecimalField(
        _("weight: streets' rating"),
        default=Decimal("15"),
        help_text=_("Departments only: the mean of the streets' ratings (1–5) of the month, as a share of 5."),
        **_weight,
    )
    red_escalation_deduction = models.DecimalField(
        _("deduction per red escalation"), default=Decimal("0.50"), **_weight
    )
    red_escalation_cap = models.DecimalField(_("cap on red-escalation deductions"), default=Decimal("10"), **_weight)
    accountability_deduction = models.DecimalField(
        _("deduction per accountability decision"), default=Decimal("3"), **_weight
    )
    accountability_cap = models.DecimalField(_("cap on accountability deductions"), default=Decimal("15"), **_weight)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("appraisal rules")
        verbose_name_plural = _("appraisal rules")

    def __str__(self):
        return str(_("Appraisal rules"))

    @classmethod
    def current(cls):
        return cls.objects.order_by("pk").first() or cls()


class AppraisalTier(models.TextChoices):
    STREET = "street", _("Street")
    COMMUNITY = "community", _("Community")
    DEPARTMENT = "department", _("Department")
    GRID_WORKER = "grid_worker", _("Grid worker")


class AppraisalRun(models.Model):
    """One recorded month of the appraisal, with a copy of the rules it was computed under."""

    month = models.DateField(_("month"), unique=True, help_text=_("First day of the month."))
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)
    computed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("computed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    parameters = models.JSONField(_("rules used"), default=dict)
    units = models.PositiveIntegerField(_("units appraised"), default=0)

    class Meta:
        verbose_name = _("appraisal month")
        verbose_name_plural = _("appraisal months")
        ordering = ["-month"]

    def __str__(self):
        return f"{self.month:%Y-%m}"


class AppraisalScore(models.Model):
    """One unit's appraisal of one month as computed; an appeal may correct it, nothing recomputes it in place."""

    run = models.ForeignKey(AppraisalRun, verbose_name=_("month"), on_delete=models.CASCADE, related_name="scores")
    month = models.DateField(_("month"))
    tier = models.CharField(_("tier"), max_length=16, choices=AppraisalTier.choices)
    # "a:<area path>", "d:<department id>" or "u:<user id>": the unit, whatever its name becomes.
    unit_key = models.CharField(_("unit key"), max_length=270, editable=False)
    # The path whose case scope may read this row: the area's, the department's area, the worker's grid.
    unit_path = models.CharField(_("area path"), max_length=255)
    unit_code = models.CharField(_("code"), max_length=40, blank=True)
    unit_name = models.CharField(_("appraised unit"), max_length=150)
    area = models.ForeignKey(
        Area, verbose_name=_("area"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    department = models.ForeignKey(
        "grids.Department",
        verbose_name=_("department"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("grid worker"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    base = models.DecimalField(_("points from figures"), max_digits=6, decimal_places=2, null=True, blank=True)
    deductions = models.DecimalField(_("deductions"), max_digits=6, decimal_places=2, default=Decimal("0"))
    computed_score = models.DecimalField(_("computed score"), max_digits=6, decimal_places=2, null=True, blank=True)
    # The score that counts: the computed one, or the district's correction on appeal.
    score = models.DecimalField(_("score"), max_digits=6, decimal_places=2, null=True, blank=True)
    rank = models.PositiveIntegerField(_("rank"), null=True, blank=True)
    change = models.DecimalField(
        _("change from the previous month"), max_digits=6, decimal_places=2, null=True, blank=True
    )
    # [{"key", "value", "weight", "points", ...}] and the deductions, so the unit sees which figure gave what.
    parts = models.JSONField(_("parts"), default=list)
    counts = models.JSONField(_("KPI counts"), default=dict)

    class Meta:
        verbose_name = _("appraisal score")
        verbose_name_plural = _("appraisal scores")
        ordering = ["month", "tier", "rank", "unit_path"]
        constraints = [
            models.UniqueConstraint(fields=["month", "tier", "unit_key"], name="appraisal_once_per_unit_month"),
        ]
        indexes = [
            models.Index(fields=["month", "tier"], name="appraisal_month_tier_idx"),
            models.Index(fields=["unit_path", "month"], name="appraisal_path_idx"),
        ]

    def __str__(self):
        return f"{self.unit_name} {self.month:%Y-%m}"

    @property
    def corrected(self) -> bool:
        return self.score != self.computed_score


class AppealStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the district")
    KEPT = "kept", _("Score kept")
    CORRECTED = "corrected", _("Score corrected")


class AppraisalAppeal(models.Model):
    """A unit's appeal of its score, decided by the district (never by the unit itself)."""

    score = models.OneToOneField(
        AppraisalScore, verbose_name=_("appraisal score"), on_delete=models.CASCADE, related_name="appeal"
    )
    reason = models.TextField(_("reason"), max_length=2000)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("filed by"), on_delete=models.PROTECT, related_name="+"
    )
    filed_at = models.DateTimeField(_("filed at"), default=timezone.now)
    status = models.CharField(_("status"), max_length=12, choices=AppealStatus.choices, default=AppealStatus.PENDING)
    decision = models.TextField(_("decision"), max_length=2000, blank=True)
    score_before = models.DecimalField(_("score before"), max_digits=6, decimal_places=2, null=True, blank=True)
    corrected_score = models.DecimalField(
        _("corrected score"),
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("appraisal appeal")
        verbose_name_plural = _("appraisal appeals")
        ordering = ["-filed_at", "-id"]

    def __str__(self):
        return str(self.score)


class DepartmentRating(models.Model):
    """A street's rating of a department that handled its cases in a month (五项权力: 人事考核)."""

    month = models.DateField(_("month"), help_text=_("First day of the month."))
    street = models.ForeignKey(
        Area, verbose_name=_("street"), on_delete=models.CASCADE, related_name="+", limit_choices_to={"tier": "street"}
    )
    department = models.ForeignKey(
        "grids.Department", verbose_name=_("department"), on_delete=models.CASCADE, related_name="+"
    )
    stars = models.PositiveSmallIntegerField(
        _("rating"), validators=[MinValueValidator(1), MaxValueValidator(5)], help_text=_("1 (poor) to 5 (excellent).")
    )
    comment = models.TextField(_("comment"), max_length=1000, blank=True)
    rated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("rated by"), on_delete=models.PROTECT, related_name="+"
    )
    rated_at = models.DateTimeField(_("rated at"), default=timezone.now)

    class Meta:
        verbose_name = _("street's rating of a department")
        verbose_name_plural = _("streets' ratings of departments")
        ordering = ["-month", "street__path", "department__name"]
        constraints = [
            models.UniqueConstraint(fields=["street", "department", "month"], name="department_rating_once_a_month"),
            models.CheckConstraint(condition=models.Q(stars__gte=1, stars__lte=5), name="department_rating_1_to_5"),
        ]

    def __str__(self):
        return f"{self.street} → {self.department} {self.month:%Y-%m}"


class AccountabilityDecision(models.Model):
    """What an accountability record may decide (提醒谈话, 通报批评 ...): a list kept in the admin."""

    name = models.CharField(_("name"), max_length=50, unique=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("accountability decision")
        verbose_name_plural = _("accountability decisions")
        ordering = ["order", "name"]

    def __str__(self):
        return self.name


class AccountabilitySource(models.TextChoices):
    ESCALATION = "escalation", _("Level-3 escalation")
    REWORK = "rework", _("Rework past the limit")
    OVERDUE = "overdue", _("Repeatedly overdue unit")


class AccountabilityRecord(models.Model):
    """问责: a finding about a unit (and a person), verified and decided by the district; never public."""

    source = models.CharField(_("found through"), max_length=12, choices=AccountabilitySource.choices)
    case = models.ForeignKey(
        "cases.Case", verbose_name=_("case"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    area = models.ForeignKey(
        Area, verbose_name=_("area concerned"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    department = models.ForeignKey(
        "grids.Department",
        verbose_name=_("department concerned"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    # Scope reads this: the area's path, or the department's area's path.
    unit_path = models.CharField(_("area path"), max_length=255, editable=False)
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("person concerned"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    finding = models.TextField(_("finding"), max_length=4000)
    verification = models.TextField(_("verification (查核)"), max_length=4000, blank=True)
    decision = models.ForeignKey(
        AccountabilityDecision, verbose_name=_("decision"), null=True, blank=True, on_delete=models.PROTECT
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("opened by"), on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True, db_index=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acknowledged by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)

    class Meta:
        verbose_name = _("accountability record")
        verbose_name_plural = _("accountability records")
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(area__isnull=False) | models.Q(department__isnull=False),
                name="accountability_names_a_unit",
            ),
        ]
        indexes = [models.Index(fields=["unit_path"], name="accountability_path_idx")]

    def __str__(self):
        return f"{self.unit_name} · {self.get_source_display()}"

    @property
    def unit_name(self) -> str:
        return self.department.name if self.department_id else (self.area.name if self.area_id else "")
