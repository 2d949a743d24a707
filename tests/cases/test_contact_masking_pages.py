"""Every admin page that can show a resident's contact shows it masked to an official the case rules do not
allow to read it: the case page, its history, its print sheet, the case list, the outbox and the inbox."""

import pytest
from django.urls import reverse

from accounts.roles import Role
from cases.services import create_case, transition_case
from outbox.delivery import deliver_pending

PHONE, EMAIL, NAME = "13912345678", "wang.resident@example.com", "王小明"


@pytest.fixture
def resident_case(tree, categories, people):
    """A resident's report in grid A, assigned to community A: grid A's worker sees it but owes no step."""
    case = create_case(
        actor=None,
        source="resident",
        title="楼道堆放杂物",
        description="三楼楼道堆放纸箱",
        category=categories["dispute"],
        grid=tree.grid_a,
        contact_name=NAME,
        contact_phone=PHONE,
        contact_email=EMAIL,
    )
    staff = people[Role.COMMUNITY_STAFF]
    case = transition_case(actor=staff, case=case, name="assess")
    case = transition_case(actor=staff, case=case, name="assign", area=tree.community_a)
    deliver_pending()
    return case


def pages(case):
    change = reverse("admin:cases_case_change", args=[case.pk])
    return [
        change,
        reverse("admin:cases_case_history", args=[case.pk]),
        reverse("admin:cases_case_print", args=[case.pk]),
        reverse("admin:cases_case_changelist") + "?view=all",
        reverse("admin:outbox_notification_changelist"),
        reverse("admin:outbox_inbox"),
    ]


@pytest.mark.django_db
def test_masked_for_an_official_who_may_not_read_it(resident_case, people, client):
    viewer = people[Role.GRID_WORKER]  # sees grid A's cases; neither dispatcher, handler nor reporter
    client.force_login(viewer)
    shown = 0
    for url in pages(resident_case):
        response = client.get(url)
        if response.status_code != 200:
            continue  # a page this role cannot open shows nothing at all
        shown += 1
        body = response.content.decode()
        assert PHONE not in body and EMAIL not in body and NAME not in body, url
    assert shown >= 3  # the case page, its history and its print sheet at least
    assert "139****5678" in client.get(pages(resident_case)[0]).content.decode()


@pytest.mark.django_db
def test_plain_for_the_dispatcher(resident_case, people, client):
    client.force_login(people[Role.COMMUNITY_STAFF])
    body = client.get(pages(resident_case)[0]).content.decode()
    assert PHONE in body
