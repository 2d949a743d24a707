"""The intake: events other systems file (a 12345 hotline call, a video alarm, a department's report).

Each event carries the system's own ``external_id``; the pair (system, external_id) is unique on
``Case`` (and on ``CameraAlarm`` for alarms), so a repeated call, or two identical calls racing,
find the case the first one filed. Cases are made by ``services.create_case``, the one way a case
is created; camera alarms go through ``cameras.receive_alarm``, which calls it in turn.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from grids.locator import grid_at_point
from grids.models import Area, Camera, Tier

from . import cameras, external
from .models import CameraAlarm, Case, Category, ExternalSystem, Source
from .services import create_case, transition_case

# A sender's clock may run a little ahead of ours.
FUTURE_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class IntakeResult:
    case: Case
    # A new case was filed; False: a repeat of an event already received, or an alarm added to an open case.
    created: bool


def existing_case(system: ExternalSystem, external_id: str) -> Case | None:
    return (
        Case.objects.select_related("category", "grid").filter(external_system=system, external_id=external_id).first()
    )


def _category(code: str) -> Category:
    category = Category.objects.filter(code=(code or "").strip(), parent__isnull=False, is_active=True).first()
    if category is None:
        raise ValidationError(
            {"category": _("Unknown category “%(code)s”: give the code of a subcategory in use.") % {"code": code}}
        )
    return category


def _grid(grid_code, latitude, longitude) -> Area:
    if grid_code:
        grid = Area.objects.filter(code=grid_code.strip(), tier=Tier.GRID).first()
        if grid is None:
            raise ValidationError({"grid": _("Unknown grid “%(code)s”.") % {"code": grid_code}})
        return grid
    if latitude is None or longitude is None:
        raise ValidationError({"grid": _("Give the grid's code, or latitude and longitude.")})
    grid = grid_at_point(latitude, longitude)
    if grid is None:
        raise ValidationError({"latitude": _("This point is not inside any grid of the district.")})
    return grid


def _occurred_at(value: datetime | None, now: datetime) -> datetime:
    if value is None:
        return now
    if value > now + FUTURE_SKEW:
        raise ValidationError({"occurred_at": _("This time lies in the future.")})
    if value < now - timedelta(hours=settings.INTAKE_MAX_AGE_HOURS):
        raise ValidationError(
            {"occurred_at": _("Events older than %(n)d hours are not taken.") % {"n": settings.INTAKE_MAX_AGE_HOURS}}
        )
    return value


def _source(system: ExternalSystem, source: str | None) -> str:
    if source:
        return source
    if len(system.sources or []) == 1:
        return system.sources[0]
    raise ValidationError({"source": _("Name the source: this system may use several.")})


def file_event(
    *,
    system: ExternalSystem,
    external_id: str,
    category: str,
    description: str,
    title: str = "",
    grid: str = "",
    latitude=None,
    longitude=None,
    address: str = "",
    source: str | None = None,
    contact_name: str = "",
    contact_phone: str = "",
    occurred_at: datetime | None = None,
) -> IntakeResult:
    """File an event for ``system``: the case it made before for this ``external_id``, or a new one.

    Raises ValidationError (bad input, 400) or external.OutsideScope (not the system's to file, 403)."""
    earlier = existing_case(system, external_id)
    if earlier is not None:
        return IntakeResult(case=earlier, created=False)
    now = timezone.now()
    found_category = _category(category)
    found_grid = _grid(grid, latitude, longitude)
    reported_at = _occurred_at(occurred_at, now)
    chosen_source = _source(system, source)
    if chosen_source == Source.RESIDENT:
        raise ValidationError({"source": _("Only residents file a self-report, through the public form.")})
    outside = external.scope_errors(system, category=found_category, grid=found_grid, source=chosen_source)
    if outside:
        raise external.OutsideScope(outside)
    description = (description or "").strip()
    try:
        # A savepoint: an identical call racing this one makes the insert fail here, not the caller's transaction.
        with transaction.atomic():
            case = create_case(
                actor=system.service_user,
                title=(title or "").strip() or f"{found_category.name}：{description[:40]}"[:100],
                description=description,
                category=found_category,
                grid=found_grid,
                source=chosen_source,
                address=address or "",
                latitude=latitude,
                longitude=longitude,
                contact_name=contact_name or "",
                contact_phone=contact_phone or "",
                now=reported_at,
                external_system=system,
                external_id=external_id,
            )
    except IntegrityError:
        earlier = existing_case(system, external_id)
        if earlier is None:
            raise
        return IntakeResult(case=earlier, created=False)
    return IntakeResult(case=case, created=True)


def file_alarm(*, system: ExternalSystem, external_id: str, camera: str, event_type: str, occurred_at, snapshot=""):
    """A video alarm: cameras.receive_alarm files it, or adds it to the camera's open case.

    Checked against the system's scope first, so an alarm outside it neither files a case nor
    counts on an open one; an unknown camera or event type is left to receive_alarm to name."""
    kind = cameras.find_event_type(event_type)
    found = Camera.objects.select_related("grid").filter(code=(camera or "").strip()).first() if camera else None
    if kind is not None and found is not None:
        outside = external.scope_errors(system, category=kind.category, grid=found.grid, source=Source.VIDEO)
        if outside:
            raise external.OutsideScope(outside)
    try:
        with transaction.atomic():
            result = cameras.receive_alarm(
                system=system,
                camera_code=camera,
                event_type=event_type,
                occurred_at=occurred_at,
                external_id=external_id,
                snapshot=snapshot,
            )
    except IntegrityError:
        # The same alarm delivered twice at once: the other delivery recorded it.
        earlier = CameraAlarm.objects.select_related("case").filter(system=system, external_id=external_id).first()
        if earlier is None:
            raise
        return IntakeResult(case=earlier.case, created=False)
    return IntakeResult(case=result.case, created=result.created)


@transaction.atomic
def record_rating(*, system: ExternalSystem, case: Case, rating: str, comment: str = "", now=None) -> Case:
    """The system's return visit (the hotline's 回访) rates the case as its resident would, through the rate step;
    the history names the system. Raises CaseStateConflict when the case is not waiting for a rating."""
    with translation.override(settings.LANGUAGE_CODE):
        visit = _("Return visit by %(system)s") % {"system": system.name}
    return transition_case(
        actor=None,
        case=case,
        name="rate",
        comment=visit,
        rating=rating,
        rating_comment=comment,
        by_phone=True,
        now=now,
    )
