"""Photo uploads: only real images within the size limit, re-encoded so that
nothing but pixels is kept (no EXIF location, no polyglot payload)."""

import io

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

# MPO: the multi-picture JPEG many phone cameras write; its first frame is the photo.
ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP"}
# Pillow is told to try only these decoders, so a file in any other format (TIFF, PSD, EPS,
# ...) is never parsed by one. Its signature alone says the nicer message: right kind, wrong format.
OPEN_FORMATS = sorted(ACCEPTED_FORMATS - {"MPO"})  # Pillow's JPEG opener returns MPO files as MPO
OTHER_IMAGE_SIGNATURES = (
    (0, b"II*\x00"),  # TIFF, little-endian
    (0, b"MM\x00*"),  # TIFF, big-endian
    (0, b"8BPS"),  # Photoshop
    (0, b"\x00\x00\x01\x00"),  # Windows icon
    (0, b"\x00\x00\x00\x0cjP  "),  # JPEG 2000
    (0, b"\xffO\xffQ"),  # JPEG 2000 codestream
    (4, b"ftypheic"),
    (4, b"ftypheix"),
    (4, b"ftypmif1"),
    (4, b"ftypavif"),
)
MAX_SIDE = 2560
MAX_PIXELS = 40_000_000


class CleanPhoto(ContentFile):
    """What ``clean_photo`` returns: pixels only, re-encoded by us. Only server code makes one, so a
    photo kept between two submits of a form (cases/kept_photos.py) is not encoded twice."""


def clean_photo(upload) -> CleanPhoto:
    limit = settings.CASE_PHOTO_MAX_BYTES
    if upload.size > limit:
        raise ValidationError(
            _("The photo is %(size).1f MB; at most %(limit)d MB is accepted.")
            % {"size": upload.size / 1_048_576, "limit": limit // 1_048_576},
            code="too_large",
        )
    upload.seek(0)
    data = upload.read()
    try:
        with Image.open(io.BytesIO(data), formats=OPEN_FORMATS) as probe:
            kind = probe.format
            if probe.width * probe.height > MAX_PIXELS:
                raise ValidationError(_("The photo has too many pixels."), code="too_many_pixels")
            probe.verify()
        with Image.open(io.BytesIO(data), formats=OPEN_FORMATS) as image:
            image.load()
            # Apply the camera's orientation to the pixels before the EXIF that carries it is dropped.
            image = ImageOps.exif_transpose(image).convert("RGB")
            image.thumbnail((MAX_SIDE, MAX_SIDE))
            out = io.BytesIO()
            image.save(out, format="JPEG", quality=85, optimize=True)
    except ValidationError:
        raise
    except UnidentifiedImageError as exc:
        if any(data[offset : offset + len(magic)] == magic for offset, magic in OTHER_IMAGE_SIGNATURES):
            raise _bad_format() from exc
        raise ValidationError(_("The file is not a readable image."), code="not_an_image") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValidationError(_("The file is not a readable image."), code="not_an_image") from exc
    if kind not in ACCEPTED_FORMATS:  # defence in depth: the decoders above are the allowed ones
        raise _bad_format()
    return CleanPhoto(out.getvalue(), name="photo.jpg")


def _bad_format():
    return ValidationError(_("Only JPEG, PNG, WebP, GIF or BMP photos are accepted."), code="bad_format")
