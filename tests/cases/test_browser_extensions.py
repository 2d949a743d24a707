"""In Chromium: a department asks for an extension in the admin, the community approves fewer days,
the case page shows 延期至 …, and the resident's tracking page says so without the reasons."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.roles import Role
from cases.models import Case, ClockRequest
from cases.services import transition_case

# The browser fixtures, imported by name for pytest: the tests' parameters "redefine" them.
# ruff: noqa: F811
from .test_browser import _clean, browser_page  # noqa: F401

pytestmark = [pytest.mark.browser]
PASSWORD = "pw-Secret-123"


def login(page, base, username):
    page.context.clear_cookies()
    page.goto(f"{base}/admin/login/")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[type=submit], button[type=submit]").first.click()


@pytest.mark.django_db(transaction=True)
def test_extension_in_the_admin_and_on_the_tracking_page(
    role_groups, live_server, browser_page, _clean, make_case, people, tree
):
    shots = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))
    case = make_case("assessed")
    case = transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="assign", department=tree.dept_a)
    page, base = browser_page, live_server.url
    page.set_viewport_size({"width": 1280, "height": 900})

    login(page, base, "dept_a")
    page.goto(f"{base}/admin/cases/case/{case.pk}/transition/request_extension/")
    page.locator("textarea[name=comment]").fill("需等待施工队进场")
    page.locator("input[name=days]").fill("30")
    page.locator("input[type=submit], button[type=submit]").last.click()
    assert "10" in page.locator("#content-main").inner_text()  # the cap, named on the field
    assert not ClockRequest.objects.exists()
    page.locator("input[name=days]").fill("5")
    page.locator("input[type=submit], button[type=submit]").last.click()
    assert ClockRequest.objects.get().days == 5

    login(page, base, "community_a")
    page.goto(f"{base}/admin/cases/case/{case.pk}/transition/approve_extension/")
    page.screenshot(path=str(shots / "h12-approve-extension.png"), full_page=True)
    page.locator("textarea[name=comment]").fill("同意延期三个工作日")
    page.locator("input[name=granted_days]").fill("3")
    page.locator("input[type=submit], button[type=submit]").last.click()
    case = Case.objects.get(pk=case.pk)
    assert case.extended_until == case.current_deadline
    page.goto(f"{base}/admin/cases/case/{case.pk}/change/")
    assert "延期至" in page.locator(".case-sheet-head").inner_text()
    page.screenshot(path=str(shots / "h12-case-extended.png"), full_page=True)

    page.context.clear_cookies()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/track/{case.tracking_code}/")
    text = page.locator("body").inner_text()
    assert "延期至" in text and "需等待施工队进场" not in text and "同意延期" not in text
    page.screenshot(path=str(shots / "h12-track-extended.png"), full_page=True)

    # Suspended: the resident reads "暂缓办理，预计 …", never why.
    review = timezone.localdate() + timedelta(days=20)
    transition_case(
        actor=people[Role.DEPARTMENT_STAFF],
        case=case,
        name="request_suspension",
        comment="等待法院判决",
        review_date=review,
    )
    transition_case(
        actor=people[Role.DISTRICT_STAFF], case=Case.objects.get(pk=case.pk), name="approve_suspension", comment="同意"
    )
    page.goto(f"{base}/track/{case.tracking_code}/")
    text = page.locator("body").inner_text()
    assert f"暂缓办理，预计 {review:%Y-%m-%d} 恢复" in text and "法院" not in text
    page.screenshot(path=str(shots / "h12-track-suspended.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_joint_inspection_page_lists_its_cases(
    role_groups, live_server, browser_page, _clean, make_case, people, tree, categories
):
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    from cases.inspections import plan_inspection, report_found

    def photo():
        buffer = io.BytesIO()
        Image.new("RGB", (24, 16), (20, 160, 40)).save(buffer, format="PNG")
        return SimpleUploadedFile("p.png", buffer.getvalue(), content_type="image/png")

    shots = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))
    inspection = plan_inspection(
        actor=people[Role.STREET_STAFF],
        title="甲街道餐饮油烟联合巡查",
        area=tree.street_a,
        date=timezone.localdate() + timedelta(days=1),
        leader=people[Role.STREET_STAFF],
        departments=[tree.dept_a],
    )
    report_found(
        actor=people[Role.DEPARTMENT_STAFF],
        inspection=inspection,
        title="油烟直排",
        description="烧烤店无油烟净化设施",
        category=categories["dispute"],
        grid=tree.grid_a,
    )
    page, base = browser_page, live_server.url
    page.set_viewport_size({"width": 1280, "height": 900})
    login(page, base, "dept_a")
    page.goto(f"{base}/admin/cases/jointinspection/{inspection.pk}/report/")
    page.locator("input[name=title]").fill("占道经营")
    page.locator("textarea[name=description]").fill("水果摊占用人行道")
    page.locator("select[name=category]").select_option(str(categories["dispute"].pk))
    page.locator("select[name=grid]").select_option(str(tree.grid_a.pk))
    page.locator("input[name=on_the_spot]").check()
    page.locator("textarea[name=result]").fill("当场劝离")
    buffer = photo()
    page.locator("input[name=after_photos]").set_input_files(
        files=[{"name": "after.png", "mimeType": "image/png", "buffer": buffer.read()}]
    )
    page.locator("input[type=submit]").last.click()
    body = page.locator("#content-main").inner_text()
    assert "油烟直排" in body and "占道经营" in body and "已处置" in body
    page.screenshot(path=str(shots / "h12-inspection.png"), full_page=True)
