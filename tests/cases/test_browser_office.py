"""The back office's daily pages in Chromium at 1366 px: the case list's columns and header badges as
street and district staff, the inbox, and a bulk action from the list to its result page."""

from pathlib import Path

import pytest
from django.test import Client

from accounts.roles import Role
from cases.models import Case

from .test_browser import CHROMIUM, _clean, need_service  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser]
SHOTS = Path("/tmp")


@pytest.fixture
def office(monkeypatch):
    need_service("Chromium", CHROMIUM.exists(), "install it with `apt-get install -y chromium`")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )

        def page_as(user, live_server):
            client = Client()
            client.force_login(user)
            context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 900})
            context.add_cookies(
                [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
            )
            page = context.new_page()
            page.set_default_timeout(15_000)
            return page

        try:
            yield page_as
        finally:
            browser.close()
            from django.db import connections

            connections.close_all()


def test_list_badges_inbox_and_bulk(live_server, role_groups, office, _clean, make_case, people, tree, photo):  # noqa: F811
    cases = [make_case("reported", address=f"人民路{n}号", photos=[photo()]) for n in range(3)]
    make_case("assigned", address="胜利街8号")
    Case.objects.filter(pk=cases[0].pk).update(current_deadline="2020-01-01T00:00:00Z")

    street = office(people[Role.STREET_STAFF], live_server)
    street.goto(f"{live_server.url}/admin/cases/case/")
    badges = street.locator("#todo-badges")
    assert "待研判 3" in badges.inner_text() and "已超期 1" in badges.inner_text()
    assert street.locator("#result_list img.case-thumb").count() == 3
    # The time-left column is not clipped: the table fits the 1366 px window.
    street.screenshot(path=str(SHOTS / "h11b-list-street.png"), full_page=True)
    visible_right = street.evaluate("document.querySelector('#changelist .results').getBoundingClientRect().right")
    for cell in street.locator("#result_list td.field-time_left_display").all():
        assert cell.bounding_box()["x"] + cell.bounding_box()["width"] <= visible_right + 1

    # Bulk: assess and assign the three reported cases to community A.
    for box in street.locator("#result_list input.action-select").all():
        box.check()
    street.select_option("select[name=action]", "bulk_assess_assign")
    street.click("button[name=index]")
    street.select_option("select[name=area]", label="甲一社区")
    street.screenshot(path=str(SHOTS / "h11b-bulk-form.png"), full_page=True)
    street.click("input[type=submit].default")
    assert "已办理：3" in street.locator("#bulk-moved h2").inner_text()
    street.screenshot(path=str(SHOTS / "h11b-bulk-result.png"), full_page=True)

    district = office(people[Role.DISTRICT_STAFF], live_server)
    district.goto(f"{live_server.url}/admin/cases/case/?view=all")
    district.screenshot(path=str(SHOTS / "h11b-list-district.png"), full_page=True)
    district.goto(f"{live_server.url}/admin/")
    district.screenshot(path=str(SHOTS / "h11b-dashboard-district.png"), full_page=True)

    community = office(people[Role.COMMUNITY_STAFF], live_server)
    community.goto(f"{live_server.url}/admin/outbox/notification/inbox/")
    assert community.locator("#inbox-list tr.inbox-unread").count() >= 4
    community.screenshot(path=str(SHOTS / "h11b-inbox.png"), full_page=True)
