"""The map on /report/ in a real browser: a tapped pin fills the point, and the case lands in the grid holding it.
Skipped without /usr/bin/chromium, failed instead when REQUIRE_SERVICES=1."""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connections

from accounts.roles import SECURITY_ADMIN, SECURITY_AUDITOR
from cases.models import Case
from cases.privacy import PRIVACY_OFFICER_GROUP
from demo.district import seed_demo
from grids.locator import locate
from tests.conftest import need_service

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [pytest.mark.browser]


@pytest.fixture
def phone(monkeypatch):
    need_service("Chromium", CHROMIUM.exists(), "install it with `apt-get install -y chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - requirements-dev.txt installs it
        need_service("Playwright", False, str(exc))
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            yield page, errors
        finally:
            context.close()
            browser.close()
            connections.close_all()


def test_a_pin_dropped_on_the_map_files_the_case_in_that_grid(live_server, phone, role_groups, settings, tmp_path):
    page, errors = phone
    # An earlier live-server test's flush took the migrations' duty groups with it; seed_demo files its logins there.
    for name in (SECURITY_AUDITOR, SECURITY_ADMIN, PRIVACY_OFFICER_GROUP):
        Group.objects.get_or_create(name=name)
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()
    seed_demo()
    page.goto(f"{live_server.url}/report/")
    page.get_by_label("问题类别", exact=True).select_option(label="乱堆乱放")
    page.get_by_label("问题描述", exact=True).fill("楼下空地堆放装修垃圾多日未清运")
    grid_map = page.locator("#report_map")
    grid_map.scroll_into_view_if_needed()
    page.wait_for_function("document.querySelectorAll('#report_map path.leaflet-interactive').length > 400")
    box = grid_map.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.42, box["y"] + box["height"] * 0.47)
    lat = page.get_by_label("纬度", exact=True).input_value()
    lng = page.get_by_label("经度", exact=True).input_value()
    assert re.fullmatch(r"36\.\d{6}", lat) and re.fullmatch(r"119\.\d{6}", lng)
    place = locate(lat, lng)
    assert place.grid is not None
    if place.ambiguous:  # the tap fell within 30 m of a neighbour: the resident would be asked; say it up front
        page.get_by_label("网格", exact=True).select_option(value=str(place.grid.pk))
    before = set(Case.objects.values_list("pk", flat=True))
    page.get_by_role("button", name="提交", exact=True).click()
    if page.locator("#nearby-offers").count():  # a demo case of the kind is open close by: ours is another problem
        page.get_by_role("button", name="提交", exact=True).click()
    page.wait_for_url(re.compile(r"/track/[0-9A-Z]{10}/\?new=1$"))
    case = Case.objects.exclude(pk__in=before).get()
    assert case.grid == place.grid
    assert (str(case.latitude), str(case.longitude)) == (lat, lng)

    # A neighbour reports the same problem at the same point: the open case is offered, and they follow it.
    page.goto(f"{live_server.url}/report/")
    page.get_by_label("问题类别", exact=True).select_option(label="乱堆乱放")
    page.get_by_label("问题描述", exact=True).fill("空地上的装修垃圾还没有清走")
    page.get_by_label("纬度", exact=True).fill(lat)
    page.get_by_label("经度", exact=True).fill(lng)
    page.get_by_label("网格", exact=True).select_option(value=str(case.grid.pk))
    page.get_by_role("button", name="提交", exact=True).click()
    offers = page.locator("#nearby-offers")
    offers.wait_for()
    assert "楼下空地" not in offers.inner_text()  # nothing of the other resident's report
    page.fill("#follow_phone", "13912345678")
    page.get_by_role("button", name="关注这个案件", exact=True).click()
    page.wait_for_selector("text=您已关注案件")
    assert case.followers.get().phone == "13912345678"
    assert not [e for e in errors if "favicon" not in e and "404" not in e], errors
    cache.clear()
