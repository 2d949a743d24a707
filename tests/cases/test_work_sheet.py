"""The case page as a work sheet and the step pages: summary on top, step buttons (destructive ones
marked and confirmed), required fields marked before submit, and a message saying where the case went."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from accounts.roles import Role
from cases.models import Case

from .conftest import _photo

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _groups_before_people(role_groups):
    """The role groups exist before the people are placed in them."""


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _step_url(case, name):
    return reverse("admin:cases_case_transition", args=[case.pk, name])


def test_the_case_page_starts_with_the_sheet_then_the_steps_then_the_timeline(make_case, people):
    case = make_case("reported", contact_phone="13912345678", reporter=people[Role.STREET_LEADER])
    page = _client(people[Role.COMMUNITY_STAFF]).get(reverse("admin:cases_case_change", args=[case.pk]))
    html = page.content.decode()
    sheet, steps, timeline = (
        html.index('class="case-sheet"'),
        html.index('class="case-steps"'),
        html.index("case-timeline"),
    )
    assert sheet < steps < timeline
    assert 'class="button case-step case-step-destructive"' in html  # 不予立案
    assert "13912345678" in html  # the dispatcher may read the contact
    assert reverse("admin:cases_case_print", args=[case.pk]) in html
    masked = _client(people[Role.GRID_WORKER]).get(reverse("admin:cases_case_change", args=[case.pk]))
    assert masked.status_code == 200 and "13912345678" not in masked.content.decode()
    assert "139****5678" in masked.content.decode()


def test_the_destructive_step_page_asks_for_confirmation(make_case, people):
    case = make_case("reported")
    html = _client(people[Role.COMMUNITY_STAFF]).get(_step_url(case, "dismiss")).content.decode()
    assert 'class="case-confirm"' in html and "确认不予立案" in html
    assert html.count("required") >= 2  # the reason and the explanation


def test_required_fields_are_marked_before_submit(make_case, people):
    staff = _client(people[Role.COMMUNITY_STAFF])
    assigned = make_case("assigned")
    html = staff.get(_step_url(assigned, "handle")).content.decode()
    assert 'name="photos"' in html and 'accept="image/*" required' in html.replace("multiple ", "")
    assert 'for="id_photos" class="required"' in html and "novalidate" not in html
    # What is being judged is on the verifier's page: the description, the result, the photos.
    handled = make_case("handled")
    html = staff.get(_step_url(handled, "feed_back")).content.decode()
    assert handled.description in html and handled.result in html and "case-photos" in html
    assert '<textarea name="comment" cols="40" rows="3" maxlength="2000" required' in html


def test_after_a_handling_photo_exists_the_photo_is_no_longer_required(make_case, people):
    case = make_case("handled")
    staff = _client(people[Role.COMMUNITY_STAFF])
    staff.post(_step_url(case, "reject"), {"comment": "未清理干净"})
    html = staff.get(_step_url(case, "handle")).content.decode()
    assert 'for="id_photos" class="required"' not in html


def test_after_a_step_the_message_says_where_the_case_went(make_case, people):
    staff = _client(people[Role.COMMUNITY_STAFF])
    case = make_case("handled")
    response = staff.post(_step_url(case, "reject"), {"comment": "未清理干净"})
    text = [str(m) for m in get_messages(response.wsgi_request)][-1]
    assert "返工" in text and "新期限" in text and "甲一社区" in text

    case = make_case("fed_back")
    response = staff.post(_step_url(case, "rate"), {"rating": "dissatisfied", "rating_comment": "还是很乱"})
    text = [str(m) for m in get_messages(response.wsgi_request)][-1]
    assert "居民不满意" in text and "返工" in text
    assert Case.objects.get(pk=case.pk).status == "assigned"


def test_a_step_page_out_of_scope_shows_nothing(make_case, people, tree):
    case = make_case("reported", grid=tree.grid_b)
    outsider = _client(people[Role.COMMUNITY_STAFF])
    response = outsider.get(_step_url(case, "dismiss"))
    assert response.status_code in (302, 404) and case.title not in response.content.decode()
    response = outsider.post(_step_url(case, "dismiss"), {"reason": "not_real", "comment": "x"})
    assert Case.objects.get(pk=case.pk).status == "reported"


def test_handle_without_a_photo_is_refused_in_the_form(make_case, people):
    case = make_case("assigned")
    response = _client(people[Role.COMMUNITY_STAFF]).post(_step_url(case, "handle"), {"result": "已清理"})
    assert response.status_code == 400
    assert Case.objects.get(pk=case.pk).status == "assigned"
    ok = _client(people[Role.COMMUNITY_STAFF]).post(_step_url(case, "handle"), {"result": "已清理", "photos": _photo()})
    assert ok.status_code == 302 and Case.objects.get(pk=case.pk).status == "handled"
