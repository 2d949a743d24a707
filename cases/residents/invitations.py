"""Rating invitations: the resident's signed, single-use, expiring link (DESIGN §5).

A token is ``signing.dumps([invitation id, nonce])``: the signature stops anyone
from making up links, the nonce (stored only as a hash) ties the link to one
invitation row, and the row says whether it was used or has expired. Writes
happen in cases/services.py, inside the transition that needs them.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.core import signing
from django.utils import timezone

from outbox import services as outbox
from outbox.models import NotificationChannel

from ..models import Case, RatingInvitation, Status, WorkflowSettings
from ..notifications import NotificationKind

SALT = "cases.rating-invitation"


class InvitationState:
    VALID = "valid"
    UNKNOWN = "unknown"  # tampered, made up or deleted: 404
    USED = "used"  # 410
    EXPIRED = "expired"  # 410
    CLOSED = "closed"  # the case can no longer be rated (closed unrated, reopened): 410


@dataclass
class Resolved:
    state: str
    invitation: RatingInvitation | None = None


def _hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def make_token(invitation_id: int, nonce: str) -> str:
    return signing.dumps([invitation_id, nonce], salt=SALT, compress=False)


def invite(case: Case, *, now, policy: WorkflowSettings | None = None) -> list[str]:
    """Create one invitation per known contact channel and queue its message; in the feed-back transaction.

    Links of an earlier feed-back of the same case stop working: each round of
    handling is rated on its own result."""
    policy = policy or WorkflowSettings.current()
    RatingInvitation.objects.filter(case=case, used_at__isnull=True, expires_at__gt=now).update(expires_at=now)
    channels = []
    if case.contact_email:
        channels.append((NotificationChannel.EMAIL, case.contact_email))
    if case.contact_phone:
        channels.append((NotificationChannel.SMS, case.contact_phone))
    tokens = [_issue(case, channel, address, now=now, policy=policy) for channel, address in channels]
    # Followers (cases/followers.py) are invited to rate the same round, each once.
    return tokens + invite_followers(case, list(case.followers.all()), now=now, policy=policy)


def _issue(case, channel, address, *, now, policy) -> str:
    nonce = secrets.token_urlsafe(16)
    invitation = RatingInvitation.objects.create(
        case=case,
        channel=channel,
        nonce_hash=_hash(nonce),
        created_at=now,
        # Natural days: the resident's week, not the office's working days.
        expires_at=now + timedelta(days=policy.rating_link_days),
    )
    token = make_token(invitation.pk, nonce)
    outbox.queue(
        kind=NotificationKind.RATING_INVITATION,
        recipients=[{"channel": channel, "address": address}],
        context={"case": case.pk, "invitation": invitation.pk, "link_token": token},
    )
    return token


def invite_followers(case: Case, followers, *, now, policy: WorkflowSettings | None = None) -> list[str]:
    """Invite ``followers`` to rate the case's current round, each once: a follower already invited for this
    feed-back (``invited_for``) gets nothing, however often this runs (a merge after feed-back, a replay)."""
    policy = policy or WorkflowSettings.current()
    tokens = []
    for follower in followers:
        if case.fed_back_at is None or follower.invited_for == case.fed_back_at:
            continue
        if follower.email:
            tokens.append(_issue(case, NotificationChannel.EMAIL, follower.email, now=now, policy=policy))
        if follower.phone:
            tokens.append(_issue(case, NotificationChannel.SMS, follower.phone, now=now, policy=policy))
        follower.invited_for = case.fed_back_at
        follower.save(update_fields=["invited_for"])
    return tokens


def resolve(token: str, *, now=None) -> Resolved:
    """What a token refers to, without changing anything."""
    now = now or timezone.now()
    try:
        invitation_id, nonce = signing.loads(token, salt=SALT)
        invitation_id, nonce = int(invitation_id), str(nonce)
    except (signing.BadSignature, ValueError, TypeError):
        return Resolved(InvitationState.UNKNOWN)
    invitation = (
        RatingInvitation.objects.select_related("case__category", "case__grid").filter(pk=invitation_id).first()
    )
    if invitation is None or not hmac.compare_digest(invitation.nonce_hash, _hash(nonce)):
        return Resolved(InvitationState.UNKNOWN)
    if invitation.used_at is not None:
        return Resolved(InvitationState.USED, invitation)
    if invitation.expires_at <= now:
        return Resolved(InvitationState.EXPIRED, invitation)
    if invitation.case.status != Status.FED_BACK:
        return Resolved(InvitationState.CLOSED, invitation)
    return Resolved(InvitationState.VALID, invitation)


def claim(invitation: RatingInvitation, *, now) -> str:
    """Mark the invitation used, if it still may be: one conditional UPDATE, so two submits cannot both pass.

    Returns InvitationState.VALID when this call claimed it."""
    claimed = RatingInvitation.objects.filter(pk=invitation.pk, used_at__isnull=True, expires_at__gt=now).update(
        used_at=now
    )
    if claimed:
        # The other channel's link of the same round is spent too: the case is rated.
        RatingInvitation.objects.filter(case_id=invitation.case_id, used_at__isnull=True, expires_at__gt=now).update(
            used_at=now
        )
        return InvitationState.VALID
    current = RatingInvitation.objects.filter(pk=invitation.pk).values_list("used_at", flat=True).first()
    return InvitationState.USED if current is not None else InvitationState.EXPIRED
