"""Cases and what they hang on: the responsibility list, the work calendar, photos."""

import copy
import re
import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Lower, Replace
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description

from accounts.models import mobile_validator
from grids.models import Area, Department, PartyOrganization
from outbox.models import NotificationChannel

from . import rules
from .calendar import clock_points, deadline_after
from .memo import SharedMemo

LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}")


def validate_contact_phone(value: str) -> None:
    """A resident's phone is a mainland mobile or a landline with its area code: rating links and
    call-backs go to it, so free text is refused wherever a contact is taken (API, admin, public form)."""
    try:
        mobile_validator(value)
    except ValidationError:
        if not LANDLINE.fullmatch(value):
            raise ValidationError(
                _(
                    "Enter a phone number: a mainland mobile (e.g. 13912345678) "
                    "or a landline with its area code (e.g. 0536-1234567)."
                ),
                code="invalid",
            ) from None


class DeadlineUnit(models.TextChoices):
    HOURS = "hours", _("natural hours")
    WORKDAYS = "workdays", _("working days")


class Priority(models.TextChoices):
    NORMAL = "normal", _("Normal")
    URGENT = "urgent", _("Urgent")


class HandlingTier(models.TextChoices):
    GRID = "grid", _("Grid")
    COMMUNITY = "community", _("Community")
    STREET = "street", _("Street")
    DISTRICT = "district", _("District")


class ResumeClock(models.TextChoices):
    REMAINING = "remaining", _("the handling time that was left")
    NEW = "new", _("a new handling clock")


class SafetyDimension(models.TextChoices):
    NONE = "", _("None")
    CRIMINAL = "criminal", _("Criminal and public-security incidents")
    GOVERNANCE = "governance", _("Governance construction")
    STABILITY = "stability", _("Stability")
    CULT = "cult", _("Cult prevention")
    SPECIAL_GROUPS = "special_groups", _("Special groups")
    CORRECTION = "correction", _("Community correction")
    DRUGS = "drugs", _("Drug control")


class Category(models.Model):
    """An entry of the responsibility list (权责清单): two levels, the leaves carry the rules."""

    parent = models.ForeignKey(
        "self",
        verbose_name=_("category group"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    code = models.CharField(_("code"), max_length=16, unique=True)
    name = models.CharField(_("name"), max_length=100)
    default_department = models.ForeignKey(
        Department, verbose_name=_("default department"), null=True, blank=True, on_delete=models.SET_NULL
    )
    default_tier = models.CharField(
        _("default handling tier"), max_length=16, choices=HandlingTier.choices, default=HandlingTier.COMMUNITY
    )
    priority = models.CharField(_("urgency"), max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    assess_limit = models.PositiveSmallIntegerField(_("assess within"), default=1)
    assess_unit = models.CharField(_("unit"), max_length=8, choices=DeadlineUnit.choices, default=DeadlineUnit.WORKDAYS)
    handle_limit = models.PositiveSmallIntegerField(_("handle within"), default=5)
    handle_unit = models.CharField(_("unit"), max_length=8, choices=DeadlineUnit.choices, default=DeadlineUnit.WORKDAYS)
    verify_limit = models.PositiveSmallIntegerField(_("verify within"), default=2)
    verify_unit = models.CharField(_("unit"), max_length=8, choices=DeadlineUnit.choices, default=DeadlineUnit.WORKDAYS)
    safety_dimension = models.CharField(
        _("safety-index dimension"), max_length=16, choices=SafetyDimension.choices, blank=True, default=""
    )
    safety_weight = models.DecimalField(
        _("safety-index weight"),
        max_digits=5,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    grace_workdays = models.PositiveSmallIntegerField(
        _("grace before the district is told"),
        null=True,
        blank=True,
        help_text=_(
            "Working days after the deadline before an overdue case goes to the district; empty: the platform default."
        ),
    )
    # Extension (延期) and suspension (挂账) rules: see cases/extensions.py.
    extension_max_days = models.PositiveSmallIntegerField(
        _("most working days per extension"), default=10, validators=[MinValueValidator(1)]
    )
    extension_max_requests = models.PositiveSmallIntegerField(
        _("extensions per case before the tier above decides"),
        default=2,
        help_text=_("Further requests for the same case go one tier above the dispatching tier."),
    )
    request_limit = models.PositiveSmallIntegerField(
        _("decide a request within (working days)"), default=1, validators=[MinValueValidator(1)]
    )
    suspension_tier = models.CharField(
        _("suspension approved by"), max_length=16, choices=HandlingTier.choices, default=HandlingTier.DISTRICT
    )
    suspension_resume = models.CharField(
        _("after a suspension"), max_length=12, choices=ResumeClock.choices, default=ResumeClock.REMAINING
    )
    is_active = models.BooleanField(_("in use"), default=True)
    public = models.BooleanField(
        _("residents may report it"),
        default=True,
        help_text=_(
            "Offered on the public report form. Untick entries only officials file, such as community correction "
            "or people under care."
        ),
    )

    # Disputes (邻里、家事纠纷...): a case carries a mediation record with an outcome before it is handled
    # (cases/mediation.py).
    requires_mediation = models.BooleanField(
        _("requires mediation"),
        default=False,
        help_text=_("Cases of this entry are handled only once a mediation record has its outcome."),
    )

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("responsibility list")
        ordering = ["code"]

    def __str__(self):
        return self.name

    @property
    def is_leaf(self):
        return self.parent_id is not None

    def stage_limit(self, stage):
        return getattr(self, f"{stage}_limit"), getattr(self, f"{stage}_unit")

    def grace(self, policy) -> int:
        """Working days an overdue case of this category waits before the district is told."""
        return self.grace_workdays if self.grace_workdays is not None else policy.grace_workdays

    def clock(self, start, limit, unit, policy=None):
        """A clock of ``limit`` ``unit`` from ``start`` for a case of this category, with the one calculator:
        (deadline, warning point, district point)."""
        policy = policy or WorkflowSettings.current()
        deadline = deadline_after(start, limit, unit)
        warn_at, final_at = clock_points(
            start, deadline, warning_ratio=policy.warning_ratio, grace_workdays=self.grace(policy)
        )
        return deadline, warn_at, final_at


class WorkflowSettings(models.Model):
    """The platform's tunable rules, edited in the admin: one row."""

    warning_ratio = models.DecimalField(
        _("warning at"),
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.80"),
        validators=[MinValueValidator(Decimal("0.10")), MaxValueValidator(Decimal("0.99"))],
        help_text=_("Share of a stage's time after which the handling unit is warned (yellow)."),
    )
    grace_workdays = models.PositiveSmallIntegerField(
        _("grace before the district is told"),
        default=1,
        help_text=_("Working days a case may stay overdue before the district supervisors are told."),
    )
    sweep_interval_minutes = models.PositiveSmallIntegerField(
        _("sweep interval (minutes)"),
        default=1,
        validators=[MinValueValidator(1)],
    )
    max_delivery_attempts = models.PositiveSmallIntegerField(
        _("delivery attempts per notification"), default=5, validators=[MinValueValidator(1)]
    )
    rework_limit = models.PositiveSmallIntegerField(
        _("rework limit"),
        default=2,
        help_text=_(
            "How many times a dissatisfied rating reopens a case; past it the case stays rated "
            "and the dispatching tier's supervisors are told."
        ),
    )
    rating_window_days = models.PositiveSmallIntegerField(
        _("days to rate"),
        default=7,
        validators=[MinValueValidator(1)],
        help_text=_("A fed-back case that no one rated within this many days is closed as unrated."),
    )
    rating_link_days = models.PositiveSmallIntegerField(
        _("rating link valid for (days)"), default=7, validators=[MinValueValidator(1)]
    )
    camera_alarm_window_minutes = models.PositiveSmallIntegerField(
        _("camera alarm window (minutes)"),
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text=_(
            "An alarm of the same camera and category this close to an alarm of an open case is counted "
            "on that case instead of filing a new one."
        ),
    )

    class Meta:
        verbose_name = _("workflow settings")
        verbose_name_plural = _("workflow settings")

    def __str__(self):
        return str(_("Workflow settings"))

    @classmethod
    def current(cls):
        """The settings row (unsaved defaults while there is none). Every report and step reads it, so each
        process keeps it until it is saved in any process (cases.memo, signals); callers get their own copy."""
        return copy.copy(_workflow_settings.get("row", lambda: cls.objects.order_by("pk").first() or cls()))


_workflow_settings = SharedMemo("workflow-settings")


def workflow_settings_changed():
    _workflow_settings.changed()


def forget_workflow_settings():
    """Drop this process's copy (tests start each database afresh)."""
    _workflow_settings.forget()


class WorkCalendarDay(models.Model):
    """An exception to "Monday to Friday": a holiday on a weekday, or an adjusted working weekend day."""

    date = models.DateField(_("date"), unique=True)
    is_workday = models.BooleanField(_("working day"))
    name = models.CharField(_("note"), max_length=50, blank=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("work calendar")
        ordering = ["date"]

    def __str__(self):
        return f"{self.date} {self.name}"


class Status(models.TextChoices):
    REPORTED = "reported", _("Reported")
    ASSESSED = "assessed", _("Assessed")
    DISMISSED = "dismissed", _("Dismissed")
    ASSIGNED = "assigned", _("Assigned")
    SUSPENDED = "suspended", _("Suspended")
    HANDLED = "handled", _("Handled")
    FED_BACK = "fed_back", _("Fed back")
    RATED = "rated", _("Rated")
    CLOSED = "closed", _("Closed")


# A mediated dispute is visited again this many days after its outcome.
MEDIATION_FOLLOW_UP_DAYS = 30

OPEN_STATUSES = [Status.REPORTED, Status.ASSESSED, Status.ASSIGNED, Status.HANDLED]


class Stage(models.TextChoices):
    """The clock a case runs on; an escalation names the stage whose deadline passed."""

    ASSESS = "assess", pgettext_lazy("stage", "Assessment")
    HANDLE = "handle", pgettext_lazy("stage", "Handling")
    VERIFY = "verify", pgettext_lazy("stage", "Verification")
    # An extension or suspension request waiting for its decision (cases/extensions.py).
    REQUEST = "request", pgettext_lazy("stage", "Request decision")
    # An assisting unit's task of a jointly handled case (cases/joint.py).
    ASSIST = "assist", pgettext_lazy("stage", "Assisting task")


# The clock that runs in each open status.
STAGE_OF_STATUS = {
    Status.REPORTED: "assess",
    Status.ASSESSED: "assess",
    Status.ASSIGNED: "handle",
    Status.HANDLED: "verify",
}
# A suspended case's clock is stopped; it is the handling clock that resumes.
CLOCK_OF_STATUS = {**STAGE_OF_STATUS, Status.SUSPENDED: "handle"}
TERMINAL_STATUSES = [Status.DISMISSED, Status.RATED, Status.CLOSED]


class ClockRequestKind(models.TextChoices):
    EXTENSION = "extension", _("Extension")
    SUSPENSION = "suspension", _("Suspension")


class Source(models.TextChoices):
    GRID_PATROL = "grid_patrol", _("Grid patrol")
    STREET_LEADER = "street_leader", _("Street leader")
    RESIDENT = "resident", _("Resident self-report")
    HOTLINE = "hotline", _("Hotline")
    VIDEO = "video", _("Video camera")
    DEPARTMENT = "department", _("Department")
    JOINT_INSPECTION = "joint_inspection", _("Joint inspection")


class DismissReason(models.TextChoices):
    DUPLICATE = "duplicate", _("Duplicate of another case")
    OUTSIDE = "outside", _("Outside our jurisdiction")
    NOT_REAL = "not_real", _("Not a real problem")


class Rating(models.TextChoices):
    SATISFIED = "satisfied", _("Satisfied")
    BASICALLY = "basically", _("Basically satisfied")
    DISSATISFIED = "dissatisfied", _("Dissatisfied")


HAS_CONTACT = ~Q(contact_name="") | ~Q(contact_phone="") | ~Q(contact_email="")
# A phone as typed by staff or the API ("139 1234-5678") compared as the resident form stores it.
NORMALISED_PHONE = Replace(Replace(F("contact_phone"), Value(" "), Value("")), Value("-"), Value(""))


def overdue_q(now=None) -> Q:
    """Open cases past their deadline."""
    return Q(status__in=OPEN_STATUSES, current_deadline__lt=now or timezone.now())


class CaseQuerySet(models.QuerySet):
    def overdue(self, now=None):
        return self.filter(overdue_q(now))


def new_tracking_code():
    # No 0/O/1/I: residents read it off a phone and type it.
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(10))


class Case(ConcurrentTransitionMixin, models.Model):
    number = models.CharField(_("case number"), max_length=20, unique=True, null=True, editable=False)
    tracking_code = models.CharField(
        _("tracking code"), max_length=12, unique=True, default=new_tracking_code, editable=False
    )
    title = models.CharField(_("title"), max_length=100)
    description = models.TextField(_("description"), max_length=5000)
    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        on_delete=models.PROTECT,
        related_name="cases",
        limit_choices_to={"parent__isnull": False, "is_active": True},
        db_index=False,  # case_category_id_idx leads with it
    )
    grid = models.ForeignKey(
        Area, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="cases", limit_choices_to={"tier": "grid"}
    )
    # The grid's path, copied so that scope and area filters are one indexed
    # prefix match on this table without a join.
    area_path = models.CharField(_("area path"), max_length=255, editable=False, db_index=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.GRID_PATROL)
    priority = models.CharField(_("priority"), max_length=8, choices=Priority.choices, default=Priority.NORMAL)

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reporter"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reported_cases",
    )
    contact_name = models.CharField(_("contact name"), max_length=50, blank=True)
    contact_phone = models.CharField(_("contact phone"), max_length=20, blank=True)
    contact_email = models.EmailField(_("contact email"), blank=True)
    # PIPL: when the contact above was erased (retention period over, or the resident asked).
    contact_erased_at = models.DateTimeField(_("contact erased at"), null=True, blank=True, editable=False)

    # Not indexed alone: case_status_id_idx and case_status_path_idx lead with it.
    status = FSMField(
        _("status"),
        max_length=16,
        choices=Status.choices,
        default=Status.REPORTED,
        protected=True,
    )
    # The unit that dispatched the case; verification and rating go back to it.
    dispatcher_area = models.ForeignKey(
        Area,
        verbose_name=_("dispatched by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="dispatched_cases",
    )
    handling_department = models.ForeignKey(
        Department,
        verbose_name=_("handling department"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
        db_index=False,  # case_dept_status_idx leads with it
    )
    handling_area = models.ForeignKey(
        Area,
        verbose_name=_("handling area"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="handled_cases",
        db_index=False,  # case_area_status_idx leads with it
    )
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handler"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handled_cases",
    )

    result = models.TextField(_("handling result"), blank=True)
    dismiss_reason = models.CharField(_("dismiss reason"), max_length=16, choices=DismissReason.choices, blank=True)
    duplicate_of = models.ForeignKey(
        "self",
        verbose_name=_("duplicate of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="duplicates",
        db_index=False,  # a partial index below: most cases have none
    )
    rating = models.CharField(_("rating"), max_length=16, choices=Rating.choices, blank=True)
    rating_comment = models.TextField(_("rating comment"), blank=True)
    rated_by_phone = models.BooleanField(_("rated in a phone visit"), default=False)

    rework_count = models.PositiveSmallIntegerField(_("rework count"), default=0)
    send_back_count = models.PositiveSmallIntegerField(_("send-back count"), default=0)
    assign_count = models.PositiveSmallIntegerField(_("assignment count"), default=0)

    reported_at = models.DateTimeField(_("reported at"), default=timezone.now, db_index=True)
    assessed_at = models.DateTimeField(_("assessed at"), null=True, blank=True)
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True)
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)
    fed_back_at = models.DateTimeField(_("fed back at"), null=True, blank=True)
    closed_at = models.DateTimeField(
        _("closed at"), null=True, blank=True, help_text=_("When the case reached rated, closed or dismissed.")
    )
    assess_deadline = models.DateTimeField(_("assess deadline"), null=True, blank=True)
    handle_deadline = models.DateTimeField(_("handle deadline"), null=True, blank=True)
    verify_deadline = models.DateTimeField(_("verify deadline"), null=True, blank=True)
    # The clock of the stage the case is in now; empty when no one owes a step.
    stage_started_at = models.DateTimeField(_("stage started at"), null=True, blank=True)
    current_deadline = models.DateTimeField(_("current deadline"), null=True, blank=True)
    # When the sweep warns (yellow) and when an overdue case goes to the district;
    # stored at the start of each stage so the sweep compares plain columns.
    warn_at = models.DateTimeField(_("warning due at"), null=True, blank=True)
    final_at = models.DateTimeField(_("district escalation due at"), null=True, blank=True)
    # A request to move the clock waiting for a decision (extension or suspension, "" for none), and
    # the path of the tier that decides it or lifts the suspension: the rules read these two columns.
    pending_request = models.CharField(
        _("pending request"), max_length=12, choices=ClockRequestKind.choices, blank=True, default="", editable=False
    )
    clock_approver_path = models.CharField(_("decided by (path)"), max_length=255, blank=True, editable=False)
    extended_until = models.DateTimeField(_("extended until"), null=True, blank=True, editable=False)
    suspended_at = models.DateTimeField(_("suspended at"), null=True, blank=True, editable=False)
    suspended_until = models.DateField(_("suspended until"), null=True, blank=True, editable=False)
    suspended_remaining = models.DurationField(_("handling time left"), null=True, blank=True, editable=False)
    # For the KPIs (metrics.kpis): the handling deadline as the stage's clock first set it, before any
    # extension or suspension moved it; how often the case was suspended; its assisting tasks done, and
    # done by their sub-deadline. Counters on the case keep the roll-ups one row per case bucket.
    original_handle_deadline = models.DateTimeField(
        _("original handle deadline"), null=True, blank=True, editable=False
    )
    suspension_count = models.PositiveSmallIntegerField(_("times suspended"), default=0, editable=False)
    assist_done_count = models.PositiveSmallIntegerField(_("assisting tasks done"), default=0, editable=False)
    assist_on_time_count = models.PositiveSmallIntegerField(
        _("assisting tasks done on time"), default=0, editable=False
    )
    # Found on a joint inspection (联合巡查, cases/inspections.py).
    inspection = models.ForeignKey(
        "JointInspection",
        verbose_name=_("joint inspection"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases",
        editable=False,
        db_index=False,  # a partial index below: most cases have none
    )
    # Found on a patrol or household visit (巡查走访, cases/visits.py).
    visit = models.ForeignKey(
        "Visit",
        verbose_name=_("patrol or visit"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases",
        editable=False,
        db_index=False,  # a partial index below: most cases have none
    )
    # Filed by an external system through the intake: its own id for the event, unique per system,
    # so a repeated call finds this case instead of filing another.
    external_system = models.ForeignKey(
        "ExternalSystem",
        verbose_name=_("external system"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
        editable=False,
        db_index=False,  # case_external_id_per_system serves it
    )
    external_id = models.CharField(_("external ID"), max_length=64, blank=True, default="", editable=False)
    # Joint handling (主办/协办): assisting tasks not yet done or waived; the lead handles only at zero.
    open_assist_count = models.PositiveSmallIntegerField(_("assisting tasks open"), default=0, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-id"]
        indexes = [
            # The deadline sweep and the "overdue" filter look only at open cases.
            models.Index(
                fields=["current_deadline"],
                name="case_open_deadline_idx",
                condition=Q(status__in=["reported", "assessed", "assigned", "handled"]),
            ),
            models.Index(
                fields=["warn_at"],
                name="case_open_warn_idx",
                condition=Q(status__in=["reported", "assessed", "assigned", "handled"]),
            ),
            models.Index(
                fields=["final_at"],
                name="case_open_final_idx",
                condition=Q(status__in=["reported", "assessed", "assigned", "handled"]),
            ),
            # Newest open cases first: the "waiting for me" and "overdue" lists walk this.
            models.Index(
                fields=["-id"],
                name="case_open_id_idx",
                condition=Q(status__in=["reported", "assessed", "assigned", "handled"]),
            ),
            models.Index(fields=["status", "-id"], name="case_status_id_idx"),
            # The header's to-do counts of a street or community: one state under one area path, found in the
            # index instead of among every case of that state (pattern ops serve both = and the path prefix).
            models.Index(
                fields=["status", "area_path"],
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops"],
                name="case_status_path_idx",
            ),
            # The officials' map at the detail zoom: the cases in view, by latitude band then longitude.
            models.Index(
                fields=["latitude", "longitude"], name="case_map_point_idx", condition=Q(latitude__isnull=False)
            ),
            models.Index(fields=["handling_department", "status"], name="case_dept_status_idx"),
            models.Index(fields=["handling_area", "status"], name="case_area_status_idx"),
            models.Index(fields=["category", "-id"], name="case_category_id_idx"),
            # Each index is written on every new case and every step that changes its columns: the columns that
            # most cases leave empty are indexed where they are set (what deleting the row they point to reads).
            *(
                models.Index(fields=[name], name=f"case_{name}_set_idx", condition=Q(**{f"{name}__isnull": False}))
                for name in ("duplicate_of", "inspection", "visit")
            ),
            # The header's "extensions and suspensions to approve" count: a handful of cases among a million,
            # found without reading the others.
            models.Index(
                fields=["pending_request", "clock_approver_path"],
                name="case_pending_request_idx",
                condition=~Q(pending_request=""),
            ),
            # The retention job walks only finished cases that still hold a contact; erased
            # cases leave the index, so it stays as small as the contacts actually kept.
            models.Index(
                fields=["closed_at"],
                name="case_contact_kept_idx",
                condition=Q(status__in=["rated", "closed", "dismissed"], contact_erased_at__isnull=True) & HAS_CONTACT,
            ),
            # Data-subject requests: exact match on the normalised phone or email, one index probe.
            models.Index(NORMALISED_PHONE, name="case_contact_phone_idx", condition=~Q(contact_phone="")),
            models.Index(Lower("contact_email"), name="case_contact_email_idx", condition=~Q(contact_email="")),
        ]
        constraints = [
            # A repeated intake call (or two racing) finds the first case: the database decides.
            models.UniqueConstraint(
                fields=["external_system", "external_id"],
                condition=Q(external_system__isnull=False),
                name="case_external_id_per_system",
            ),
        ]
        permissions = [("handle_subject_request", _("Can handle residents' data-subject requests"))]

    def __str__(self):
        return f"{self.number or '-'} {self.title}"

    def save(self, *args, **kwargs):
        if self.grid_id and not self.area_path:
            self.area_path = self.grid.path
        super().save(*args, **kwargs)

    def clean(self):
        # For the admin's add form (a ModelForm); services.create_case checks the same for every other way in.
        # Only a new case: the change form does not carry the contact, and an error on a field a form
        # lacks cannot be shown.
        if self._state.adding and self.contact_phone:
            try:
                validate_contact_phone(self.contact_phone)
            except ValidationError as exc:
                raise ValidationError({"contact_phone": exc.messages}) from exc

    # --- clocks ---------------------------------------------------------------
    @property
    def stage(self):
        """Whose clock runs: assess (reported, assessed), handle (assigned), verify (handled)."""
        return STAGE_OF_STATUS.get(self.status)

    def start_stage(self, stage, now, policy=None):
        """Start the clock of ``stage`` (assess, handle, verify) from ``now``; one calculator for all."""
        deadline, self.warn_at, self.final_at = self.category.clock(now, *self.category.stage_limit(stage), policy)
        setattr(self, f"{stage}_deadline", deadline)
        if stage == "handle":
            self.original_handle_deadline = deadline
        self.stage_started_at, self.current_deadline = now, deadline

    def stop_clock(self):
        self.stage_started_at = self.current_deadline = self.warn_at = self.final_at = None

    @property
    def is_overdue(self):
        return self.current_deadline is not None and self.current_deadline < timezone.now()

    @property
    def deadline_state(self) -> str | None:
        """green, yellow (past the warning point) or red (overdue); None when no clock runs.

        The same thresholds the sweep records Escalation rows at, read off the clock."""
        if self.current_deadline is None:
            return None
        now = timezone.now()
        if self.current_deadline <= now:
            return "red"
        if self.warn_at is not None and self.warn_at <= now:
            return "yellow"
        return "green"

    @property
    def handling_unit(self):
        return self.handling_department or self.handling_area

    # --- the state machine ------------------------------------------------------
    # Each transition sets only this case's own fields; the services in
    # cases/services.py validate input, check scope, save and notify.
    @fsm_log_by
    @fsm_log_description
    @transition(
        status,
        source=Status.REPORTED,
        target=Status.ASSESSED,
        permission=rules.may_dispatch,
    )
    def assess(self, *, by=None, description=None, category=None, priority=None, dispatcher_area=None, now=None):
        self.category = category or self.category
        self.priority = priority or self.priority
        self.dispatcher_area = dispatcher_area
        self.assessed_at = now

    @fsm_log_by
    @fsm_log_description
    @transition(
        status,
        source=Status.REPORTED,
        target=Status.DISMISSED,
        permission=rules.may_dispatch,
    )
    def dismiss(self, *, by=None, description=None, reason=None, duplicate_of=None, now=None):
        self.dismiss_reason = reason
        self.duplicate_of = duplicate_of
        self.closed_at = now
        self.stop_clock()

    @fsm_log_by
    @fsm_log_description
    @transition(
        status,
        source=Status.ASSESSED,
        target=Status.ASSIGNED,
        permission=rules.may_dispatch,
    )
    def assign(self, *, by=None, description=None, department=None, area=None, handler=None, now=None):
        self.handling_department, self.handling_area, self.handler = department, area, handler
        self.assigned_at = now
        self.assign_count += 1
        self.start_stage("handle", now)

    @fsm_log_by
    @fsm_log_description
    @transition(
        status,
        source=Status.ASSIGNED,
        target=Status.ASSESSED,
        permission=rules.in_handling_unit,
    )
    def send_back(self, *, by=None, description=None, now=None):
        self.lapse_pending_request()
        self.send_back_count += 1
        self.handling_department = self.handling_area = self.handler = None
        # Back on the dispatcher's desk: the assess clock runs again.
        self.start_stage("assess", now)

    @fsm_log_by
    @fsm_log_description
    @transition(
        status,
        source=Status.ASSIGNED,
        target=Status.HANDLED,
        permission=rules.in_handling_unit,
    )
    def handle(self, *, by=None, description=None, result=None, now=None):
        self.lapse_pending_request()
        self.result = result
        self.handled_at = now
        if self.handler_id is None and by is not None:
            self.handler = by
        self.start_stage("verify", now)

    @fsm_log_by
    @fsm_log_description
    @transition(
        status,
        source=Status.HANDLED,
        target=Status.ASSIGNED,
        permission=rules.may_dispatch,
    )
    def reject(self, *, by=None, description=None, now=None):
        self.rework_count += 1
        self.start_stage("handle", now)

    @fsm_log_by
    @fsm_log_description
    @transition(
        status,
        source=Status.HANDLED,
        target=Status.FED_BACK,
        permission=rules.may_dispatch,
    )
    def feed_back(self, *, by=None, description=None, now=None):
        self.fed_back_at = now
        self.stop_clock()

    @fsm_log_by
    @fsm_log_description
    @transition(
        status,
        source=Status.FED_BACK,
        target=Status.RATED,
        permission=rules.may_dispatch,
    )
    def rate(self, *, by=None, description=None, rating=None, comment="", by_phone=False, now=None):
        self.rating, self.rating_comment, self.rated_by_phone = rating, comment, by_phone
        self.closed_at = now

    @fsm_log_by
    @fsm_log_description
    @transition(
        status,
        source=Status.RATED,
        target=Status.ASSIGNED,
        permission=rules.system_only,
    )
    def rework(self, *, by=None, description=None, now=None):
        self.rework_count += 1
        self.closed_at = None
        self.start_stage("handle", now)

    @fsm_log_by
    @fsm_log_description
    @transition(
        status,
        source=Status.FED_BACK,
        target=Status.CLOSED,
        permission=rules.system_only,
    )
    def close(self, *, by=None, description=None, now=None):
        self.closed_at = now

    # --- moving the clock: extension (延期) and suspension (挂账), cases/extensions.py ---
    # The request itself is a ClockRequest row with its own status and clock; the case
    # carries only which kind waits and which tier decides. ``clock_request`` is saved by
    # the step's ``after`` in the same transaction.
    def open_request(self, clock_request):
        self.pending_request = clock_request.kind
        self.clock_approver_path = clock_request.approving_area.path
        self.clock_request = clock_request

    def lapse_pending_request(self):
        """The case leaves the handling unit: a request still waiting has nothing left to decide."""
        if self.pending_request:
            self.pending_request = ""
            self.clock_approver_path = ""
            self.lapsed_request = True

    def _decided(self, clock_request, *, approved, by, comment, now, keep_approver=False):
        clock_request.status = ClockRequestStatus.APPROVED if approved else ClockRequestStatus.REFUSED
        clock_request.decided_by, clock_request.decided_at, clock_request.decision_comment = by, now, comment or ""
        self.pending_request = ""
        if not keep_approver:
            self.clock_approver_path = ""
        self.clock_request = clock_request

    def move_deadline(self, deadline, policy=None):
        """A new deadline for the running clock: its warning and district points follow, so the
        sweep's ladder (keyed on the deadline) starts afresh and the old steps stay on record."""
        policy = policy or WorkflowSettings.current()
        setattr(self, f"{CLOCK_OF_STATUS[self.status]}_deadline", deadline)
        self.current_deadline = deadline
        self.warn_at, self.final_at = clock_points(
            self.stage_started_at,
            deadline,
            warning_ratio=policy.warning_ratio,
            grace_workdays=self.category.grace(policy),
        )

    @fsm_log_by
    @fsm_log_description
    @transition(status, source=Status.ASSIGNED, target=Status.ASSIGNED, permission=rules.may_request_clock)
    def request_extension(self, *, by=None, description=None, clock_request=None, now=None):
        self.open_request(clock_request)

    @fsm_log_by
    @fsm_log_description
    @transition(status, source=Status.ASSIGNED, target=Status.ASSIGNED, permission=rules.may_decide_extension)
    def approve_extension(self, *, by=None, description=None, clock_request=None, granted_days=None, now=None):
        # Working days added to the deadline being replaced: the unit gets the days it was granted.
        deadline = deadline_after(self.current_deadline, granted_days, DeadlineUnit.WORKDAYS)
        clock_request.granted_days, clock_request.old_deadline = granted_days, self.current_deadline
        clock_request.new_deadline = deadline
        self.move_deadline(deadline)
        self.extended_until = deadline
        self._decided(clock_request, approved=True, by=by, comment=description, now=now)

    @fsm_log_by
    @fsm_log_description
    @transition(status, source=Status.ASSIGNED, target=Status.ASSIGNED, permission=rules.may_decide_extension)
    def refuse_extension(self, *, by=None, description=None, clock_request=None, now=None):
        self._decided(clock_request, approved=False, by=by, comment=description, now=now)

    @fsm_log_by
    @fsm_log_description
    @transition(status, source=Status.ASSIGNED, target=Status.ASSIGNED, permission=rules.may_request_clock)
    def request_suspension(self, *, by=None, description=None, clock_request=None, now=None):
        self.open_request(clock_request)

    @fsm_log_by
    @fsm_log_description
    @transition(status, source=Status.ASSIGNED, target=Status.SUSPENDED, permission=rules.may_decide_suspension)
    def approve_suspension(self, *, by=None, description=None, clock_request=None, review_date=None, now=None):
        clock_request.review_date = review_date
        self.suspended_at, self.suspended_until = now, review_date
        self.suspension_count += 1
        self.suspended_remaining = max(self.current_deadline - now, timedelta(0))
        self.stop_clock()
        # The approving tier stays recorded: it may lift the suspension before the review date.
        self._decided(clock_request, approved=True, by=by, comment=description, now=now, keep_approver=True)

    @fsm_log_by
    @fsm_log_description
    @transition(status, source=Status.ASSIGNED, target=Status.ASSIGNED, permission=rules.may_decide_suspension)
    def refuse_suspension(self, *, by=None, description=None, clock_request=None, now=None):
        self._decided(clock_request, approved=False, by=by, comment=description, now=now)

    def _resume(self, now):
        if self.category.suspension_resume == ResumeClock.NEW:
            original = self.original_handle_deadline
            self.start_stage("handle", now)
            # A new clock after a suspension is a moved deadline, not a new original one.
            self.original_handle_deadline = original
        else:
            policy = WorkflowSettings.current()
            self.stage_started_at = now
            self.move_deadline(now + (self.suspended_remaining or timedelta(0)), policy)
        self.suspended_at = self.suspended_until = self.suspended_remaining = None
        self.clock_approver_path = ""

    @fsm_log_by
    @fsm_log_description
    @transition(status, source=Status.SUSPENDED, target=Status.ASSIGNED, permission=rules.may_lift_suspension)
    def lift_suspension(self, *, by=None, description=None, now=None):
        self._resume(now)

    @fsm_log_by
    @fsm_log_description
    @transition(status, source=Status.SUSPENDED, target=Status.ASSIGNED, permission=rules.system_only)
    def resume(self, *, by=None, description=None, now=None):
        self._resume(now)

    # --- joint handling (主办/协办), cases/joint.py: the task rows are saved by the step's ``after`` ---
    @fsm_log_by
    @fsm_log_description
    @transition(status, source=Status.ASSIGNED, target=Status.ASSIGNED, permission=rules.may_dispatch)
    def add_assist(self, *, by=None, description=None, task=None, now=None):
        self.open_assist_count += 1
        self.assist_task = task

    @fsm_log_by
    @fsm_log_description
    @transition(status, source=Status.ASSIGNED, target=Status.ASSIGNED, permission=rules.in_assisting_unit)
    def finish_assist(self, *, by=None, description=None, task=None, result="", now=None):
        task.status, task.result, task.done_by, task.done_at = AssistStatus.DONE, result, by, now
        self.open_assist_count = max(self.open_assist_count - 1, 0)
        self.assist_done_count += 1
        if now <= task.deadline:
            self.assist_on_time_count += 1
        self.assist_task = task

    @fsm_log_by
    @fsm_log_description
    @transition(status, source=Status.ASSIGNED, target=Status.ASSIGNED, permission=rules.in_assisting_unit)
    def return_assist(self, *, by=None, description=None, task=None, now=None):
        # Still open for the lead: the dispatcher waives it or names another unit.
        task.status, task.result, task.done_by, task.done_at = AssistStatus.RETURNED, description or "", by, now
        self.assist_task = task

    @fsm_log_by
    @fsm_log_description
    @transition(status, source=Status.ASSIGNED, target=Status.ASSIGNED, permission=rules.may_waive_assist)
    def waive_assist(self, *, by=None, description=None, task=None, now=None):
        task.status, task.waived_by, task.done_at = AssistStatus.WAIVED, by, now
        self.open_assist_count = max(self.open_assist_count - 1, 0)
        self.assist_task = task

    # --- mediation (调解), cases/mediation.py: the record is saved by the step's ``after`` ---
    @fsm_log_by
    @fsm_log_description
    @transition(status, source=Status.ASSIGNED, target=Status.ASSIGNED, permission=rules.may_record_mediation)
    def record_mediation(self, *, by=None, description=None, mediation=None, outcome=None, agreement=None, now=None):
        mediation.outcome, mediation.outcome_note = outcome, description or ""
        mediation.outcome_by, mediation.outcome_at = by, now
        if agreement is not None:
            mediation.agreement = agreement
        # The visit 30 days on: the beat reminds the mediators once (cases/mediation.py).
        mediation.follow_up_due = timezone.localdate(now) + timedelta(days=MEDIATION_FOLLOW_UP_DAYS)
        self.mediation_record = mediation


class AttachmentKind(models.TextChoices):
    BEFORE = "before", _("Before handling")
    AFTER = "after", _("After handling")
    REQUEST = "request", _("With a request")
    ASSIST = "assist", _("By an assisting unit")


def attachment_path(instance, filename):
    # The name is ours, never the uploader's: no path tricks, no personal data in URLs.
    return f"cases/{timezone.localdate():%Y/%m}/{secrets.token_hex(12)}.jpg"


class Attachment(models.Model):
    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="attachments")
    kind = models.CharField(_("kind"), max_length=8, choices=AttachmentKind.choices)
    image = models.ImageField(_("photo"), upload_to=attachment_path)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        ordering = ["created_at"]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"


class EscalationLevel(models.IntegerChoices):
    WARNING = 1, _("Yellow: warning")
    OVERDUE = 2, _("Red: overdue, next tier told")
    DISTRICT = 3, _("Red: still overdue, district told")


class Escalation(models.Model):
    """One step of the deadline ladder for one clock of one case, recorded once."""

    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="escalations")
    level = models.PositiveSmallIntegerField(_("level"), choices=EscalationLevel.choices)
    stage = models.CharField(_("stage"), max_length=8, choices=Stage.choices)
    deadline = models.DateTimeField(_("deadline"))
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    # Which sweep recorded it: a sweep notifies only for the rows it inserted itself.
    sweep = models.CharField(_("sweep"), max_length=32, editable=False)
    notified = models.JSONField(_("notified users"), default=list, blank=True)
    notified_names = models.TextField(_("notified"), blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acknowledged by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    instruction = models.TextField(_("supervision instruction"), blank=True)

    class Meta:
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "stage", "deadline", "level"], name="escalation_once_per_step"),
        ]
        indexes = [models.Index(fields=["sweep"], name="escalation_sweep_idx")]

    def __str__(self):
        # Officials know a case by its number, never by a database id.
        return f"{self.case.number} · {self.get_stage_display()} · {self.get_level_display()}"


class RatingInvitation(models.Model):
    """A resident's rating link for one feed-back of one case, sent on one channel.

    The link carries the id and a random nonce, signed with the secret key; only
    a hash of the nonce is stored, so neither a copy of the database nor the key
    alone is enough to rate someone else's case.
    """

    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="rating_invitations")
    nonce_hash = models.CharField(_("nonce hash"), max_length=64, editable=False)
    # A link goes to a resident, by email or SMS: they have no in-app inbox.
    channel = models.CharField(
        _("channel"),
        max_length=8,
        choices=[(c.value, c.label) for c in (NotificationChannel.EMAIL, NotificationChannel.SMS)],
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("rating invitation")
        verbose_name_plural = _("rating invitations")
        ordering = ["-id"]

    def __str__(self):
        return f"{self.case_id} · {self.get_channel_display()}"


class ClockRequestStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for a decision")
    APPROVED = "approved", _("Approved")
    REFUSED = "refused", _("Refused")
    LAPSED = "lapsed", _("Lapsed: the case moved on")


class ClockRequest(models.Model):
    """A handling unit's request to move the clock of a case: an extension (延期) or a suspension (挂账).

    Its own object with its own status and clock rather than a case state: the case keeps
    being handled (and may be handled) while the request waits, and the request's clock
    climbs the ladder on its own. See cases/extensions.py."""

    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="clock_requests")
    kind = models.CharField(_("kind"), max_length=12, choices=ClockRequestKind.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=ClockRequestStatus.choices, default=ClockRequestStatus.PENDING
    )
    reason = models.TextField(_("reason"), max_length=2000)
    days = models.PositiveSmallIntegerField(_("working days asked"), null=True, blank=True)
    granted_days = models.PositiveSmallIntegerField(_("working days granted"), null=True, blank=True)
    review_date = models.DateField(_("review date"), null=True, blank=True)
    approving_area = models.ForeignKey(
        Area, verbose_name=_("decided by"), on_delete=models.PROTECT, related_name="clock_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decision by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_comment = models.TextField(_("decision comment"), blank=True)
    # The request's own clock, climbed by the sweep like a case's (stage "request").
    deadline = models.DateTimeField(_("decide by"))
    warn_at = models.DateTimeField(_("warning due at"))
    final_at = models.DateTimeField(_("district escalation due at"))
    old_deadline = models.DateTimeField(_("deadline before"), null=True, blank=True)
    new_deadline = models.DateTimeField(_("deadline after"), null=True, blank=True)

    class Meta:
        verbose_name = _("extension or suspension request")
        verbose_name_plural = _("extension and suspension requests")
        ordering = ["-requested_at", "-id"]
        constraints = [
            # One request waits at a time: a second (or a replayed) request cannot slip in.
            models.UniqueConstraint(
                fields=["case"], condition=Q(status="pending"), name="clock_request_one_pending_per_case"
            ),
        ]
        indexes = [
            models.Index(fields=["deadline"], name="clock_request_pending_idx", condition=Q(status="pending")),
            models.Index(fields=["case", "kind", "status"], name="clock_request_case_idx"),
        ]

    def __str__(self):
        return f"{self.case.number} · {self.get_kind_display()} · {self.get_status_display()}"


class AssistStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    RETURNED = "returned", _("Sent back by the assisting unit")
    WAIVED = "waived", _("Waived by the dispatcher")


class AssistTask(models.Model):
    """An assisting unit's (协办) part of a jointly handled case: its task, its own clock, its result.

    The lead (主办) is the case's handling unit; it cannot handle the case until every
    task is done or waived. Each task's clock climbs the ladder on its own (stage "assist")."""

    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="assist_tasks")
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    area = models.ForeignKey(
        Area, verbose_name=_("area"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    task = models.TextField(_("task"), max_length=2000)
    status = models.CharField(_("status"), max_length=10, choices=AssistStatus.choices, default=AssistStatus.OPEN)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("named by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("named at"), default=timezone.now)
    deadline = models.DateTimeField(_("sub-deadline"))
    warn_at = models.DateTimeField(_("warning due at"))
    final_at = models.DateTimeField(_("district escalation due at"))
    result = models.TextField(_("result"), blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("done by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    waived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("waived by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("assisting task")
        verbose_name_plural = _("assisting tasks")
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(department__isnull=True, area__isnull=False)
                | Q(department__isnull=False, area__isnull=True),
                name="assist_task_one_unit",
            ),
        ]
        indexes = [
            models.Index(fields=["deadline"], name="assist_task_open_idx", condition=Q(status="open")),
            models.Index(fields=["department", "status"], name="assist_task_dept_idx"),
            models.Index(fields=["area", "status"], name="assist_task_area_idx"),
        ]

    def __str__(self):
        return f"{self.case.number} · {self.department or self.area}"

    @property
    def unit(self):
        return self.department or self.area


class JointInspection(models.Model):
    """A joint inspection (联合巡查执法) planned by a district or street: its date, area, the departments
    taking part and the leader. Problems found become cases with source "joint inspection" linked here."""

    title = models.CharField(_("title"), max_length=100)
    area = models.ForeignKey(
        Area,
        verbose_name=_("area"),
        on_delete=models.PROTECT,
        related_name="joint_inspections",
        limit_choices_to={"tier__in": ["district", "street"]},
    )
    date = models.DateField(_("date"))
    leader = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("leader"), on_delete=models.PROTECT, related_name="+"
    )
    departments = models.ManyToManyField(Department, verbose_name=_("departments taking part"), related_name="+")
    notes = models.TextField(_("notes"), blank=True, max_length=2000)
    planned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("planned by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("planned at"), default=timezone.now)

    class Meta:
        verbose_name = _("joint inspection")
        verbose_name_plural = _("joint inspections")
        ordering = ["-date", "-id"]
        indexes = [models.Index(fields=["area", "date"], name="inspection_area_date_idx")]

    def __str__(self):
        return f"{self.date:%Y-%m-%d} {self.title}"

    def takes_part(self, user) -> bool:
        """The leader, staff of a taking-part department, or the tier that planned it."""
        if user is None:
            return False
        scope = user.scope
        return (
            scope.is_global
            or user.pk == self.leader_id
            or bool(set(scope.department_ids) & {d.pk for d in self.departments.all()})
            or scope.dispatches_at(self.area.path)
        )

    def covers(self, user, grid) -> bool:
        """Whether ``user`` may report a problem found in ``grid`` on this inspection."""
        return grid.path.startswith(self.area.path) and self.takes_part(user)


class TemplateAudience(models.TextChoices):
    PUBLIC = "public", _("Shown to residents")
    INTERNAL = "internal", _("Internal")


class ResponseTemplate(models.Model):
    """A stock phrase (惯用语) for one step's comment, owned by an area: its staff and those below use it."""

    step = models.CharField(_("step"), max_length=32, db_index=True)
    text = models.TextField(
        _("text"),
        max_length=2000,
        help_text=_(
            "Placeholders: {number} the case number, {unit} the handling unit, {deadline} the current deadline."
        ),
    )
    audience = models.CharField(
        _("audience"), max_length=8, choices=TemplateAudience.choices, default=TemplateAudience.INTERNAL
    )
    area = models.ForeignKey(
        Area,
        verbose_name=_("owner area"),
        on_delete=models.CASCADE,
        related_name="response_templates",
        limit_choices_to={"tier__in": ["district", "street"]},
    )
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("response template")
        verbose_name_plural = _("response templates")
        ordering = ["step", "id"]

    def __str__(self):
        return self.text[:40]


class ExternalSystem(models.Model):
    """Another platform that files cases through the intake (the 12345 hotline, the video platform, a
    department's system): a client with its own key and a scope of areas, categories and sources.

    It acts through a service account (``service_user``: no posts, no password), so its calls are audited,
    rate-limited and keyed for idempotency under its own name like any user's. Its key is a random
    secret stored only as a SHA-256 digest: it does not expire like a person's token (a machine cannot
    log in again), it is rotated in the admin instead (cases/external.py says why)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    code = models.SlugField(
        _("code"), max_length=32, unique=True, help_text=_("Short Latin name, used in its service account.")
    )
    is_active = models.BooleanField(_("in use"), default=True)
    areas = models.ManyToManyField(
        Area,
        verbose_name=_("areas it may file in"),
        related_name="external_systems",
        limit_choices_to={"tier__in": ["district", "street", "community", "grid"]},
        help_text=_("A case may land in a grid inside one of these areas."),
    )
    categories = models.ManyToManyField(
        "Category",
        verbose_name=_("categories it may file"),
        related_name="external_systems",
        help_text=_("A main category covers all its subcategories."),
    )
    sources = models.JSONField(_("sources it may use"), default=list, blank=True)
    service_user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("service account"),
        on_delete=models.PROTECT,
        related_name="external_system",
        editable=False,
    )
    key_prefix = models.CharField(_("key starts with"), max_length=12, blank=True, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, null=True, editable=False)
    key_issued_at = models.DateTimeField(_("key issued at"), null=True, blank=True, editable=False)
    webhook_url = models.URLField(
        _("webhook URL"),
        blank=True,
        help_text=_("Public state changes of the cases it filed are posted here, signed with the secret."),
    )
    webhook_secret = models.CharField(_("webhook secret"), max_length=128, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("external system")
        verbose_name_plural = _("external systems")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        unknown = [s for s in self.sources or [] if s not in Source.values]
        if unknown:
            raise ValidationError({"sources": _("Unknown source: %(s)s") % {"s": ", ".join(map(str, unknown))}})


class IntakeRefusal(models.Model):
    """One refused intake call of an external system (bad input, outside its scope): kept for the system's
    operators and the district to see what went wrong, since nothing else of the call is stored."""

    system = models.ForeignKey(
        ExternalSystem, verbose_name=_("external system"), on_delete=models.CASCADE, related_name="refusals"
    )
    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    endpoint = models.CharField(_("endpoint"), max_length=100)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"))
    field = models.CharField(_("input field"), max_length=50, blank=True)
    reason = models.CharField(_("reason"), max_length=500)
    external_id = models.CharField(_("external ID"), max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta:
        verbose_name = _("refused intake call")
        verbose_name_plural = _("refused intake calls")
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.system} · {self.status_code}"


class CallbackSignature(models.Model):
    """Signatures of callbacks already accepted from a system, so the same signed request is refused
    when replayed; rows older than the accepted clock skew are cleaned (a stale timestamp is refused anyway)."""

    system = models.ForeignKey(ExternalSystem, on_delete=models.CASCADE, related_name="+")
    signature = models.CharField(max_length=64)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["system", "signature"], name="callback_signature_once"),
        ]

    def __str__(self):
        return f"{self.system_id} · {self.at:%Y-%m-%d %H:%M}"


# --- mediation (调解): cases/mediation.py -------------------------------------------------------------


class MediationKind(models.TextChoices):
    COMMUNITY = "community", _("Community mediation (微调解)")
    POLICE = "police", _("Police and community joint mediation (警民联调)")
    FAMILY = "family", _("Family dispute mediation (家事纠纷调处)")


class MediationOutcome(models.TextChoices):
    RESOLVED = "resolved", _("Resolved")
    PARTLY = "partly", _("Partly resolved")
    COURT = "court", _("Failed: referred to court")
    ARBITRATION = "arbitration", _("Failed: referred to arbitration")


def agreement_path(instance, filename):
    # Our own name, never the uploader's; served only through the admin's checked download view.
    suffix = ".pdf" if filename.lower().endswith(".pdf") else ".jpg"
    return f"mediation/{timezone.localdate():%Y/%m}/{secrets.token_hex(12)}{suffix}"


class Mediation(models.Model):
    """The mediation record of a dispute case: who mediated, the parties, the sessions, the outcome.

    A case of a category that ``requires_mediation`` is handled only once this record has an outcome,
    taken as the step ``record_mediation``; the parties' names and phones are masked to everyone but
    the mediators and the dispatcher (cases/mediation.py ``may_see_parties``)."""

    case = models.OneToOneField(Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="mediation")
    kind = models.CharField(_("kind"), max_length=12, choices=MediationKind.choices, default=MediationKind.COMMUNITY)
    mediators = models.ManyToManyField(settings.AUTH_USER_MODEL, verbose_name=_("mediators"), related_name="mediations")
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("opened by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    outcome = models.CharField(_("outcome"), max_length=12, choices=MediationOutcome.choices, blank=True)
    outcome_note = models.TextField(_("outcome note"), blank=True, max_length=2000)
    outcome_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("outcome recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    outcome_at = models.DateTimeField(_("outcome recorded at"), null=True, blank=True)
    agreement = models.FileField(_("mediation agreement"), upload_to=agreement_path, blank=True)
    follow_up_due = models.DateField(_("follow-up visit due"), null=True, blank=True)
    # Set by the one beat run that reminded the mediators: a rerun never reminds twice.
    follow_up_reminded_at = models.DateTimeField(_("follow-up reminder sent at"), null=True, blank=True)
    followed_up_at = models.DateField(_("follow-up visit made on"), null=True, blank=True)
    follow_up_note = models.TextField(_("follow-up visit note"), blank=True, max_length=2000)

    class Meta:
        verbose_name = _("mediation record")
        verbose_name_plural = _("mediation records")
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(
                fields=["follow_up_due"],
                name="mediation_follow_up_idx",
                condition=Q(follow_up_reminded_at__isnull=True, follow_up_due__isnull=False),
            ),
            models.Index(fields=["outcome_at"], name="mediation_outcome_at_idx"),
        ]

    def __str__(self):
        return f"{self.case.number} · {self.get_kind_display()}"


class MediationParty(models.Model):
    mediation = models.ForeignKey(
        Mediation, verbose_name=_("mediation record"), on_delete=models.CASCADE, related_name="parties"
    )
    name = models.CharField(_("name"), max_length=50)
    phone = models.CharField(_("phone"), max_length=20, blank=True, validators=[validate_contact_phone])

    class Meta:
        verbose_name = _("party")
        verbose_name_plural = _("parties")
        ordering = ["id"]

    def __str__(self):
        return str(_("Party #%(n)s") % {"n": self.pk})


class MediationSession(models.Model):
    mediation = models.ForeignKey(
        Mediation, verbose_name=_("mediation record"), on_delete=models.CASCADE, related_name="sessions"
    )
    date = models.DateField(_("date"))
    place = models.CharField(_("place"), max_length=100)
    agreed = models.TextField(_("what was agreed"), max_length=2000, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("mediation session")
        verbose_name_plural = _("mediation sessions")
        ordering = ["date", "id"]

    def __str__(self):
        return f"{self.date:%Y-%m-%d} {self.place}"


# --- patrols and household visits (巡查走访): cases/visits.py ---------------------------------
class VisitKind(models.TextChoices):
    PATROL = "patrol", pgettext_lazy("visit kind", "Patrol")
    HOUSEHOLD = "household", pgettext_lazy("visit kind", "Household visit")


class Visit(models.Model):
    """A patrol of a grid or a round of household visits: who, when, where it started and ended (two points,
    no track), how many households or places and people, what was found. A finding becomes a case linked
    here (Case.visit). A visit made by a party-member household (党员中心户) names it, and counts for it."""

    kind = models.CharField(_("kind"), max_length=16, choices=VisitKind.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("recorded by"), on_delete=models.PROTECT, related_name="visits"
    )
    party_household = models.ForeignKey(
        PartyOrganization,
        verbose_name=_("party-member household"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="visits",
        limit_choices_to={"kind": "member_household"},
        help_text=_("When the visit was made by a party-member household: it counts for the household."),
    )
    grid = models.ForeignKey(
        Area, verbose_name=_("grid"), on_delete=models.PROTECT, related_name="visits", limit_choices_to={"tier": "grid"}
    )
    # The grid's path, copied as on Case: scope and area filters are one prefix match without a join.
    area_path = models.CharField(_("area path"), max_length=255, editable=False)
    building = models.ForeignKey(
        Area,
        verbose_name=_("building / alley"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"tier": "building"},
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"))
    start_latitude = models.DecimalField(_("start latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    start_longitude = models.DecimalField(_("start longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    end_latitude = models.DecimalField(_("end latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    end_longitude = models.DecimalField(_("end longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    households = models.PositiveSmallIntegerField(
        _("households or places visited"),
        default=0,
        help_text=_("Household visit: households visited; patrol: places checked."),
    )
    people_met = models.PositiveSmallIntegerField(_("people met"), default=0, help_text=_("A count, no names."))
    findings = models.TextField(_("findings"), max_length=5000, blank=True)
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("patrol or visit")
        verbose_name_plural = _("patrols and visits")
        ordering = ["-started_at", "-id"]
        indexes = [
            # Scope (a prefix of the path) and the month: lists and the coverage figures.
            models.Index(fields=["area_path", "started_at"], name="visit_path_started_idx"),
            models.Index(fields=["recorded_by", "started_at"], name="visit_worker_started_idx"),
            models.Index(fields=["party_household", "started_at"], name="visit_party_started_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(ended_at__gte=F("started_at")), name="visit_ends_after_start"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {timezone.localtime(self.started_at):%Y-%m-%d %H:%M} {self.grid}"

    def save(self, *args, **kwargs):
        if self.grid_id and not self.area_path:
            self.area_path = self.grid.path
        super().save(*args, **kwargs)


def visit_photo_path(instance, filename):
    # The name is ours, never the uploader's (as for case photos).
    return f"visits/{timezone.localdate():%Y/%m}/{secrets.token_hex(12)}.jpg"


class VisitPhoto(models.Model):
    visit = models.ForeignKey(Visit, verbose_name=_("patrol or visit"), on_delete=models.CASCADE, related_name="photos")
    image = models.ImageField(_("photo"), upload_to=visit_photo_path)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    class Meta:
        verbose_name = _("visit photo")
        verbose_name_plural = _("visit photos")
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"#{self.pk}"


# --- video alarms (视频告警): cases/cameras.py ---------------------------------------------------------


class EventType(models.Model):
    """A kind of event the video platform's analysis reports (占道经营, 烟火...) and the entry of the
    responsibility list its alarms are filed under; edited by the district in the admin."""

    code = models.CharField(
        _("code"),
        max_length=32,
        unique=True,
        help_text=_("As the video platform names it in an alarm's event_type (the name is accepted too)."),
    )
    name = models.CharField(_("name"), max_length=50, unique=True)
    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        on_delete=models.PROTECT,
        related_name="event_types",
        limit_choices_to={"parent__isnull": False, "is_active": True},
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("video event type")
        verbose_name_plural = _("video event types")
        ordering = ["code"]

    def __str__(self):
        return self.name


class CameraAlarm(models.Model):
    """One alarm of a camera. The first files a case; later alarms of the same camera and category within
    the window (WorkflowSettings) are occurrences of that open case."""

    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="camera_alarms")
    camera = models.ForeignKey(
        "grids.Camera", verbose_name=_("camera"), on_delete=models.PROTECT, related_name="alarms"
    )
    event_type = models.ForeignKey(
        EventType, verbose_name=_("event type"), on_delete=models.PROTECT, related_name="alarms"
    )
    # The category as the event type mapped it then: a later change of the mapping leaves old alarms alone.
    category = models.ForeignKey(Category, verbose_name=_("category"), on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    opened_case = models.BooleanField(_("filed the case"), default=False)
    system = models.ForeignKey(
        "ExternalSystem",
        verbose_name=_("external system"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="camera_alarms",
    )
    external_id = models.CharField(_("external ID"), max_length=64, blank=True, default="")
    snapshot = models.URLField(_("snapshot"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("camera alarm")
        verbose_name_plural = _("camera alarms")
        ordering = ["occurred_at", "id"]
        indexes = [
            models.Index(fields=["camera", "category", "occurred_at"], name="cameraalarm_window_idx"),
        ]
        constraints = [
            # A repeated delivery of the same alarm is recognised, even by two racing requests.
            models.UniqueConstraint(
                fields=["system", "external_id"],
                condition=Q(system__isnull=False) & ~Q(external_id=""),
                name="cameraalarm_external_id_per_system",
            ),
        ]

    def __str__(self):
        return f"{self.camera_id} {self.event_type} {self.occurred_at:%Y-%m-%d %H:%M}"


# --- followers (关注): residents who follow a case instead of reporting it again, cases/followers.py ---
class FollowVia(models.TextChoices):
    FOLLOW = "follow", _("Followed it instead of reporting")
    MERGE = "merge", _("Their report was merged into it")


class CaseFollower(models.Model):
    """A resident told about a case they did not report: the tracking link, its public steps and, once per
    round of handling, the rating invitation. The contact is theirs alone: no page shows it to another
    resident, and officials see it masked like a reporter's."""

    case = models.ForeignKey(Case, verbose_name=_("case"), on_delete=models.CASCADE, related_name="followers")
    name = models.CharField(_("contact name"), max_length=50, blank=True)
    phone = models.CharField(_("contact phone"), max_length=20, blank=True)
    email = models.EmailField(_("contact email"), blank=True)
    # The normalised phone or email, hashed: one row per person per case, however they typed it.
    contact_key = models.CharField(max_length=64, editable=False)
    via = models.CharField(_("how"), max_length=8, choices=FollowVia.choices, default=FollowVia.FOLLOW)
    merged_from = models.ForeignKey(
        Case,
        verbose_name=_("merged from"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("since"), default=timezone.now)
    # The feed-back whose rating invitation this follower got: one invitation per round, however often asked.
    invited_for = models.DateTimeField(_("invited to rate the round of"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("follower")
        verbose_name_plural = _("followers")
        constraints = [models.UniqueConstraint(fields=["case", "contact_key"], name="case_follower_once")]

    def __str__(self):
        return f"{self.case_id} · {self.get_via_display()}"


# --- photos kept while a form filing a case comes back (cases/kept_photos.py) ---
def pending_photo_path(instance, filename):
    # Ours, never the uploader's name; apart from case photos, so a purge touches nothing else.
    return f"pending/{timezone.localdate():%Y/%m/%d}/{secrets.token_hex(12)}.jpg"


class PendingPhoto(models.Model):
    """A photo chosen on /report/ or the admin's add-case page while the form came back (an error, the nearby
    offer, the grid question): browsers cannot refill a file input, so the cleaned image waits here for the
    final submit. Only the session that uploaded it sees or uses it; unused ones are purged after
    PHOTO_KEEP_HOURS."""

    # Named in the page (thumbnail address, remove box): random, so it says nothing about other uploads.
    key = models.CharField(max_length=32, unique=True, editable=False)
    # One form being filled in (the signed hidden field), so two tabs do not mix their photos.
    batch = models.CharField(max_length=32, editable=False)
    # SHA-256 of a random secret kept in the uploader's session: a batch copied to another browser is useless.
    owner = models.CharField(max_length=64, editable=False)
    image = models.ImageField(_("photo"), upload_to=pending_photo_path)
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("photo waiting for its report")
        verbose_name_plural = _("photos waiting for their report")
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["batch", "owner"], name="pendingphoto_batch_owner_idx")]

    def __str__(self):
        return self.key
