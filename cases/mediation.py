"""Mediation (调解) of dispute cases: the record, who may read the parties, the outcome step, the follow-up visit.

A category of the responsibility list marked ``requires_mediation`` (邻里纠纷, 婚姻家庭纠纷, 物业纠纷...)
carries a mediation record: the mediators (community staff, a police officer for 警民联调, a street
leader), the parties, the sessions, and the outcome. The outcome is a step (``record_mediation``) taken
by the handling unit or a mediator; like the lead waiting for its assisting units (cases/joint.py), the
handling unit's ``handle`` is refused (naming ``mediation``) while the record has no outcome. Thirty
days after the outcome the beat reminds the mediators, once, of the follow-up visit.

The parties' names and phones are personal data of people who are not the reporter: only the mediators
and the dispatcher (staff of the tier that dispatched the case) read them; everyone else, everywhere
(admin, API, exports, timeline, emails), gets them masked. Emails never carry them unmasked: a message
leaves the platform and stays in the outbox table.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gov_platform.masking import mask_name, mask_phone
from grids.models import Tier, ancestor_path_at
from outbox import services as outbox

from . import rules
from .audit import district_words, record_event
from .images import clean_photo
from .models import Case, Mediation, MediationOutcome, MediationParty, MediationSession, Status, validate_contact_phone
from .notifications import NotificationKind

AGREEMENT_PDF_MAGIC = b"%PDF-"


# --- who may read and write --------------------------------------------------------------------
def dispatcher_path(case: Case) -> str | None:
    """The path of the tier that dispatched the case; before assessment, the grid's community (which assesses)."""
    if case.dispatcher_area_id:
        return case.dispatcher_area.path
    return ancestor_path_at(case.area_path, Tier.COMMUNITY)


def is_dispatcher(case: Case, user) -> bool:
    """Staff of the dispatching tier itself (not the tiers above it, who see the case but not the parties)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    path = dispatcher_path(case)
    return bool(path) and user.scope.dispatching_path(case.area_path) == path


def is_mediator(mediation: Mediation | None, user) -> bool:
    if mediation is None or mediation.pk is None or user is None or user.pk is None:
        return False
    return mediation.mediators.filter(pk=user.pk).exists()


def may_see_parties(mediation: Mediation | None, user, case: Case | None = None) -> bool:
    """The mediators and the dispatcher read the parties in full; superusers too (they see everything)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    case = case or mediation.case
    return is_dispatcher(case, user) or is_mediator(mediation, user)


def may_open(case: Case, user) -> bool:
    """The dispatcher or the handling unit opens the record of a dispute case still being worked on."""
    return (
        user is not None
        and case.category.requires_mediation
        and case.status not in (Status.DISMISSED, Status.RATED, Status.CLOSED)
        and (is_dispatcher(case, user) or user.is_superuser or rules.in_handling_unit(case, user))
    )


def may_edit(mediation: Mediation, user) -> bool:
    """Who reads the parties keeps the record (parties, sessions, follow-up); others only read it."""
    return may_see_parties(mediation, user)


def party_view(party: MediationParty, *, unmasked: bool) -> dict:
    if unmasked:
        return {"name": party.name, "phone": party.phone}
    return {"name": mask_name(party.name), "phone": mask_phone(party.phone) if party.phone else ""}


def parties_for(mediation: Mediation, user) -> list[dict]:
    unmasked = may_see_parties(mediation, user)
    return [party_view(p, unmasked=unmasked) for p in mediation.parties.all()]


# --- the agreement file ------------------------------------------------------------------------------
def clean_agreement(upload) -> ContentFile:
    """A signed agreement: a PDF (kept as sent) or a photo of the paper (re-encoded like case photos)."""
    limit = settings.CASE_PHOTO_MAX_BYTES
    if upload.size > limit:
        raise ValidationError(
            _("The file is %(size).1f MB; at most %(limit)d MB is accepted.")
            % {"size": upload.size / 1_048_576, "limit": limit // 1_048_576},
            code="too_large",
        )
    upload.seek(0)
    head = upload.read(len(AGREEMENT_PDF_MAGIC))
    if head == AGREEMENT_PDF_MAGIC:
        upload.seek(0)
        data = upload.read()
        if b"%%EOF" not in data[-1024:]:
            raise ValidationError(_("The PDF file is incomplete or damaged."), code="bad_pdf")
        return ContentFile(data, name="agreement.pdf")
    try:
        photo = clean_photo(upload)
    except ValidationError:
        raise ValidationError(
            _("Upload the agreement as a PDF file or a photo (JPEG, PNG, WebP, GIF or BMP)."), code="bad_format"
        ) from None
    return ContentFile(photo.read(), name="agreement.jpg")


# --- the record ----------------------------------------------------------------------------------------
def _clean_parties(parties) -> list[tuple[str, str]]:
    cleaned, errors = [], []
    for name, phone in parties:
        name, phone = (name or "").strip(), (phone or "").strip()
        if not name:
            continue
        if len(name) > MediationParty._meta.get_field("name").max_length:
            errors.append(_("At most %(n)d characters.") % {"n": 50})
        if phone:
            try:
                validate_contact_phone(phone)
            except ValidationError as exc:
                errors.extend(exc.messages)
        cleaned.append((name, phone))
    if errors:
        raise ValidationError({"parties": errors})
    return cleaned


def check_mediators(case: Case, mediators) -> list:
    mediators = list(mediators)
    if not mediators:
        raise ValidationError({"mediators": _("Name at least one mediator.")})
    for user in mediators:
        # A mediator works where the case is: staff of its areas, a street leader of its grid, or a
        # department serving it (the police station for 警民联调).
        if not user.is_active or not (
            user.scope.sees_cases_at(case.area_path)
            or user.scope.may_report_at(case.area_path)
            or any(case.area_path.startswith(p) for p in user.scope.area_paths)
        ):
            raise ValidationError(
                {"mediators": _("%(name)s does not work in the case's area.") % {"name": user.get_full_name()}}
            )
    return mediators


@transaction.atomic
def open_mediation(*, actor, case: Case, kind: str, mediators, parties, now=None) -> Mediation:
    """Open the mediation record of a dispute case: its kind, its mediators and its parties."""
    now = now or timezone.now()
    case = Case.objects.select_for_update(of=("self",)).select_related("category", "dispatcher_area").get(pk=case.pk)
    if not may_open(case, actor):
        raise PermissionDenied(_("You may not open a mediation record for this case."))
    if Mediation.objects.filter(case=case).exists():
        raise ValidationError({"case": _("This case already has a mediation record.")})
    mediators = check_mediators(case, mediators)
    parties = _clean_parties(parties)
    if len(parties) < 2:
        raise ValidationError({"parties": _("A dispute has at least two parties.")})
    mediation = Mediation.objects.create(case=case, kind=kind, opened_by=actor, opened_at=now)
    mediation.mediators.set(mediators)
    MediationParty.objects.bulk_create(MediationParty(mediation=mediation, name=n, phone=p) for n, p in parties)
    record_event(
        case,
        "mediation_opened",
        actor=actor,
        description=district_words(
            lambda: (
                _("%(kind)s; mediators: %(names)s")
                % {"kind": mediation.get_kind_display(), "names": "、".join(u.get_full_name() for u in mediators)}
            )
        ),
        now=now,
    )
    return mediation


@transaction.atomic
def add_session(*, actor, mediation: Mediation, date, place: str, agreed: str = "") -> MediationSession:
    if not may_edit(mediation, actor):
        raise PermissionDenied(_("Only the mediators and the dispatcher keep this mediation record."))
    errors = {}
    if date is None:
        errors["date"] = _("Give the date of the session.")
    elif date > timezone.localdate():
        errors["date"] = _("A session is recorded after it took place.")
    if not (place or "").strip():
        errors["place"] = _("Say where the session took place.")
    if errors:
        raise ValidationError(errors)
    return MediationSession.objects.create(
        mediation=mediation,
        date=date,
        place=place.strip()[:100],
        agreed=(agreed or "").strip()[:2000],
        recorded_by=actor,
    )


@transaction.atomic
def record_follow_up(*, actor, mediation: Mediation, date, note: str, now=None) -> Mediation:
    """The follow-up visit after the outcome: when, and how the parties keep the agreement."""
    now = now or timezone.now()
    if not may_edit(mediation, actor):
        raise PermissionDenied(_("Only the mediators and the dispatcher keep this mediation record."))
    if not mediation.outcome:
        raise ValidationError({"followed_up_at": _("Record the outcome of the mediation first.")})
    if date is None or date > timezone.localdate(now):
        raise ValidationError({"followed_up_at": _("Give the date of the visit, today or earlier.")})
    if not (note or "").strip():
        raise ValidationError({"follow_up_note": _("Say how the parties keep the agreement.")})
    mediation.followed_up_at, mediation.follow_up_note = date, note.strip()[:2000]
    mediation.save(update_fields=["followed_up_at", "follow_up_note"])
    record_event(mediation.case, "mediation_follow_up", actor=actor, description=mediation.follow_up_note, now=now)
    return mediation


# --- the step: record_mediation ---------------------------------------------------------------------------
def prepare_record(case, actor, comment, params):
    mediation = Mediation.objects.filter(case=case).first()
    if mediation is None:
        raise ValidationError({"mediation": _("Open the mediation record of this case first.")})
    if mediation.outcome:
        raise ValidationError({"mediation": _("The outcome of this mediation is already recorded.")})
    if not mediation.sessions.exists():
        raise ValidationError({"mediation": _("Record at least one mediation session first.")})
    outcome = params.get("outcome")
    if outcome not in MediationOutcome.values:
        raise ValidationError({"outcome": _("Choose the outcome of the mediation.")})
    agreement = params.get("agreement")
    if isinstance(agreement, list | tuple):
        agreement = agreement[0] if agreement else None
    if agreement:
        try:
            agreement = clean_agreement(agreement)
        except ValidationError as exc:
            raise ValidationError({"agreement": exc.messages}) from exc
    return {"mediation": mediation, "outcome": outcome, "agreement": agreement or None}


def save_record(case, now):
    """``after`` of ``record_mediation``: store the record the transition filled in."""
    mediation = getattr(case, "mediation_record", None)
    if mediation is not None:
        mediation.save()
        del case.mediation_record
    return None


def check_may_handle(case: Case) -> None:
    """A dispute case is handled only once its mediation record has an outcome."""
    if not case.category.requires_mediation:
        return
    outcome = Mediation.objects.filter(case=case).values_list("outcome", flat=True).first()
    if outcome is None:
        raise ValidationError(
            {"mediation": _("This is a dispute case: open its mediation record and record the outcome first.")}
        )
    if not outcome:
        raise ValidationError({"mediation": _("The mediation has no outcome yet: record it before handling.")})


# --- the follow-up reminder (beat) -----------------------------------------------------------------------
def remind_follow_ups(*, now=None, limit: int = 500) -> int:
    """Remind the mediators of each follow-up visit that is due, once: the row is claimed by a conditional
    update in the same transaction as the message, so reruns, retries and two beats at once send one."""
    now = now or timezone.now()
    due = list(
        Mediation.objects.filter(
            follow_up_reminded_at__isnull=True, follow_up_due__lte=timezone.localdate(now), followed_up_at__isnull=True
        )
        .order_by("follow_up_due", "pk")
        .values_list("pk", "case_id")[:limit]
    )
    sent = 0
    for pk, case_id in due:
        with transaction.atomic():
            if not Mediation.objects.filter(pk=pk, follow_up_reminded_at__isnull=True).update(
                follow_up_reminded_at=now
            ):
                continue
            mediators = Mediation.mediators.through.objects.filter(mediation_id=pk).select_related("user")
            outbox.queue(
                kind=NotificationKind.MEDIATION_FOLLOW_UP,
                recipients=[{"user_id": m.user_id, "email": m.user.email} for m in mediators if m.user.is_active],
                context={"case": case_id, "mediation": pk},
            )
            sent += 1
    return sent
