"""Who may take which step on which case, written with the one Scope.

Each rule is one ``Rule``: a predicate on one case (django-fsm's transition
permission) and the same rule as a ``Q`` over many (the "waiting for me" view,
to-do counts and lists). tests/cases/test_rules.py checks that the two agree.
A group permission alone never grants a step: scope decides.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.db.models import Q


@dataclass(frozen=True)
class Rule:
    check: Callable
    q: Callable

    def __call__(self, case, user) -> bool:
        scope = getattr(user, "scope", None)
        return scope is not None and self.check(case, user, scope)


def _dispatches(case, user, scope) -> bool:
    return scope.dispatches_at(case.area_path)


def _handles(case, user, scope) -> bool:
    return scope.handles_unit(department_id=case.handling_department_id, area_id=case.handling_area_id) or (
        case.handler_id is not None and case.handler_id == user.pk
    )


def dispatch_q(user) -> Q:
    return user.scope.dispatch_path_q("area_path")


def handling_q(user) -> Q:
    scope = user.scope
    if scope.is_global:
        return Q()
    return scope.handles_unit_q(department_lookup="handling_department_id", area_lookup="handling_area_id") | Q(
        handler_id=user.pk
    )


# Staff of a managing tier over the case's grid assess, dismiss, assign, verify and record phone visits.
may_dispatch = Rule(check=_dispatches, q=dispatch_q)
# The unit the case is handed to (or its named handler) handles it or sends it back.
in_handling_unit = Rule(check=_handles, q=handling_q)


def _requests_clock(case, user, scope) -> bool:
    return not case.pending_request and _handles(case, user, scope)


def _decides(kind):
    def check(case, user, scope) -> bool:
        return (
            case.pending_request == kind
            and bool(case.clock_approver_path)
            and scope.dispatches_at(case.clock_approver_path)
        )

    return check


def _decides_q(kind):
    def q(user) -> Q:
        return Q(pending_request=kind) & ~Q(clock_approver_path="") & user.scope.dispatch_path_q("clock_approver_path")

    return q


def _lifts(case, user, scope) -> bool:
    return bool(case.clock_approver_path) and scope.dispatches_at(case.clock_approver_path)


# The handling unit asks for more time or a suspension, one request at a time.
may_request_clock = Rule(check=_requests_clock, q=lambda user: handling_q(user) & Q(pending_request=""))
# Staff of the tier the request went to (or above it) decide it; the tier that approved a suspension lifts it.
may_decide_extension = Rule(check=_decides("extension"), q=_decides_q("extension"))
may_decide_suspension = Rule(check=_decides("suspension"), q=_decides_q("suspension"))
may_lift_suspension = Rule(
    check=_lifts,
    q=lambda user: ~Q(clock_approver_path="") & user.scope.dispatch_path_q("clock_approver_path"),
)


def _assist_tasks(**filters):
    # By name through the app registry: models.py imports this module for the transitions' permissions.
    return apps.get_model("cases", "AssistTask").objects.filter(**filters)


def _assists(case, user, scope) -> bool:
    if scope.is_global:
        return case.open_assist_count > 0 and _assist_tasks(case_id=case.pk, status="open").exists()
    return (
        case.open_assist_count > 0
        and _assist_tasks(case_id=case.pk, status="open")
        .filter(Q(department_id__in=scope.department_ids) | Q(area_id__in=scope.post_area_ids))
        .exists()
    )


def assisting_q(user) -> Q:
    scope = user.scope
    open_tasks = _assist_tasks(status="open")
    if not scope.is_global:
        open_tasks = open_tasks.filter(Q(department_id__in=scope.department_ids) | Q(area_id__in=scope.post_area_ids))
    return Q(open_assist_count__gt=0, pk__in=open_tasks.values("case_id"))


# An assisting unit (协办) records its part or sends it back.
in_assisting_unit = Rule(check=_assists, q=assisting_q)
# The dispatching tier waives an assisting task that is not done.
may_waive_assist = Rule(
    check=lambda case, user, scope: case.open_assist_count > 0 and _dispatches(case, user, scope),
    q=lambda user: Q(open_assist_count__gt=0) & dispatch_q(user),
)


def _open_mediations(**filters):
    return apps.get_model("cases", "Mediation").objects.filter(outcome="", **filters)


def _records_mediation(case, user, scope) -> bool:
    waiting = _open_mediations(case_id=case.pk)
    if scope.is_global or _handles(case, user, scope):
        return waiting.exists()
    return waiting.filter(mediators=user).exists()


def recording_mediation_q(user) -> Q:
    waiting = _open_mediations()
    if user.scope.is_global:
        return Q(pk__in=waiting.values("case_id"))
    return Q(pk__in=waiting.values("case_id")) & handling_q(user) | Q(
        pk__in=waiting.filter(mediators=user).values("case_id")
    )


# The handling unit or one of the mediators records the outcome of a mediation (cases/mediation.py).
may_record_mediation = Rule(check=_records_mediation, q=recording_mediation_q)
# Steps the platform takes (rework on a dissatisfied rating, close after the rating window).
system_only = Rule(check=lambda case, user, scope: False, q=lambda user: Q(pk__in=[]))


def may_see_personal_data(case, user) -> bool:
    """Dispatchers, the handling unit and the reporter see the resident's contact; others see it masked."""
    return may_dispatch(case, user) or in_handling_unit(case, user) or (user and case.reporter_id == user.pk)


def visible_q(user) -> Q:
    scope = user.scope
    if scope.is_global:
        return Q()
    q = scope.case_path_q("area_path") | Q(handling_department_id__in=scope.department_ids) | Q(reporter_id=user.pk)
    if scope.department_ids:
        # A department assisting in a jointly handled case sees it too.
        q |= Q(pk__in=_assist_tasks(department_id__in=scope.department_ids).values("case_id"))
    if scope.department_ids or "street_leader" in scope.roles:
        # A police officer (警民联调) or a street leader mediating a dispute sees that case; area staff
        # mediate only within their own area, which they see already.
        q |= Q(pk__in=apps.get_model("cases", "Mediation").objects.filter(mediators=user).values("case_id"))
    return q
