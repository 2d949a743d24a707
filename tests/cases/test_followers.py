"""Nearby duplicates offered on the forms; a resident follows instead of filing; a dispatcher merges.

Followers get the tracking link, the updates and the rating invitation — once per round, after a merge too —
and the offer never shows another resident's report or contact."""

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.models import User
from cases.followers import follow_case, merge_into
from cases.models import Case, CaseFollower, Category, FollowVia, RatingInvitation, Status
from cases.residents import invitations
from cases.services import create_case, transition_case
from demo.district import seed_demo
from grids.geometry import METRES_PER_DEGREE, to_shape
from outbox.models import Notification
from tests.api_support import isolate_throttling
from tests.cases.conftest import _photo

pytestmark = pytest.mark.django_db

PHONE_A, PHONE_B, PHONE_C = "13800138001", "13900139002", "13700137003"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, settings, tmp_path):
    isolate_throttling(monkeypatch)
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()


@pytest.fixture
def spot():
    """An open 井盖 case at the centre of grid001's grid, reported by a resident with a phone."""
    seed_demo()
    worker = User.objects.get(username="grid001")
    grid = worker.posts.get().area
    centre = to_shape(grid.boundary).centroid
    lat, lng = round(centre.y, 6), round(centre.x, 6)
    category = Category.objects.get(code="0403")
    category.public = True
    category.save()
    case = create_case(
        actor=None,
        source="resident",
        title="井盖缺失",
        description="井盖缺失，夜里很危险，张三报",
        category=category,
        grid=grid,
        latitude=f"{lat:.6f}",
        longitude=f"{lng:.6f}",
        contact_name="张三",
        contact_phone=PHONE_A,
    )
    return {"lat": lat, "lng": lng, "category": category, "grid": grid, "case": case, "worker": worker}


def report_form(spot, **extra):
    return {
        "category": str(spot["category"].pk),
        "description": "这里的井盖不见了",
        "latitude": f"{spot['lat'] + 10 / METRES_PER_DEGREE:.6f}",
        "longitude": f"{spot['lng']:.6f}",
        "contact_name": "李四",
        "contact_phone": PHONE_B,
        **extra,
    }


def follow_form(spot, case=None, **extra):
    return {
        "case": str(getattr(case, "pk", case) if case is not None else spot["case"].pk),
        "category": str(spot["category"].pk),
        "latitude": f"{spot['lat'] + 10 / METRES_PER_DEGREE:.6f}",
        "longitude": f"{spot['lng']:.6f}",
        "contact_name": "李四",
        "contact_phone": PHONE_B,
        **extra,
    }


def sent(kind, address):
    return Notification.objects.filter(kind=kind, to_address=address).count()


def test_report_offers_the_open_case_nearby_first_without_its_details(client, spot):
    before = Case.objects.count()
    response = client.post("/report/", report_form(spot))
    page = response.content.decode()
    assert response.status_code == 200 and Case.objects.count() == before
    assert 'id="nearby-offers"' in page and spot["category"].name in page
    # Nothing personal or internal of the other report: no description, contact, number or tracking code.
    for secret in ("张三", PHONE_A, "夜里很危险", spot["case"].tracking_code, spot["case"].number):
        assert secret not in page
    assert 'name="file_anyway" value="1"' in page
    # Another problem after all: filed.
    response = client.post("/report/", report_form(spot, file_anyway="1"))
    assert response.status_code == 302 and Case.objects.count() == before + 1


def test_a_resident_follows_instead_of_filing_once(client, spot, settings):
    case = spot["case"]
    response = client.post("/report/follow/", follow_form(spot))
    assert response.status_code == 200, response.content.decode()
    follower = CaseFollower.objects.get(case=case)
    assert (follower.phone, follower.via) == (PHONE_B, FollowVia.FOLLOW)
    assert sent("case_followed", PHONE_B) == 1
    assert case.tracking_code not in response.content.decode()  # the link goes to their phone only
    # A replay changes nothing and sends nothing again.
    assert client.post("/report/follow/", follow_form(spot)).status_code == 200
    assert CaseFollower.objects.filter(case=case).count() == 1 and sent("case_followed", PHONE_B) == 1
    # The reporter following their own case adds nobody.
    assert follow_case(case=case, phone=PHONE_A) is None
    # Not offered for that point (another category, far away) or no contact: refused, nothing saved.
    far = follow_form(spot, latitude=f"{spot['lat'] + 500 / METRES_PER_DEGREE:.6f}", contact_phone=PHONE_C)
    assert client.post("/report/follow/", far).status_code == 404
    assert client.post("/report/follow/", follow_form(spot, contact_phone="", contact_email="")).status_code == 400
    assert client.post("/report/follow/", follow_form(spot, case=999999, contact_phone=PHONE_C)).status_code == 404
    assert CaseFollower.objects.count() == 1
    # Rate-limited like reports (per address).
    settings.RESIDENT_RATE_LIMITS = {**settings.RESIDENT_RATE_LIMITS, "report_ip": (1, 3600)}
    cache.clear()
    client.post("/report/follow/", follow_form(spot, contact_phone=PHONE_C))
    assert client.post("/report/follow/", follow_form(spot, contact_phone=PHONE_C)).status_code == 429


def walk_to_feed_back(case, worker):
    community = worker.posts.get().area.parent
    staff = User.objects.filter(posts__area=community, is_active=True).exclude(pk=worker.pk).first()
    actor = User.objects.filter(is_superuser=True).first()
    case = transition_case(actor=actor, case=case, name="assess")
    case = transition_case(actor=actor, case=case, name="assign", area=community)
    case = transition_case(actor=actor, case=case, name="handle", result="已补装井盖", photos=[_photo()])
    return transition_case(actor=actor, case=case, name="feed_back", comment="核查属实"), staff


def test_followers_get_updates_and_are_invited_to_rate_once(spot):
    case = spot["case"]
    follow_case(case=case, name="李四", phone=PHONE_B)
    case, _staff = walk_to_feed_back(Case.objects.get(pk=case.pk), spot["worker"])
    assert sent("case_update", PHONE_B) >= 3  # accepted, passed on, handled, verified
    assert sent("rating_invitation", PHONE_A) == 1 and sent("rating_invitation", PHONE_B) == 1
    # Asked again for the same round: nobody is invited twice.
    invitations.invite_followers(case, list(case.followers.all()), now=timezone.now())
    assert sent("rating_invitation", PHONE_B) == 1
    # A follower's link rates the case like the reporter's (the first rating settles the round).
    invitation = RatingInvitation.objects.filter(case=case).order_by("pk").last()
    assert invitation.case_id == case.pk


def test_merge_makes_the_duplicates_contacts_followers_invited_once_also_after_feed_back(spot):
    kept = spot["case"]
    duplicate = create_case(
        actor=None,
        source="resident",
        title="井盖丢了",
        description="同一个井盖",
        category=spot["category"],
        grid=spot["grid"],
        contact_phone=PHONE_B,
    )
    follow_case(case=duplicate, phone=PHONE_C)
    kept, _staff = walk_to_feed_back(Case.objects.get(pk=kept.pk), spot["worker"])
    actor = User.objects.filter(is_superuser=True).first()
    duplicate = transition_case(
        actor=actor,
        case=Case.objects.get(pk=duplicate.pk),
        name="dismiss",
        reason="duplicate",
        duplicate_of=kept,
        comment="重复上报",
    )
    assert duplicate.status == Status.DISMISSED
    merged = {f.phone: f for f in CaseFollower.objects.filter(case=kept)}
    assert set(merged) == {PHONE_B, PHONE_C} and {f.via for f in merged.values()} == {FollowVia.MERGE}
    assert all(f.merged_from_id == duplicate.pk for f in merged.values())
    # The kept case waits for its rating: the merged contacts are invited at once, each once.
    assert sent("rating_invitation", PHONE_B) == 1 and sent("rating_invitation", PHONE_C) == 1
    assert sent("case_followed", PHONE_B) == 1
    # Merged again (a second duplicate with the same contact): still once.
    merge_into(duplicate=duplicate, kept=Case.objects.get(pk=kept.pk), now=timezone.now())
    assert sent("rating_invitation", PHONE_B) == 1 and CaseFollower.objects.filter(case=kept).count() == 2
    # The reporter of the kept case is never their own follower.
    assert not CaseFollower.objects.filter(case=kept, phone=PHONE_A).exists()


def test_admin_add_form_offers_the_open_case_nearby(client, spot):
    client.force_login(spot["worker"])  # the grid's worker records cases in it
    data = {
        "title": "井盖缺失",
        "description": "井盖缺失",
        "category": spot["category"].pk,
        "latitude": f"{spot['lat'] + 5 / METRES_PER_DEGREE:.6f}",
        "longitude": f"{spot['lng']:.6f}",
        "source": "grid_patrol",
        "priority": "normal",
    }
    before = Case.objects.count()
    response = client.post("/admin/cases/case/add/", data)
    assert response.status_code == 200 and Case.objects.count() == before
    assert spot["case"].number in response.content.decode()
    response = client.post("/admin/cases/case/add/", {**data, "file_anyway": "on"})
    assert response.status_code == 302 and Case.objects.count() == before + 1
