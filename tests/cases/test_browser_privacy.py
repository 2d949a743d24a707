"""PIPL pages in a real browser at phone width: the privacy notice on the report form, and the
privacy officer's data-subject request (search, confirm, erase). Screenshots go to
SCREENSHOT_DIR when it is set (for review), else to the test's temporary directory."""

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache

from accounts.models import User
from cases.models import Case
from cases.privacy import PRIVACY_OFFICER_GROUP

from .test_browser import browser_page  # noqa: F401  (the fixture: system Chromium via Playwright)

pytestmark = [pytest.mark.browser]
PASSWORD = "pw-Secret-123!"


@pytest.fixture
def shots(tmp_path):
    directory = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def test_the_report_form_shows_the_privacy_notice_on_a_phone(live_server, browser_page, categories, shots, settings):  # noqa: F811
    cache.clear()
    page = browser_page
    page.goto(f"{live_server.url}/report/")
    notice = page.locator("#privacy-notice")
    notice.scroll_into_view_if_needed()
    assert notice.is_visible()
    text = notice.inner_text()
    assert f"结案后{settings.CONTACT_RETENTION_DAYS}天" in text and "姓名、手机号码和电子邮箱" in text
    # Nothing wider than the phone: the notice wraps.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(shots / "h4-report-form.png"), full_page=True)


def test_the_privacy_officer_finds_and_erases_a_contact_in_the_browser(
    live_server,
    browser_page,  # noqa: F811
    make_case,
    tree,
    shots,
    settings,
):
    # Two-factor login has its own browser-free tests; this one is about the privacy pages.
    settings.OTP_REQUIRED_ROLES = []
    settings.OTP_REQUIRED_GROUPS = []
    settings.OTP_REQUIRED_FOR_SUPERUSERS = False
    cache.clear()
    officer = User.objects.create_user(
        username="privacy", password=PASSWORD, is_staff=True, real_name="个人信息保护负责人"
    )
    # A live-server test flushes the database between tests, and the migration's group with it.
    group, _ = Group.objects.get_or_create(name=PRIVACY_OFFICER_GROUP)
    group.permissions.add(Permission.objects.get(codename="handle_subject_request"))
    officer.groups.add(group)
    first = make_case("rated", contact_name="王女士", contact_phone="13912345678", title="楼道堆放杂物")
    second = make_case(grid=tree.grid_b, contact_phone="13912345678", title="路灯不亮")

    page = browser_page
    page.goto(f"{live_server.url}/admin/login/?next=/admin/cases/case/subject-request/")
    page.locator("input[name=username]").fill("privacy")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.locator("input[name=contact]").fill("139 1234 5678")
    page.get_by_role("button", name="查找案件").or_(page.locator("input[value=查找案件]")).first.click()
    body = page.locator("#content-main").inner_text()
    assert first.number in body and second.number in body and "联系方式为 139****5678 的案件共 2 件" in body
    page.screenshot(path=str(shots / "h4-subject-request.png"), full_page=True)

    page.locator("input[value='删除该联系方式…']").click()
    assert "删除后无法恢复" in page.locator("#content-main").inner_text()
    page.screenshot(path=str(shots / "h4-subject-request-confirm.png"), full_page=True)
    page.locator("input[value='确定删除该联系方式']").click()
    assert "已从 2 个案件中删除联系方式 139****5678。" in page.content()
    assert not Case.objects.filter(contact_phone="13912345678").exists()
