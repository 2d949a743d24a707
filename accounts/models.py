"""Users, their posts, the security audit log and password history."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from grids.models import Area, Department

from .roles import ROLE_AREA_TIERS, Role

mobile_validator = RegexValidator(r"^1[3-9]\d{9}$", _("Enter an 11-digit mainland mobile number."))


class User(AbstractUser):
    real_name = models.CharField(_("real name"), max_length=50, blank=True)
    mobile = models.CharField(_("mobile number"), max_length=11, blank=True, validators=[mobile_validator])
    # The back office speaks this language to the user whatever their browser sends; empty: the
    # platform's default (LANGUAGE_CODE, Simplified Chinese) until they choose in the header.
    # db_default too: rows written without the column (older code, raw inserts) follow the platform.
    language = models.CharField(
        _("language"), max_length=10, choices=settings.LANGUAGES, blank=True, default="", db_default=""
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(fields=["mobile"], condition=~Q(mobile=""), name="user_mobile_unique"),
        ]

    def __str__(self):
        return f"{self.real_name}（{self.username}）" if self.real_name else self.username

    def get_full_name(self):
        return self.real_name or super().get_full_name()

    @property
    def scope(self):
        """What this user may see and administer; see accounts.scope. Apps below
        accounts (grids) ask for scope through this, without importing accounts."""
        from .scope import scope_for

        return scope_for(self)


class PostQuerySet(models.QuerySet):
    def supervisors(self):
        return self.filter(is_supervisor=True, user__is_active=True)


class Post(models.Model):
    """A user's role over one area or department; a user may hold several."""

    user = models.ForeignKey(User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="posts")
    role = models.CharField(_("role"), max_length=32, choices=Role.choices, db_index=True)
    area = models.ForeignKey(
        Area, verbose_name=_("area"), null=True, blank=True, on_delete=models.PROTECT, related_name="posts"
    )
    department = models.ForeignKey(
        Department, verbose_name=_("department"), null=True, blank=True, on_delete=models.PROTECT, related_name="posts"
    )
    is_supervisor = models.BooleanField(
        _("supervisor"),
        default=False,
        help_text=_("Receives escalations of overdue cases for this area or department."),
    )
    is_full_time = models.BooleanField(_("full-time"), default=True)
    title = models.CharField(_("job title"), max_length=50, blank=True)

    objects = PostQuerySet.as_manager()

    class Meta:
        verbose_name = _("post")
        verbose_name_plural = _("posts")
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(role="department_staff", department__isnull=False, area__isnull=True)
                    | ~Q(role="department_staff") & Q(area__isnull=False, department__isnull=True)
                ),
                name="post_area_xor_department",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "area"], condition=Q(area__isnull=False), name="post_unique_area_per_user"
            ),
            models.UniqueConstraint(
                fields=["user", "department"],
                condition=Q(department__isnull=False),
                name="post_unique_department_per_user",
            ),
        ]

    def __str__(self):
        return f"{self.get_role_display()} · {self.area or self.department}"

    @property
    def unit(self):
        return self.area or self.department

    def clean(self):
        if self.role == Role.DEPARTMENT_STAFF:
            if not self.department_id:
                raise ValidationError({"department": _("A department post needs a department.")})
            if self.area_id:
                raise ValidationError({"area": _("A department post covers a department, not an area.")})
            return
        if self.department_id:
            raise ValidationError({"department": _("Only department staff posts cover a department.")})
        if not self.area_id:
            raise ValidationError({"area": _("This post needs an area.")})
        tiers = ROLE_AREA_TIERS.get(self.role, set())
        if self.area.tier not in tiers:
            raise ValidationError(
                {
                    "area": _("A %(role)s post covers a %(tiers)s.")
                    % {"role": self.get_role_display(), "tiers": " / ".join(str(t.label) for t in sorted(tiers))}
                }
            )


class SecurityEvent(models.Model):
    """One row of the security audit log (等保 2.0 level 3): append-only, kept at
    least ``SECURITY_LOG_RETENTION_DAYS``. Written through ``accounts.audit.record``."""

    class Kind(models.TextChoices):
        LOGIN = "login", _("Login")
        LOGIN_FAILED = "login_failed", _("Failed login")
        LOCKOUT = "lockout", _("Account locked out")
        LOGOUT = "logout", _("Logout")
        OTP_VERIFIED = "otp_verified", _("Two-factor check passed")
        OTP_FAILED = "otp_failed", _("Two-factor check failed")
        OTP_DEVICE_ADDED = "otp_device_added", _("Two-factor device added")
        OTP_DEVICE_REMOVED = "otp_device_removed", _("Two-factor device removed")
        RECOVERY_CODE_USED = "recovery_code_used", _("Recovery code used")
        PASSWORD_CHANGED = "password_changed", _("Password changed")
        PASSWORD_RESET = "password_reset", _("Password set by an administrator")
        TOKEN_ISSUED = "token_issued", _("API token issued")
        TOKEN_REVOKED = "token_revoked", _("API token revoked")
        USER_CHANGED = "user_changed", _("User changed")
        USER_DEACTIVATED = "user_deactivated", _("User deactivated")
        POST_CHANGED = "post_changed", _("Post given or changed")
        POST_REMOVED = "post_removed", _("Post removed")
        ORG_IMPORT = "org_import", _("Organisation imported")
        DATA_EXPORT = "data_export", _("Personal data exported")
        CONTACT_VIEWED = "contact_viewed", _("Unmasked contact viewed")
        CONTACT_ERASED = "contact_erased", _("Resident contact erased")
        SUBJECT_REQUEST = "subject_request", _("Data-subject request")
        SETTINGS_CHANGED = "settings_changed", _("Settings changed")
        NOTICE_RESENT = "notice_resent", _("Notifications sent again")
        APPRAISAL = "appraisal", _("Appraisal recorded or appealed")
        ACCOUNTABILITY = "accountability", _("Accountability record")
        DENIED = "denied", _("Action refused")

    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    kind = models.CharField(_("event"), max_length=32, choices=Kind.choices, db_index=True)
    # Kept as text too, so the row still says who it was after the account is gone.
    actor = models.ForeignKey(
        User, verbose_name=_("by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(_("by (as recorded)"), max_length=150, blank=True)
    target_user = models.ForeignKey(
        User, verbose_name=_("concerning user"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target = models.CharField(_("concerning"), max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("browser or client"), max_length=300, blank=True)
    detail = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("security event")
        verbose_name_plural = _("security audit log")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["actor", "-at"], name="secevent_actor_at")]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.actor_name or '-'}"


class PasswordHistory(models.Model):
    """Hashes of a user's earlier passwords, so a password is not reused."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="password_history")
    password = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.user_id} · {self.created_at:%Y-%m-%d}"


# --- training (培训): accounts/training.py ----------------------------------------------------------


class CourseKind(models.TextChoices):
    ROTATION = "rotation", _("Rotation training (轮训)")
    POLICY = "policy", _("Policy and law")
    SKILLS = "skills", _("Skills and the platform")
    SAFETY = "safety", _("Safety and emergency response")


class Course(models.Model):
    """A training course for grid workers and community staff, organised by a district, street or community."""

    title = models.CharField(_("course title"), max_length=100)
    date = models.DateField(_("date"))
    hours = models.DecimalField(_("hours"), max_digits=4, decimal_places=1)
    kind = models.CharField(_("kind"), max_length=12, choices=CourseKind.choices, default=CourseKind.ROTATION)
    area = models.ForeignKey(
        Area,
        verbose_name=_("organised by"),
        on_delete=models.PROTECT,
        related_name="courses",
        limit_choices_to={"tier__in": ["district", "street", "community"]},
    )
    created_by = models.ForeignKey(
        User, verbose_name=_("created by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("training course")
        verbose_name_plural = _("training courses")
        ordering = ["-date", "-id"]

    def __str__(self):
        return f"{self.date:%Y-%m-%d} {self.title}"


class Attendance(models.Model):
    """One person's attendance of one course: the hours they sat and whether they passed."""

    course = models.ForeignKey(Course, verbose_name=_("course"), on_delete=models.CASCADE, related_name="attendance")
    user = models.ForeignKey(User, verbose_name=_("person"), on_delete=models.CASCADE, related_name="attendance")
    hours = models.DecimalField(_("hours attended"), max_digits=4, decimal_places=1)
    passed = models.BooleanField(_("passed"), default=False)
    recorded_by = models.ForeignKey(
        User, verbose_name=_("recorded by"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(_("recorded at"), auto_now=True)

    class Meta:
        verbose_name = _("training attendance")
        verbose_name_plural = _("training attendance")
        ordering = ["-course__date", "id"]
        constraints = [models.UniqueConstraint(fields=["course", "user"], name="attendance_once_per_course")]
        indexes = [models.Index(fields=["user", "passed"], name="attendance_user_passed_idx")]

    def __str__(self):
        return f"{self.course} · {self.user}"


class IdempotencyKey(models.Model):
    """A client's ``Idempotency-Key`` and the first answer given to it (accounts/idempotency.py): a
    retried POST within ``IDEMPOTENCY_TTL_HOURS`` gets this answer again instead of doing the work twice.
    Kept in the database, not only the cache, so a retry after a restart or on another server still finds it."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of the method, path, query and parsed body: the same key with another request is refused.
    fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_client")]

    def __str__(self):
        return f"{self.user_id} · {self.key[:40]}"
