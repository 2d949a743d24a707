import base64

import pytest
from django.contrib.auth.models import Group

from accounts.models import Post, User
from accounts.roles import Role
from cases.models import EventType
from demo.district import seed_demo
from grids.locator import current_locator
from grids.models import Area, Camera, Department, PartyOrganization


def snapshot():
    return (
        list(
            Area.objects.order_by("code").values_list(
                "code", "name", "path", "parent__code", "population", "households", "boundary"
            )
        ),
        list(Department.objects.order_by("code").values_list("code", "name", "area__code", "phone")),
        list(PartyOrganization.objects.order_by("code").values_list("code", "kind", "name", "area__code", "members")),
        list(User.objects.order_by("username").values_list("username", "real_name", "mobile", "is_staff", "password")),
        sorted(Post.objects.values_list("user__username", "role", "area__code", "department__code", "is_supervisor")),
        sorted(User.groups.through.objects.values_list("user__username", "group__name")),
        list(
            Camera.objects.order_by("code").values_list("code", "name", "latitude", "longitude", "grid__code", "status")
        ),
        list(EventType.objects.order_by("code").values_list("code", "name", "category__code")),
    )


@pytest.mark.django_db
def test_seed_builds_the_model_district_and_is_idempotent():
    summary = seed_demo()
    assert summary.areas == {"district": 1, "street": 6, "community": 255, "grid": 400, "building": 1600}
    assert Department.objects.count() == 22
    assert Post.objects.filter(role="grid_worker", is_full_time=True).values("area").distinct().count() == 400
    assert Post.objects.filter(role="street_leader").count() == 210
    for tier in ("district", "street"):
        assert Post.objects.filter(is_supervisor=True, area__tier=tier).exists()
    assert not Area.objects.filter(tier="grid").exclude(posts__role="grid_worker").exists()
    assert Area.objects.get(code="370702").population == sum(
        Area.objects.filter(tier="grid").values_list("population", flat=True)
    )
    kinds = set(PartyOrganization.objects.values_list("kind", flat=True))
    assert kinds == {"street_committee", "community_committee", "grid_branch", "building_group", "member_household"}
    roles = {username for username, _label, _pw in summary.logins}
    assert {"admin", "district", "street1", "community001", "grid001", "leader001", "dept_ga"} <= roles
    assert User.objects.get(username="grid001").groups.filter(name="grid_worker").exists()
    assert User.objects.get(username="grid001").check_password(summary.logins[0][2])

    # 17,000 cameras, each at a point its own grid holds, and the video event types.
    cameras = list(Camera.objects.values_list("longitude", "latitude", "grid_id"))
    assert len(cameras) == 17_000
    located = current_locator().grid_ids_at([float(c[0]) for c in cameras], [float(c[1]) for c in cameras])
    assert located == [c[2] for c in cameras]
    assert EventType.objects.count() == 5

    first = snapshot()
    seed_demo()
    assert snapshot() == first
    # One group per role and the three duty groups (三员分立 and the privacy officer); a second seed adds none.
    assert set(Group.objects.values_list("name", flat=True)) == {
        *Role.values,
        "security_auditor",
        "security_admin",
        "privacy_officer",
    }


@pytest.mark.django_db
def test_seed_command_prints_logins(capsys):
    from django.core.management import call_command

    call_command("seed_demo", cases=0)
    out = capsys.readouterr().out
    assert "grid001" in out and "Demo@2026!" in out and "district_sup" in out
    assert "DEMOGRIDGOVERNANCE2FASECRETKEY23" in out and "demo_otp" in out


@pytest.mark.django_db
def test_demo_district_login_with_the_printed_two_factor_key(client, capsys):
    """The README's way in for a login that must use two-factor: password, then the current code."""
    from django.core.management import call_command
    from django_otp.oath import TOTP

    from demo.district import DEMO_PASSWORD, DEMO_TOTP_SECRET

    summary = seed_demo()
    assert {"admin", "district", "district_sup"} <= set(summary.otp_logins)
    assert "street1" not in summary.otp_logins
    response = client.post("/admin/login/?next=/admin/", {"username": "district", "password": DEMO_PASSWORD})
    assert response["Location"].startswith("/admin/two-factor/verify/")
    app = TOTP(base64.b32decode(DEMO_TOTP_SECRET))  # an authenticator app with the printed key typed in
    shown = {f"{app.token():06d}"}
    call_command("demo_otp", "district")
    code = capsys.readouterr().out.strip()
    shown.add(f"{app.token():06d}")  # the 30-second step may have turned meanwhile
    assert code in shown
    assert client.post("/admin/two-factor/verify/", {"code": code, "next": "/admin/"})["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_a_demo_password_breaking_the_rules_is_refused():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--password"):
        call_command("seed_demo", password="demo", cases=0)


@pytest.mark.django_db
def test_seed_adds_sample_cases_once(capsys):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from cases.models import Case, Escalation
    from metrics.models import SafetyIndexRun

    call_command("seed_demo", cases=60)
    assert Case.objects.count() == 60
    assert set(Case.objects.values_list("status", flat=True)) >= {"assigned", "rated"}
    # The six ended months are recorded, so the dashboard and /public/ show the same index from the start.
    assert SafetyIndexRun.objects.count() == 6
    assert not Escalation.objects.filter(created_at__gt=timezone.now()).exists()
    for case in Case.objects.select_related("category"):
        assert case.priority == case.category.priority
        assert case.title and "测试" not in case.address and case.address in case.description
        if case.priority == "urgent" and not case.send_back_count:  # urgent entries count natural hours
            assert case.assess_deadline - case.reported_at <= timedelta(hours=4)
    call_command("seed_demo", cases=60)
    assert Case.objects.count() == 60
    assert SafetyIndexRun.objects.count() == 6


@pytest.mark.django_db
def test_seed_refuses_a_negative_count():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="negative"):
        call_command("seed_demo", cases=-1)


@pytest.mark.django_db
def test_seed_has_a_privacy_officer_login_without_a_post():
    summary = seed_demo()
    assert "privacy" in {username for username, _label, _pw in summary.logins}
    officer = User.objects.get(username="privacy")
    assert officer.is_staff and not officer.is_superuser and not officer.posts.exists()
    assert officer.has_perm("cases.handle_subject_request")
    assert officer.check_password(summary.logins[0][2])
