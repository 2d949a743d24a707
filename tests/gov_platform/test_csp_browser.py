"""The Content-Security-Policy in a real browser: the admin (as a street official), the resident report
page and the API docs load with JavaScript on and the browser reports no violation."""

from pathlib import Path

import pytest
from django.db import connections
from django.test import Client

from accounts.roles import Role
from tests.cases.conftest import categories, make_case  # noqa: F401 - fixtures
from tests.conftest import need_service

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [pytest.mark.browser]


@pytest.fixture
def browser(monkeypatch):
    need_service("Chromium", CHROMIUM.exists(), "install it with `apt-get install -y chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - requirements-dev.txt installs it
        need_service("Playwright", False, str(exc))
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            yield browser
        finally:
            browser.close()
            connections.close_all()


def violations_on(page, url):
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    page.on("pageerror", lambda error: messages.append(str(error)))
    response = page.goto(url)
    page.wait_for_load_state("networkidle")
    assert response.status == 200, url
    return [m for m in messages if "Content Security Policy" in m or "Content-Security-Policy" in m]


def test_admin_resident_and_docs_pages_run_without_violations(live_server, role_groups, browser, people, make_case):  # noqa: F811
    case = make_case("assessed", contact_name="王芳", contact_phone="13912345678")
    # A street official: district staff must pass two-factor login, which is tested on its own.
    official = people[Role.STREET_STAFF]
    client = Client()
    client.force_login(official)
    context = browser.new_context(locale="zh-CN")
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        found = {}
        for path in [
            "/admin/",
            "/admin/cases/case/",
            f"/admin/cases/case/{case.pk}/change/",
            "/report/",
            "/public/",
            "/api/docs/",
        ]:
            found[path] = violations_on(page, live_server.url + path)
        # The pages really ran as the official, with their scripts.
        page.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
        assert case.number in page.content()
        page.goto(f"{live_server.url}/api/docs/")
        page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
        assert found == {path: [] for path in found}
    finally:
        context.close()
