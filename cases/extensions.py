"""Moving a case's clock honestly: extension (延期) and suspension (挂账) requests.

Why a request is its own object (``ClockRequest``) and not a case state: while a
request waits, the case is still with its handling unit, may still be handled or
sent back, and its handling clock keeps running; the request has a clock of its
own (decide within the category's ``request_limit`` working days) that the sweep
climbs on its own (Escalation stage "request"). A waiting state on the case would
have to stop or fork the handling clock and duplicate every step from "assigned".
The case carries only two columns the rules read in one query: which kind of
request waits (``pending_request``) and the path of the tier that decides it
(``clock_approver_path``). A suspension, once approved, *is* a case state
(``suspended``): nobody owes a step, no clock runs, the sweep never sees it.

The rules, per category of the responsibility list:
- an extension asks for 1..``extension_max_days`` working days (more: refused,
  naming ``days``); the dispatching tier decides, granting at most what was asked;
  from the (``extension_max_requests`` + 1)th request of a case on, the tier one
  above the dispatching tier decides (the grids tier ladder; the district decides
  its own);
- a suspension needs a review date after today; the category's
  ``suspension_tier`` (default: the district) approves and may lift it early; on
  the review date ``resume_due`` (a beat task) resumes it with the handling time
  that was left, or a new handling clock, as the category says.
Approval moves the deadline with the one calculator (``Case.move_deadline``);
the old ladder's Escalation rows stay, the new deadline starts a new ladder.
"""

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from grids.models import Area, Tier, ancestor_path_at, parent_tier_of

from .models import (
    ClockRequest,
    ClockRequestKind,
    ClockRequestStatus,
    DeadlineUnit,
    Status,
)

REQUEST_STAGE = "request"


def _area_at(case, tier):
    path = ancestor_path_at(case.area_path, tier)
    return Area.objects.filter(path=path).first() if path else None


def _dispatching_area(case):
    return case.dispatcher_area or _area_at(case, Tier.COMMUNITY)


def _new_request(case, actor, comment, *, kind, approving_area, now, **fields):
    if not comment:
        raise ValidationError({"comment": _("Give the reason.")})
    if approving_area is None:
        raise ValidationError({"comment": _("No tier above this case can decide the request.")})
    deadline, warn_at, final_at = case.category.clock(now, case.category.request_limit, DeadlineUnit.WORKDAYS)
    return ClockRequest(
        case=case,
        kind=kind,
        reason=comment,
        approving_area=approving_area,
        requested_by=actor,
        requested_at=now,
        deadline=deadline,
        warn_at=warn_at,
        final_at=final_at,
        **fields,
    )


def _days(value, field):
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise ValidationError({field: _("Give a whole number of working days.")}) from None
    if days < 1:
        raise ValidationError({field: _("At least one working day.")})
    return days


def _future_date(value, now, field="review_date"):
    if value is None:
        raise ValidationError({field: _("Give the review date.")})
    if value <= timezone.localdate(now):
        raise ValidationError({field: _("The review date must be after today.")})
    return value


def approving_area_for_extension(case):
    """The dispatching tier; past the category's number of extensions, the tier above it."""
    base = _dispatching_area(case)
    made = case.clock_requests.filter(kind=ClockRequestKind.EXTENSION).exclude(status=ClockRequestStatus.LAPSED)
    if base is None or made.count() < case.category.extension_max_requests:
        return base
    return _area_at(case, parent_tier_of(base.tier) or Tier.DISTRICT)


def prepare_request_extension(case, actor, comment, params):
    now = params.get("now") or timezone.now()
    days = _days(params.get("days"), "days")
    cap = case.category.extension_max_days
    if days > cap:
        raise ValidationError({"days": _("At most %(n)d working days per extension for this category.") % {"n": cap}})
    request = _new_request(
        case,
        actor,
        comment,
        kind=ClockRequestKind.EXTENSION,
        approving_area=approving_area_for_extension(case),
        now=now,
        days=days,
    )
    return {"clock_request": request}


def prepare_request_suspension(case, actor, comment, params):
    now = params.get("now") or timezone.now()
    review_date = _future_date(params.get("review_date"), now)
    tier = case.category.suspension_tier
    request = _new_request(
        case,
        actor,
        comment,
        kind=ClockRequestKind.SUSPENSION,
        approving_area=_area_at(case, tier),
        now=now,
        review_date=review_date,
    )
    return {"clock_request": request}


def _pending(case, kind):
    request = case.clock_requests.filter(kind=kind, status=ClockRequestStatus.PENDING).first()
    if request is None:  # the case row is locked and says one waits: only a broken row gets here
        raise ValidationError({"comment": _("No request is waiting for a decision.")})
    return request


def prepare_approve_extension(case, actor, comment, params):
    request = _pending(case, ClockRequestKind.EXTENSION)
    granted = params.get("granted_days")
    granted = request.days if granted in (None, "") else _days(granted, "granted_days")
    if granted > request.days:
        raise ValidationError(
            {"granted_days": _("At most the %(n)d working days that were asked for.") % {"n": request.days}}
        )
    return {"clock_request": request, "granted_days": granted}


def prepare_refuse(kind):
    def prepare(case, actor, comment, params):
        return {"clock_request": _pending(case, kind)}

    return prepare


def prepare_approve_suspension(case, actor, comment, params):
    request = _pending(case, ClockRequestKind.SUSPENSION)
    review_date = params.get("review_date")
    now = params.get("now") or timezone.now()
    review_date = _future_date(request.review_date if review_date is None else review_date, now)
    return {"clock_request": request, "review_date": review_date}


def save_request(case, now):
    """``after`` of the request and decision steps: store the request the transition filled in."""
    request = getattr(case, "clock_request", None)
    if request is not None:
        request.save()
        del case.clock_request
    return None


def lapse_requests(case, now):
    """``after`` of the steps that take a case from its handling unit: a waiting request lapses."""
    if getattr(case, "lapsed_request", False):
        ClockRequest.objects.filter(case=case, status=ClockRequestStatus.PENDING).update(
            status=ClockRequestStatus.LAPSED, decided_at=now
        )
        del case.lapsed_request
    return None


def to_approving_tier(case):
    request = getattr(case, "clock_request", None)
    return ([request.approving_area_id] if request is not None else [], [])


def suspended_q() -> Q:
    return Q(status=Status.SUSPENDED)


def clock_note(case, *, public=False) -> str:
    """One short line about a moved clock: "延期至 …", "挂账至 …" (residents: "暂缓办理，预计 …");
    officials also see a request waiting. Empty when the clock runs as first set."""
    if case.status == Status.SUSPENDED and case.suspended_until:
        day = date_format(case.suspended_until, "Y-m-d")
        if public:
            return _("Handling deferred, expected to resume on %(date)s") % {"date": day}
        return _("Suspended until %(date)s") % {"date": day}
    parts = []
    if case.extended_until and case.extended_until == case.current_deadline:
        parts.append(
            _("Extended to %(date)s") % {"date": date_format(timezone.localtime(case.extended_until), "Y-m-d H:i")}
        )
    if not public and case.pending_request:
        parts.append(
            _("extension request waiting")
            if case.pending_request == ClockRequestKind.EXTENSION
            else _("suspension request waiting")
        )
    return " · ".join(parts)
