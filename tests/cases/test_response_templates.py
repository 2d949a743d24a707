"""Response templates (惯用语): who uses which, who edits which, filling in, and the step forms and API."""

import pytest
from rest_framework.test import APIClient

from accounts.roles import Role
from cases.models import ResponseTemplate, TemplateAudience
from cases.response_templates import fill, usable


@pytest.fixture
def templates(tree):
    return {
        "district": ResponseTemplate.objects.create(
            step="feed_back", text="案件{number}已由{unit}处置，核查属实。", area=tree.district
        ),
        "street_a": ResponseTemplate.objects.create(
            step="feed_back", text="甲街道核查通过。", area=tree.street_a, audience=TemplateAudience.PUBLIC
        ),
        "street_b": ResponseTemplate.objects.create(step="feed_back", text="乙街道核查通过。", area=tree.street_b),
        "assess": ResponseTemplate.objects.create(step="assess", text="属实，予以立案。", area=tree.district),
    }


@pytest.mark.django_db
def test_each_official_uses_their_areas_and_the_districts(people, templates):
    community_a = {t.text for t in usable(people[Role.COMMUNITY_STAFF], "feed_back")}
    assert community_a == {templates["district"].text, templates["street_a"].text}
    assert {t.text for t in usable(people[Role.DISTRICT_STAFF], "feed_back")} == {templates["district"].text}


@pytest.mark.django_db
def test_fill_replaces_only_the_three_placeholders(make_case, templates):
    case = make_case("handled")
    text = fill(templates["district"], case)
    assert case.number in text and str(case.handling_unit) in text
    sneaky = ResponseTemplate(step="feed_back", text="{number.__class__} {unit} {0} {deadline}", area=case.grid)
    filled = fill(sneaky, case)
    assert (
        "{number.__class__}" in filled and "{0}" in filled and "class" not in filled.replace("{number.__class__}", "")
    )


@pytest.mark.django_db
def test_a_chosen_template_is_the_comment_of_a_step(make_case, people, templates, client):
    case = make_case("handled")
    client.force_login(people[Role.COMMUNITY_STAFF])
    url = f"/admin/cases/case/{case.pk}/transition/feed_back/"
    page = client.get(url)
    assert page.status_code == 200 and "甲街道核查通过。" in page.content.decode()
    response = client.post(url, {"template": str(templates["district"].pk), "comment": ""})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == "fed_back"
    from cases.selectors import case_history

    assert f"案件{case.number}已由" in case_history(case).last().description


@pytest.mark.django_db
def test_another_streets_template_id_is_refused(make_case, people, templates, client):
    case = make_case("handled")
    client.force_login(people[Role.COMMUNITY_STAFF])
    response = client.post(
        f"/admin/cases/case/{case.pk}/transition/feed_back/", {"template": str(templates["street_b"].pk)}
    )
    assert response.status_code == 400
    case.refresh_from_db()
    assert case.status == "handled"


@pytest.mark.django_db
def test_api_lists_the_templates_of_a_step(people, templates):
    api = APIClient()
    api.force_authenticate(people[Role.COMMUNITY_STAFF])
    rows = api.get("/api/v1/templates/?step=feed_back").json()
    assert {r["text"] for r in rows} == {templates["district"].text, templates["street_a"].text}
    assert {r["audience_display"] for r in rows} == {"内部使用", "向群众公开"}
    assert api.get("/api/v1/templates/?step=rework").status_code == 400  # the platform's step
    assert api.get("/api/v1/templates/").status_code == 400


@pytest.mark.django_db
def test_a_street_edits_its_own_templates_only(people, templates, client, tree):
    client.force_login(people[Role.STREET_STAFF])
    listed = {t.pk for t in client.get("/admin/cases/responsetemplate/").context["cl"].result_list}
    assert listed == {templates["street_a"].pk}
    assert client.get(f"/admin/cases/responsetemplate/{templates['district'].pk}/change/").status_code == 302
    # Posting the district as owner is refused: the choice is not offered.
    response = client.post(
        "/admin/cases/responsetemplate/add/",
        {"step": "assess", "text": "越权", "audience": "internal", "area": tree.district.pk, "is_active": "on"},
    )
    assert response.status_code == 200 and not ResponseTemplate.objects.filter(text="越权").exists()
    response = client.post(
        "/admin/cases/responsetemplate/add/",
        {"step": "assess", "text": "本街道", "audience": "internal", "area": tree.street_a.pk, "is_active": "on"},
    )
    assert response.status_code == 302 and ResponseTemplate.objects.filter(text="本街道", area=tree.street_a).exists()
    client.force_login(people[Role.COMMUNITY_STAFF])
    assert client.get("/admin/cases/responsetemplate/").status_code == 403
