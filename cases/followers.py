"""Followers (关注): a resident follows an open case instead of reporting the same problem again, and a
dispatcher's merge (dismiss as duplicate) makes the duplicate's contacts followers of the kept case.

A follower gets, through the outbox, the kept case's tracking link once, a short notice at each step
residents see on /track/, and the rating invitation once per round of handling (``invited_for``): at
feed-back with the reporter, or at once when they join a case that is already waiting for its rating
(a merge after feed-back). Nothing about one resident is ever shown to another: the offer on /report/
lists category, public state, distance and day only, and the link goes to the follower's own contact.
"""

import hashlib

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from outbox import services as outbox
from outbox.models import NotificationChannel

from .audit import district_words, record_event
from .models import OPEN_STATUSES, Case, CaseFollower, DismissReason, FollowVia, Status, validate_contact_phone
from .notifications import NotificationKind
from .residents import invitations

# A resident may follow what is still being worked on, and a case waiting for its rating.
FOLLOWABLE = [*OPEN_STATUSES, Status.SUSPENDED, Status.FED_BACK]


def _normal_phone(phone: str) -> str:
    return (phone or "").replace(" ", "").replace("-", "")


def contact_key(phone: str, email: str) -> str:
    """One person, however they typed it: the phone without spaces or dashes, else the lower-case email."""
    value = _normal_phone(phone) or (email or "").strip().lower()
    return hashlib.sha256(value.encode()).hexdigest()


def _is_reporter(case, key) -> bool:
    return bool(case.contact_phone or case.contact_email) and key == contact_key(case.contact_phone, case.contact_email)


def _channels(follower):
    if follower.email:
        yield NotificationChannel.EMAIL, follower.email
    if follower.phone:
        yield NotificationChannel.SMS, follower.phone


def _tell(kind, case, followers, **context) -> None:
    recipients = [{"channel": c, "address": a} for f in followers for c, a in _channels(f)]
    if recipients:
        outbox.queue(kind=kind, recipients=recipients, context={"case": case.pk, "resident": True, **context})


def _invite_if_waiting(case, followers, now) -> None:
    if case.status == Status.FED_BACK:
        invitations.invite_followers(case, followers, now=now)


def _add(case, *, name, phone, email, via, merged_from=None, now):
    """The follower row, new or already there; (row, created). None when the contact is the reporter's."""
    key = contact_key(phone, email)
    if _is_reporter(case, key):
        return None, False
    existing = CaseFollower.objects.filter(case=case, contact_key=key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            follower = CaseFollower.objects.create(
                case=case,
                name=(name or "").strip()[:50],
                phone=phone or "",
                email=email or "",
                contact_key=key,
                via=via,
                merged_from=merged_from,
                created_at=now,
            )
    except IntegrityError:  # the same person in a parallel request: theirs stands
        return CaseFollower.objects.get(case=case, contact_key=key), False
    return follower, True


@transaction.atomic
def follow_case(*, case: Case, name: str = "", phone: str = "", email: str = "", now=None) -> CaseFollower | None:
    """A resident follows ``case``. Replays change nothing and send nothing again. None: it is their own report."""
    now = now or timezone.now()
    phone = _normal_phone(phone)
    if not phone and not (email or "").strip():
        raise ValidationError({"contact_phone": _("Give a phone number or an email, so we can tell you.")})
    if phone:
        validate_contact_phone(phone)
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.status not in FOLLOWABLE:
        raise ValidationError({"case": _("This case is finished; report the problem anew if it is still there.")})
    follower, created = _add(case, name=name, phone=phone, email=(email or "").strip(), via=FollowVia.FOLLOW, now=now)
    if created:
        _tell(NotificationKind.CASE_FOLLOWED, case, [follower])
        _invite_if_waiting(case, [follower], now)
        words = district_words(lambda: _("A resident follows this case."))
        record_event(case, "followed", actor=None, description=words, now=now)
    return follower


def merge_into(*, duplicate: Case, kept: Case, now) -> list[CaseFollower]:
    """The duplicate's reporter and followers follow ``kept``; in the dismissal's transaction. Returns the new ones."""
    contacts = []
    if duplicate.contact_phone or duplicate.contact_email:
        contacts.append((duplicate.contact_name, duplicate.contact_phone, duplicate.contact_email))
    contacts += [(f.name, f.phone, f.email) for f in duplicate.followers.all()]
    added = []
    for name, phone, email in contacts:
        follower, created = _add(
            kept,
            name=name,
            phone=_normal_phone(phone),
            email=email,
            via=FollowVia.MERGE,
            merged_from=duplicate,
            now=now,
        )
        if created:
            added.append(follower)
    if added:
        _tell(NotificationKind.CASE_FOLLOWED, kept, added, merged_from=duplicate.pk)
        _invite_if_waiting(kept, added, now)
        record_event(
            kept,
            "merged",
            actor=None,
            description=district_words(
                lambda: (
                    _("Case %(number)s was merged into this one; its %(n)d contact(s) now follow it.")
                    % {"number": duplicate.number, "n": len(added)}
                )
            ),
            now=now,
        )
    return added


def after_dismiss(case, now):
    """``after`` of the dismiss step: a duplicate's contacts follow the case it duplicates."""
    if case.dismiss_reason == DismissReason.DUPLICATE and case.duplicate_of_id:
        merge_into(duplicate=case, kept=case.duplicate_of, now=now)
    return None


def tell_of_step(step, case) -> None:
    """A step residents see on /track/: each follower gets a short notice with the link (not the rating
    round's invitation, which ``invitations.invite`` sends)."""
    if step.public_label is None:
        return
    followers = list(case.followers.all())
    if followers:
        _tell(NotificationKind.CASE_UPDATE, case, followers, step=step.name)
