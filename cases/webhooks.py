"""The 12345 hotline (and any subscribed system) both ways: its cases' public state changes go back to it as
signed webhooks through the outbox, and its signed callbacks (the hotline's own return-visit rating, 回访)
come in through the intake.

Out: each step with a public label (``steps.PUBLIC_LABELS``) on a case a system filed queues one
outbox row on the webhook channel, in the step's transaction; the body is a snapshot of the public
state at that moment (what the resident's tracking page shows: the state, the step, the handling
result once fed back), never a comment, a person or a contact. The outbox signs it with the system's
secret at each attempt and retries with backoff; the rows are the delivery log in the admin.

In: a callback must carry ``X-Timestamp`` and ``X-Signature`` made with the same secret over the raw
body (outbox/backends/webhook.py). Unsigned or wrongly signed is 401; a timestamp further than
``WEBHOOK_TOLERANCE_SECONDS`` from our clock, or a signature already received, is 403: a captured
callback cannot be sent again, and one older than the window is refused before its signature is looked up.
"""

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gov_platform.masking import redact_contacts
from outbox import registry
from outbox import services as outbox
from outbox.backends import webhook
from outbox.models import NotificationChannel

from . import selectors, steps
from .models import CallbackSignature, Case, ExternalSystem, Status

KIND = "case_webhook"
# The result is public once the case is fed back, as on the resident's tracking page.
RESULT_STATUSES = (Status.FED_BACK, Status.RATED, Status.CLOSED)


def _secret(context: dict) -> str:
    return (
        ExternalSystem.objects.filter(pk=context.get("system"), is_active=True)
        .values_list("webhook_secret", flat=True)
        .first()
        or ""
    )


def register() -> None:
    registry.register(
        KIND,
        label=gettext_lazy("Case state to an external system (webhook)"),
        webhook_secret=_secret,
    )


def payload(case: Case, step: str, now) -> dict:
    """The public state of ``case`` right after ``step``, in the platform's language."""
    with translation.override(settings.LANGUAGE_CODE):
        result = ""
        if case.status in RESULT_STATUSES and case.result:
            result = redact_contacts(case.result, known=(case.contact_name, case.contact_phone, case.contact_email))
        return {
            "event": "case.state_changed",
            "external_id": case.external_id,
            "case_number": case.number,
            "tracking_code": case.tracking_code,
            "status": case.status,
            "status_label": str(selectors.PUBLIC_STATUS[case.status]),
            "step": step,
            "step_label": str(steps.PUBLIC_LABELS[step]),
            "at": timezone.localtime(now).isoformat(),
            "result": result,
            "rating": case.rating or None,
        }


def state_changed(case: Case, step: str, now) -> int:
    """Queue the webhook of a public step on a case a subscribed system filed; call in the step's transaction."""
    if case.external_system_id is None or step not in steps.PUBLIC_LABELS:
        return 0
    system = (
        ExternalSystem.objects.filter(pk=case.external_system_id, is_active=True)
        .exclude(webhook_url="")
        .exclude(webhook_secret="")
        .only("pk", "webhook_url")
        .first()
    )
    if system is None:
        return 0
    return outbox.queue(
        kind=KIND,
        recipients=[{"channel": NotificationChannel.WEBHOOK, "address": system.webhook_url}],
        # "case_id", not "case": these rows are no resident's, erasing a contact leaves them alone.
        context={"system": system.pk, "case_id": case.pk, "payload": payload(case, step, now)},
    )


# --- callbacks in ------------------------------------------------------------------------------


class CallbackRefused(Exception):
    def __init__(self, status_code: int, message: str):
        super().__init__(message)
        self.status_code = status_code


def verify_callback(*, system: ExternalSystem, timestamp: str, signature: str, body: bytes, now=None) -> None:
    """Accept a signed callback once, or raise CallbackRefused (401 unsigned or wrong, 403 stale or replayed)."""
    now = now or timezone.now()
    if not timestamp or not signature:
        raise CallbackRefused(401, _("Sign the callback: the X-Timestamp and X-Signature headers are required."))
    if not system.webhook_secret:
        raise CallbackRefused(403, _("This system has no webhook secret; the district issues one in the admin."))
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise CallbackRefused(401, _("X-Timestamp is the time of signing in Unix seconds.")) from None
    tolerance = settings.WEBHOOK_TOLERANCE_SECONDS
    if abs(now.timestamp() - sent_at) > tolerance:
        raise CallbackRefused(
            403,
            _("The callback was signed more than %(n)d seconds from our clock; sign it again now.") % {"n": tolerance},
        )
    if not webhook.signature_matches(system.webhook_secret, timestamp, body, signature):
        raise CallbackRefused(401, _("The signature does not match the body and timestamp."))
    try:
        with transaction.atomic():
            CallbackSignature.objects.create(system=system, signature=signature.removeprefix(webhook.SCHEME)[:64])
    except IntegrityError:
        raise CallbackRefused(403, _("This callback was received before; a replayed callback is refused.")) from None


def purge_signatures(*, now=None) -> int:
    """Forget signatures older than twice the window: a callback that old is refused as stale anyway."""
    cutoff = (now or timezone.now()) - timedelta(seconds=2 * settings.WEBHOOK_TOLERANCE_SECONDS)
    deleted, _per_model = CallbackSignature.objects.filter(at__lt=cutoff).delete()
    return deleted
