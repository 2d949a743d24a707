"""Video alarms (视频告警): a camera's alarm becomes a case in the camera's grid, or an occurrence of one.

The video platform (an external system, cases/external.py) reports an alarm through the intake with
the camera's code and an event type; the event type maps to an entry of the responsibility list
(``EventType``). An alarm of the same camera and category less than the window
(``WorkflowSettings.camera_alarm_window_minutes``) from an alarm of a case still open adds an
occurrence to that case rather than filing another: a stall that stays on the pavement all
afternoon is one case, seen many times. The window slides, measured from the nearest alarm of the case.

Two alarms of one camera arriving at once are serialised on the camera's row (``select_for_update``),
so the second sees the case the first filed; a repeated delivery of the same alarm (the system's
``external_id``) finds the first, guarded by a unique constraint too.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from grids.models import Camera, CameraStatus

from . import timeline
from .models import OPEN_STATUSES, CameraAlarm, Case, EventType, Source, Status, WorkflowSettings
from .services import create_case

# An open case for this purpose is any case still to be handled, a suspended (挂账) one included.
ALARM_OPEN_STATUSES = [*OPEN_STATUSES, Status.SUSPENDED]
# A camera's clock may run a little ahead of ours; an alarm further in the future is refused.
FUTURE_SKEW = timedelta(minutes=5)
# Occurrence times listed on the case's timeline entry; the count covers them all.
TIMES_SHOWN = 20


@dataclass(frozen=True)
class AlarmResult:
    case: Case
    alarm: CameraAlarm
    # A new case was filed (else the alarm was added to an open one, or was a repeat).
    created: bool
    # The same alarm (system and external_id) was received before: nothing new was written.
    repeat: bool = False


def find_event_type(value: str) -> EventType | None:
    value = (value or "").strip()
    if not value:
        return None
    return (
        EventType.objects.select_related("category")
        .filter(Q(code=value) | Q(name=value), is_active=True)
        .order_by("pk")
        .first()
    )


def window() -> timedelta:
    return timedelta(minutes=WorkflowSettings.current().camera_alarm_window_minutes)


def open_case_for(camera: Camera, category, occurred_at: datetime, span: timedelta) -> Case | None:
    """The open case with an alarm of ``camera`` and ``category`` less than ``span`` from ``occurred_at``."""
    alarm = (
        CameraAlarm.objects.filter(
            camera=camera,
            category=category,
            occurred_at__gt=occurred_at - span,
            occurred_at__lt=occurred_at + span,
            case__status__in=ALARM_OPEN_STATUSES,
        )
        .select_related("case")
        .order_by("-case_id")
        .first()
    )
    return alarm.case if alarm is not None else None


def _description(camera, event_type, occurred_at, snapshot) -> str:
    text = _("Camera %(camera)s reported “%(event)s” at %(at)s.") % {
        "camera": camera,
        "event": event_type.name,
        "at": timezone.localtime(occurred_at).strftime("%Y-%m-%d %H:%M:%S"),
    }
    if snapshot:
        text += "\n" + _("Snapshot: %(url)s") % {"url": snapshot}
    return text


@transaction.atomic
def receive_alarm(
    *, system, camera_code: str, event_type: str, occurred_at: datetime, external_id=None, snapshot=None
) -> AlarmResult:
    """File a camera's alarm for ``system`` (an ExternalSystem, or None for the platform itself).

    Raises ValidationError naming the field as the intake receives it (``camera``, ``event_type``,
    ``occurred_at``, ``external_id``, ``snapshot``) when the alarm cannot be taken; nothing is written
    then, and the intake (cases/api/intake.py) logs the refusal for the system."""
    external_id = (external_id or "").strip()
    snapshot = (snapshot or "").strip()
    errors = {}
    kind = find_event_type(event_type)
    if kind is None:
        errors["event_type"] = _("Unknown video event type “%(value)s”.") % {"value": event_type or ""}
    elif not kind.category.is_active or kind.category.parent_id is None:
        errors["event_type"] = _("The category of event type “%(value)s” is not in use.") % {"value": kind.name}
    if occurred_at is None or timezone.is_naive(occurred_at):
        errors["occurred_at"] = _("Give the time of the alarm with its time zone.")
    elif occurred_at > timezone.now() + FUTURE_SKEW:
        errors["occurred_at"] = _("The time of the alarm lies in the future.")
    if len(external_id) > CameraAlarm._meta.get_field("external_id").max_length:
        errors["external_id"] = _("At most %(n)d characters.") % {"n": 64}
    if len(snapshot) > CameraAlarm._meta.get_field("snapshot").max_length or (
        snapshot and not snapshot.startswith(("https://", "http://"))
    ):
        errors["snapshot"] = _("The snapshot is the address (http or https) of the picture, at most 500 characters.")
    # The camera's row is the lock: its alarms are taken one at a time, whatever process receives them.
    camera = (
        Camera.objects.select_for_update(of=("self",))
        .select_related("grid")
        .filter(code=(camera_code or "").strip())
        .first()
        if camera_code
        else None
    )
    if camera is None:
        errors["camera"] = _("Unknown camera “%(value)s”.") % {"value": camera_code or ""}
    elif camera.status == CameraStatus.RETIRED:
        errors["camera"] = _("Camera %(value)s is retired.") % {"value": camera.code}
    if errors:
        raise ValidationError(errors)

    if system is not None and external_id:
        earlier = CameraAlarm.objects.filter(system=system, external_id=external_id).select_related("case").first()
        if earlier is not None:
            return AlarmResult(case=earlier.case, alarm=earlier, created=False, repeat=True)

    alarm = CameraAlarm(
        camera=camera,
        event_type=kind,
        category=kind.category,
        occurred_at=occurred_at,
        system=system,
        external_id=external_id,
        snapshot=snapshot,
    )
    case = open_case_for(camera, kind.category, occurred_at, window())
    created = case is None
    if created:
        case = create_case(
            actor=system.service_user if system is not None else None,
            title=(_("Video alarm: %(event)s") % {"event": kind.name})[:100],
            description=_description(camera, kind, occurred_at, snapshot),
            category=kind.category,
            grid=camera.grid,
            source=Source.VIDEO,
            address=camera.name[:200],
            latitude=camera.latitude,
            longitude=camera.longitude,
            external_system=system,
            external_id=external_id,
        )
        alarm.opened_case = True
    alarm.case = case
    alarm.save()
    return AlarmResult(case=case, alarm=alarm, created=created)


# --- reads ---------------------------------------------------------------------


def alarm_count(case: Case) -> int:
    """Alarms counted on the case: the one that filed it and its occurrences."""
    return CameraAlarm.objects.filter(case=case).count()


@timeline.register_source
def alarm_entries(case, viewer) -> list:
    """The alarm that filed the case, and one entry counting the occurrences since, at the latest."""
    if case.source != Source.VIDEO:
        return []
    alarms = list(
        CameraAlarm.objects.filter(case=case).select_related("camera", "event_type").order_by("occurred_at", "pk")
    )
    if not alarms:
        return []
    first, later = alarms[0], alarms[1:]
    entry = timeline.Entry(
        kind=timeline.Kind.EVENT,
        label=_("Camera alarm: %(event)s") % {"event": first.event_type.name},
        at=first.occurred_at,
        name="camera_alarm",
        order=-1,
        details=[_("Camera: %(camera)s") % {"camera": first.camera}],
    )
    if first.snapshot:
        entry.details.append(_("Snapshot: %(url)s") % {"url": first.snapshot})
    entries = [entry]
    if later:
        times = [timezone.localtime(a.occurred_at).strftime("%m-%d %H:%M:%S") for a in later[-TIMES_SHOWN:]]
        entries.append(
            timeline.Entry(
                kind=timeline.Kind.EVENT,
                label=_("The camera alarmed again: %(n)d more times (%(total)d alarms in all)")
                % {"n": len(later), "total": len(alarms)},
                at=later[-1].occurred_at,
                name="camera_alarm_occurrences",
                order=500_100,
                details=[
                    _("Camera: %(camera)s") % {"camera": later[-1].camera},
                    _("At: %(times)s") % {"times": "、".join(times)},
                ],
            )
        )
    return entries
