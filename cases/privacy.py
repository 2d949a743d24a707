"""Residents' personal data under PIPL: how long contacts are kept, and data-subject requests.

A resident's contact (name, phone, email) is there to reach them about their report and
to invite their rating. It is kept while the case runs and ``CONTACT_RETENTION_DAYS``
after it is finished (rated, closed unrated or dismissed), then blanked in place: the case,
its figures, its rating and its history stay. The district privacy officer can also find
every case of one phone or email, export them and erase that contact at the resident's
request. Every run and every request is written to the security audit log.
"""

import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.audit import Kind, record
from gov_platform.masking import mask_email, mask_phone
from outbox.models import RESIDENT_ROW_CASE, Notification, NotificationStatus

from .followers import contact_key
from .models import HAS_CONTACT, NORMALISED_PHONE, TERMINAL_STATUSES, Case, CaseFollower

# The group of the district's privacy officer (made by migration 0010 with the permission below).
PRIVACY_OFFICER_GROUP = "privacy_officer"
ERASED = {"contact_name": "", "contact_phone": "", "contact_email": ""}
# What separates the digits of a phone as people type it.
PHONE_SEPARATORS = re.compile(r"[\s\-()]")
PHONE = re.compile(r"^\+?[0-9]{7,20}$")
MAINLAND_MOBILE = re.compile(r"^1[0-9]{10}$")


# --- one contact, as the privacy officer enters it ---------------------------------------------
@dataclass(frozen=True)
class Contact:
    kind: str  # "phone" or "email"
    value: str  # normalised: a phone's digits (and leading +), an email in lower case

    @property
    def masked(self) -> str:
        """How the audit log and the pages name the contact: never in clear."""
        return mask_phone(self.value) if self.kind == "phone" else mask_email(self.value)

    def stored_forms(self) -> list[str]:
        """Every exact value this contact may be stored as: a mainland mobile with or without +86."""
        if self.kind == "email":
            return [self.value]
        national = self.value
        for prefix in ("+86", "0086"):
            if self.value.startswith(prefix) and MAINLAND_MOBILE.match(self.value[len(prefix) :]):
                national = self.value[len(prefix) :]
        if MAINLAND_MOBILE.match(national):
            return [national, f"+86{national}", f"0086{national}"]
        return [self.value]


def parse_contact(text: str) -> Contact:
    """A phone number or an email address, normalised; ValidationError for anything else."""
    text = (text or "").strip()
    if "@" in text:
        try:
            validate_email(text)
        except ValidationError:
            raise ValidationError(_("Enter a complete phone number or email address.")) from None
        return Contact("email", text.lower())
    phone = PHONE_SEPARATORS.sub("", text)
    if not PHONE.match(phone):
        raise ValidationError(_("Enter a complete phone number or email address."))
    return Contact("phone", phone)


def cases_with_contact(contact: Contact):
    """Every case in the district that holds this contact: exact match on the normalised value.

    No prefix or partial match, so the page cannot be used to guess a number digit by digit."""
    if contact.kind == "phone":
        return (
            Case.objects.exclude(contact_phone="")
            .alias(normalised_phone=NORMALISED_PHONE)
            .filter(normalised_phone__in=contact.stored_forms())
        )
    return (
        Case.objects.exclude(contact_email="")
        .alias(normalised_email=Lower("contact_email"))
        .filter(normalised_email=contact.value)
    )


def followers_with_contact(contact: Contact):
    """The follows (cases/followers.py) of this contact: by the key a phone is stored under, or the email."""
    if contact.kind == "phone":
        return CaseFollower.objects.filter(contact_key__in=[contact_key(form, "") for form in contact.stored_forms()])
    return CaseFollower.objects.alias(normalised_email=Lower("email")).filter(normalised_email=contact.value)


# --- erasing ------------------------------------------------------------------------------------
def _scrub_outbox(case_ids, now, *, addresses=()) -> int:
    """Outbox rows addressed to the residents of these cases (rating invitations) lose the address
    and the link; a row not yet sent can no longer be, so it is marked failed."""
    rows = Notification.objects.filter(recipient__isnull=True).exclude(to_address="")
    by_case = list(
        rows.alias(resident_case=RESIDENT_ROW_CASE)
        .filter(resident_case__in=case_ids)
        .values_list("pk", "status", "context")
    )
    by_address = list(rows.filter(to_address__in=addresses).values_list("pk", "status", "context")) if addresses else []
    with translation.override(settings.LANGUAGE_CODE):
        reason = _("The resident's contact was erased; this message is no longer sent.")
    changed = []
    for pk, status, context in {row[0]: row for row in by_case + by_address}.values():
        unsent = status in (NotificationStatus.PENDING, NotificationStatus.SENDING, NotificationStatus.FAILED)
        notification = Notification(
            pk=pk,
            to_address="",
            # Only the case and invitation ids remain: no link, nothing that reaches the resident.
            context={k: v for k, v in context.items() if k in ("case", "invitation")},
            status=NotificationStatus.FAILED if unsent else status,
            last_error=reason if unsent else "",
        )
        changed.append(notification)
    Notification.objects.bulk_update(changed, ["to_address", "context", "status", "last_error"], batch_size=500)
    return len(changed)


@transaction.atomic
def erase_expired_contacts(*, now=None, chunk: int = 5000, limit: int = 200_000) -> dict:
    """Erase the contacts of cases finished more than CONTACT_RETENTION_DAYS ago (beat task).

    Each chunk is one UPDATE over ids read from a partial index that holds only finished cases
    still keeping a contact, so a run costs what it erases, not the size of the table. A backlog
    larger than ``limit`` (the first run on an old database) drains over the next runs.
    Rerunning erases nothing more. One audit row per run that erased something."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.CONTACT_RETENTION_DAYS)
    due = Case.objects.filter(HAS_CONTACT, status__in=TERMINAL_STATUSES, contact_erased_at__isnull=True)
    due = due.filter(closed_at__lt=cutoff)
    erased = scrubbed = 0
    while erased < limit:
        ids = list(due.order_by("closed_at").values_list("pk", flat=True)[: min(chunk, limit - erased)])
        if not ids:
            break
        # The conditions again in the UPDATE: a case reopened meanwhile is left alone.
        erased += due.filter(pk__in=ids).update(**ERASED, contact_erased_at=now, updated_at=now)
        scrubbed += _scrub_outbox(ids, now)
        if len(ids) < chunk:
            break
    # A follower is kept only to be told about the case: past the same period after it finished, the row goes.
    followers, _by_model = CaseFollower.objects.filter(
        case__status__in=TERMINAL_STATUSES, case__closed_at__lt=cutoff
    ).delete()
    if erased or followers:
        record(
            Kind.CONTACT_ERASED,
            target=_("Contacts past the retention period"),
            count=erased,
            followers=followers,
            outbox_rows=scrubbed,
            retention_days=settings.CONTACT_RETENTION_DAYS,
            closed_before=cutoff.isoformat(),
        )
    return {"erased": erased, "followers": followers, "outbox_rows": scrubbed}


# --- data-subject requests (the privacy officer's page) -----------------------------------------
def may_handle_subject_requests(user) -> bool:
    return user.is_active and user.has_perm("cases.handle_subject_request")


def _require_officer(actor):
    if not may_handle_subject_requests(actor):
        raise PermissionDenied


def find_subject_cases(*, actor, contact: Contact):
    """The cases of a resident's contact, for the privacy officer; the search itself is audited."""
    _require_officer(actor)
    cases = list(subject_cases(contact))
    record(Kind.SUBJECT_REQUEST, actor=actor, target=contact.masked, action="search", count=len(cases))
    return cases


def subject_cases(contact: Contact):
    """The cases this contact reported and those it follows, newest first: all a resident is known by."""
    followed = followers_with_contact(contact).values("case_id")
    return (
        Case.objects.filter(Q(pk__in=cases_with_contact(contact).values("pk")) | Q(pk__in=followed))
        .select_related("category", "grid")
        .order_by("-reported_at", "-pk")
    )


def record_subject_export(*, actor, contact: Contact, count: int) -> None:
    _require_officer(actor)
    record(Kind.DATA_EXPORT, actor=actor, target=contact.masked, action="subject_request", count=count)


@transaction.atomic
def erase_subject_contact(*, actor, contact: Contact, now=None) -> int:
    """Erase one resident's contact from every case that holds it, at their request.

    Open cases lose it too: the resident asked, so they are no longer called or invited to rate."""
    _require_officer(actor)
    now = now or timezone.now()
    ids = list(cases_with_contact(contact).select_for_update().values_list("pk", flat=True))
    # updated_at moves too: a stale copy of one of these cases (an open case) can no longer be
    # saved over the erasure; its next transition reports a conflict instead.
    count = Case.objects.filter(pk__in=ids).update(**ERASED, contact_erased_at=now, updated_at=now)
    follows = followers_with_contact(contact)
    followed = set(follows.values_list("case_id", flat=True))
    followers, _by_model = follows.delete()
    scrubbed = _scrub_outbox(ids, now, addresses=contact.stored_forms())
    record(
        Kind.CONTACT_ERASED,
        actor=actor,
        target=contact.masked,
        action="subject_request",
        count=count,
        followers=followers,
        outbox_rows=scrubbed,
    )
    return len(set(ids) | followed)
