"""Reads of cases, always through the user's scope (accounts.scope via cases.rules)."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import Prefetch, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import pgettext_lazy
from django_fsm_log.models import StateLog

from gov_platform.masking import mask_email, mask_name, mask_phone
from grids.models import Area, Department, Tier, ancestor_paths

from . import rules, steps, timeline
from .extensions import suspended_q
from .models import OPEN_STATUSES, Attachment, Case, CaseFollower, Status


def cases_for(user, qs=None):
    qs = Case.objects.all() if qs is None else qs
    return qs.filter(rules.visible_q(user))


def waiting_for(user, qs=None):
    return cases_for(user, qs).filter(steps.waiting_q(user))


def waiting_at_q(user, status: str) -> Q:
    """Cases in ``status`` on which this user may take a people's step now: the steps table's rules."""
    q = Q(pk__in=[])
    for rule in {step.rule for step in steps.STEPS.values() if step.by_people and step.owed and status in step.sources}:
        q |= rule.q(user)
    return Q(status=status) & q


# The to-do counts (dashboard and header): each a state whose next step someone in the office owes,
# named as officials say it; "overdue" is every open case past its deadline in the user's scope.
TODO = [
    ("reported", Status.REPORTED, pgettext_lazy("to-do", "To assess")),
    ("assessed", Status.ASSESSED, pgettext_lazy("to-do", "To dispatch")),
    ("assigned", Status.ASSIGNED, pgettext_lazy("to-do", "To handle")),
    ("handled", Status.HANDLED, pgettext_lazy("to-do", "To verify")),
    ("fed_back", Status.FED_BACK, pgettext_lazy("to-do", "To call back")),
]
# A badge reads "99+" beyond this: every admin page counts, and counting to 1,000 of a street's cases in
# one state took ~15 ms a state at a million cases; the list it links to gives the exact number.
TODO_CAP = 99


def capped_count(qs, cap: int = TODO_CAP) -> int:
    """COUNT over a LIMIT cap+1 subquery: never a count of the whole table, whatever its size."""
    return qs.order_by()[: cap + 1].count()


def todo_counts(user, *, cap: int = TODO_CAP, now=None) -> list[dict]:
    """The user's to-do counts, one query each (capped), each with the list that shows those cases."""
    changelist = reverse("admin:cases_case_changelist")
    visible = cases_for(user)
    rows = [
        (key, label, visible.filter(waiting_at_q(user, status)), {"view": "waiting", "status__exact": status})
        for key, status, label in TODO
    ]
    # Extension and suspension requests waiting for this user's decision (the same rules as the steps).
    decide = rules.may_decide_extension.q(user) | rules.may_decide_suspension.q(user)
    rows.append(
        (
            "clock_requests",
            pgettext_lazy("to-do", "Extensions and suspensions to approve"),
            visible.filter(decide),
            {"view": "waiting", "pending_request__in": "extension,suspension"},
        )
    )
    # Suspended (挂账): no step is owed until the review date, but someone must keep them in sight.
    rows.append(
        (
            "suspended",
            pgettext_lazy("to-do", "Suspended"),
            visible.filter(suspended_q()),
            {"view": "all", "status__exact": Status.SUSPENDED},
        )
    )
    rows.append(("overdue", pgettext_lazy("to-do", "Overdue"), visible.overdue(now), {"view": "overdue"}))
    result = []
    for key, label, qs, params in rows:
        n = capped_count(qs, cap)
        result.append(
            {
                "key": key,
                "label": label,
                "count": n,
                "display": f"{cap}+" if n > cap else str(n),
                "url": f"{changelist}?{urlencode(params)}",
            }
        )
    return result


def case_view(user, qs, view: str):
    """A named view of the case list: waiting for me, my unit's, reported by me, overdue, all I can see."""
    if view == "unit":
        return qs.filter(rules.handling_q(user))
    if view == "mine":
        return qs.filter(reporter_id=user.pk)
    if view == "overdue":
        return qs.overdue()
    if view == "all":
        return qs
    return waiting_for(user, qs)


def case_list_queryset(user, qs=None, *, with_photos=False):
    """Cases visible to ``user`` with what a list row shows, in a fixed number of queries.

    ``with_photos``: one more query for the page's photos (the admin's thumbnail column), whatever the page size."""
    qs = cases_for(user, qs).select_related("category", "grid", "handling_department", "handling_area")
    if with_photos:
        photos = Attachment.objects.order_by("created_at", "pk").only("pk", "case_id", "image", "kind")
        qs = qs.prefetch_related(Prefetch("attachments", queryset=photos))
    return qs


def filter_cases(
    qs,
    *,
    status=None,
    category=None,
    area=None,
    overdue=None,
    source=None,
    reported_from=None,
    reported_to=None,
    search=None,
    now=None,
):
    """The case filters shared by the admin list and the API; each argument is already parsed."""
    if status:
        qs = qs.filter(status__in=status if isinstance(status, list | tuple) else [status])
    if category is not None:
        # A group of the responsibility list selects all its leaves.
        qs = (
            qs.filter(Q(category=category) | Q(category__parent=category))
            if category.parent_id is None
            else qs.filter(category=category)
        )
    if area is not None:
        qs = qs.filter(area_path__startswith=area.path)
    if overdue is True:
        qs = qs.overdue(now)
    elif overdue is False:
        qs = qs.exclude(status__in=OPEN_STATUSES, current_deadline__lt=now or timezone.now())
    if source:
        qs = qs.filter(source=source)
    if reported_from:
        qs = qs.filter(reported_at__gte=reported_from)
    if reported_to:
        qs = qs.filter(reported_at__lt=reported_to)
    if search:
        search = search.strip()
        if search.isdigit():
            # A case number (or its start): an index range scan, not a scan of every title.
            qs = qs.filter(number__startswith=search)
        else:
            qs = qs.filter(Q(title__icontains=search) | Q(address__icontains=search))
    return qs


def reportable_grids(user):
    """Grids the user may report in: inside their areas, or the grid around their building."""
    return Area.objects.filter(user.scope.reportable_q("path"), tier=Tier.GRID)


def dispatchable_areas(user):
    """Units a bulk assignment may go to: the district, streets and communities the user dispatches for."""
    return user.scope.managed_areas(
        Area.objects.filter(tier__in=[Tier.DISTRICT, Tier.STREET, Tier.COMMUNITY]), include_roots=True
    ).order_by("path")


def dispatchable_departments(user):
    """Departments serving the user's dispatching areas: those at or above them, and those inside them."""
    scope = user.scope
    if scope.is_global:
        return Department.objects.order_by("area__path", "name")
    above = {a for path in scope.managed_paths for a in ancestor_paths(path)}
    return Department.objects.filter(
        Q(area__path__in=above) | scope.path_q("area__path", scope.managed_paths)
    ).order_by("area__path", "name")


def areas_for_filter(user):
    """Streets and communities the user sees, for the area filter."""
    return user.scope.areas(Area.objects.filter(tier__in=["district", "street", "community"])).only(
        "pk", "code", "name", "tier", "path", "depth"
    )


def case_timeline(case, viewer) -> list:
    """Everything that happened to a case, oldest first, for a viewer who may see the case (cases.timeline)."""
    return timeline.build(case, viewer)


def case_history(case):
    return (
        StateLog.objects.filter(content_type=ContentType.objects.get_for_model(Case), object_id=case.pk)
        .select_related("by")
        .order_by("timestamp", "pk")
    )


def _shown_contact(name: str, phone: str, email: str, *, unmasked: bool) -> dict:
    if unmasked:
        return {"name": name, "phone": phone, "email": email, "masked": False}
    return {"name": mask_name(name), "phone": mask_phone(phone), "email": mask_email(email), "masked": True}


def contact_for(user, case) -> dict:
    """The resident's contact as this user may see it."""
    unmasked = rules.may_see_personal_data(case, user)
    return _shown_contact(case.contact_name, case.contact_phone, case.contact_email, unmasked=unmasked)


def followers_for(user, case) -> list[dict]:
    """The case's followers (cases/followers.py) for an official who sees the case: each contact masked exactly
    as the reporter's is for this user, how and since when they follow, and whether they were invited to rate
    the round of handling the case is in. One query however many there are.

    ``invited``: None while the round is not fed back yet (they are invited at feed-back), else True/False."""
    unmasked = rules.may_see_personal_data(case, user)
    rows = (
        CaseFollower.objects.filter(case_id=case.pk)
        .select_related("merged_from")
        # The merged case's status too: the state machine reads it when the row is made (else one query each).
        .only(
            "name", "phone", "email", "via", "created_at", "invited_for", "merged_from__number", "merged_from__status"
        )
        .order_by("created_at", "pk")
    )
    # The latest feed-back is this round's while the case waits for, or got, its rating; after a rework
    # the new round has not been fed back yet.
    round_fed_back = case.fed_back_at if case.status in (Status.FED_BACK, Status.RATED, Status.CLOSED) else None
    return [
        {
            **_shown_contact(f.name, f.phone, f.email, unmasked=unmasked),
            "via": f.via,
            "via_label": f.get_via_display(),
            "merged_from": f.merged_from,
            "since": f.created_at,
            "invited": None if round_fed_back is None else f.invited_for == round_fed_back,
        }
        for f in rows
    ]


# --- public reads (resident pages): no scope, and nothing personal or internal -----------
PUBLIC_STATUS = {
    "reported": pgettext_lazy("public status", "Received, waiting to be accepted"),
    "assessed": pgettext_lazy("public status", "Accepted"),
    "dismissed": pgettext_lazy("public status", "Not accepted"),
    "assigned": pgettext_lazy("public status", "Being handled"),
    "suspended": pgettext_lazy("public status", "Handling deferred"),
    "handled": pgettext_lazy("public status", "Handled, being verified"),
    "fed_back": pgettext_lazy("public status", "Done, waiting for the rating"),
    "rated": pgettext_lazy("public status", "Rated"),
    "closed": pgettext_lazy("public status", "Closed"),
}


def public_timeline(case) -> list[dict]:
    """Stage names and dates only. Send-backs, verification failures and supervision are the
    office's business, and no entry carries who acted or their comment."""
    rows = (
        StateLog.objects.filter(
            content_type=ContentType.objects.get_for_model(Case),
            object_id=case.pk,
            transition__in=list(steps.PUBLIC_LABELS),
        )
        .order_by("timestamp", "pk")
        .values_list("transition", "timestamp")
    )
    return [{"step": steps.PUBLIC_LABELS[name], "at": at} for name, at in rows]


def public_case(tracking_code: str):
    return (
        Case.objects.select_related("category", "grid__parent__parent")
        .filter(tracking_code=tracking_code.strip().upper())
        .first()
    )


def suspended_count(user) -> int:
    """Suspended (挂账) cases the user sees: for the to-do counts and the suspension share."""
    return cases_for(user).filter(suspended_q()).count()
