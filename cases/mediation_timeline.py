"""The mediation record's rows in a case's timeline (cases/timeline.py), registered at start-up (CasesConfig).

Opening the record, its outcome (a step) and the follow-up visit are history rows already; these add the
sessions, at the date they took place, and the reminder the beat sent. No row names a party: every
viewer of the case reads the timeline.
"""

from datetime import datetime, time

from django.utils import timezone
from django.utils.translation import gettext as _

from . import timeline
from .models import Mediation


@timeline.register_source
def mediation_entries(case, viewer) -> list:
    mediation = Mediation.objects.filter(case=case).first()
    if mediation is None:
        return []
    entries = []
    for session in mediation.sessions.select_related("recorded_by").order_by("date", "pk"):
        entry = timeline.Entry(
            kind=timeline.Kind.EVENT,
            label=_("Mediation session at %(place)s") % {"place": session.place},
            # At the session's date; not before the record was opened, so the page reads in order.
            at=max(timezone.make_aware(datetime.combine(session.date, time(12))), mediation.opened_at),
            name="mediation_session",
            by=(session.recorded_by.get_full_name() or session.recorded_by.get_username())
            if session.recorded_by
            else None,
            user_id=session.recorded_by_id,
            order=500_000,
        )
        if session.agreed:
            entry.details.append(_("Agreed: %(text)s") % {"text": session.agreed})
        entries.append(entry)
    if mediation.follow_up_reminded_at is not None:
        entries.append(
            timeline.Entry(
                kind=timeline.Kind.EVENT,
                label=_("Follow-up visit due: the mediators were reminded"),
                at=mediation.follow_up_reminded_at,
                name="mediation_follow_up_reminder",
                order=500_001,
            )
        )
    return entries
