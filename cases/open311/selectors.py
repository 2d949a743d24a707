"""Public reads for Open311: only categories residents may report (Category.public), and only their cases.

No scope applies (the reads are public, like the tracking page), so nothing here selects a field that
names or reaches a person: the documents in ``documents`` are built from these rows alone.
"""

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django_fsm_log.models import StateLog

from .. import steps
from ..models import TERMINAL_STATUSES, Case, Category

OPEN, CLOSED = "open", "closed"


def public_services():
    """Leaves of the responsibility list residents may report, with their group, in code order."""
    return (
        Category.objects.filter(parent__isnull=False, is_active=True, public=True, parent__is_active=True)
        .select_related("parent")
        .order_by("code")
    )


def public_service(code: str) -> Category | None:
    return public_services().filter(code=code).first()


def status_q(statuses) -> Q:
    """Open311's two statuses over the state machine: the terminal states are closed, every other is open."""
    q = Q(pk__in=[])
    if OPEN in statuses:
        q |= ~Q(status__in=TERMINAL_STATUSES)
    if CLOSED in statuses:
        q |= Q(status__in=TERMINAL_STATUSES)
    return q


# What a service request document is built from, read as plain rows (no model instances: a page of a
# thousand requests is one query and no per-row object set-up). The contact is read only to take the
# resident's own words out of the published text (documents.service_request); it never leaves.
REQUEST_COLUMNS = [
    "pk",
    "number",
    "tracking_code",
    "status",
    "description",
    "address",
    "latitude",
    "longitude",
    "reported_at",
    "updated_at",
    "closed_at",
    "handle_deadline",
    "extended_until",
    "current_deadline",
    "suspended_until",
    "category__code",
    "category__name",
    "category__assess_limit",
    "category__assess_unit",
    "category__handle_limit",
    "category__handle_unit",
    "handling_department__name",
    "handling_area__name",
    "grid__parent__name",
    "contact_name",
    "contact_phone",
    "contact_email",
]


def public_requests():
    """Cases of the public categories as rows of REQUEST_COLUMNS, newest first."""
    return (
        Case.objects.filter(category__public=True, category__parent__isnull=False)
        .order_by("-reported_at", "-pk")
        .values(*REQUEST_COLUMNS)
    )


def public_request(number: str) -> dict | None:
    return public_requests().filter(number=number).first()


def public_token(token: str) -> dict | None:
    """The case whose tracking code is ``token`` (what a resident was given), of a public category."""
    token = token.strip().upper()
    return public_requests().filter(tracking_code=token).first() if token.isalnum() else None


def latest_public_steps(case_ids) -> dict[int, str]:
    """The public label of each case's latest public step (report, accepted, handled ...), one query.

    Only steps with a public label count, so send-backs, supervision and comments never show."""
    rows = (
        StateLog.objects.filter(
            content_type=ContentType.objects.get_for_model(Case),
            object_id__in=list(case_ids),
            transition__in=list(steps.PUBLIC_LABELS),
        )
        .order_by("object_id", "timestamp", "pk")
        .values_list("object_id", "transition")
    )
    latest = dict(rows)  # oldest first: each case keeps its last step
    labels = {name: str(steps.PUBLIC_LABELS[name]) for name in set(latest.values())}  # translated once each
    return {object_id: labels[name] for object_id, name in latest.items()}
