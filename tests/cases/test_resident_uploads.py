"""Photos kept while /report/ comes back (cases/kept_photos.py): a field error, the nearby offer and the
grid question never make the resident choose their photos again; following an offered case discards them;
another browser can neither see, remove nor attach them; a replayed submit attaches nothing twice; beat
purges what nobody came back for."""

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import signing
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from cases import kept_photos, tasks
from cases.models import Attachment, Case, CaseFollower, PendingPhoto
from cases.services import create_case

from .conftest import png_bytes

pytestmark = pytest.mark.django_db

PHONE = "13912345678"
# Two grids side by side: grid A west of 120.40, grid B east of it.
WEST = [[120.30, 36.00], [120.40, 36.00], [120.40, 36.10], [120.30, 36.10], [120.30, 36.00]]
EAST = [[120.40, 36.00], [120.50, 36.00], [120.50, 36.10], [120.40, 36.10], [120.40, 36.00]]
TOKEN = re.compile(r'name="upload_batch" value="([^"]+)"')
KEYS = re.compile(r'name="remove_photo" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def place(tree, categories):
    tree.grid_a.boundary = {"type": "Polygon", "coordinates": [WEST]}
    tree.grid_a.save()
    tree.grid_b.boundary = {"type": "Polygon", "coordinates": [EAST]}
    tree.grid_b.save()
    return tree


def english():
    client = Client()
    client.cookies["django_language"] = "en"
    return client


def upload(color=(200, 30, 30), name="photo.png"):
    return SimpleUploadedFile(name, png_bytes(size=(640, 480), color=color), content_type="image/png")


def form(categories, **changes):
    data = {
        "category": categories["dispute"].pk,
        "description": "小区门口的路灯坏了一周，晚上很黑",
        "latitude": "36.05",
        "longitude": "120.35",
        "contact_phone": PHONE,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def post(client, data):
    return client.post(reverse("residents:report"), data)


def token_and_keys(response):
    html = response.content.decode()
    return TOKEN.search(html).group(1), KEYS.findall(html)


def media_files():
    root = Path(django_settings.MEDIA_ROOT)
    return sorted(p.relative_to(root).parts[0] for p in root.rglob("*") if p.is_file()) if root.exists() else []


def colour_of(attachment):
    with attachment.image.open("rb") as handle, Image.open(handle) as image:
        return image.convert("RGB").resize((1, 1)).getpixel((0, 0))


def test_a_field_error_keeps_the_photo_and_the_corrected_submit_files_it(
    place, categories, django_capture_on_commit_callbacks
):
    client = english()
    response = post(client, form(categories, description="", photos=[upload()]))
    assert response.status_code == 400 and Case.objects.count() == 0
    html = response.content.decode()
    assert 'id="kept-photos"' in html and "need not choose it again" in html
    token, keys = token_and_keys(response)
    assert len(keys) == 1 and PendingPhoto.objects.get().key == keys[0]
    # The resident's session exists for the photo only, and lasts as long as it is kept.
    assert 23 * 3600 < client.session.get_expiry_age() <= 24 * 3600
    # The thumbnail is small, a JPEG, and not cached by anyone on the way.
    thumb = client.get(reverse("residents:report_photo", args=[keys[0]]))
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert "no-store" in thumb["Cache-Control"] or "max-age=0" in thumb["Cache-Control"]
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert max(image.size) <= kept_photos.THUMBNAIL_SIDE
    # Corrected, without choosing the photo again: the case has it, nothing waits any more.
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, form(categories, upload_batch=token))
    assert response.status_code == 302
    case = Case.objects.get()
    photo = Attachment.objects.get(case=case)
    assert colour_of(photo)[0] > 150  # the red photo chosen at first
    assert PendingPhoto.objects.count() == 0
    assert media_files() == ["cases"]  # the kept file went with its row


def test_the_nearby_offer_keeps_the_photos_and_filing_anyway_attaches_them(place, categories):
    create_case(
        actor=None,
        source="resident",
        title="路灯不亮",
        description="路灯不亮",
        category=categories["dispute"],
        grid=place.grid_a,
        latitude="36.050050",
        longitude="120.350000",
        contact_phone="13800138000",
    )
    client = english()
    response = post(client, form(categories, photos=[upload(), upload(color=(20, 160, 40))]))
    html = response.content.decode()
    assert response.status_code == 200 and 'id="nearby-offers"' in html
    assert "the photos you chose are kept" in html and "choose the photos again" not in html
    token, keys = token_and_keys(response)
    assert len(keys) == 2
    assert html.count(f'name="upload_batch" value="{token}"') == 2  # the follow form carries it too
    response = post(client, form(categories, file_anyway="1", upload_batch=token))
    assert response.status_code == 302
    filed = Case.objects.latest("pk")
    assert filed.attachments.count() == 2 and PendingPhoto.objects.count() == 0


def test_following_an_offered_case_discards_the_photos(place, categories, django_capture_on_commit_callbacks):
    offered = create_case(
        actor=None,
        source="resident",
        title="路灯不亮",
        description="路灯不亮",
        category=categories["dispute"],
        grid=place.grid_a,
        latitude="36.050050",
        longitude="120.350000",
        contact_phone="13800138000",
    )
    client = english()
    token, _keys = token_and_keys(post(client, form(categories, photos=[upload()])))
    assert PendingPhoto.objects.count() == 1
    follow = {
        "case": offered.pk,
        "category": categories["dispute"].pk,
        "latitude": "36.05",
        "longitude": "120.35",
        "contact_phone": PHONE,
        "upload_batch": token,
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("residents:follow"), follow).status_code == 200
    assert CaseFollower.objects.filter(case=offered).count() == 1
    assert PendingPhoto.objects.count() == 0 and "pending" not in media_files()
    assert offered.attachments.count() == 0


def test_the_grid_question_at_a_boundary_keeps_the_photo(place, categories):
    client = english()
    near_edge = form(categories, longitude="120.39995", photos=[upload()])  # about 5 m west of grid B
    response = post(client, near_edge)
    assert response.status_code == 400 and "choose the one the problem is in" in response.content.decode()
    token, keys = token_and_keys(response)
    assert len(keys) == 1
    response = post(client, {**near_edge, "photos": [], "grid": place.grid_a.pk, "upload_batch": token})
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.grid == place.grid_a and case.attachments.count() == 1


def test_a_ticked_photo_is_left_out_and_new_ones_join_up_to_the_limit(place, categories):
    client = english()
    response = post(client, form(categories, description="", photos=[upload(), upload(color=(20, 160, 40))]))
    token, keys = token_and_keys(response)
    # Two kept and two more chosen: too many; none of the new ones is kept, the page says what to do.
    response = post(client, form(categories, description="", upload_batch=token, photos=[upload(), upload()]))
    assert "remove one of those kept, or choose fewer" in response.content.decode()
    assert PendingPhoto.objects.count() == 2
    # One ticked away and one more chosen, the description given: filed with the green one and the new blue one.
    blue = upload(color=(30, 30, 200))
    response = post(client, form(categories, upload_batch=token, remove_photo=[keys[0]], photos=[blue]))
    assert response.status_code == 302
    dominant = sorted(max(range(3), key=colour_of(a).__getitem__) for a in Case.objects.get().attachments.all())
    assert dominant == [1, 2]  # green and blue, not the red one ticked away


def test_another_browser_cannot_see_remove_or_attach_the_photos(place, categories):
    owner, other = english(), english()
    response = post(owner, form(categories, description="", photos=[upload()]))
    token, keys = token_and_keys(response)
    # The other browser has the page's token and the photo's key (copied, sniffed): they match nothing there.
    assert other.get(reverse("residents:report_photo", args=[keys[0]])).status_code == 404
    stolen = form(categories, description="另一个人的上报内容", contact_phone="13700137000", file_anyway="1")
    response = post(other, {**stolen, "upload_batch": token, "remove_photo": keys})
    assert response.status_code == 302
    assert Case.objects.get().attachments.count() == 0
    assert PendingPhoto.objects.count() == 1
    # A made-up or altered token is ignored the same way.
    post(other, {**stolen, "description": "第三份上报内容", "upload_batch": token[:-2] + "xx"})
    forged = signing.dumps(PendingPhoto.objects.get().batch, salt="not-ours")
    post(other, {**stolen, "description": "第四份上报内容", "upload_batch": forged})
    assert Attachment.objects.count() == 0 and PendingPhoto.objects.count() == 1
    # The resident who chose it still files it.
    assert post(owner, form(categories, upload_batch=token, file_anyway="1")).status_code == 302
    assert Attachment.objects.count() == 1 and PendingPhoto.objects.count() == 0


def test_a_replayed_final_submit_attaches_nothing_twice(place, categories):
    client = english()
    token, _keys = token_and_keys(post(client, form(categories, description="", photos=[upload()])))
    final = form(categories, upload_batch=token, file_anyway="1")  # past the offer of its own first filing
    assert post(client, final).status_code == 302
    assert post(client, final).status_code == 409  # the same report: refused, with the first one's code
    # Even past the duplicate guard (other words), the photos were taken once: the second case has none.
    assert post(client, {**final, "description": "换了说法的同一问题描述"}).status_code == 302
    assert Attachment.objects.count() == 1
    assert [c.attachments.count() for c in Case.objects.order_by("pk")] == [1, 0]
    # The service itself hands photos out once.
    photo = PendingPhoto.objects.create(key="k1", batch="b1", owner="o1", image=upload())
    assert len(kept_photos.take_photos(owner="o1", batch="b1")) == 1
    assert (
        kept_photos.take_photos(owner="o1", batch="b1") == [] and not PendingPhoto.objects.filter(pk=photo.pk).exists()
    )


def test_a_rate_limited_submit_keeps_nothing_new(place, categories, settings):
    settings.RESIDENT_RATE_LIMITS = {**settings.RESIDENT_RATE_LIMITS, "report_ip": (1, 3600)}
    client = english()
    token, keys = token_and_keys(post(client, form(categories, description="", photos=[upload()])))
    response = post(client, form(categories, upload_batch=token, remove_photo=keys, photos=[upload()]))
    assert response.status_code == 429
    # Refused whole: the kept photo is neither removed nor joined by the new one, and still shown.
    assert PendingPhoto.objects.count() == 1 and keys[0] in response.content.decode()


def test_photos_nobody_came_back_for_are_purged_with_their_files(place, categories, django_capture_on_commit_callbacks):
    client = english()
    token, _keys = token_and_keys(post(client, form(categories, description="", photos=[upload()])))
    fresh = english()
    post(fresh, form(categories, description="", photos=[upload()]))
    old = PendingPhoto.objects.order_by("pk").first()
    PendingPhoto.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(hours=25))
    # Past the keeping time it is no longer offered nor attached, even before the purge.
    assert post(client, form(categories, upload_batch=token)).status_code == 302
    assert Attachment.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.purge_pending_photos() == 1
    assert not PendingPhoto.objects.filter(pk=old.pk).exists()
    assert PendingPhoto.objects.count() == 1 and media_files() == ["pending"]  # the fresh one stays
    assert not Path(django_settings.MEDIA_ROOT, old.image.name).exists()
    # Beat runs it hourly, like the other purges.
    schedule = django_settings.CELERY_BEAT_SCHEDULE["purge-pending-photos"]
    assert schedule["task"] == "cases.tasks.purge_pending_photos"


def test_the_kept_photos_work_without_javascript(place, categories):
    """The returned form is plain HTML: thumbnails are images, removing is a checkbox, the batch a hidden field."""
    response = post(english(), form(categories, description="", photos=[upload()]))
    html = response.content.decode()
    section = html[html.index('id="kept-photos"') : html.index("</fieldset>", html.index('id="kept-photos"'))]
    assert '<input type="checkbox" name="remove_photo"' in section and '<img src="/report/photo/' in section
    assert re.findall(r"<script[^>]*>", html) == [
        '<script src="/static/grids/leaflet/leaflet.js" defer>',
        '<script src="/static/grids/map.js" defer>',
    ]


def test_the_kept_photos_read_in_chinese(place, categories):
    response = post(Client(), form(categories, description="", photos=[upload(), upload()]))
    html = response.content.decode()
    assert "已选的照片" in html and "已为您保留 2 张照片" in html and "去掉" in html and "已选照片 1" in html
