"""Reads of cases, always through the user's scope (accounts.scope via cases.rules)."""

import threading

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.models import Prefetch, Q
from django.db.models.functions import Now
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import pgettext_lazy
from django_fsm_log.models import StateLog

from gov_platform.masking import mask_email, mask_name, mask_phone
from grids.models import Area, Department, Tier, ancestor_paths

from . import rules, steps, timeline
from .extensions import suspended_q
from .models import OPEN_STATUSES, Attachment, Case, CaseFollower, Status, overdue_q


def cases_for(user, qs=None):
    qs = Case.objects.all() if qs is None else qs
    return qs.filter(rules.visible_q(user))


def waiting_for(user, qs=None):
    return cases_for(user, qs).filter(steps.waiting_q(user))


def waiting_at_q(user, status: str) -> Q:
    """Cases in ``status`` on which this user may take a people's step now: the steps table's rules."""
    q = Q(pk__in=[])
    for rule in {step.rule for step in steps.STEPS.values() if step.by_people and step.owed and status in step.sources}:
        allowed = rule.q(user)
        if not allowed:  # Q(): every case (a superuser's scope); an OR would drop it as "no condition"
            return Q(status=status)
        q |= allowed
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


def or_terms(q: Q) -> list[list]:
    """``q`` as an OR of terms, each a list of conditions all of which hold (its disjunctive normal form),
    without the terms that match nothing (an empty ``__in``) or that lie inside another term (``_inside``).

    PostgreSQL reads an OR of conditions on different columns (handling unit, handler, approver, reporter)
    by scanning every row the other conditions leave; one term at a time, an index serves each."""
    return _fewest(_conjunctions(q))


def _fewest(conjunctions: list[list]) -> list[list]:
    terms = []
    for atoms in conjunctions:
        if any(_matches_nothing(atom) for atom in atoms) or any(_inside(atoms, kept) for kept in terms):
            continue
        terms = [kept for kept in terms if not _inside(kept, atoms)] + [atoms]
    return terms


def _conjunctions(node) -> list[list]:
    if not isinstance(node, Q) or node.negated or node.connector not in (Q.AND, Q.OR):
        return [[node]]
    if node.connector == Q.OR:
        return [atoms for child in node.children for atoms in _conjunctions(child)]
    result = [[]]
    for child in node.children:
        result = [atoms + more for atoms in result for more in _conjunctions(child)]
    return result


def _matches_nothing(atom) -> bool:
    return (
        isinstance(atom, tuple)
        and atom[0].endswith("__in")
        and isinstance(atom[1], list | tuple | set | frozenset)
        and not atom[1]
    )


def _inside(atoms: list, other: list) -> bool:
    """Whether every case the term ``atoms`` matches is matched by the term ``other``: each condition of
    ``other`` is one of its conditions, or a path prefix that one of its path prefixes lies under."""
    return all(any(_implies(atom, wanted) for atom in atoms) for wanted in other)


def _implies(atom, wanted) -> bool:
    if atom is wanted or atom == wanted:
        return True
    return (
        isinstance(atom, tuple)
        and isinstance(wanted, tuple)
        and atom[0] == wanted[0]
        and atom[0].endswith("__startswith")
        and isinstance(atom[1], str)
        and isinstance(wanted[1], str)
        and atom[1].startswith(wanted[1])
    )


def any_of(terms: list[list], *, seen: list[list] | None = None, cap: int = TODO_CAP):
    """The primary keys of the cases matching any of ``terms`` (``or_terms``) that the user sees (``seen``:
    the user's ``visible_q`` as terms; None when the terms are within it already), for a count capped at
    ``cap``: a UNION of one branch per term, each reading its own index and stopping at cap + 1 rows.

    Exact for the capped count: a branch that stops holds cap + 1 cases itself; otherwise none stopped and
    the union has them all. A term inside one of the user's visible terms (the usual case: the area a
    dispatcher dispatches lies inside the area they see) needs nothing more; any other is split into one
    term per visible term (the handler's cases in my area, the handler's cases I reported), so no branch
    carries an OR for the planner to read by scanning. A database that cannot limit the parts of a UNION
    (SQLite) reads them as one OR."""
    if seen is not None:
        within = []
        for atoms in terms:
            if any(_inside(atoms, term) for term in seen):
                within.append(atoms)
            else:
                within.extend(atoms + term for term in seen)
        terms = _fewest(within)
    if not terms:
        return Case.objects.none().values("pk")
    if len(terms) == 1 or not connections[router.db_for_read(Case)].features.supports_slicing_ordering_in_compound:
        return Case.objects.filter(_any(terms)).order_by().values("pk")
    branches = [Case.objects.filter(*atoms).order_by().values("pk")[: cap + 1] for atoms in terms]
    return branches[0].union(*branches[1:])


def _any(terms: list[list]) -> Q:
    """The OR of ``terms`` (not empty); an empty term matches every case."""
    if not all(terms):
        return Q()
    q = Q(*terms[0])
    for atoms in terms[1:]:
        q |= Q(*atoms)
    return q


# The counts' rows: key, label, and the list (its query string) that shows those cases.
TODO_ROWS = [
    *((key, label, {"view": "waiting", "status__exact": status}) for key, status, label in TODO),
    # Extension and suspension requests waiting for this user's decision (the same rules as the steps).
    (
        "clock_requests",
        pgettext_lazy("to-do", "Extensions and suspensions to approve"),
        {"view": "waiting", "pending_request__in": "extension,suspension"},
    ),
    # Suspended (挂账): no step is owed until the review date, but someone must keep them in sight.
    ("suspended", pgettext_lazy("to-do", "Suspended"), {"view": "all", "status__exact": Status.SUSPENDED}),
    ("overdue", pgettext_lazy("to-do", "Overdue"), {"view": "overdue"}),
]


def todo_querysets(user, now=None, *, cap: int = TODO_CAP) -> list:
    """The cases behind each of ``TODO_ROWS`` (primary keys only), each reading only index entries that can
    match: a state's steps are an OR over who takes them (handling unit, handler, assisting unit, mediator,
    approving tier), read term by term (``any_of``); the suspended and overdue counts likewise term by term
    of what the user sees (their area, their department's cases, what they reported), not every overdue
    case of the district for a community's share. ``now``: the database's clock unless given."""
    seen = or_terms(rules.visible_q(user))
    decide = rules.may_decide_extension.q(user) | rules.may_decide_suspension.q(user)
    return [
        *(any_of(or_terms(waiting_at_q(user, status)), seen=seen, cap=cap) for _key, status, _label in TODO),
        any_of(or_terms(decide), seen=seen, cap=cap),
        any_of(or_terms(rules.visible_q(user) & suspended_q()), cap=cap),
        any_of(or_terms(rules.visible_q(user) & overdue_q(Now() if now is None else now)), cap=cap),
    ]


def capped_counts_statement(querysets: list, cap: int = TODO_CAP, *, using: str = DEFAULT_DB_ALIAS):
    """One statement (SQL, parameters) giving ``capped_count`` of each queryset, as one row."""
    parts, params = [], []
    for qs in querysets:
        try:
            sql, more = qs[: cap + 1].query.get_compiler(using=using).as_sql()
        except EmptyResultSet:  # no term can match: nothing to ask
            parts.append("0")
            continue
        # Django's own compiled SQL; the values go as parameters.
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) counted_{len(parts)})")  # noqa: S608
        params.extend(more)
    return "SELECT " + ", ".join(parts), tuple(params)


# The header's statement per user and scope, kept by each process: building the eight querysets and
# compiling them took 11-25 ms of the worker's CPU on every admin page (a million cases, by role), more than
# PostgreSQL took to run the statement. It depends only on who asks (the user's id and scope, both in the
# key) and on the code; the cases themselves are read by the statement each time and "now" is the
# database's clock, so nothing kept here can go stale. Bounded: an office's officials, a few KB each.
_todo_statements: dict = {}
_TODO_STATEMENTS_MAX = 1024
_todo_statements_lock = threading.Lock()


def _todo_statement(user, cap: int, using: str):
    key = (user.pk, user.scope, cap, using)
    statement = _todo_statements.get(key)
    if statement is None:
        statement = capped_counts_statement(todo_querysets(user, cap=cap), cap, using=using)
        with _todo_statements_lock:
            if len(_todo_statements) >= _TODO_STATEMENTS_MAX:
                _todo_statements.pop(next(iter(_todo_statements)))
            _todo_statements[key] = statement
    return statement


def todo_counts(user, *, cap: int = TODO_CAP, now=None) -> list[dict]:
    """The user's to-do counts (capped), each with the list that shows those cases: one statement."""
    using = router.db_for_read(Case)
    if now is None:
        sql, params = _todo_statement(user, cap, using)
    else:
        sql, params = capped_counts_statement(todo_querysets(user, now, cap=cap), cap, using=using)
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return todo_rows(cursor.fetchone(), cap=cap)


def todo_rows(counts, *, cap: int = TODO_CAP) -> list[dict]:
    """The counts of ``TODO_ROWS`` (in their order) as the header and the dashboard show them."""
    changelist = reverse("admin:cases_case_changelist")
    return [
        {
            "key": key,
            "label": label,
            "count": n,
            "display": f"{cap}+" if n > cap else str(n),
            "url": f"{changelist}?{urlencode(params)}",
        }
        for (key, label, params), n in zip(TODO_ROWS, counts, strict=True)
    ]


def case_view(user, qs, view: str):
    """A named view of the case list: waiting for me, my unit's, reported by me, overdue, all I can see.
    ``qs`` holds only cases the user sees (``case_list_queryset``)."""
    if view == "unit":
        return qs.filter(rules.handling_q(user))
    if view == "mine":
        return qs.filter(reporter_id=user.pk)
    if view == "overdue":
        return qs.overdue()
    if view == "all":
        return qs
    # Not waiting_for(): the visibility filter once, not twice (each costs the planner its OR again).
    return qs.filter(steps.waiting_q(user))


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
