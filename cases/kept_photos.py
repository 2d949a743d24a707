"""Photos kept while a form that files a case comes back (a field error, the nearby offer, the grid question):
the residents' /report/ (cases/residents/views.py) and the officials' add-case page (cases/admin.py).

A browser cannot refill a file input, so each photo is checked and re-encoded (cases/images.py) when it
arrives and waits as a ``PendingPhoto`` until the case is filed (attached to it, in the same transaction),
the reporter follows an offered case instead (discarded), ticks it away, or nobody comes back (purged by
beat after ``PHOTO_KEEP_HOURS``).

Three things tie a kept photo to the form it was chosen in, and none is a path or a name from the client:
- the *batch*, a random id in a signed hidden field (``upload_batch``): one form being filled in;
- the *form*: each form signs its batches with its own salt (``KeptFor``), so a batch of one is nothing
  in the other;
- the *owner*, the SHA-256 of a random secret kept in the session: a batch copied into another browser, or
  another official's session, finds nothing there, so nobody can attach, see or remove someone else's photos.
"""

import hashlib
import io
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from PIL import Image

from .forms import MultipleFileInput
from .images import CleanPhoto, clean_photo
from .models import PendingPhoto

SESSION_KEY = "kept_photos_owner"
# The form's fields: the signed batch (hidden) and the boxes that leave a kept photo out.
BATCH_FIELD, REMOVE_FIELD = "upload_batch", "remove_photo"
THUMBNAIL_SIDE = 320


def _keep_for() -> timedelta:
    return timedelta(hours=settings.PHOTO_KEEP_HOURS)


def _owner_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _session_owner(request) -> str | None:
    secret = request.session.get(SESSION_KEY)
    return _owner_of(secret) if secret else None


def _delete_files_after_commit(names) -> None:
    names = [n for n in names if n]
    if names:
        # Only once the rows are surely gone: a rolled-back filing keeps its photos.
        transaction.on_commit(lambda: [default_storage.delete(name) for name in names])


@transaction.atomic
def _delete(rows) -> int:
    names = list(rows.values_list("image", flat=True))
    deleted, _per_model = rows.delete()
    _delete_files_after_commit(names)
    return deleted


# --- reads ---------------------------------------------------------------------------------------
def kept_photos(*, owner: str | None, batch: str | None, now=None) -> list[PendingPhoto]:
    """The photos this browser keeps for this form, oldest first; none past the keeping time."""
    if not owner or not batch:
        return []
    cutoff = (now or timezone.now()) - _keep_for()
    return list(PendingPhoto.objects.filter(batch=batch, owner=owner, created_at__gte=cutoff))


def thumbnail(*, owner: str | None, key: str) -> bytes | None:
    """A small JPEG of one kept photo, for the browser that chose it only; None for anyone else."""
    if not owner:
        return None
    cutoff = timezone.now() - _keep_for()
    photo = PendingPhoto.objects.filter(key=key, owner=owner, created_at__gte=cutoff).first()
    if photo is None:
        return None
    with photo.image.open("rb") as handle, Image.open(handle, formats=["JPEG"]) as image:
        image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))  # decode at a fraction of the size: fast
        image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        out = io.BytesIO()
        image.convert("RGB").save(out, format="JPEG", quality=75)
    return out.getvalue()


# --- writes --------------------------------------------------------------------------------------
@transaction.atomic
def keep_photos(*, owner: str, batch: str, uploads, now=None) -> list[str]:
    """Check the newly chosen ``uploads`` exactly as a filed photo is checked and keep the good ones.

    Returns the messages for the refused ones (each named by its file). More than the per-report limit
    with those already kept: none of the new ones is kept, and the message says what to do."""
    now = now or timezone.now()
    cleaned, refused = [], []
    for upload in uploads:
        try:
            cleaned.append(clean_photo(upload))
        except ValidationError as exc:
            name = Truncator(getattr(upload, "name", "") or "").chars(40)
            refused.extend(f"{name}：{m}" if name else m for m in exc.messages)
    limit = settings.CASE_PHOTOS_PER_UPLOAD
    already = len(kept_photos(owner=owner, batch=batch, now=now))
    if cleaned and already + len(cleaned) > limit:
        return [
            *refused,
            _("At most %(n)d photos: remove one of those kept, or choose fewer.") % {"n": limit},
        ]
    for content in cleaned:
        PendingPhoto.objects.create(
            key=secrets.token_urlsafe(18), batch=batch, owner=owner, image=content, created_at=now
        )
    return refused


def remove_photos(*, owner: str | None, batch: str | None, keys) -> int:
    """The reporter ticked these away. Keys of another browser or form match nothing."""
    if not owner or not batch or not keys:
        return 0  # before the transaction: most reports keep no photo, and an empty one is two statements
    return _delete(PendingPhoto.objects.filter(batch=batch, owner=owner, key__in=[str(k)[:32] for k in keys]))


def take_photos(*, owner: str | None, batch: str | None, now=None) -> list[CleanPhoto]:
    """The kept photos, handed over to be attached to the case being filed, and forgotten here.

    Call it inside the filing's transaction: a failed filing rolls back and the photos stay kept; a
    replayed or parallel submit of the same form finds them gone (the rows are locked, then deleted)."""
    if not owner or not batch:
        return []  # before the savepoint, as in remove_photos
    with transaction.atomic():
        cutoff = (now or timezone.now()) - _keep_for()
        rows = list(
            PendingPhoto.objects.select_for_update()
            .filter(batch=batch, owner=owner, created_at__gte=cutoff)
            .order_by("created_at", "pk")
        )
        photos = []
        for row in rows:
            try:
                with row.image.open("rb") as handle:
                    photos.append(CleanPhoto(handle.read(), name="photo.jpg"))
            except FileNotFoundError:  # its file went astray (a restore without media): the report still goes
                continue
        PendingPhoto.objects.filter(pk__in=[r.pk for r in rows]).delete()
        _delete_files_after_commit([r.image.name for r in rows])
    return photos


def discard_photos(*, owner: str | None, batch: str | None) -> int:
    """The reporter followed an offered case instead of filing: their photos are not needed."""
    if not owner or not batch:
        return 0
    return _delete(PendingPhoto.objects.filter(batch=batch, owner=owner))


def purge_expired(*, now=None) -> int:
    """Photos of reports never sent, past the keeping time, with their files; in chunks (beat, hourly)."""
    cutoff = (now or timezone.now()) - _keep_for()
    total = 0
    while True:
        with transaction.atomic():
            chunk = list(PendingPhoto.objects.filter(created_at__lt=cutoff).values_list("pk", "image")[:500])
            if not chunk:
                return total
            PendingPhoto.objects.filter(pk__in=[pk for pk, _name in chunk]).delete()
            _delete_files_after_commit([name for _pk, name in chunk])
        total += len(chunk)


# --- the request's side: which form, which browser, which batch ---------------------------------
@dataclass(frozen=True)
class KeptFor:
    """A form that keeps its photos: the salt its batches are signed with (a batch of one form is nothing
    in another) and the name of the URL serving its thumbnails (it takes the photo's key)."""

    salt: str
    thumbnail_url: str


@dataclass
class Tray:
    """The kept photos of the form in this request: its owner (from the session) and batch (from the form)."""

    request: object
    form: KeptFor
    owner: str | None
    batch: str | None

    @classmethod
    def of(cls, request, form: KeptFor) -> "Tray":
        batch = None
        token = request.POST.get(BATCH_FIELD, "") if request.method == "POST" else ""
        if token:
            try:
                batch = str(signing.loads(token, salt=form.salt, max_age=_keep_for()))[:32]
            except signing.BadSignature:  # altered, made up, too old or another form's: a new form
                batch = None
        return cls(request=request, form=form, owner=_session_owner(request), batch=batch)

    @property
    def token(self) -> str:
        return signing.dumps(self.batch, salt=self.form.salt) if self.batch else ""

    def photos(self) -> list[PendingPhoto]:
        photos = kept_photos(owner=self.owner, batch=self.batch)
        for photo in photos:
            photo.thumbnail_url = reverse(self.form.thumbnail_url, args=[photo.key])
        return photos

    def render(self) -> str:
        """The kept photos' part of the form (cases/kept_photos.html): the batch, thumbnails, remove boxes."""
        return render_to_string("cases/kept_photos.html", {"kept_photos": self.photos(), "upload_batch": self.token})

    def receive(self, form, field: str = "photos") -> None:
        """What a submit says about its photos: the ticked ones are left out, and the newly chosen ones (the
        form's ``field``, once valid) are checked and kept whatever else is wrong, so nobody chooses them twice;
        a refused one is an error of that field."""
        self.remove(self.request.POST.getlist(REMOVE_FIELD))
        if field not in form.errors:
            for message in self.keep(form.cleaned_data[field]):
                form.add_error(field, message)

    def keep(self, uploads) -> list[str]:
        if not uploads:
            return []
        if self.owner is None:
            # The first photo this browser keeps: its secret goes into the session (a cookie it already
            # needs for the form's CSRF check).
            secret = secrets.token_urlsafe(32)
            session = self.request.session
            session[SESSION_KEY] = secret
            user = getattr(self.request, "user", None)
            if user is None or not user.is_authenticated:
                # A resident's session exists for these photos only: it lasts as long as they are kept.
                session.set_expiry(_keep_for())
            self.owner = _owner_of(secret)
        self.batch = self.batch or secrets.token_hex(16)
        return keep_photos(owner=self.owner, batch=self.batch, uploads=uploads)

    def remove(self, keys) -> int:
        return remove_photos(owner=self.owner, batch=self.batch, keys=keys)

    def take(self) -> list[CleanPhoto]:
        return take_photos(owner=self.owner, batch=self.batch)

    def discard(self) -> int:
        return discard_photos(owner=self.owner, batch=self.batch)


def thumbnail_response(request, key: str) -> HttpResponse:
    """A kept photo's thumbnail for the session that chose it; 404 for anyone else. The view serving it
    must not be cached (never_cache)."""
    data = thumbnail(owner=_session_owner(request), key=key)
    if data is None:
        raise Http404
    response = HttpResponse(data, content_type="image/jpeg")
    response["X-Content-Type-Options"] = "nosniff"
    return response


class PhotosInput(MultipleFileInput):
    """The file input with the photos kept from earlier submits above it, for a form rendered field by field
    (the admin's). The form sets ``tray``."""

    tray: Tray | None = None

    class Media:
        css = {"all": ["cases/kept_photos.css"]}

    def render(self, name, value, attrs=None, renderer=None):
        field = super().render(name, value, attrs, renderer)
        if self.tray is None:
            return field
        return format_html('<div class="photos-with-kept">{}{}</div>', self.tray.render(), field)
