"""One timeline per case (cases.timeline via selectors.case_timeline): the report, every step, photos,
escalations, supervision, notices (masked per viewer) and ratings, oldest first, translated; the same
entries on the case page, behind the history button and in the API."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import override

from accounts.roles import Role
from cases import selectors, services
from cases.models import Escalation
from tests.api_support import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _groups_before_people(role_groups):
    """The role groups exist before the people are placed in them (also without migrations)."""


@pytest.fixture
def walked(make_case, people, tree):
    """A case walked to rated (dissatisfied → rework) with an escalation and a supervision instruction."""
    case = make_case(
        "fed_back", reporter=people[Role.STREET_LEADER], contact_phone="13912345678", contact_email="wang@example.com"
    )
    district = people[Role.DISTRICT_STAFF]
    escalation = Escalation.objects.create(
        case=case,
        level=2,
        stage="handle",
        deadline=timezone.now(),
        sweep="t",
        notified=[district.pk],
        notified_names="督办人甲",
    )
    services.acknowledge_escalation(actor=district, escalation=escalation, instruction="三日内清理完毕")
    case = services.transition_case(
        actor=people[Role.COMMUNITY_STAFF], case=case, name="rate", rating="dissatisfied", comment="电话回访"
    )
    case.refresh_from_db()
    return case


def _kinds(entries):
    return [(e.kind, e.name) for e in entries]


def test_everything_in_order_and_in_chinese(walked, people):
    with override("zh-hans"):
        entries = selectors.case_timeline(walked, people[Role.COMMUNITY_STAFF])
        labels = [e.label for e in entries]
    kinds = _kinds(entries)
    assert kinds[0] == ("report", "report")
    steps = [name for kind, name in kinds if kind in ("step", "rating")]
    assert steps == ["assess", "assign", "handle", "feed_back", "rate", "rework"]
    assert ("photos", "after") in kinds and ("escalation", "escalation") in kinds
    assert ("supervision", "supervise") in kinds
    assert any(kind == "notification" for kind, _name in kinds)
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    rating = next(e for e in entries if e.kind == "rating")
    assert "不满意" in " ".join(rating.details)
    handle = next(e for e in entries if e.name == "handle")
    assert (handle.from_label, handle.to_label) == ("已派遣", "已处置") or handle.moved
    assert handle.by and handle.unit == "甲一社区"
    for label in labels:
        assert label and not label.isascii(), label


def test_a_residents_address_is_masked_unless_the_viewer_may_read_the_contact(walked, people):
    def notices(viewer):
        return " ".join(
            " ".join(e.details) for e in selectors.case_timeline(walked, viewer) if e.kind == "notification"
        )

    assert "13912345678" in notices(people[Role.COMMUNITY_STAFF])
    masked = notices(people[Role.GRID_WORKER])
    assert "13912345678" not in masked and "wang@example.com" not in masked


def test_query_count_does_not_grow_with_the_entries(make_case, walked, people):
    short = make_case("assessed")
    viewer = people[Role.COMMUNITY_STAFF]
    with CaptureQueriesContext(connection) as few:
        selectors.case_timeline(short, viewer)
    with CaptureQueriesContext(connection) as many:
        selectors.case_timeline(walked, viewer)
    assert len(many) == len(few) <= 8


def test_the_api_history_has_the_same_entries_with_kind_and_label(walked, people):
    viewer = people[Role.COMMUNITY_STAFF]
    rows = token_client(viewer).get(f"/api/v1/cases/{walked.pk}/history/").json()
    entries = selectors.case_timeline(walked, viewer)
    assert [(r["kind"], r["transition"]) for r in rows] == _kinds(entries)
    assert all(r["label"] and r["transition_label"] for r in rows)


def test_the_history_button_and_the_case_page_show_the_timeline(walked, people):
    client = Client()
    client.force_login(people[Role.COMMUNITY_STAFF])
    for url in (
        reverse("admin:cases_case_change", args=[walked.pk]),
        reverse("admin:cases_case_history", args=[walked.pk]),
    ):
        page = client.get(url).content.decode()
        assert "三日内清理完毕" in page and "不满意" in page and "督办人甲" in page, url
    outsider = Client()
    outsider.force_login(people[Role.DEPARTMENT_STAFF])
    assert outsider.get(reverse("admin:cases_case_history", args=[walked.pk])).status_code in (302, 404)


def test_the_print_sheet_renders_in_scope_and_404s_outside(walked, people):
    url = reverse("admin:cases_case_print", args=[walked.pk])
    client = Client()
    client.force_login(people[Role.STREET_STAFF])
    page = client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert walked.number in text and "案件处置单" in text and "签字" in text and "三日内清理完毕" in text
    assert 'nonce="' in text and "case_print.css" in text
    outsider = Client()
    outsider.force_login(people[Role.DEPARTMENT_STAFF])
    assert outsider.get(url).status_code == 404
    assert outsider.get(reverse("admin:cases_case_print", args=[999999])).status_code == 404


def test_lines_the_platform_writes_are_in_the_districts_language_whoever_acts(make_case, people):
    """An official who reads English reports a case: the report line stays Chinese for every other reader."""
    from django_fsm_log.models import StateLog

    with override("en"):
        case = make_case()
    report = StateLog.objects.for_(case).get(transition="report")
    assert report.description.startswith("通过") and report.description.endswith("上报")
    assert "Reported" not in report.description
