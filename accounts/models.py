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
    title = models.CharField(_("title"), max_length=50, blank=True)

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
