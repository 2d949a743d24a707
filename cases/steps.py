"""The steps of a case, in one table: what each needs, who may take it, what it tells whom.

The admin's transition pages, the API's ``transitions/`` endpoints, "waiting
for me" and the to-do counts, the history labels and the residents' tracking
timeline all read ``STEPS``; ``services.transition_case`` runs any of them the
same way (lock, check, prepare, model transition, save, audit, notify, after).

How to add a step
-----------------
1. A transition method on ``Case`` (cases/models.py): ``@fsm_log_by``,
   ``@fsm_log_description``, ``@transition(status, source=..., target=...,
   permission=<a rules.Rule>)``. It sets only the case's own fields and its
   clock (``start_stage`` / ``stop_clock``); it takes ``by``, ``description``,
   ``now`` and the keyword arguments ``prepare`` returns.
2. One ``Step`` below: its label, its form (cases/forms.py; ``None`` when only
   the platform takes it), the same rule as the transition's permission, a
   ``prepare`` that checks the input against this case and returns the model
   method's arguments (raise ``ValidationError({field: message})``), the notice
   it queues and to whom, the label residents see (``None``: not public), the
   kind of photos it stores, and ``after`` for what follows in the same
   transaction (an invitation, another step).
3. Tests: the step in tests/cases/test_workflow.py's SPEC (every state × every
   step, who may, what it needs), and its own behaviour.
Nothing else changes: the admin, the API, the lists and the timeline follow.

Rows of the case history that are not transitions (the report, supervision,
the rework limit) are ``EVENTS``, written by ``cases.audit.record_event``.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from accounts.selectors import posts_at
from grids.models import Area, Tier, ancestor_path_at, ancestor_paths
from outbox import services as outbox

from . import extensions, followers, forms, joint, mediation, rules
from .audit import district_words, record_event
from .models import (
    AttachmentKind,
    Case,
    ClockRequestKind,
    DismissReason,
    Rating,
    WorkflowSettings,
)
from .notifications import NotificationKind
from .residents import invitations


@dataclass(frozen=True)
class FollowUp:
    """A step the platform takes next, in the same transaction (rework after a dissatisfied rating)."""

    name: str
    comment: str


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    rule: rules.Rule
    form: type | None = None
    prepare: Callable | None = None
    notice: str | None = None
    notify: Callable | None = None
    public_label: str | None = None
    photos: str | None = None
    after: Callable | None = None
    # The message when the comment is missing; None: the comment is optional.
    comment_required: str | None = None
    # Shown as a warning-coloured button: it ends the case's way through the office.
    destructive: bool = False
    # False: a step someone may take but nobody owes (naming an assisting unit), so it puts
    # no case in "waiting for me" nor in the to-do counts.
    owed: bool = True

    @property
    def by_people(self) -> bool:
        return self.form is not None

    @property
    def sources(self) -> list[str]:
        return _sources()[self.name]

    def kwargs(self, case, actor, comment, params) -> dict:
        """The model transition's arguments from the input; ValidationError naming the field if it is wrong."""
        if self.comment_required and not comment:
            raise ValidationError({"comment": str(self.comment_required)})
        return self.prepare(case, actor, comment, params) if self.prepare else {}


@cache
def _sources() -> dict[str, list[str]]:
    transitions = Case._meta.get_field("status").get_all_transitions(Case)
    found: dict[str, set] = {}
    for t in transitions:
        found.setdefault(t.name, set()).add(t.source)
    return {name: sorted(s) for name, s in found.items()}


# --- inputs -----------------------------------------------------------------------
def _leaf_category(category):
    if category is not None and (category.parent_id is None or not category.is_active):
        raise ValidationError({"category": _("Choose a category from the responsibility list.")})
    return category


def _prepare_assess(case, actor, comment, params):
    return {
        "category": _leaf_category(params.get("category")),
        "priority": params.get("priority"),
        "dispatcher_area": dispatcher_area(actor, case),
    }


def _prepare_dismiss(case, actor, comment, params):
    reason, duplicate_of = params.get("reason"), params.get("duplicate_of")
    if reason not in DismissReason.values:
        raise ValidationError({"reason": _("Choose why the case is dismissed.")})
    if reason == DismissReason.DUPLICATE and duplicate_of is None:
        raise ValidationError({"duplicate_of": _("Give the number of the case this one duplicates.")})
    if duplicate_of is not None and duplicate_of.pk == case.pk:
        raise ValidationError({"duplicate_of": _("A case cannot duplicate itself.")})
    return {"reason": reason, "duplicate_of": duplicate_of if reason == DismissReason.DUPLICATE else None}


def _prepare_assign(case, actor, comment, params):
    department, area = handling_unit(case, params.get("department"), params.get("area"))
    handler = params.get("handler")
    if handler is not None and not handler.scope.works_in(department=department, area=area):
        raise ValidationError({"handler": _("The handler must hold a post in the handling unit.")})
    return {"department": department, "area": area, "handler": handler}


def _prepare_handle(case, actor, comment, params):
    result = (params.get("result") or "").strip()
    if not result:
        raise ValidationError({"result": _("Describe what was done.")})
    joint.check_lead_may_handle(case)
    mediation.check_may_handle(case)
    if not params.get("photos") and not case.attachments.filter(kind=AttachmentKind.AFTER).exists():
        raise ValidationError({"photos": _("Add at least one photo taken after handling.")})
    return {"result": result}


def _prepare_rate(case, actor, comment, params):
    rating = params.get("rating")
    if rating not in Rating.values:
        raise ValidationError({"rating": _("Choose a rating.")})
    return {
        "rating": rating,
        "comment": (params.get("rating_comment") or comment)[:2000],
        "by_phone": bool(params.get("by_phone", actor is not None)),
    }


def dispatcher_area(actor, case):
    """The actor's managing area that covers the case: the tier that dispatched it."""
    if actor is None or actor.scope.is_global:
        path = ancestor_path_at(case.area_path, Tier.DISTRICT)
    else:
        path = actor.scope.dispatching_path(case.area_path)
    return Area.objects.filter(path=path).first() if path else None


def handling_unit(case, department, area):
    """Check (or default from the category) where an assigned case goes."""
    if department is not None and area is not None:
        raise ValidationError({"department": _("Assign to a department or to an area, not both.")})
    if department is None and area is None:
        department = case.category.default_department
        if department is None:
            area = Area.objects.filter(tier=case.category.default_tier, path__in=ancestor_paths(case.area_path)).first()
    if department is not None and not case.area_path.startswith(department.area.path):
        raise ValidationError({"department": _("This department does not serve the case's area.")})
    if area is not None and not case.area_path.startswith(area.path):
        raise ValidationError({"area": _("Assign to the case's grid or an area above it.")})
    if department is None and area is None:
        raise ValidationError({"department": _("Choose who handles the case.")})
    return department, area


# --- whom a step tells ---------------------------------------------------------------
def to_handling_unit(case):
    return (
        [case.handling_area_id] if case.handling_area_id else [],
        [case.handling_department_id] if case.handling_department_id else [],
    )


def to_dispatcher(case):
    return ([case.dispatcher_area_id] if case.dispatcher_area_id else [], [])


def to_unit_and_dispatcher(case):
    areas, departments = to_handling_unit(case)
    return areas + to_dispatcher(case)[0], departments


def notify(step: Step, case) -> None:
    """Tell the unit that now owes the next step, through the outbox, in this transaction."""
    followers.tell_of_step(step, case)
    if step.notice is None:
        return
    area_ids, department_ids = step.notify(case)
    recipients = {
        p["user_id"]: {"user_id": p["user_id"], "email": p["user__email"]}
        for p in posts_at(area_ids=area_ids, department_ids=department_ids)
    }
    outbox.queue(kind=step.notice, recipients=list(recipients.values()), context={"case": case.pk, "step": step.name})


# --- what follows ------------------------------------------------------------------------
def _invite(case, now):
    invitations.invite(case, now=now)
    return None


def _after_rating(case, now):
    """A dissatisfied rating, however it was taken, reopens the case until the rework limit;
    past it the case stays rated and the supervisors of the dispatching tier are told."""
    if case.rating != Rating.DISSATISFIED:
        return None
    policy = WorkflowSettings.current()
    if case.rework_count < policy.rework_limit:
        return FollowUp(
            "rework",
            _("Resident dissatisfied: rework %(n)d of at most %(limit)d.")
            % {"n": case.rework_count + 1, "limit": policy.rework_limit},
        )
    # Without a recorded dispatcher, the grid's community: the tier that assesses by default.
    area_id = case.dispatcher_area_id or (
        Area.objects.filter(path=ancestor_path_at(case.area_path, Tier.COMMUNITY)).values_list("pk", flat=True).first()
    )
    supervisors = {
        p["user_id"]: {"user_id": p["user_id"], "email": p["user__email"]}
        for p in posts_at(area_ids=[area_id] if area_id else [])
        if p["is_supervisor"]
    }
    outbox.queue(
        kind=NotificationKind.REWORK_LIMIT,
        recipients=list(supervisors.values()),
        context={"case": case.pk, "rework_count": case.rework_count, "rework_limit": policy.rework_limit},
    )
    record_event(
        case,
        "rework_limit",
        actor=None,
        description=district_words(
            lambda: (
                _("Resident dissatisfied after %(n)d reworks (limit %(limit)d); the supervisors were told.")
                % {"n": case.rework_count, "limit": policy.rework_limit}
            )
        ),
        now=now,
    )
    return None


# Public labels are written out as pgettext_lazy("public step", "…") so that makemessages finds them.


STEPS: dict[str, Step] = {
    s.name: s
    for s in [
        Step(
            "assess",
            gettext_lazy("Assess"),
            rules.may_dispatch,
            form=forms.AssessForm,
            prepare=_prepare_assess,
            public_label=pgettext_lazy("public step", "Accepted"),
        ),
        Step(
            "dismiss",
            gettext_lazy("Dismiss"),
            rules.may_dispatch,
            form=forms.DismissForm,
            prepare=_prepare_dismiss,
            comment_required=gettext_lazy("Say why the case is dismissed."),
            public_label=pgettext_lazy("public step", "Not accepted"),
            destructive=True,
            # A duplicate's contacts follow the case it duplicates (merge): cases/followers.py.
            after=followers.after_dismiss,
        ),
        Step(
            "assign",
            gettext_lazy("Assign"),
            rules.may_dispatch,
            form=forms.AssignForm,
            prepare=_prepare_assign,
            notice=NotificationKind.CASE_ASSIGNED,
            notify=to_handling_unit,
            public_label=pgettext_lazy("public step", "Passed to the handling unit"),
        ),
        Step(
            "send_back",
            gettext_lazy("Send back"),
            rules.in_handling_unit,
            form=forms.SendBackForm,
            comment_required=gettext_lazy("Give the reason."),
            notice=NotificationKind.CASE_RETURNED,
            notify=to_dispatcher,
            after=extensions.lapse_requests,
        ),
        Step(
            "handle",
            gettext_lazy("Handle"),
            rules.in_handling_unit,
            form=forms.HandleForm,
            prepare=_prepare_handle,
            photos=AttachmentKind.AFTER,
            public_label=pgettext_lazy("public step", "Handled"),
            after=extensions.lapse_requests,
        ),
        Step(
            "reject",
            gettext_lazy("Reject (rework)"),
            rules.may_dispatch,
            form=forms.RejectForm,
            comment_required=gettext_lazy("Give the reason."),
            notice=NotificationKind.CASE_REWORK,
            notify=to_handling_unit,
        ),
        Step(
            "feed_back",
            gettext_lazy("Verify and feed back"),
            rules.may_dispatch,
            form=forms.FeedBackForm,
            comment_required=gettext_lazy("Write the verifier's comment."),
            public_label=pgettext_lazy("public step", "Result verified"),
            after=_invite,
        ),
        Step(
            "rate",
            gettext_lazy("Record rating"),
            rules.may_dispatch,
            form=forms.RateForm,
            prepare=_prepare_rate,
            public_label=pgettext_lazy("public step", "Rated"),
            after=_after_rating,
        ),
        Step(
            "rework",
            gettext_lazy("Rework"),
            rules.system_only,
            notice=NotificationKind.CASE_REWORK,
            notify=to_handling_unit,
            public_label=pgettext_lazy("public step", "Reopened for rework"),
        ),
        Step(
            "close",
            gettext_lazy("Close unrated"),
            rules.system_only,
            public_label=pgettext_lazy("public step", "Closed without a rating"),
        ),
        # Extension (延期) and suspension (挂账): cases/extensions.py says why and how.
        Step(
            "request_extension",
            gettext_lazy("Request an extension"),
            rules.may_request_clock,
            form=forms.ExtensionRequestForm,
            prepare=extensions.prepare_request_extension,
            comment_required=gettext_lazy("Give the reason."),
            notice=NotificationKind.CLOCK_REQUEST,
            notify=extensions.to_approving_tier,
            photos=AttachmentKind.REQUEST,
            after=extensions.save_request,
        ),
        Step(
            "approve_extension",
            gettext_lazy("Approve the extension"),
            rules.may_decide_extension,
            form=forms.ExtensionApproveForm,
            prepare=extensions.prepare_approve_extension,
            comment_required=gettext_lazy("Write the decision comment."),
            notice=NotificationKind.CLOCK_DECISION,
            notify=to_handling_unit,
            public_label=pgettext_lazy("public step", "Deadline extended"),
            after=extensions.save_request,
        ),
        Step(
            "refuse_extension",
            gettext_lazy("Refuse the extension"),
            rules.may_decide_extension,
            form=forms.RefuseRequestForm,
            prepare=extensions.prepare_refuse(ClockRequestKind.EXTENSION),
            comment_required=gettext_lazy("Say why it is refused."),
            notice=NotificationKind.CLOCK_DECISION,
            notify=to_handling_unit,
            after=extensions.save_request,
            destructive=True,
        ),
        Step(
            "request_suspension",
            gettext_lazy("Request a suspension"),
            rules.may_request_clock,
            form=forms.SuspensionRequestForm,
            prepare=extensions.prepare_request_suspension,
            comment_required=gettext_lazy("Give the reason."),
            notice=NotificationKind.CLOCK_REQUEST,
            notify=extensions.to_approving_tier,
            photos=AttachmentKind.REQUEST,
            after=extensions.save_request,
        ),
        Step(
            "approve_suspension",
            gettext_lazy("Approve the suspension"),
            rules.may_decide_suspension,
            form=forms.SuspensionApproveForm,
            prepare=extensions.prepare_approve_suspension,
            comment_required=gettext_lazy("Write the decision comment."),
            notice=NotificationKind.CLOCK_DECISION,
            notify=to_handling_unit,
            public_label=pgettext_lazy("public step", "Handling deferred"),
            after=extensions.save_request,
        ),
        Step(
            "refuse_suspension",
            gettext_lazy("Refuse the suspension"),
            rules.may_decide_suspension,
            form=forms.RefuseRequestForm,
            prepare=extensions.prepare_refuse(ClockRequestKind.SUSPENSION),
            comment_required=gettext_lazy("Say why it is refused."),
            notice=NotificationKind.CLOCK_DECISION,
            notify=to_handling_unit,
            after=extensions.save_request,
            destructive=True,
        ),
        Step(
            "lift_suspension",
            gettext_lazy("Lift the suspension"),
            rules.may_lift_suspension,
            form=forms.LiftSuspensionForm,
            comment_required=gettext_lazy("Say why handling resumes now."),
            notice=NotificationKind.CASE_RESUMED,
            notify=to_unit_and_dispatcher,
            public_label=pgettext_lazy("public step", "Handling resumed"),
        ),
        # Joint handling (主办/协办): cases/joint.py.
        Step(
            "add_assist",
            gettext_lazy("Name an assisting unit"),
            rules.may_dispatch,
            form=forms.AddAssistForm,
            prepare=joint.prepare_add,
            notice=NotificationKind.ASSIST_TASK,
            notify=joint.to_assisting_unit,
            after=joint.save_task,
            owed=False,
        ),
        Step(
            "finish_assist",
            gettext_lazy("Record the assisting result"),
            rules.in_assisting_unit,
            form=forms.FinishAssistForm,
            prepare=joint.prepare_finish,
            notice=NotificationKind.ASSIST_DONE,
            notify=to_handling_unit,
            photos=AttachmentKind.ASSIST,
            after=joint.save_task,
        ),
        Step(
            "return_assist",
            gettext_lazy("Send the assisting task back"),
            rules.in_assisting_unit,
            form=forms.ReturnAssistForm,
            prepare=joint.prepare_return,
            comment_required=gettext_lazy("Give the reason."),
            notice=NotificationKind.ASSIST_RETURNED,
            notify=to_dispatcher,
            after=joint.save_task,
        ),
        Step(
            "waive_assist",
            gettext_lazy("Waive an assisting task"),
            rules.may_waive_assist,
            form=forms.WaiveAssistForm,
            prepare=joint.prepare_waive,
            comment_required=gettext_lazy("Say why the task is waived."),
            notice=NotificationKind.ASSIST_DONE,
            notify=to_handling_unit,
            after=joint.save_task,
            owed=False,
        ),
        # Mediation of dispute cases (调解): cases/mediation.py. Handling waits for the outcome.
        Step(
            "record_mediation",
            gettext_lazy("Record the mediation outcome"),
            rules.may_record_mediation,
            form=forms.RecordMediationForm,
            prepare=mediation.prepare_record,
            comment_required=gettext_lazy("Say what the mediation came to."),
            public_label=pgettext_lazy("public step", "Mediation concluded"),
            after=mediation.save_record,
        ),
        Step(
            "resume",
            gettext_lazy("Resume on the review date"),
            rules.system_only,
            notice=NotificationKind.CASE_RESUMED,
            notify=to_unit_and_dispatcher,
            public_label=pgettext_lazy("public step", "Handling resumed"),
        ),
    ]
}

# History rows that are not transitions: label, and the label residents see (None: not public).
EVENTS = {
    "report": (gettext_lazy("Report"), pgettext_lazy("public step", "Report received")),
    "supervise": (gettext_lazy("Supervision instruction"), None),
    "rework_limit": (gettext_lazy("Rework limit reached"), None),
    "supervision_reply": (gettext_lazy("Reply to supervision"), None),
    "followed": (gettext_lazy("A resident follows the case"), None),
    "merged": (gettext_lazy("Duplicate merged in"), None),
    "mediation_opened": (gettext_lazy("Mediation record opened"), None),
    "mediation_follow_up": (gettext_lazy("Mediation follow-up visit"), None),
}


def get(name: str) -> Step | None:
    return STEPS.get(name)


def label_of(name: str) -> str:
    """The label of a history row: a step or an event; never the raw name to a reader."""
    if name in STEPS:
        return str(STEPS[name].label)
    if name in EVENTS:
        return str(EVENTS[name][0])
    return str(gettext_lazy("Other change"))


PUBLIC_LABELS = {
    **{name: step.public_label for name, step in STEPS.items() if step.public_label is not None},
    **{name: public for name, (_label, public) in EVENTS.items() if public is not None},
}


def waiting_q(user) -> Q:
    """Cases on which this user may take some step now: each people's step's source states under its rule."""
    by_rule: dict[rules.Rule, set] = {}
    for step in STEPS.values():
        if step.by_people and step.owed:
            by_rule.setdefault(step.rule, set()).update(step.sources)
    q = Q(pk__in=[])
    for rule, statuses in by_rule.items():
        q |= Q(status__in=sorted(statuses)) & rule.q(user)
    return q
