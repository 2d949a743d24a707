"""Nearby duplicates offered on the forms; a resident follows instead of filing; a dispatcher merges.

Followers get the tracking link, the updates and the rating invitation — once per round, after a merge too —
and the offer never shows another resident's report or contact."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import SecurityEvent, User
from accounts.roles import Role
from cases.followers import follow_case, merge_into
from cases.models import Case, CaseFollower, Category, FollowVia, RatingInvitation, Status
from cases.residents import invitations
from cases.selectors import contact_for, followers_for
from cases.services import create_case, transition_case
from demo.district import seed_demo
from gov_platform.masking import mask_email, mask_name, mask_phone
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


# --- officials see the followers on the case page (read-only, masked like the reporter's contact) -----------
@pytest.fixture
def followed(categories, tree, people):
    """A case in grid A reported by a resident with a phone and accepted, followed by one resident and,
    through a merge, by a dismissed duplicate's reporter."""
    case = create_case(
        actor=None,
        source="resident",
        title="楼道堆放杂物",
        description="三楼楼道堆放纸箱",
        category=categories["dispute"],
        grid=tree.grid_a,
        contact_name="张三",
        contact_phone=PHONE_A,
    )
    case = transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="assess")
    follow_case(case=case, name="李四", phone=PHONE_B, email="lisi@example.com")
    duplicate = create_case(
        actor=None,
        source="resident",
        title="同一堆杂物",
        description="楼道杂物又堆起来了",
        category=categories["dispute"],
        grid=tree.grid_a,
        contact_name="王五",
        contact_phone=PHONE_C,
    )
    # The dispatcher dismisses it as a duplicate: its reporter follows the kept case (the merge).
    transition_case(
        actor=people[Role.COMMUNITY_STAFF],
        case=duplicate,
        name="dismiss",
        reason="duplicate",
        duplicate_of=case,
        comment="重复上报",
    )
    return {"case": Case.objects.get(pk=case.pk), "duplicate": duplicate}


def case_page(client, user, case):
    client.force_login(user)
    return client.get(f"/admin/cases/case/{case.pk}/change/")


def panel(response):
    html = response.content.decode()
    start = html.index('id="case-followers"')
    return html[start : html.index("</section>", start)]


def test_the_dispatcher_reads_the_followers_in_full(client, followed, people):
    html = panel(case_page(client, people[Role.COMMUNITY_STAFF], followed["case"]))
    assert "李四" in html and PHONE_B in html and "lisi@example.com" in html
    assert "王五" in html and PHONE_C in html
    # How each came: followed from /report/, or merged from the dismissed duplicate (linked by its number).
    assert html.count('class="follower-follow"') == 1 and html.count('class="follower-merge"') == 1
    assert f'/admin/cases/case/{followed["duplicate"].pk}/change/">{followed["duplicate"].number}</a>' in html
    assert "已脱敏" not in html
    # Not fed back yet: they will be invited at feed-back (反馈时邀请).
    assert html.count("反馈时邀请") == 2


def test_an_official_who_may_not_read_contacts_sees_them_masked_like_the_reporters(client, followed, make_user, tree):
    colleague = make_user(Role.GRID_WORKER, area=tree.grid_a)  # sees grid A's cases; not dispatcher nor reporter
    case = followed["case"]
    assert contact_for(colleague, case)["masked"]
    response = case_page(client, colleague, case)
    body = response.content.decode()
    for secret in ("李四", PHONE_B, "lisi@example.com", "王五", PHONE_C):
        assert secret not in body
    html = panel(response)
    assert f"{mask_name('李四')} · {mask_phone(PHONE_B)} · {mask_email('lisi@example.com')}" in html
    assert "（已脱敏：派遣人员和承办单位可见完整信息）" in html
    assert all(f["masked"] for f in followers_for(colleague, case))


def test_followers_are_shown_only_to_officials_who_see_the_case(client, followed, make_user, tree):
    other_street = make_user(Role.STREET_STAFF, area=tree.street_b)
    response = case_page(client, other_street, followed["case"])
    assert response.status_code == 302  # the admin's "does not exist" for a case outside the scope
    body = client.get(response["Location"]).content.decode()
    for secret in ("李四", PHONE_B, mask_phone(PHONE_B), "王五"):
        assert secret not in body


def test_the_invitation_of_this_round_is_shown(client, followed, people):
    staff = people[Role.COMMUNITY_STAFF]
    case = followed["case"]
    case = transition_case(actor=staff, case=case, name="assign", area=case.grid.parent)
    case = transition_case(actor=staff, case=case, name="handle", result="已清理", photos=[_photo()])
    case = transition_case(actor=staff, case=case, name="feed_back", comment="核查属实")
    html = panel(case_page(client, staff, case))
    assert html.count(">已邀请<") == 2 and "反馈时邀请" not in html
    # A follower who joined after the round's invitations went out (here: marked so) reads "not invited".
    CaseFollower.objects.filter(case=case, phone=PHONE_C).update(invited_for=None)
    html = panel(case_page(client, staff, case))
    assert html.count(">已邀请<") == 1 and html.count(">未邀请<") == 1


def test_the_case_page_reads_followers_in_one_query_however_many(client, followed, people, categories, tree):
    """Flat query count: one follower or eight, the page asks the same number of queries."""
    staff = people[Role.COMMUNITY_STAFF]
    case = followed["case"]
    client.force_login(staff)
    url = f"/admin/cases/case/{case.pk}/change/"
    client.get(url)  # warm: the session, the content types
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for i in range(6):
        duplicate = create_case(
            actor=None,
            source="resident",
            title=f"重复{i}",
            description=f"重复上报{i}",
            category=categories["dispute"],
            grid=tree.grid_a,
            contact_phone=f"1360013600{i}",
        )
        merge_into(duplicate=duplicate, kept=case, now=timezone.now())
    assert CaseFollower.objects.filter(case=case).count() == 8
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert panel(response).count('<tr class="follower-') == 8
    follower_queries = [q["sql"] for q in many.captured_queries if "cases_casefollower" in q["sql"]]
    assert len(follower_queries) == 1, follower_queries
    assert len(many.captured_queries) == len(few.captured_queries), [q["sql"] for q in many.captured_queries]


def test_an_unmasked_followers_contact_is_logged_even_without_a_reporters(client, make_case, people):
    """A grid worker's report has no resident contact; its merged followers' contacts are still personal data."""
    case = make_case("assessed")
    follow_case(case=case, name="李四", phone=PHONE_B)
    staff = people[Role.COMMUNITY_STAFF]
    assert PHONE_B in panel(case_page(client, staff, case))
    events = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.CONTACT_VIEWED)
    assert [(e.actor, e.target) for e in events] == [(staff, case.number)]


def test_the_followers_panel_reads_in_chinese(followed, people):
    from django.test import Client

    client = Client()  # no language chosen: the office reads Chinese
    html = panel(case_page(client, people[Role.COMMUNITY_STAFF], followed["case"]))
    for words in ("关注人（2）", "姓名及联系方式", "关注方式", "关注时间", "本轮是否已邀请评价", "反馈时邀请"):
        assert words in html, words
    assert "关注而未重复上报" in html and "其上报已合并到本案件" in html
