"""The resident pages (cases/residents/): /report/, /track/<code>/, /rate/<token>/.

Every bad input gets a page that says what happened and leaves nothing behind:
uploads, duplicates, rate limits, CSRF, HTML in every text field, unknown and
spent links. Public pages never show personal data or internal comments.
"""

import datetime as dt
import io
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_fsm_log.models import StateLog
from PIL import Image

from accounts.models import User
from accounts.roles import Role
from cases.models import Attachment, AttachmentKind, Case, PendingPhoto, RatingInvitation, Source
from cases.residents import limits
from cases.services import transition_case
from outbox.backends import sms
from outbox.delivery import deliver_pending

from .conftest import png_bytes

PHONE, EMAIL, NAME = "13912345678", "resident@example.com", "王小明"
PAYLOAD = b"<html><script>alert('polyglot')</script></html>"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
TOKEN_IN_TEXT = re.compile(r"/rate/([^/\s]+)/")


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SMS_BACKEND = "outbox.backends.sms.MemoryBackend"
    # The limits are counted on the shared cache: each test starts from zero.
    cache.clear()
    sms.outbox.clear()
    yield
    cache.clear()
    sms.outbox.clear()


@pytest.fixture
def client():
    # The messages asserted below are Django's English ones: English chosen with the language buttons' cookie
    # (a browser's Accept-Language does not switch the resident pages away from Chinese).
    english = Client()
    english.cookies["django_language"] = "en"
    return english


@pytest.fixture
def staff(people):
    return people[Role.COMMUNITY_STAFF]


def upload(content=None, name="photo.png", content_type="image/png"):
    return SimpleUploadedFile(name, content if content is not None else png_bytes(), content_type=content_type)


def form_data(categories, tree, **changes):
    data = {
        "category": categories["dispute"].pk,
        "description": "小区门口的路灯坏了一周，晚上很黑",
        "grid": tree.grid_a.pk,
        "address": "甲一楼院3号楼门口",
        "latitude": "",
        "longitude": "",
        "contact_name": NAME,
        "contact_phone": PHONE,
        "contact_email": EMAIL,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def post_report(client, data, **extra):
    return client.post(reverse("residents:report"), data, **extra)


def media_files(settings):
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def assert_nothing_saved(settings):
    assert Case.objects.count() == 0
    assert Attachment.objects.count() == 0
    assert StateLog.objects.count() == 0
    assert media_files(settings) == []


def reported_case():
    return Case.objects.get()


def to_fed_back(case, staff, *, result="已更换路灯"):
    for name, params in [
        ("assess", {}),
        ("assign", {}),
        ("handle", {"result": result, "photos": [upload(png_bytes(color=(20, 160, 40)), name="after.png")]}),
        ("feed_back", {"comment": "内部核查意见：已现场核实"}),
    ]:
        case = transition_case(actor=staff, case=case, name=name, **params)
    return case


def emailed_token():
    deliver_pending(now=timezone.now() + dt.timedelta(minutes=1))
    bodies = [m.body for m in mail.outbox if EMAIL in m.to]
    assert len(bodies) == 1
    return TOKEN_IN_TEXT.search(bodies[0]).group(1)


# --- /report/ ----------------------------------------------------------------------------------
@pytest.mark.django_db
class TestReportForm:
    def test_the_form_is_accessible_and_grouped(self, client, categories, tree):
        response = client.get(reverse("residents:report"))
        assert response.status_code == 200
        html = response.content.decode()
        assert 'name="csrfmiddlewaretoken"' in html
        assert 'enctype="multipart/form-data"' in html
        for field in ["category", "description", "photos", "grid", "address", "latitude", "longitude"]:
            assert f'<label for="id_{field}"' in html, field
        for field in ["contact_name", "contact_phone", "contact_email"]:
            assert f'<label for="id_{field}"' in html, field
        # Grids are grouped by street / community, categories by their group.
        assert '<optgroup label="甲街道 / 甲一社区">' in html
        assert '<optgroup label="乙街道 / 乙一社区">' in html
        assert '<optgroup label="矛盾纠纷调解">' in html
        assert f'value="{categories["group"].pk}"' not in html  # a group is not a category to choose
        # Works without JavaScript: every field is in the form; the map's scripts are files (no inline script).
        assert re.findall(r"<script[^>]*>", html) == [
            '<script src="/static/grids/leaflet/leaflet.js" defer>',
            '<script src="/static/grids/map.js" defer>',
        ]
        assert 'name="viewport"' in html

    def test_the_page_is_in_simplified_chinese_by_default(self, categories, tree):
        html = Client().get(reverse("residents:report")).content.decode()
        assert '<html lang="zh-hans">' in html
        assert "反映问题" in html and "问题描述" in html and "提交" in html

    def test_a_report_with_a_photo_returns_a_tracking_code_and_link(self, client, categories, tree, settings):
        response = post_report(client, form_data(categories, tree, photos=[upload()]))
        case = reported_case()
        assert response.status_code == 302
        assert response["Location"] == f"/track/{case.tracking_code}/?new=1"
        assert (case.source, case.reporter, case.status, case.grid) == (Source.RESIDENT, None, "reported", tree.grid_a)
        assert (case.contact_name, case.contact_phone, case.contact_email) == (NAME, PHONE, EMAIL)
        assert case.description == "小区门口的路灯坏了一周，晚上很黑"
        assert case.title == "小区门口的路灯坏了一周，晚上很黑"
        assert case.address == "甲一楼院3号楼门口"
        assert case.assess_deadline is not None  # the same clock as every other report
        photo = Attachment.objects.get(case=case)
        assert photo.kind == AttachmentKind.BEFORE and photo.uploaded_by is None
        with photo.image.open("rb") as handle:
            assert handle.read(3) == b"\xff\xd8\xff"  # re-encoded to plain JPEG

        page = client.get(response["Location"])
        html = page.content.decode()
        assert page.status_code == 200
        assert case.tracking_code in html
        assert f"http://testserver/track/{case.tracking_code}/" in html

    def test_a_long_description_gives_a_short_title(self, client, categories, tree):
        text = "楼道里堆满了纸箱和旧家具，" * 10 + "\n第二行"
        post_report(client, form_data(categories, tree, description=text))
        case = reported_case()
        assert len(case.title) <= 40 and case.title.endswith("…")
        assert case.description == text.strip()

    def test_up_to_three_photos(self, client, categories, tree):
        response = post_report(client, form_data(categories, tree, photos=[upload() for _ in range(3)]))
        assert response.status_code == 302
        assert Attachment.objects.count() == 3

    def test_anonymous_report_without_contact(self, client, categories, tree):
        data = form_data(categories, tree, contact_name="", contact_phone="", contact_email="")
        assert post_report(client, data).status_code == 302
        assert reported_case().contact_phone == ""

    def test_phone_is_normalised(self, client, categories, tree):
        post_report(client, form_data(categories, tree, contact_phone="139-1234 5678"))
        assert reported_case().contact_phone == PHONE


@pytest.mark.django_db
class TestWhere:
    def test_grid_from_an_address_naming_a_building(self, client, categories, tree):
        assert post_report(client, form_data(categories, tree, grid="", address="甲一楼院 5号")).status_code == 302
        assert reported_case().grid == tree.grid_a

    def test_grid_from_an_address_naming_a_grid(self, client, categories, tree):
        post_report(client, form_data(categories, tree, grid="", address="乙一网格菜市场东侧"))
        assert reported_case().grid == tree.grid_b

    def test_grid_from_an_address_naming_a_community_with_one_grid(self, client, categories, tree):
        post_report(client, form_data(categories, tree, grid="", address="乙一社区活动中心"))
        assert reported_case().grid == tree.grid_b

    def test_grid_from_a_map_point(self, client, categories, tree):
        square = [[120.30, 36.00], [120.40, 36.00], [120.40, 36.10], [120.30, 36.10], [120.30, 36.00]]
        tree.grid_b.boundary = {"type": "Polygon", "coordinates": [square]}
        tree.grid_b.save()
        data = form_data(categories, tree, grid="", address="", latitude="36.05", longitude="120.35")
        assert post_report(client, data).status_code == 302
        case = reported_case()
        assert case.grid == tree.grid_b
        assert (float(case.latitude), float(case.longitude)) == (36.05, 120.35)

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"grid": "", "address": ""}, "Choose the grid, or give an address or a map point."),
            ({"grid": "", "address": "火星基地"}, "We could not find the grid from this address"),
            ({"grid": "", "address": "", "latitude": "10", "longitude": "10"}, "That map point is not inside"),
            ({"latitude": "36.05"}, "Give both latitude and longitude"),
            ({"latitude": "95", "longitude": "10"}, "less than or equal to 90"),
            ({"grid": "999999"}, "Select a valid choice"),
        ],
        ids=["nothing", "unknown-address", "point-outside", "half-a-point", "bad-latitude", "unknown-grid"],
    )
    def test_no_place_no_report(self, client, categories, tree, settings, changes, message):
        response = post_report(client, form_data(categories, tree, **changes))
        assert response.status_code == 400
        assert message in response.content.decode()
        assert_nothing_saved(settings)

    def test_a_building_is_not_a_grid_choice(self, client, categories, tree, settings):
        response = post_report(client, form_data(categories, tree, grid=tree.building_a.pk))
        assert response.status_code == 400
        assert_nothing_saved(settings)


@pytest.mark.django_db
class TestBadInput:
    @pytest.mark.parametrize(
        ("changes", "field", "message"),
        [
            ({"description": ""}, "description", "This field is required."),
            ({"description": "坏了"}, "description", "Describe the problem in a few words."),
            ({"description": "长" * 2001}, "description", "at most 2000 characters"),
            ({"category": ""}, "category", "This field is required."),
            ({"category": "group"}, "category", "Select a valid choice"),
            ({"contact_phone": "call me maybe"}, "contact_phone", "Enter a phone number"),
            ({"contact_email": "not-an-email"}, "contact_email", "Enter a valid email address."),
            ({"contact_name": "名" * 51}, "contact_name", "at most 50 characters"),
            ({"address": "址" * 201}, "address", "at most 200 characters"),
        ],
    )
    def test_bad_fields(self, client, categories, tree, settings, changes, field, message):
        if changes.get("category") == "group":
            changes = {"category": categories["group"].pk}
        response = post_report(client, form_data(categories, tree, **changes))
        assert response.status_code == 400
        html = response.content.decode()
        assert message in html
        assert 'aria-invalid="true"' in html
        assert_nothing_saved(settings)

    def test_oversize_photo(self, client, categories, tree, settings):
        settings.CASE_PHOTO_MAX_BYTES = 1024 * 1024
        # Random pixels do not compress: the PNG stays over the limit.
        big = Image.frombytes("RGB", (700, 700), random.Random(5).randbytes(700 * 700 * 3))
        buffer = io.BytesIO()
        big.save(buffer, format="PNG")
        assert len(buffer.getvalue()) > 1024 * 1024
        response = post_report(client, form_data(categories, tree, photos=[upload(buffer.getvalue())]))
        assert response.status_code == 400
        assert "at most 1 MB is accepted" in response.content.decode()
        assert_nothing_saved(settings)

    @pytest.mark.parametrize(
        ("content", "name", "content_type"),
        [
            (b"just text, not a photo", "photo.jpg", "image/jpeg"),
            (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "a.svg", "image/svg+xml"),
            (b"\x89PNG\r\n\x1a\n" + PAYLOAD, "fake.png", "image/png"),  # a PNG signature and nothing behind it
            (b"%PDF-1.4\n1 0 obj<<>>endobj\n", "scan.pdf", "application/pdf"),
        ],
        ids=["text", "svg", "fake-png-header", "pdf"],
    )
    def test_non_images_are_refused(self, client, categories, tree, settings, content, name, content_type):
        response = post_report(client, form_data(categories, tree, photos=[upload(content, name, content_type)]))
        assert response.status_code == 400
        assert "The file is not a readable image." in response.content.decode()
        assert_nothing_saved(settings)

    def test_one_bad_photo_refuses_the_whole_report_and_keeps_the_good_one(self, client, categories, tree, settings):
        photos = [upload(), upload(b"not an image", "b.jpg", "image/jpeg")]
        response = post_report(client, form_data(categories, tree, photos=photos))
        assert response.status_code == 400
        assert "b.jpg：The file is not a readable image." in response.content.decode()
        assert Case.objects.count() == 0 and Attachment.objects.count() == 0
        # The good photo waits for the corrected submit (cases/kept_photos.py); the bad one is not stored.
        assert PendingPhoto.objects.count() == 1 and len(media_files(settings)) == 1

    def test_four_photos_are_too_many(self, client, categories, tree, settings):
        response = post_report(client, form_data(categories, tree, photos=[upload() for _ in range(4)]))
        assert response.status_code == 400
        assert "At most 3 photos." in response.content.decode()
        assert_nothing_saved(settings)

    def test_polyglot_photo_is_stored_as_pixels_only(self, client, categories, tree):
        polyglot = png_bytes() + PAYLOAD
        assert post_report(client, form_data(categories, tree, photos=[upload(polyglot)])).status_code == 302
        with Attachment.objects.get().image.open("rb") as handle:
            data = handle.read()
        assert data[:3] == b"\xff\xd8\xff"
        assert PAYLOAD not in data and b"<script" not in data

    def test_the_form_keeps_what_was_typed_after_an_error(self, client, categories, tree):
        response = post_report(client, form_data(categories, tree, contact_email="bad"))
        html = response.content.decode()
        assert "小区门口的路灯坏了一周" in html and PHONE in html


@pytest.mark.django_db
class TestCsrf:
    def test_report_needs_the_token(self, categories, tree, settings):
        strict = Client(enforce_csrf_checks=True)
        strict.cookies["django_language"] = "en"  # English by choice (the language buttons' cookie)
        assert post_report(strict, form_data(categories, tree)).status_code == 403
        assert_nothing_saved(settings)
        strict.get(reverse("residents:report"))
        token = strict.cookies["csrftoken"].value
        data = {**form_data(categories, tree), "csrfmiddlewaretoken": token}
        assert post_report(strict, data).status_code == 302

    def test_rating_needs_the_token(self, categories, tree, staff, client):
        post_report(client, form_data(categories, tree))
        to_fed_back(reported_case(), staff)
        url = reverse("residents:rate", args=[emailed_token()])
        strict = Client(enforce_csrf_checks=True)
        assert strict.post(url, {"rating": "satisfied"}).status_code == 403
        assert reported_case().status == "fed_back"
        assert 'name="csrfmiddlewaretoken"' in strict.get(url).content.decode()
        token = strict.cookies["csrftoken"].value
        assert strict.post(url, {"rating": "satisfied", "csrfmiddlewaretoken": token}).status_code == 200
        assert reported_case().status == "rated"


@pytest.mark.django_db
class TestDuplicates:
    def test_the_same_text_from_the_same_phone_is_refused_with_the_first_code(self, client, categories, tree):
        post_report(client, form_data(categories, tree))
        first = reported_case()
        # The same words, other spacing and a photo this time: still the same report.
        again = form_data(categories, tree, description="  小区门口的路灯坏了一周，\n晚上很黑 ", photos=[upload()])
        response = post_report(client, again)
        assert response.status_code == 409
        html = response.content.decode()
        assert first.tracking_code in html
        assert f'href="/track/{first.tracking_code}/"' in html
        assert Case.objects.count() == 1 and Attachment.objects.count() == 0

    def test_the_same_contact_by_email_only(self, client, categories, tree):
        data = form_data(categories, tree, contact_phone="")
        post_report(client, data)
        assert post_report(client, {**data, "contact_email": EMAIL.upper()}).status_code == 409

    def test_other_text_or_other_contact_is_not_a_duplicate(self, client, categories, tree):
        post_report(client, form_data(categories, tree))
        assert post_report(client, form_data(categories, tree, description="另一个问题：井盖丢了")).status_code == 302
        assert post_report(client, form_data(categories, tree, contact_phone="13800000000")).status_code == 302
        assert Case.objects.count() == 3

    def test_anonymous_reports_are_told_apart_by_address(self, categories, tree):
        data = form_data(categories, tree, contact_name="", contact_phone="", contact_email="")
        one, other = Client(REMOTE_ADDR="10.0.0.1"), Client(REMOTE_ADDR="10.0.0.2")
        assert post_report(one, data).status_code == 302
        assert post_report(one, data).status_code == 409
        assert post_report(other, data).status_code == 302

    def test_a_refused_submit_does_not_block_the_corrected_one(self, client, categories, tree):
        bad = form_data(categories, tree, photos=[upload(b"not an image", "x.jpg", "image/jpeg")])
        assert post_report(client, bad).status_code == 400
        assert post_report(client, form_data(categories, tree)).status_code == 302

    def test_after_the_window_the_same_text_is_a_new_report(self, client, categories, tree, settings):
        settings.RESIDENT_DUPLICATE_WINDOW = 1
        post_report(client, form_data(categories, tree))
        cache.delete_many(list(_report_keys()))  # the window has passed: the cache forgot the pair
        assert post_report(client, form_data(categories, tree)).status_code == 302


def _report_keys():
    from cases.residents.limits import DuplicateGuard

    yield DuplicateGuard(PHONE, "小区门口的路灯坏了一周，晚上很黑").key


@pytest.mark.django_db
class TestRateLimits:
    def test_per_address(self, categories, tree, settings):
        settings.RESIDENT_RATE_LIMITS = {**settings.RESIDENT_RATE_LIMITS, "report_ip": (2, 3600)}
        here, elsewhere = Client(REMOTE_ADDR="10.0.0.1"), Client(REMOTE_ADDR="10.0.0.9")
        for i in range(2):
            data = form_data(categories, tree, description=f"第{i}个问题描述", contact_phone=f"1390000000{i}")
            assert post_report(here, data).status_code == 302
        data = form_data(categories, tree, description="第三个问题描述", contact_phone="13900000009", photos=[upload()])
        response = post_report(here, data, HTTP_COOKIE="django_language=en")
        assert response.status_code == 429
        assert int(response["Retry-After"]) > 0
        html = response.content.decode()
        assert "Too many requests from you in a short time" in html
        assert "第三个问题描述" in html  # what was typed is kept for later
        assert Case.objects.count() == 2 and Attachment.objects.count() == 0
        assert post_report(elsewhere, {**data, "photos": [upload()]}).status_code == 302

    def test_invalid_submits_count_too(self, categories, tree, settings):
        settings.RESIDENT_RATE_LIMITS = {**settings.RESIDENT_RATE_LIMITS, "report_ip": (2, 3600)}
        for _ in range(2):
            assert post_report(Client(), form_data(categories, tree, description="")).status_code == 400
        assert post_report(Client(), form_data(categories, tree)).status_code == 429
        assert Case.objects.count() == 0

    def test_per_contact_across_addresses(self, categories, tree, settings):
        settings.RESIDENT_RATE_LIMITS = {**settings.RESIDENT_RATE_LIMITS, "report_contact": (1, 3600)}
        first = form_data(categories, tree, description="第一个问题描述")
        assert post_report(Client(REMOTE_ADDR="10.0.0.1"), first).status_code == 302
        second = form_data(categories, tree, description="第二个问题描述")
        response = post_report(Client(REMOTE_ADDR="10.0.0.2", HTTP_COOKIE="django_language=en"), second)
        assert response.status_code == 429
        assert "Too many requests" in response.content.decode()
        assert Case.objects.count() == 1
        # The refused text was not reserved as a duplicate: once allowed, it goes through.
        settings.RESIDENT_RATE_LIMITS = {**settings.RESIDENT_RATE_LIMITS, "report_contact": (5, 3600)}
        assert post_report(Client(REMOTE_ADDR="10.0.0.3"), second).status_code == 302

    def test_a_forged_forwarded_header_does_not_escape_the_limit(self, categories, tree, settings):
        settings.RESIDENT_RATE_LIMITS = {**settings.RESIDENT_RATE_LIMITS, "report_ip": (1, 3600)}
        client = Client(REMOTE_ADDR="10.0.0.1")
        post_report(client, form_data(categories, tree, description="第一个问题描述"))
        response = post_report(
            client, form_data(categories, tree, description="第二个问题"), HTTP_X_FORWARDED_FOR="1.2.3.4"
        )
        assert response.status_code == 429

    def test_behind_a_proxy_the_forwarded_address_counts(self, categories, tree, settings):
        settings.AXES_IPWARE_PROXY_COUNT = 1
        settings.RESIDENT_RATE_LIMITS = {**settings.RESIDENT_RATE_LIMITS, "report_ip": (1, 3600)}
        proxy = Client(REMOTE_ADDR="10.9.9.9")
        one = form_data(categories, tree, description="第一个问题描述", contact_phone="13900000001")
        two = form_data(categories, tree, description="第二个问题描述", contact_phone="13900000002")
        assert post_report(proxy, one, HTTP_X_FORWARDED_FOR="1.1.1.1").status_code == 302
        assert post_report(proxy, two, HTTP_X_FORWARDED_FOR="2.2.2.2").status_code == 302
        # A client cannot choose its address by sending its own header: the proxy appends the real one.
        assert (
            post_report(proxy, {**two, "description": "第三个"}, HTTP_X_FORWARDED_FOR="9.9.9.9, 2.2.2.2").status_code
            == 429
        )

    def test_tracking_lookups(self, client, categories, tree, settings):
        settings.RESIDENT_RATE_LIMITS = {**settings.RESIDENT_RATE_LIMITS, "track_ip": (3, 3600)}
        post_report(client, form_data(categories, tree))
        url = reverse("residents:track", args=[reported_case().tracking_code])
        assert [client.get(url).status_code for _ in range(3)] == [200, 200, 200]
        response = client.get(url)
        assert response.status_code == 429 and "Too many requests" in response.content.decode()

    def test_ratings(self, client, categories, tree, staff, settings):
        settings.RESIDENT_RATE_LIMITS = {**settings.RESIDENT_RATE_LIMITS, "rate_ip": (1, 3600)}
        post_report(client, form_data(categories, tree))
        to_fed_back(reported_case(), staff)
        url = reverse("residents:rate", args=[emailed_token()])
        assert client.post(url, {"rating": "bogus"}).status_code == 400
        response = client.post(url, {"rating": "satisfied", "comment": "好"})
        assert response.status_code == 429
        assert "Too many requests" in response.content.decode()
        assert reported_case().status == "fed_back"
        assert RatingInvitation.objects.filter(used_at__isnull=False).count() == 0

    def test_counters_hold_across_processes(self, settings):
        # Web processes share the count through the cache (Redis, or the file cache of the
        # embedded default): other processes' hits count here, and none is lost when they race.
        settings.RESIDENT_RATE_LIMITS = {**settings.RESIDENT_RATE_LIMITS, "report_ip": (1000, 3600)}
        script = (
            "import django; django.setup()\n"
            "from cases.residents import limits\n"
            "for _ in range(25): limits.hit('report_ip', '10.1.1.1')\n"
        )
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gov_platform.settings"}
        workers = [
            subprocess.Popen([sys.executable, "-c", script], env=env, cwd=Path(__file__).resolve().parents[2])
            for _ in range(4)
        ]
        assert [w.wait(timeout=120) for w in workers] == [0, 0, 0, 0]
        key = limits.counter_key("report_ip", "10.1.1.1")
        assert cache.get(key) == 100
        assert "10.1.1.1" not in key  # identities are hashed, never kept in clear
        settings.RESIDENT_RATE_LIMITS = {**settings.RESIDENT_RATE_LIMITS, "report_ip": (100, 3600)}
        assert not limits.hit("report_ip", "10.1.1.1").allowed
        assert limits.hit("report_ip", "10.1.1.2").allowed


# --- /track/<code>/ -----------------------------------------------------------------------------
@pytest.mark.django_db
class TestTracking:
    def walk(self, client, categories, tree, staff):
        """A resident's case through every stage, with internal comments at each step."""
        post_report(client, form_data(categories, tree, photos=[upload()]))
        case = reported_case()
        steps = [
            ("assess", {"comment": "内部研判意见甲"}),
            ("assign", {"department": tree.dept_a, "comment": "内部派遣意见乙"}),
        ]
        for name, params in steps:
            case = transition_case(actor=staff, case=case, name=name, **params)
        dept_user = User.objects.get(username="dept_a")
        case = transition_case(actor=dept_user, case=case, name="send_back", comment="内部退回理由丙")
        case = transition_case(actor=staff, case=case, name="assign", comment="")
        case = transition_case(
            actor=staff, case=case, name="handle", result="路灯已更换，恢复照明", photos=[upload(name="after.png")]
        )
        case = transition_case(actor=staff, case=case, name="reject", comment="内部核查不通过丁")
        case = transition_case(actor=staff, case=case, name="handle", result="路灯已更换，恢复照明")
        case = transition_case(actor=staff, case=case, name="feed_back", comment="内部核查意见戊")
        return case

    def test_timeline_status_and_result_without_personal_data_or_internal_comments(
        self, client, categories, tree, staff, people
    ):
        case = self.walk(client, categories, tree, staff)
        response = client.get(reverse("residents:track", args=[case.tracking_code]))
        assert response.status_code == 200
        html = response.content.decode()
        assert case.tracking_code in html and case.number in html
        assert "Done, waiting for the rating" in html
        assert "路灯已更换，恢复照明" in html  # the public result
        assert "邻里纠纷" in html and "甲一网格" in html
        timeline = re.findall(r"<li>([^<]+)<time", html)
        assert timeline == [
            "Report received",
            "Accepted",
            "Passed to the handling unit",
            "Passed to the handling unit",
            "Handled",
            "Handled",
            "Result verified",
        ]
        assert len(re.findall(r'<time datetime="\d{4}-\d\d-\d\dT', html)) == 7
        # Never: the resident's contact, what they wrote, staff names, internal comments.
        for secret in [PHONE, EMAIL, NAME, "3912345678", "resident@", "甲一楼院3号楼门口", "晚上很黑"]:
            assert secret not in html, secret
        for comment in ["内部研判意见甲", "内部派遣意见乙", "内部退回理由丙", "内部核查不通过丁", "内部核查意见戊"]:
            assert comment not in html, comment
        for user in [staff, people[Role.DEPARTMENT_STAFF]]:
            assert user.username not in html and user.real_name not in html
        assert "/media/" not in html

    def test_the_result_waits_for_verification(self, client, categories, tree, staff):
        post_report(client, form_data(categories, tree))
        case = reported_case()
        for name, params in [("assess", {}), ("assign", {}), ("handle", {"result": "未核查的处置结果"})]:
            params = {**params, "photos": [upload()]} if name == "handle" else params
            case = transition_case(actor=staff, case=case, name=name, **params)
        html = client.get(reverse("residents:track", args=[case.tracking_code])).content.decode()
        assert "Handled, being verified" in html and "未核查的处置结果" not in html

    def test_dismissed_shows_the_reason_not_the_comment(self, client, categories, tree, staff):
        post_report(client, form_data(categories, tree))
        case = transition_case(
            actor=staff, case=reported_case(), name="dismiss", reason="outside", comment="内部说明：归区水务局"
        )
        html = client.get(reverse("residents:track", args=[case.tracking_code])).content.decode()
        assert "Not accepted" in html and "Outside our jurisdiction" in html
        assert "内部说明" not in html

    def test_lower_case_code_works(self, client, categories, tree):
        post_report(client, form_data(categories, tree))
        code = reported_case().tracking_code
        assert client.get(f"/track/{code.lower()}/").status_code == 200

    @pytest.mark.parametrize("code", ["ABCDEFGHJK", "short", "<script>", "x" * 40, "%3Cb%3E"])
    def test_unknown_codes_get_a_404_page(self, client, categories, tree, code):
        post_report(client, form_data(categories, tree))
        response = client.get(f"/track/{code}/")
        assert response.status_code == 404
        html = response.content.decode()
        assert "No report has this tracking code." in html
        assert "<script>" not in html

    def test_the_lookup_form(self, client, categories, tree):
        post_report(client, form_data(categories, tree))
        code = reported_case().tracking_code
        assert client.get(reverse("residents:track_lookup")).status_code == 200
        response = client.get(reverse("residents:track_lookup"), {"code": f" {code[:5].lower()} {code[5:]} "})
        assert response.status_code == 302 and response["Location"] == f"/track/{code}/"
        bad = client.get(reverse("residents:track_lookup"), {"code": "??"})
        assert bad.status_code == 400 and "A tracking code is 10 letters and digits." in bad.content.decode()

    def test_a_rework_shows_in_the_timeline(self, client, categories, tree, staff):
        post_report(client, form_data(categories, tree))
        case = to_fed_back(reported_case(), staff)
        transition_case(actor=None, case=case, name="rate", rating="dissatisfied", rating_comment="不满意的原话")
        html = client.get(reverse("residents:track", args=[case.tracking_code])).content.decode()
        assert "Being handled" in html
        assert re.findall(r"<li>([^<]+)<time", html)[-2:] == ["Rated", "Reopened for rework"]
        assert "不满意的原话" not in html
        assert "已更换路灯" not in html  # the old result is not the current one


# --- /rate/<token>/ -----------------------------------------------------------------------------
@pytest.mark.django_db
class TestRatingPage:
    @pytest.fixture
    def fed_back(self, client, categories, tree, staff):
        post_report(client, form_data(categories, tree, photos=[upload()]))
        case = to_fed_back(reported_case(), staff)
        return case, reverse("residents:rate", args=[emailed_token()])

    def test_the_page_shows_what_was_reported_and_done(self, client, fed_back):
        case, url = fed_back
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert case.number in html
        assert "小区门口的路灯坏了一周" in html  # what was reported
        assert "已更换路灯" in html  # the handler's result
        after = Attachment.objects.get(case=case, kind=AttachmentKind.AFTER)
        before = Attachment.objects.get(case=case, kind=AttachmentKind.BEFORE)
        assert f'src="{after.image.url}"' in html and before.image.url not in html
        assert 'alt="Photo after handling 1"' in html
        assert "内部核查意见" not in html  # the verifier's comment is internal
        assert PHONE not in html and EMAIL not in html
        for value, label in [
            ("satisfied", "Satisfied"),
            ("basically", "Basically satisfied"),
            ("dissatisfied", "Dissatisfied"),
        ]:
            assert re.search(rf'<label for="id_rating_\d">\s*<input type="radio" name="rating" value="{value}"', html)
            assert label in html
        assert "<legend>" in html  # the radio group has an accessible name

    def test_the_choices_read_in_chinese(self, fed_back):
        _, url = fed_back
        html = Client().get(url).content.decode()
        labels = re.findall(r'<input type="radio" name="rating" value="\w+"[^>]*>\s*([^<]+?)\s*</label>', html)
        assert labels == ["满意", "基本满意", "不满意"]
        assert "评价处理结果" in html and "提交评价" in html

    def test_dissatisfied_reopens_and_the_link_is_then_used(self, client, fed_back):
        case, url = fed_back
        response = client.post(url, {"rating": "dissatisfied", "comment": "灯还是不亮"})
        assert response.status_code == 200
        assert "the case was reopened" in response.content.decode()
        case.refresh_from_db()
        assert (case.status, case.rework_count, case.rating, case.rating_comment) == (
            "assigned",
            1,
            "dissatisfied",
            "灯还是不亮",
        )
        assert case.rated_by_phone is False
        again = client.get(url)
        assert again.status_code == 410
        assert "This rating link has already been used" in again.content.decode()
        assert client.post(url, {"rating": "satisfied"}).status_code == 410
        case.refresh_from_db()
        assert (case.status, case.rating) == ("assigned", "dissatisfied")

    def test_satisfied_ends_the_case(self, client, fed_back):
        case, url = fed_back
        response = client.post(url, {"rating": "satisfied"})
        assert response.status_code == 200 and "was recorded" in response.content.decode()
        case.refresh_from_db()
        assert (case.status, case.rating, case.rating_comment) == ("rated", "satisfied", "")

    @pytest.mark.parametrize(
        "data",
        [{}, {"rating": "great"}, {"rating": "satisfied", "comment": "长" * 501}],
        ids=["no-rating", "unknown-rating", "comment-too-long"],
    )
    def test_bad_input_changes_nothing(self, client, fed_back, data):
        case, url = fed_back
        response = client.post(url, data)
        assert response.status_code == 400
        assert 'class="errorlist' in response.content.decode()
        assert Case.objects.get(pk=case.pk).status == "fed_back"
        assert client.get(url).status_code == 200  # the link still works

    @pytest.mark.parametrize(
        "mangle",
        [lambda t: t[:-2] + "xx", lambda t: t.split(":")[0], lambda t: "AAAA" + t[4:], lambda t: "nothing-here"],
        ids=["signature", "unsigned", "payload", "garbage"],
    )
    def test_tampered_links_get_a_404_page_and_change_nothing(self, client, fed_back, mangle):
        case, url = fed_back
        token = url.split("/")[2]
        bad = reverse("residents:rate", args=[mangle(token)])
        for response in (client.get(bad), client.post(bad, {"rating": "dissatisfied"})):
            assert response.status_code == 404
            assert "This rating link is not valid." in response.content.decode()
        assert Case.objects.get(pk=case.pk).status == "fed_back"

    def test_expired_links_get_a_410_page_and_change_nothing(self, client, fed_back):
        case, url = fed_back
        # Seven days later (the link's validity), moved on the row rather than waited for.
        RatingInvitation.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
        for response in (client.get(url), client.post(url, {"rating": "dissatisfied"})):
            assert response.status_code == 410
            assert "This rating link has expired." in response.content.decode()
        assert Case.objects.get(pk=case.pk).status == "fed_back"

    def test_a_link_of_a_closed_case(self, client, fed_back):
        case, url = fed_back
        transition_case(actor=None, case=case, name="close")
        response = client.get(url)
        assert response.status_code == 410 and "can no longer be rated" in response.content.decode()
        assert f'href="/track/{case.tracking_code}/"' in response.content.decode()

    def test_the_sms_link_works_the_same(self, client, fed_back):
        case, _ = fed_back
        ((to, text),) = sms.outbox
        assert to == PHONE
        token = TOKEN_IN_TEXT.search(text).group(1)
        assert client.post(reverse("residents:rate", args=[token]), {"rating": "basically"}).status_code == 200
        assert Case.objects.get(pk=case.pk).rating == "basically"


# --- HTML is text everywhere -------------------------------------------------------------------
@pytest.mark.django_db
class TestEscaping:
    def test_html_in_every_text_field_is_inert(self, client, categories, tree, staff):
        categories["dispute"].name = "<b>类别</b>" + XSS
        categories["dispute"].save()
        tree.grid_a.name = "<i>网格</i>" + XSS
        tree.grid_a.save()
        data = form_data(
            categories,
            tree,
            description="描述" + XSS,
            address="地址" + XSS,
            contact_name="名" + XSS[:40],
            contact_email="",
        )
        assert post_report(client, data).status_code == 302
        case = reported_case()
        assert case.description.endswith(XSS)  # stored as typed: escaping is the output's job

        pages = [client.get(reverse("residents:report"))]
        # The form echoes what was typed after an error.
        pages.append(post_report(client, {**data, "contact_phone": XSS, "contact_email": XSS, "grid": ""}))
        case = transition_case(actor=staff, case=case, name="assess")
        case = transition_case(actor=staff, case=case, name="assign")
        case = transition_case(actor=staff, case=case, name="handle", result="结果" + XSS, photos=[upload()])
        Case.objects.filter(pk=case.pk).update(contact_email=EMAIL)
        case.refresh_from_db()
        case = transition_case(actor=staff, case=case, name="feed_back", comment="核查" + XSS)
        url = reverse("residents:rate", args=[emailed_token()])
        pages.append(client.get(reverse("residents:track", args=[case.tracking_code])))
        pages.append(client.get(url))
        pages.append(client.post(url, {"rating": "bogus", "comment": "评论" + XSS}))
        pages.append(client.post(url, {"rating": "dissatisfied", "comment": "评论" + XSS}))
        pages.append(client.get(url))
        for response in pages:
            html = response.content.decode()
            assert "<script>alert" not in html and "<img src=x" not in html, response.request["PATH_INFO"]
            assert "<b>类别</b>" not in html and "<i>网格</i>" not in html
        track, rate_page, rate_error = (p.content.decode() for p in pages[2:5])
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in track  # the result and names, as text
        assert "描述&lt;script&gt;" in rate_page and "结果&lt;script&gt;" in rate_page
        assert "评论&lt;script&gt;" in rate_error
        assert "&lt;script&gt;" in pages[1].content.decode()
        # The rating email to the resident escapes the staff's result too.
        html_mail = mail.outbox[-1].alternatives[0][0]
        assert "<script>alert" not in html_mail and "结果&lt;script&gt;" in html_mail

    def test_a_stored_rating_comment_stays_text_in_the_admin(self, client, categories, tree, staff, people):
        post_report(client, form_data(categories, tree))
        case = to_fed_back(reported_case(), staff)
        url = reverse("residents:rate", args=[emailed_token()])
        client.post(url, {"rating": "satisfied", "comment": XSS})
        admin = Client()
        admin.force_login(people["superuser"])
        html = admin.get(reverse("admin:cases_case_change", args=[case.pk])).content.decode()
        assert '<script>alert("x")' not in html
        assert "&lt;script&gt;" in html


# --- the office's phone visit (回访) --------------------------------------------------------------
@pytest.mark.django_db
def test_a_dissatisfied_phone_visit_in_the_admin_reopens_the_case(client, categories, tree, staff):
    post_report(client, form_data(categories, tree))
    case = to_fed_back(reported_case(), staff)
    office = Client()
    office.force_login(staff)
    url = reverse("admin:cases_case_transition", kwargs={"object_id": case.pk, "transition_name": "rate"})
    page = office.get(url)
    assert page.status_code == 200
    response = office.post(url, {"rating": "dissatisfied", "rating_comment": "电话回访：仍不满意"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.status, case.rework_count, case.rated_by_phone, case.rating_comment) == (
        "assigned",
        1,
        True,
        "电话回访：仍不满意",
    )
    logs = StateLog.objects.filter(content_type=ContentType.objects.get_for_model(Case), object_id=case.pk)
    assert list(logs.order_by("pk").values_list("transition", "by"))[-2:] == [("rate", staff.pk), ("rework", None)]
    # The resident's own link of that round no longer rates anything.
    token_page = client.get(reverse("residents:rate", args=[emailed_token()]))
    assert token_page.status_code == 410


@pytest.mark.django_db
def test_rating_pages_are_not_cached_and_keep_their_address_to_themselves(client, categories, tree, staff):
    post_report(client, form_data(categories, tree))
    case = to_fed_back(reported_case(), staff)
    response = client.get(reverse("residents:rate", args=[emailed_token()]))
    assert "no-store" in response["Cache-Control"]
    assert '<meta name="referrer" content="same-origin">' in response.content.decode()
    assert "no-store" in client.get(reverse("residents:track", args=[case.tracking_code]))["Cache-Control"]
