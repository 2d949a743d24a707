"""Photos kept while the admin's add-case form comes back (cases/kept_photos.py, the same mechanism as /report/):
a field error and the nearby offer never make the official choose their photos again; the corrected submit
attaches them once; a ticked one is left out; another official's session, the same official's other session,
a forged batch or the resident form's batch attach, show and remove nothing; an official outside the grid, or
without the right to add cases, gains nothing."""

import pytest
from django.contrib.auth.models import Group
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.roles import SECURITY_AUDITOR, Role
from cases.admin import ADD_FORM_PHOTOS
from cases.models import Attachment, Case, PendingPhoto
from cases.services import create_case

# The resident form's helpers read the same markup (templates/cases/kept_photos.html); _isolated is autouse.
from .test_resident_uploads import _isolated, colour_of, media_files, token_and_keys, upload  # noqa: F401

pytestmark = pytest.mark.django_db

ADD = "/admin/cases/case/add/"
GREEN, BLUE = (20, 160, 40), (30, 30, 200)  # upload() is red


def office(user) -> Client:
    """A logged-in session of its own, reading English."""
    client = Client()
    client.cookies["django_language"] = "en"
    client.force_login(user)
    return client


def form(categories, tree, **changes):
    data = {
        "title": "井盖缺失",
        "description": "人行道井盖缺失，夜间有行人踩空的危险",
        "category": categories["dispute"].pk,
        "grid": tree.grid_a.pk,
        "source": "grid_patrol",
        "priority": "normal",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def dominant(attachment) -> int:
    """0, 1 or 2: the red, green or blue photo."""
    return max(range(3), key=colour_of(attachment).__getitem__)


@pytest.fixture
def worker(people):
    return people[Role.GRID_WORKER]


def test_a_field_error_keeps_the_photo_and_the_corrected_submit_attaches_it_once(
    worker, tree, categories, django_capture_on_commit_callbacks
):
    client = office(worker)
    assert 'id="kept-photos"' not in client.get(ADD).content.decode()
    response = client.post(ADD, form(categories, tree, title="", photos=[upload()]))
    assert response.status_code == 200 and Case.objects.count() == 0
    assert "title" in response.context["adminform"].form.errors
    html = response.content.decode()
    token, keys = token_and_keys(response)
    assert len(keys) == 1 and PendingPhoto.objects.get().key == keys[0]
    # Shown in the photos row, above the (empty) file input, from the case admin's own address.
    thumbnail_url = reverse("admin:cases_case_kept_photo", args=[keys[0]])
    row = html[html.index('class="photos-with-kept"') : html.index('name="photos"')]
    assert 'id="kept-photos"' in row and f'<img src="{thumbnail_url}"' in row and "need not choose it again" in row
    thumb = client.get(thumbnail_url)
    assert thumb.status_code == 200 and thumb["Content-Type"] == "image/jpeg"
    assert "no-store" in thumb["Cache-Control"] or "max-age=0" in thumb["Cache-Control"]
    # Corrected, without choosing the photo again: the case has it, nothing waits any more.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(ADD, form(categories, tree, upload_batch=token))
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.reporter == worker and [dominant(a) for a in case.attachments.all()] == [0]
    assert PendingPhoto.objects.count() == 0 and media_files() == ["cases"]
    # The same submit again (a double click, a replay): a second case perhaps, but the photo went once.
    assert client.post(ADD, form(categories, tree, upload_batch=token)).status_code == 302
    assert [c.attachments.count() for c in Case.objects.order_by("pk")] == [1, 0]
    assert Attachment.objects.count() == 1


def test_the_nearby_offer_keeps_the_photos_and_recording_anyway_attaches_them(worker, tree, categories):
    create_case(
        actor=None,
        source="resident",
        title="井盖缺失",
        description="井盖缺失",
        category=categories["dispute"],
        grid=tree.grid_a,
        latitude="36.050050",
        longitude="120.350000",
        contact_phone="13800138000",
    )
    client = office(worker)
    here = form(categories, tree, latitude="36.05", longitude="120.35")
    response = client.post(ADD, {**here, "photos": [upload(), upload(color=GREEN)]})
    assert response.status_code == 200 and "file_anyway" in response.context["adminform"].form.errors
    token, keys = token_and_keys(response)
    assert len(keys) == 2
    response = client.post(ADD, {**here, "file_anyway": "on", "upload_batch": token})
    assert response.status_code == 302
    assert sorted(dominant(a) for a in Case.objects.latest("pk").attachments.all()) == [0, 1]
    assert PendingPhoto.objects.count() == 0


def test_a_ticked_photo_is_left_out_and_new_ones_join_up_to_the_limit(
    worker, tree, categories, django_capture_on_commit_callbacks
):
    client = office(worker)
    token, keys = token_and_keys(
        client.post(ADD, form(categories, tree, title="", photos=[upload(), upload(color=GREEN)]))
    )
    # Two kept and two more chosen: too many; none of the new ones is kept, the form says what to do.
    response = client.post(ADD, form(categories, tree, title="", upload_batch=token, photos=[upload(), upload()]))
    assert "remove one of those kept, or choose fewer" in str(response.context["adminform"].form.errors["photos"])
    assert PendingPhoto.objects.count() == 2
    # The red one ticked away and a blue one chosen, the title given: filed with the green and the blue.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            ADD, form(categories, tree, upload_batch=token, remove_photo=[keys[0]], photos=[upload(color=BLUE)])
        )
    assert response.status_code == 302
    assert sorted(dominant(a) for a in Case.objects.get().attachments.all()) == [1, 2]
    assert PendingPhoto.objects.count() == 0 and media_files() == ["cases", "cases"]


def test_a_bad_photo_is_refused_by_name_and_the_good_one_kept(worker, tree, categories):
    client = office(worker)
    fake = SimpleUploadedFile("fake.png", b"not an image", content_type="image/png")
    response = client.post(ADD, form(categories, tree, photos=[upload(), fake]))
    assert response.status_code == 200 and Case.objects.count() == 0
    assert "fake.png：The file is not a readable image." in str(response.context["adminform"].form.errors["photos"])
    assert len(token_and_keys(response)[1]) == 1 and PendingPhoto.objects.count() == 1


def test_another_session_cannot_see_remove_or_attach_the_photos(worker, people, tree, categories):
    owner = office(worker)
    token, keys = token_and_keys(owner.post(ADD, form(categories, tree, title="", photos=[upload()])))
    thumbnail_url = reverse("admin:cases_case_kept_photo", args=[keys[0]])
    # Another official who may report in the same grid, and the same official logged in elsewhere, each with
    # photos of their own kept: the page's token and the photo's key, copied or sniffed, match nothing there.
    for other in (office(people[Role.COMMUNITY_STAFF]), office(worker)):
        own = token_and_keys(other.post(ADD, form(categories, tree, title="", photos=[upload(color=GREEN)])))[1]
        assert other.get(thumbnail_url).status_code == 404
        assert other.get(reverse("admin:cases_case_kept_photo", args=own)).status_code == 200
        response = other.post(ADD, form(categories, tree, upload_batch=token, remove_photo=keys))
        assert response.status_code == 302
        assert Case.objects.latest("pk").attachments.count() == 0
        assert PendingPhoto.objects.filter(key=keys[0]).exists()
    PendingPhoto.objects.exclude(key=keys[0]).delete()
    # Nor in the owner's own session does a forged or altered token, or the resident form's batch, count.
    batch = PendingPhoto.objects.get().batch
    for forged in (
        token[:-2] + "xx",
        signing.dumps(batch, salt="not-ours"),
        signing.dumps(batch, salt="cases.residents.kept-photos"),
    ):
        assert owner.post(ADD, form(categories, tree, title="", upload_batch=forged)).status_code == 200
        assert owner.post(ADD, form(categories, tree, upload_batch=forged)).status_code == 302
    assert Attachment.objects.count() == 0 and PendingPhoto.objects.count() == 1
    # The official who chose it still files it.
    assert owner.post(ADD, form(categories, tree, upload_batch=token)).status_code == 302
    assert Case.objects.latest("pk").attachments.count() == 1 and PendingPhoto.objects.count() == 0
    assert signing.loads(token, salt=ADD_FORM_PHOTOS.salt) == batch


def test_an_official_outside_the_grid_or_without_the_right_gains_nothing(
    worker, make_user, tree, categories, role_groups
):
    owner = office(worker)
    token, keys = token_and_keys(owner.post(ADD, form(categories, tree, title="", photos=[upload()])))
    # Grid B's worker, with a photo of their own kept: grid A is refused as before, and A's photos are neither
    # shown, removed nor attached to their own case.
    outsider = office(make_user(Role.GRID_WORKER, area=tree.grid_b))
    response = outsider.post(ADD, form(categories, tree, photos=[upload(color=GREEN)]))
    assert response.status_code == 200 and "grid" in response.context["adminform"].form.errors
    response = outsider.post(ADD, form(categories, tree, upload_batch=token, remove_photo=keys))
    assert response.status_code == 200 and "grid" in response.context["adminform"].form.errors
    assert keys[0] not in response.content.decode()
    assert outsider.get(reverse("admin:cases_case_kept_photo", args=[keys[0]])).status_code == 404
    response = outsider.post(ADD, form(categories, tree, grid=tree.grid_b.pk, upload_batch=token))
    assert response.status_code == 302 and Case.objects.get().attachments.count() == 0
    assert PendingPhoto.objects.filter(key=keys[0]).exists()
    PendingPhoto.objects.exclude(key=keys[0]).delete()
    # A staff member who may not add cases (the security auditor) is refused the page and the thumbnails.
    auditor = User.objects.create_user(username="auditor", password="pw-Secret-123", is_staff=True)
    auditor.groups.add(Group.objects.get(name=SECURITY_AUDITOR))
    client = office(auditor)
    assert client.post(ADD, form(categories, tree, upload_batch=token, photos=[upload()])).status_code == 403
    assert client.get(reverse("admin:cases_case_kept_photo", args=[keys[0]])).status_code == 403
    assert PendingPhoto.objects.count() == 1 and Attachment.objects.count() == 0


def test_the_kept_photos_read_in_chinese(worker, tree, categories):
    client = Client()
    client.force_login(worker)
    html = client.post(ADD, form(categories, tree, title="", photos=[upload(), upload()])).content.decode()
    assert "已选的照片" in html and "已为您保留 2 张照片" in html and "去掉" in html and "已选照片 1" in html
    assert "cases/kept_photos" in html  # its stylesheet, from the form's media
