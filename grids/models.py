"""The organisation: the area tree, functional departments and party organisations."""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Concat, Substr
from django.utils.translation import gettext_lazy as _

from .signals import boundaries_changed

PATH_SEPARATOR = "/"


class Tier(models.TextChoices):
    DISTRICT = "district", _("District")
    STREET = "street", _("Street")
    COMMUNITY = "community", _("Community")
    GRID = "grid", _("Grid")
    BUILDING = "building", _("Building / alley")


TIER_ORDER = [Tier.DISTRICT, Tier.STREET, Tier.COMMUNITY, Tier.GRID, Tier.BUILDING]
# National unit-grid coding: 6 digits of region, then 3 per lower tier.
TIER_CODE_LENGTH = {Tier.DISTRICT: 6, Tier.STREET: 9, Tier.COMMUNITY: 12, Tier.GRID: 15, Tier.BUILDING: 18}


def parent_tier_of(tier):
    """The tier one step up (None above the district)."""
    index = TIER_ORDER.index(tier)
    return TIER_ORDER[index - 1] if index else None


def child_tier_of(tier):
    """The tier one step down (None below the building)."""
    index = TIER_ORDER.index(tier)
    return TIER_ORDER[index + 1] if index + 1 < len(TIER_ORDER) else None


def tier_depth(tier) -> int:
    """How many tiers lie above ``tier``: the district is 0."""
    return TIER_ORDER.index(tier)


def ancestor_path_at(path: str, tier) -> str | None:
    """The path of the area at ``tier`` that holds the area at ``path`` (itself if it is that tier)."""
    paths = ancestor_paths(path)
    depth = tier_depth(tier)
    return paths[depth] if depth < len(paths) else None


def ancestor_paths(path: str, include_self: bool = True) -> list[str]:
    """The paths of every area above (and by default including) the one at ``path``, top first."""
    parts = path.split(PATH_SEPARATOR)[:-1]
    paths = [PATH_SEPARATOR.join(parts[: i + 1]) + PATH_SEPARATOR for i in range(len(parts))]
    return paths if include_self else paths[:-1]


def hierarchy_errors(*, tier, code, parent_tier, parent_code):
    """Where an area of ``tier`` and ``code`` may hang; shared by the admin form and the file import."""
    errors = {}
    if tier not in TIER_CODE_LENGTH:
        return {"tier": _("Unknown tier.")}
    label = Tier(tier).label
    expected = parent_tier_of(tier)
    if expected is None and parent_tier is not None:
        errors["parent"] = _("A district has no parent area.")
    elif expected is not None and parent_tier is None:
        errors["parent"] = _("A %(tier)s needs a parent area.") % {"tier": label}
    elif expected is not None and parent_tier != expected:
        errors["parent"] = _("The parent of a %(tier)s must be a %(parent)s.") % {
            "tier": label,
            "parent": Tier(expected).label,
        }
    if code and len(code) != TIER_CODE_LENGTH[tier]:
        errors["code"] = _("A %(tier)s code has %(n)d digits.") % {"tier": label, "n": TIER_CODE_LENGTH[tier]}
    elif code and parent_code and not code.startswith(parent_code):
        errors["code"] = _("The code must start with the parent's code %(code)s.") % {"code": parent_code}
    return errors


class AreaQuerySet(models.QuerySet):
    def subtree_of(self, *paths):
        """Everything under (and including) the areas with these paths: one indexed prefix scan each."""
        if not paths:
            return self.none()
        condition = Q()
        for path in paths:
            condition |= Q(path__startswith=path)
        return self.filter(condition)

    def without_boundaries(self):
        """For tables and figures: the outline (GeoJSON, kilobytes an area) stays in the database. Reading and
        parsing the district's 660 outlines was ~10–50 ms of every dashboard that listed its areas."""
        return self.defer("boundary")


class Area(models.Model):
    tier = models.CharField(_("tier"), max_length=16, choices=Tier.choices, db_index=True)
    code = models.CharField(
        _("code"),
        max_length=18,
        unique=True,
        validators=[RegexValidator(r"^\d{6}(\d{3}){0,4}$", _("A code is 6 digits and 3 more per tier."))],
        help_text=_("National unit-grid code: 6 digits of region, 3 per street, community, grid and building."),
    )
    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # Ancestor codes joined by "/", ending with "/": "370702/370702001/". A
    # prefix match on it is "everything under this area" in one index scan.
    path = models.CharField(_("path"), max_length=255, unique=True, editable=False)
    depth = models.PositiveSmallIntegerField(_("depth"), editable=False, default=0)
    population = models.PositiveIntegerField(_("population"), default=0)
    households = models.PositiveIntegerField(_("households"), default=0)
    boundary = models.JSONField(_("boundary (GeoJSON)"), null=True, blank=True)

    objects = AreaQuerySet.as_manager()

    class Meta:
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        ordering = ["path"]
        constraints = [
            models.CheckConstraint(
                condition=Q(parent__isnull=True, tier="district") | Q(parent__isnull=False) & ~Q(tier="district"),
                name="area_only_districts_are_roots",
            )
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        if self.boundary != getattr(self, "_loaded_boundary", None):
            transaction.on_commit(boundaries_changed)
            self._loaded_boundary = self.boundary
        old_path = self.path
        self.path = self.build_path()
        self.depth = self.path.count(PATH_SEPARATOR) - 1
        with transaction.atomic():
            super().save(*args, **kwargs)
            if old_path and old_path != self.path:
                # Re-root the whole subtree in one UPDATE when a code or parent changes.
                Area.objects.filter(path__startswith=old_path).exclude(pk=self.pk).update(
                    path=Concat(models.Value(self.path), Substr("path", len(old_path) + 1)),
                )

    def delete(self, *args, **kwargs):
        if self.boundary:
            transaction.on_commit(boundaries_changed)
        return super().delete(*args, **kwargs)

    @classmethod
    def from_db(cls, db, field_names, values):
        area = super().from_db(db, field_names, values)
        # Remembered to tell the locators only when a boundary really changed.
        area._loaded_boundary = area.__dict__.get("boundary")
        return area

    def build_path(self):
        prefix = self.parent.path if self.parent_id else ""
        return f"{prefix}{self.code}{PATH_SEPARATOR}"

    def ancestor_paths(self, include_self=False):
        return ancestor_paths(self.path, include_self=include_self)

    def ancestors(self, include_self=False):
        return Area.objects.filter(path__in=self.ancestor_paths(include_self=include_self)).order_by("depth")

    def descendants(self, include_self=False):
        qs = Area.objects.filter(path__startswith=self.path)
        return qs if include_self else qs.exclude(pk=self.pk)

    def clean(self):
        errors = hierarchy_errors(
            tier=self.tier,
            code=self.code,
            parent_tier=self.parent.tier if self.parent_id else None,
            parent_code=self.parent.code if self.parent_id else None,
        )
        if self.pk and self.parent_id and self.path and self.parent.path.startswith(self.path):
            errors.setdefault("parent", _("An area cannot be moved under itself."))
        if errors:
            raise ValidationError(errors)


class Department(models.Model):
    name = models.CharField(_("name"), max_length=100)
    code = models.CharField(_("code"), max_length=32, unique=True)
    area = models.ForeignKey(
        Area,
        verbose_name=_("belongs to"),
        on_delete=models.PROTECT,
        related_name="departments",
        limit_choices_to={"tier__in": [Tier.DISTRICT, Tier.STREET]},
        help_text=_("The district or street the department belongs to."),
    )
    phone = models.CharField(_("duty phone"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["code"]

    def __str__(self):
        return self.name

    def clean(self):
        if self.area_id and self.area.tier not in (Tier.DISTRICT, Tier.STREET):
            raise ValidationError({"area": _("A department belongs to the district or a street.")})


class PartyOrgKind(models.TextChoices):
    STREET_COMMITTEE = "street_committee", _("Street working committee")
    COMMUNITY_COMMITTEE = "community_committee", _("Community party committee")
    GRID_BRANCH = "grid_branch", _("Grid party branch")
    BUILDING_GROUP = "building_group", _("Building / alley party group")
    MEMBER_HOUSEHOLD = "member_household", _("Party-member household")


PARTY_KIND_TIER = {
    PartyOrgKind.STREET_COMMITTEE: Tier.STREET,
    PartyOrgKind.COMMUNITY_COMMITTEE: Tier.COMMUNITY,
    PartyOrgKind.GRID_BRANCH: Tier.GRID,
    PartyOrgKind.BUILDING_GROUP: Tier.BUILDING,
    PartyOrgKind.MEMBER_HOUSEHOLD: Tier.BUILDING,
}


class PartyOrganization(models.Model):
    kind = models.CharField(_("kind"), max_length=32, choices=PartyOrgKind.choices)
    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    area = models.ForeignKey(Area, verbose_name=_("area"), on_delete=models.PROTECT, related_name="party_organizations")
    secretary = models.CharField(_("secretary / head"), max_length=50, blank=True)
    members = models.PositiveIntegerField(_("party members"), default=0)

    class Meta:
        verbose_name = _("party organisation")
        verbose_name_plural = _("party organisations")
        ordering = ["code"]

    def __str__(self):
        return self.name

    def clean(self):
        expected = PARTY_KIND_TIER.get(self.kind)
        if self.area_id and expected and self.area.tier != expected:
            raise ValidationError(
                {
                    "area": _("A %(kind)s is attached to a %(tier)s.")
                    % {"kind": self.get_kind_display(), "tier": Tier(expected).label}
                }
            )


class CameraStatus(models.TextChoices):
    ONLINE = "online", _("Online")
    OFFLINE = "offline", _("Offline")
    RETIRED = "retired", _("Retired")


class Camera(models.Model):
    """A networked video camera (雪亮工程): where it stands and the grid whose cases its alarms become."""

    code = models.CharField(
        _("camera code"),
        max_length=64,
        unique=True,
        validators=[
            RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", _("A camera code is letters, digits and _ . : - only."))
        ],
        help_text=_("The code the video platform uses for this camera in its alarms."),
    )
    name = models.CharField(_("name"), max_length=100)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6)
    grid = models.ForeignKey(
        Area,
        verbose_name=_("grid"),
        on_delete=models.PROTECT,
        related_name="cameras",
        limit_choices_to={"tier": Tier.GRID},
    )
    status = models.CharField(
        _("status"), max_length=8, choices=CameraStatus.choices, default=CameraStatus.ONLINE, db_index=True
    )
    installed_at = models.DateField(_("installed on"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("camera")
        verbose_name_plural = _("cameras")
        ordering = ["code"]

    def __str__(self):
        return f"{self.name}（{self.code}）"


class LinkedHousehold(models.Model):
    """Households a party-member household (党员中心户) looks after (联系户): a building of its grid, optionally
    one address in it, and how many households the row stands for. Their visits count towards the grid's
    coverage (metrics.coverage), against the households linked here."""

    party_household = models.ForeignKey(
        PartyOrganization,
        verbose_name=_("party-member household"),
        on_delete=models.CASCADE,
        related_name="linked_households",
        limit_choices_to={"kind": PartyOrgKind.MEMBER_HOUSEHOLD},
    )
    building = models.ForeignKey(
        Area,
        verbose_name=_("building / alley"),
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"tier": Tier.BUILDING},
    )
    address = models.CharField(_("address"), max_length=100, blank=True, help_text=_("E.g. unit 2, room 301."))
    households = models.PositiveSmallIntegerField(
        _("households"), default=1, help_text=_("How many households this row stands for.")
    )

    class Meta:
        verbose_name = _("household looked after")
        verbose_name_plural = _("households looked after")
        ordering = ["party_household", "building", "address", "id"]

    def __str__(self):
        return f"{self.building} {self.address}".strip()

    def clean(self):
        party = self.party_household if self.party_household_id else None
        if party is not None and party.kind != PartyOrgKind.MEMBER_HOUSEHOLD:
            raise ValidationError({"party_household": _("Only a party-member household looks after households.")})
        if party is not None and self.building_id:
            grid_path = ancestor_path_at(party.area.path, Tier.GRID)
            if grid_path is None or not self.building.path.startswith(grid_path):
                raise ValidationError({"building": _("The building must lie in the party-member household's grid.")})
        if self.households is not None and not 1 <= self.households <= 500:
            raise ValidationError({"households": _("Between 1 and 500 households.")})
