"""Who may take which step on which case.

Each rule exists twice in one place: as a predicate on one case (the
transition permission callables of django-fsm) and as a ``Q`` over many
(the "waiting for me" view and the lists). Tests check that they agree.
A group permission alone never grants a step: scope decides.
"""

from django.db.models import Q


def _scope(user):
    return getattr(user, "scope", None)


# --- one case ---------------------------------------------------------------
def may_dispatch(case, user) -> bool:
    """Staff of a managing tier over the case's grid assess, dismiss and assign it."""
    scope = _scope(user)
    if scope is None:
        return False
    return scope.is_global or any(case.area_path.startswith(p) for p in scope.managed_paths)


def in_handling_unit(case, user) -> bool:
    scope = _scope(user)
    if scope is None:
        return False
    if scope.is_global:
        return True
    return (
        (case.handling_department_id is not None and case.handling_department_id in scope.department_ids)
        or (case.handling_area_id is not None and case.handling_area_id in scope.post_area_ids)
        or (case.handler_id is not None and case.handler_id == user.pk)
    )


def may_verify(case, user) -> bool:
    """Verification and the phone-visit rating go back to the dispatchers."""
    return may_dispatch(case, user)


def system_only(case, user) -> bool:
    return False


def may_see_personal_data(case, user) -> bool:
    """Dispatchers, the handling unit and the reporter see the resident's contact; others see it masked."""
    return may_dispatch(case, user) or in_handling_unit(case, user) or (user and case.reporter_id == user.pk)


# --- many cases ---------------------------------------------------------------
def visible_q(user) -> Q:
    scope = user.scope
    if scope.is_global:
        return Q()
    return (
        scope.path_q("area_path", scope.case_paths)
        | Q(handling_department_id__in=scope.department_ids)
        | Q(reporter_id=user.pk)
    )


def dispatch_q(user) -> Q:
    scope = user.scope
    return Q() if scope.is_global else scope.path_q("area_path", scope.managed_paths)


def handling_q(user) -> Q:
    scope = user.scope
    if scope.is_global:
        return Q()
    return (
        Q(handling_department_id__in=scope.department_ids)
        | Q(handling_area_id__in=scope.post_area_ids)
        | Q(handler_id=user.pk)
    )


def waiting_q(user) -> Q:
    """Cases whose next human step this user may take (fed_back: the dispatcher's phone visit)."""
    dispatcher_steps = Q(status__in=["reported", "assessed", "handled", "fed_back"]) & dispatch_q(user)
    return dispatcher_steps | Q(status="assigned") & handling_q(user)
