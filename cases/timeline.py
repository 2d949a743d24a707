"""One case's timeline: the report, every step, photos, escalations, supervision, notices and ratings, in order.

The admin's case page, its history button, the printed case sheet and the API's ``history/`` read
these entries through ``selectors.case_timeline``; the caller has already checked that the viewer
may see the case. Every label is translated here, so no reader ever meets a raw state or step name.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm_log.models import StateLog

from accounts.models import Post
from gov_platform.masking import mask_address
from outbox.models import RESIDENT_ROW_CASE, Notification

from . import rules, steps
from .models import Attachment, Case, Escalation, Rating, Status


class Kind:
    """What an entry is about; the API's ``kind``."""

    REPORT = "report"
    STEP = "step"
    EVENT = "event"
    SUPERVISION = "supervision"
    PHOTOS = "photos"
    ESCALATION = "escalation"
    NOTIFICATION = "notification"
    RATING = "rating"


@dataclass
class Entry:
    kind: str
    label: str
    at: datetime
    # The raw step or event name (the API's ``transition``); kinds that are no transition use their kind.
    name: str
    by: str | None = None
    unit: str | None = None
    from_state: str | None = None
    to_state: str | None = None
    comment: str | None = None
    # Further lines a reader needs (who was told, the rating, the channel), already translated.
    details: list[str] = field(default_factory=list)
    photos: list[str] = field(default_factory=list)
    # Keeps entries of one instant in the order they were written.
    order: int = 0
    user_id: int | None = None

    @property
    def from_label(self) -> str | None:
        return _status_label(self.from_state)

    @property
    def to_label(self) -> str | None:
        return _status_label(self.to_state)

    @property
    def moved(self) -> bool:
        return bool(self.from_state and self.to_state and self.from_state != self.to_state)


def _status_label(value):
    return str(Status(value).label) if value in Status.values else None


# Further sources of entries (e.g. the handling unit's replies to supervision): f(case, viewer) -> [Entry].
EXTRA_SOURCES: list[Callable] = []


def register_source(source: Callable) -> Callable:
    EXTRA_SOURCES.append(source)
    return source


def _person(user) -> str | None:
    return (user.get_full_name() or user.get_username()) if user is not None else None


def _units_of(user_ids) -> dict[int, str]:
    """Each person's unit(s) — the areas and departments of their posts — in one query."""
    units: dict[int, list[str]] = {}
    rows = Post.objects.filter(user_id__in=[u for u in user_ids if u]).select_related("area", "department")
    for post in rows.order_by("pk"):
        name = (post.department or post.area).name
        if name not in units.setdefault(post.user_id, []):
            units[post.user_id].append(name)
    return {user_id: "、".join(names) for user_id, names in units.items()}


def _state_log_entries(case) -> list[Entry]:
    rows = list(
        StateLog.objects.filter(content_type=ContentType.objects.get_for_model(Case), object_id=case.pk)
        .select_related("by")
        .order_by("timestamp", "pk")
    )
    entries = []
    for i, row in enumerate(rows):
        name = row.transition
        kind = {"report": Kind.REPORT, "supervise": Kind.SUPERVISION}.get(
            name, Kind.STEP if name in steps.STEPS else Kind.EVENT
        )
        entry = Entry(
            kind=kind,
            label=steps.label_of(name),
            at=row.timestamp,
            name=name,
            by=_person(row.by),
            from_state=row.source_state,
            to_state=row.state,
            comment=row.description or None,
            order=i,
            user_id=row.by_id,
        )
        if name == "rate":
            entry.kind = Kind.RATING
            rating = _rating_of(rows, i, case)
            if rating:
                entry.details.append(_("Rating: %(rating)s") % {"rating": Rating(rating).label})
        entries.append(entry)
    return entries


def _rating_of(rows, i, case) -> str | None:
    """The log keeps the rating's comment, not its value: a rating followed by a rework was the
    dissatisfied one that reopened the case; the latest rating of a case still rated is the case's own."""
    later = [r.transition for r in rows[i + 1 :]]
    if "rework" in later[:1]:
        return Rating.DISSATISFIED
    if "rate" not in later and case.status == Status.RATED:
        return case.rating or None
    return None


def _photo_entries(case) -> list[Entry]:
    """Photos uploaded together (one report, one handling) make one entry."""
    entries: list[Entry] = []
    for photo in Attachment.objects.filter(case=case).select_related("uploaded_by").order_by("created_at", "pk"):
        last = entries[-1] if entries else None
        if (
            last is not None
            and last.name == photo.kind
            and last.user_id == photo.uploaded_by_id
            and photo.created_at - last.at < timedelta(minutes=1)
        ):
            last.photos.append(photo.image.url)
            last.label = _("%(n)d photos added: %(kind)s") % {"n": len(last.photos), "kind": photo.get_kind_display()}
            continue
        entry = Entry(
            kind=Kind.PHOTOS,
            label=_("Photo added: %(kind)s") % {"kind": photo.get_kind_display()},
            at=photo.created_at,
            name=photo.kind,
            by=_person(photo.uploaded_by),
            photos=[photo.image.url],
            order=1_000_000,
            user_id=photo.uploaded_by_id,
        )
        entries.append(entry)
    return entries


def _escalation_entries(case) -> list[Entry]:
    entries = []
    for escalation in Escalation.objects.filter(case=case).order_by("created_at", "pk"):
        entry = Entry(
            kind=Kind.ESCALATION,
            label=_("%(level)s (%(stage)s)")
            % {"level": escalation.get_level_display(), "stage": escalation.get_stage_display()},
            at=escalation.created_at,
            name=Kind.ESCALATION,
            details=[_("Deadline: %(at)s") % {"at": _local(escalation.deadline)}],
        )
        if escalation.notified_names:
            entry.details.append(_("Told: %(names)s") % {"names": escalation.notified_names})
        entries.append(entry)
    return entries


def _notification_entries(case, viewer) -> list[Entry]:
    """Messages about this case, one entry per message sent to several people at once; a resident's
    address is masked unless the viewer may read the contact."""
    unmasked = rules.may_see_personal_data(case, viewer)
    rows = (
        # By the same expression outbox indexes (notification_case_idx): one index probe, not a scan.
        Notification.objects.annotate(case_ref=RESIDENT_ROW_CASE)
        .filter(case_ref=case.pk)
        .select_related("recipient")
        .only("kind", "channel", "status", "created_at", "to_address", "recipient")
        .order_by("created_at", "pk")
    )
    entries: list[Entry] = []
    groups: list[tuple[str, list[str], set[str]]] = []
    for row in rows:
        whom = _person(row.recipient) if row.recipient is not None else None
        if whom is None:
            whom = row.to_address if unmasked else mask_address(row.to_address)
        last = entries[-1] if entries else None
        if last is not None and last.name == row.kind and row.created_at - last.at < timedelta(seconds=5):
            _kind, recipients, channels = groups[-1]
        else:
            last = Entry(kind=Kind.NOTIFICATION, label="", at=row.created_at, name=row.kind, order=2_000_000)
            entries.append(last)
            groups.append((str(row.get_kind_display()), [], set()))
            _kind, recipients, channels = groups[-1]
        if whom and whom not in recipients:
            recipients.append(whom)
        channels.add(str(row.get_channel_display()))
        last.label = _("Notice: %(kind)s") % {"kind": _kind}
        last.details = [
            _("By %(channels)s to %(whom)s") % {"channels": "、".join(sorted(channels)), "whom": "、".join(recipients)}
        ]
    return entries


def _local(at) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M")


def build(case, viewer) -> list[Entry]:
    entries = (
        _state_log_entries(case)
        + _photo_entries(case)
        + _escalation_entries(case)
        + _notification_entries(case, viewer)
    )
    for source in EXTRA_SOURCES:
        entries += source(case, viewer)
    units = _units_of({e.user_id for e in entries})
    for entry in entries:
        if entry.user_id:
            entry.unit = units.get(entry.user_id)
    return sorted(entries, key=lambda e: (e.at, e.order))
