"""The moved clock's rows in a case's timeline (cases/timeline.py), registered at start-up (CasesConfig).

The request and the decision are steps already, with their comments; these rows add what the decision
did to the clock, in the words the case page uses: "延期至 …" with the deadline before it, "挂账至 …"
with the review date. Officials only read the timeline, so the reasons may stay on the step rows.
"""

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from . import timeline
from .models import ClockRequest, ClockRequestKind, ClockRequestStatus


def _moment(value):
    return date_format(timezone.localtime(value), "Y-m-d H:i")


@timeline.register_source
def clock_entries(case, viewer) -> list:
    entries = []
    decided = ClockRequest.objects.filter(case=case, status=ClockRequestStatus.APPROVED).order_by("decided_at", "pk")
    for n, request in enumerate(decided):
        if request.decided_at is None:
            continue
        if request.kind == ClockRequestKind.EXTENSION and request.new_deadline:
            entry = timeline.Entry(
                kind=timeline.Kind.EVENT,
                label=_("Extended to %(date)s") % {"date": _moment(request.new_deadline)},
                at=request.decided_at,
                name="clock_moved",
                order=600_000 + n,
            )
            if request.old_deadline:
                entry.details.append(_("Deadline before: %(date)s") % {"date": _moment(request.old_deadline)})
            entry.details.append(
                _("%(granted)d of %(asked)d working days granted")
                % {"granted": request.granted_days or 0, "asked": request.days or 0}
            )
        elif request.kind == ClockRequestKind.SUSPENSION and request.review_date:
            entry = timeline.Entry(
                kind=timeline.Kind.EVENT,
                label=_("Suspended until %(date)s") % {"date": date_format(request.review_date, "Y-m-d")},
                at=request.decided_at,
                name="clock_moved",
                order=600_000 + n,
            )
        else:
            continue
        entries.append(entry)
    return entries
