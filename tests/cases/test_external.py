"""External systems: registered by the district, a key shown once and stored hashed, a scope of their own."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import SecurityEvent
from accounts.roles import Role
from cases import external
from cases.models import Case, ExternalSystem, Source
from cases.services import create_case

pytestmark = pytest.mark.django_db

KEY = re.compile(r"sys_[A-Za-z0-9_-]+")


def test_registering_makes_a_service_account_and_a_key_stored_only_as_its_digest(make_system):
    system, key = make_system("hotline", name="12345 市民热线")
    user = system.service_user
    assert user.username == "system-hotline" and user.real_name == "12345 市民热线"
    assert not user.has_usable_password() and not user.posts.exists() and not user.is_staff
    assert key.startswith("sys_") and system.key_prefix == key[:10]
    assert not ExternalSystem.objects.filter(key_hash=key).exists()
    assert external.system_for_key(key) == system
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.TOKEN_ISSUED, target_user=user)
    assert event.target == "12345 市民热线"


def test_a_wrong_rotated_or_inactive_key_finds_no_system(make_system):
    system, key = make_system()
    assert external.system_for_key(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert external.system_for_key("") is None
    assert external.system_for_key("Token " + key) is None
    new_key = external.rotate_key(actor=None, system=system)
    assert external.system_for_key(key) is None
    assert external.system_for_key(new_key) == system
    system.is_active = False
    external.save_system(actor=None, system=system, changed=["is_active"])
    assert external.system_for_key(new_key) is None
    system.service_user.refresh_from_db()
    assert not system.service_user.is_active


def test_scope_covers_subcategories_of_a_main_category_areas_below_and_listed_sources(make_system, tree, categories):
    system, _key = make_system()
    ok = {"category": categories["hazard"], "grid": tree.grid_a, "source": Source.HOTLINE}
    assert external.scope_errors(system, **ok) == {}
    assert set(external.scope_errors(system, **{**ok, "category": categories["dispute"]})) == {"category"}
    assert set(external.scope_errors(system, **{**ok, "grid": tree.grid_b})) == {"grid"}
    assert set(external.scope_errors(system, **{**ok, "source": Source.GRID_PATROL})) == {"source"}
    assert list(external.categories_of(system)) == [categories["hazard"]]


def test_the_create_service_checks_the_systems_scope_instead_of_posts(make_system, tree, categories):
    system, _key = make_system()
    base = {
        "actor": system.service_user,
        "title": "井盖缺失",
        "description": "路口井盖缺失",
        "grid": tree.grid_a,
        "source": Source.HOTLINE,
        "external_system": system,
    }
    case = create_case(category=categories["hazard"], external_id="A-1", **base)
    assert (case.reporter, case.external_system, case.external_id) == (system.service_user, system, "A-1")
    with pytest.raises(external.OutsideScope) as refused:
        create_case(category=categories["dispute"], external_id="A-2", **base)
    assert set(refused.value.errors) == {"category"}
    with pytest.raises(external.OutsideScope) as refused:
        create_case(category=categories["hazard"], external_id="A-3", **{**base, "grid": tree.grid_b})
    assert refused.value.field == "grid"
    # Bad input is still a bad request first.
    with pytest.raises(ValidationError):
        create_case(category=categories["dispute"], external_id="A-4", **{**base, "description": ""})
    assert Case.objects.count() == 1


def test_a_service_account_cannot_log_in_for_a_token(client, make_system):
    system, _key = make_system()
    response = client.post("/api/v1/auth/token/", {"username": system.service_user.username, "password": ""})
    assert response.status_code == 400


def _add_form(tree, categories, **extra):
    return {
        "name": "视频监控平台",
        "code": "video",
        "is_active": "on",
        "areas": [tree.district.pk],
        "categories": [categories["hazard_group"].pk],
        "sources": [Source.VIDEO],
        "webhook_url": "https://video.example.gov.cn/hook",
        **extra,
    }


def test_district_staff_register_a_system_in_the_admin_and_see_its_key_once(
    client, role_groups, people, tree, categories
):
    client.force_login(people[Role.DISTRICT_STAFF])
    response = client.post(reverse("admin:cases_externalsystem_add"), _add_form(tree, categories), follow=True)
    assert response.redirect_chain, response.content.decode()[:3000]
    system = ExternalSystem.objects.get(code="video")
    assert system.sources == [Source.VIDEO] and list(system.areas.all()) == [tree.district]
    assert system.webhook_secret
    shown = [str(m) for m in response.context["messages"]]
    key = next(KEY.search(m).group() for m in shown if KEY.search(m))
    assert external.system_for_key(key) == system
    assert any(system.webhook_secret in m for m in shown)
    # The list and the change page never show the key again.
    page = client.get(reverse("admin:cases_externalsystem_change", args=[system.pk])).content.decode()
    assert key not in page and system.webhook_secret not in page


@pytest.mark.parametrize("role", [Role.STREET_STAFF, Role.COMMUNITY_STAFF, Role.GRID_WORKER])
def test_below_the_district_nobody_registers_or_sees_systems(client, role_groups, people, tree, categories, role):
    client.force_login(people[role])
    assert client.post(reverse("admin:cases_externalsystem_add"), _add_form(tree, categories)).status_code == 403
    assert client.get(reverse("admin:cases_externalsystem_changelist")).status_code == 403
    assert client.get(reverse("admin:cases_intakerefusal_changelist")).status_code == 403
    assert not ExternalSystem.objects.exists()


def test_rotating_a_key_in_the_admin_shows_the_new_one_once(client, role_groups, people, make_system):
    system, old = make_system()
    client.force_login(people[Role.DISTRICT_STAFF])
    response = client.post(
        reverse("admin:cases_externalsystem_changelist"),
        {"action": "issue_key", "_selected_action": [system.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert external.system_for_key(old) is None
    shown = [str(m) for m in response.context["messages"]]
    new = next(KEY.search(m).group() for m in shown if KEY.search(m))
    assert external.system_for_key(new) == system


def test_an_unknown_source_is_refused_on_the_model(make_system):
    system, _key = make_system()
    system.sources = ["carrier_pigeon"]
    with pytest.raises(ValidationError):
        external.save_system(actor=None, system=system)


def test_the_command_issues_a_new_key_once_and_names_an_unknown_code(make_system):
    from io import StringIO

    from django.core.management import CommandError, call_command

    system, old = make_system()
    out = StringIO()
    call_command("issue_system_key", "hotline", "--webhook-secret", stdout=out)
    new = KEY.search(out.getvalue()).group()
    assert external.system_for_key(new) == system and external.system_for_key(old) is None
    system.refresh_from_db()
    assert system.webhook_secret in out.getvalue()
    with pytest.raises(CommandError, match="nosuch"):
        call_command("issue_system_key", "nosuch")


def test_the_demo_registers_the_hotline_and_the_video_platform_with_their_printed_keys(tree, categories):
    from demo import systems

    printed = systems.seed_systems(tree.district.code)
    assert [name for name, _key, _secret in printed] == ["12345 市民热线", "视频监控平台"]
    hotline = external.system_for_key(systems.HOTLINE_KEY)
    assert hotline.code == "hotline12345" and hotline.webhook_secret == systems.HOTLINE_SECRET
    assert external.system_for_key(systems.VIDEO_KEY).sources == ["video"]
    # A second run changes nothing and keeps the keys working.
    systems.seed_systems(tree.district.code)
    assert ExternalSystem.objects.count() == 2 and external.system_for_key(systems.HOTLINE_KEY) == hotline
