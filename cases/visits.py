"""Patrols and household visits (巡查走访): recorded by grid workers, street leaders and community staff.

A record says when, where it started and ended (two points, no track; the grid comes from the start
point through the one locator when not chosen), how many households or places and people (counts, no
names), and what was found. A finding becomes a case in one step (``report_finding``), linked to the
visit, with source "grid patrol". A visit made by a party-member household (党员中心户) names it and
counts for it in the coverage figures (metrics.coverage), which also hold the monthly quotas.

Who sees a record is the cases' rule: area posts their subtree, everyone what they recorded. Who writes
is narrower: a field post (grid worker, street leader, community staff) over the grid, and only the
recorder changes a record.
"""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.roles import Role
from grids.locator import grid_at_point
from grids.models import Area, PartyOrganization, PartyOrgKind, Tier

from .images import clean_photo
from .models import Case, Source, Visit, VisitKind, VisitPhoto
from .services import create_case

FIELD_ROLES = (Role.GRID_WORKER, Role.STREET_LEADER, Role.COMMUNITY_STAFF)
MAX_HOURS = 24
# A record may be entered late (no signal in the field), but not for a month long past.
BACKDATE_DAYS = 31
MAX_HOUSEHOLDS = 500
MAX_PEOPLE = 2000
# Fields a recorder may change afterwards; who, the grid and the kind stay as recorded.
EDITABLE = (
    "started_at",
    "ended_at",
    "building",
    "address",
    "households",
    "people_met",
    "findings",
    "party_household",
)
POINTS = (("start_latitude", "start_longitude"), ("end_latitude", "end_longitude"))


# --- who ---------------------------------------------------------------------------
def field_paths(user) -> tuple[str, ...]:
    """Paths of the user's field posts (grid worker, street leader, community staff), from the posts the scope
    read (every admin page asks, for the visits' add button)."""
    return tuple(path for role, path in user.scope.area_posts if role in FIELD_ROLES)


def may_record_in(user, grid: Area) -> bool:
    """A field post over the grid, or (street leaders) at a building inside it; superusers anywhere."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return any(grid.path.startswith(p) or p.startswith(grid.path) for p in field_paths(user))


def may_change(user, visit: Visit) -> bool:
    """Only the recorder changes a record (a superuser too), and only while they may still record there."""
    if user is None or not user.is_authenticated:
        return False
    return user.is_superuser or (visit.recorded_by_id == user.pk and may_record_in(user, visit.grid))


def visible_q(user) -> Q:
    scope = user.scope
    if scope.is_global:
        return Q()
    return scope.case_path_q("area_path") | Q(recorded_by_id=user.pk)


def visits_for(user, qs=None):
    qs = Visit.objects.all() if qs is None else qs
    return qs.filter(visible_q(user))


def list_queryset(user):
    """A list page in one query: the row's relations joined, the cases found counted per row. A correlated
    count, not a join with GROUP BY: the page's LIMIT then applies before any counting, on the id index."""
    found = Case.objects.filter(visit=OuterRef("pk")).order_by().values("visit").annotate(n=Count("pk")).values("n")
    return (
        visits_for(user)
        .select_related("grid", "recorded_by", "party_household", "building")
        .annotate(case_count=Coalesce(Subquery(found), 0))
    )


def filter_visits(qs, *, kind=None, area=None, worker=None, month=None, party_household=None):
    """Filters of the admin list and the API; ``month`` is the first day of a month (local time)."""
    if kind:
        qs = qs.filter(kind=kind)
    if area is not None:
        qs = qs.filter(area_path__startswith=area.path)
    if worker is not None:
        qs = qs.filter(recorded_by=worker)
    if party_household is not None:
        qs = qs.filter(party_household=party_household)
    if month is not None:
        start, end = month_bounds(month)
        qs = qs.filter(started_at__gte=start, started_at__lt=end)
    return qs


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    first = month.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    midnight = dt.time.min
    return (
        timezone.make_aware(dt.datetime.combine(first, midnight)),
        timezone.make_aware(dt.datetime.combine(following, midnight)),
    )


def party_households_in(grid: Area):
    return PartyOrganization.objects.filter(kind=PartyOrgKind.MEMBER_HOUSEHOLD, area__path__startswith=grid.path)


# --- checks --------------------------------------------------------------------------
def _locate_points(data: dict) -> tuple[dict, Area | None]:
    """Field messages for the two points, and the grid holding the start point (one locator call each)."""
    errors, start_grid = {}, None
    for lat_field, lng_field in POINTS:
        lat, lng = data.get(lat_field), data.get(lng_field)
        if (lat is None) != (lng is None):
            errors[lng_field if lng is None else lat_field] = _("Give both or neither.")
        elif lat is not None:
            lat, lng = Decimal(str(lat)), Decimal(str(lng))
            grid = grid_at_point(lat, lng) if -90 <= lat <= 90 and -180 <= lng <= 180 else None
            if grid is None:
                errors[lat_field] = _("This point is not inside any grid of the district.")
            elif lat_field == "start_latitude":
                start_grid = grid
    return errors, start_grid


def check_visit(*, actor, data: dict, now=None, grid_fixed: bool = False, start_changed: bool = True) -> None:
    """ValidationError naming the fields, PermissionDenied for a grid not the actor's; the admin form asks first.
    ``data`` takes the grid found at the start point when it names none. An old record's start is what it
    was: only a new or changed start must lie within the last BACKDATE_DAYS."""
    errors = _check(
        actor=actor, data=data, now=now or timezone.now(), grid_fixed=grid_fixed, check_backdate=start_changed
    )
    if errors:
        raise ValidationError(errors)


def _check(*, actor, data: dict, now, grid_fixed: bool = False, check_backdate: bool = True) -> dict:
    """Field messages for a record (new or changed): times, point, counts, place, party household.
    PermissionDenied for a grid outside the actor's own (chosen, or holding the start point)."""
    errors, start_grid = _locate_points(data)
    kind, grid = data.get("kind"), data.get("grid")
    if kind not in VisitKind.values:
        errors["kind"] = _("Choose patrol or household visit.")
    if grid is None and not grid_fixed and start_grid is not None:
        grid = data["grid"] = start_grid
    if grid is None:
        errors.setdefault("grid", _("Give the grid, or the start point."))
    elif grid.tier != Tier.GRID:
        errors["grid"] = _("Choose a grid.")
    elif not grid_fixed and not may_record_in(actor, grid):
        raise PermissionDenied(_("You record patrols and visits only in your own grid or area."))
    started, ended = data.get("started_at"), data.get("ended_at")
    if started is None:
        errors["started_at"] = _("When did it start?")
    if ended is None:
        errors["ended_at"] = _("When did it end?")
    if started is not None and ended is not None:
        if ended < started:
            errors["ended_at"] = _("The end is before the start.")
        elif ended - started > dt.timedelta(hours=MAX_HOURS):
            errors["ended_at"] = _("A patrol or visit lasts at most %(n)d hours.") % {"n": MAX_HOURS}
        if ended > now + dt.timedelta(minutes=5):
            errors["ended_at"] = _("The end is in the future.")
        if check_backdate and started < now - dt.timedelta(days=BACKDATE_DAYS):
            errors["started_at"] = _("Records are entered within %(n)d days.") % {"n": BACKDATE_DAYS}
    households, people = data.get("households") or 0, data.get("people_met") or 0
    if not 0 <= households <= MAX_HOUSEHOLDS:
        errors["households"] = _("Between 0 and %(n)d.") % {"n": MAX_HOUSEHOLDS}
    elif kind == VisitKind.HOUSEHOLD and households < 1:
        errors["households"] = _("How many households were visited?")
    if not 0 <= people <= MAX_PEOPLE:
        errors["people_met"] = _("Between 0 and %(n)d.") % {"n": MAX_PEOPLE}
    for field in ("address", "findings"):
        limit = Visit._meta.get_field(field).max_length
        if len(data.get(field) or "") > limit:
            errors[field] = _("At most %(n)d characters.") % {"n": limit}
    building, party = data.get("building"), data.get("party_household")
    if grid is not None and "grid" not in errors:
        if building is not None and (building.tier != Tier.BUILDING or not building.path.startswith(grid.path)):
            errors["building"] = _("The building must lie in the grid.")
        if party is not None and (
            party.kind != PartyOrgKind.MEMBER_HOUSEHOLD or not party.area.path.startswith(grid.path)
        ):
            errors["party_household"] = _("Choose a party-member household of the grid.")
    if len(data.get("photos") or ()) > settings.CASE_PHOTOS_PER_UPLOAD:
        errors["photos"] = _("At most %(n)d photos.") % {"n": settings.CASE_PHOTOS_PER_UPLOAD}
    return errors


def _clean_photos(photos) -> list:
    cleaned, messages = [], []
    for photo in photos:
        try:
            cleaned.append(clean_photo(photo))
        except ValidationError as exc:
            messages.extend(exc.messages)
    if messages:
        raise ValidationError({"photos": messages})
    return cleaned


# --- writes --------------------------------------------------------------------------
@transaction.atomic
def record_visit(
    *,
    actor,
    kind: str,
    started_at,
    ended_at,
    grid: Area | None = None,
    start_latitude=None,
    start_longitude=None,
    end_latitude=None,
    end_longitude=None,
    building: Area | None = None,
    address: str = "",
    households: int = 0,
    people_met: int = 0,
    findings: str = "",
    party_household: PartyOrganization | None = None,
    photos=(),
    now=None,
) -> Visit:
    """Record a patrol or household visit; ValidationError naming the field, nothing saved, on bad input."""
    now = now or timezone.now()
    data = {
        "kind": kind,
        "grid": grid,
        "started_at": started_at,
        "ended_at": ended_at,
        "start_latitude": start_latitude,
        "start_longitude": start_longitude,
        "end_latitude": end_latitude,
        "end_longitude": end_longitude,
        "building": building,
        "address": (address or "").strip(),
        "households": households,
        "people_met": people_met,
        "findings": (findings or "").strip(),
        "party_household": party_household,
        "photos": list(photos),
    }
    if not may_record_any(actor):
        raise PermissionDenied(_("Only grid workers, street leaders and community staff record patrols and visits."))
    errors = _check(actor=actor, data=data, now=now)
    if errors:
        raise ValidationError(errors)
    cleaned = _clean_photos(data.pop("photos"))
    visit = Visit.objects.create(recorded_by=actor, area_path=data["grid"].path, created_at=now, **data)
    for content in cleaned:
        VisitPhoto.objects.create(visit=visit, image=content, uploaded_by=actor, created_at=now)
    return visit


def may_record_any(user) -> bool:
    return user is not None and user.is_authenticated and (user.is_superuser or bool(field_paths(user)))


@transaction.atomic
def update_visit(*, actor, visit: Visit, now=None, **changes) -> Visit:
    """Change the editable fields of the actor's own record (403 for anyone else's)."""
    now = now or timezone.now()
    visit = Visit.objects.select_for_update().select_related("grid").get(pk=visit.pk)
    if not may_change(actor, visit):
        raise PermissionDenied(_("Only the person who recorded it changes a patrol or visit."))
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationError({name: _("This field cannot be changed.") for name in sorted(unknown)})
    data = {field: getattr(visit, field) for field in ("kind", "grid", *EDITABLE)}
    data.update({k: (v.strip() if isinstance(v, str) else v) for k, v in changes.items()})
    check_visit(actor=actor, data=data, now=now, grid_fixed=True, start_changed="started_at" in changes)
    for field in changes:
        setattr(visit, field, data[field])
    visit.save()
    return visit


@transaction.atomic
def report_finding(
    *,
    actor,
    visit: Visit,
    title: str,
    category,
    description: str = "",
    priority: str | None = None,
    address: str = "",
    latitude=None,
    longitude=None,
    photos=(),
    now=None,
) -> Case:
    """A finding of ``visit`` as a case in one step: in the visit's grid, source grid patrol, linked here."""
    if not may_record_in(actor, visit.grid):
        raise PermissionDenied(_("Only those who record patrols and visits in this grid report its findings."))
    if latitude is None and longitude is None:
        latitude, longitude = visit.end_latitude, visit.end_longitude
    case = create_case(
        actor=actor,
        title=title,
        description=(description or "").strip() or visit.findings,
        category=category,
        grid=visit.grid,
        source=Source.GRID_PATROL,
        priority=priority,
        address=address or visit.address or (visit.building.name if visit.building_id else ""),
        latitude=latitude,
        longitude=longitude,
        photos=photos,
        now=now,
    )
    Case.objects.filter(pk=case.pk).update(visit=visit)
    case.visit = visit
    return case
