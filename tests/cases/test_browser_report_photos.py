"""In Chromium on a phone (390 px, no JavaScript): a resident chooses a photo on /report/, is offered the open
case of the same kind nearby, sees the photo kept as a thumbnail, files anyway without choosing it again, and
the case has the photo. A neighbour follows the offered case instead; a community official then reads the
case's followers on its admin page. Skipped without /usr/bin/chromium, failed instead when REQUIRE_SERVICES=1."""

import io
import os
import re
from pathlib import Path

import pytest
from django.test import Client
from PIL import Image, ImageDraw

from accounts.roles import Role
from cases.models import Case, CaseFollower, PendingPhoto
from cases.services import create_case, transition_case

# The browser fixtures, imported by name for pytest: the tests' parameters "redefine" them.
# ruff: noqa: F811
from .test_browser import _clean, browser_page  # noqa: F401

pytestmark = [pytest.mark.browser]
SQUARE = [[120.30, 36.00], [120.40, 36.00], [120.40, 36.10], [120.30, 36.10], [120.30, 36.00]]


def street_photo(path: Path) -> Path:
    """Something that looks like a photo in a screenshot: sky, a road, a lamp post."""
    image = Image.new("RGB", (800, 600), (135, 180, 225))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 380, 800, 600], fill=(90, 90, 95))
    draw.rectangle([380, 120, 400, 380], fill=(60, 60, 60))
    draw.ellipse([360, 90, 420, 140], fill=(250, 220, 90))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    path.write_bytes(buffer.getvalue())
    return path


def wait_until_loaded(page, image):
    """A broken image has no natural width: the thumbnail must really come from the server to this session."""
    for _ in range(50):
        if image.evaluate("img => img.complete && img.naturalWidth > 0"):
            return
        page.wait_for_timeout(100)
    pytest.fail("the kept photo's thumbnail did not load")


@pytest.mark.django_db(transaction=True)
def test_a_photo_survives_the_nearby_offer_and_officials_see_the_followers(
    role_groups, live_server, browser_page, _clean, categories, tree, people, tmp_path
):
    shots = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))
    page, base = browser_page, live_server.url
    tree.grid_a.boundary = {"type": "Polygon", "coordinates": [SQUARE]}
    tree.grid_a.save()
    offered = create_case(
        actor=None,
        source="resident",
        title="路灯不亮",
        description="路灯不亮，晚上看不见路",
        category=categories["dispute"],
        grid=tree.grid_a,
        latitude="36.050100",
        longitude="120.350000",
        contact_name="张三",
        contact_phone="13800138000",
    )
    offered = transition_case(actor=people[Role.COMMUNITY_STAFF], case=offered, name="assess")

    def fill_report(description):
        page.goto(f"{base}/report/")
        page.get_by_label("问题类别", exact=True).select_option(label="邻里纠纷")
        page.get_by_label("问题描述", exact=True).fill(description)
        page.get_by_label("纬度", exact=True).fill("36.05")
        page.get_by_label("经度", exact=True).fill("120.35")
        page.get_by_label("手机号码", exact=True).fill("13912345678")

    # 1. The resident chooses a photo and sends: the open case nearby is offered first.
    fill_report("小区门口的路灯坏了一周，晚上很黑")
    page.locator("#id_photos").set_input_files(str(street_photo(tmp_path / "lamp.jpg")))
    page.get_by_role("button", name="提交", exact=True).click()
    page.locator("#nearby-offers").wait_for()
    kept = page.locator("#kept-photos img")
    assert kept.count() == 1
    # The thumbnail is served to this browser (its session) and really loads.
    thumbnail = page.request.get(base + kept.get_attribute("src"))
    assert thumbnail.status == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    wait_until_loaded(page, kept)
    assert "已选的照片会保留" in page.locator("#nearby-offers").inner_text()
    assert page.locator("#id_photos").input_value() == ""  # the browser emptied the input; we kept the photo
    page.locator("#kept-photos").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "h13-report-kept-photo-390.png"), full_page=True)

    # 2. Another problem after all: sent without choosing the photo again; the case has it.
    before = set(Case.objects.values_list("pk", flat=True))
    page.get_by_role("button", name="提交", exact=True).click()
    page.wait_for_url(re.compile(r"/track/[0-9A-Z]{10}/\?new=1$"))
    filed = Case.objects.exclude(pk__in=before).get()
    assert filed.attachments.count() == 1 and PendingPhoto.objects.count() == 0

    # 3. A neighbour with a photo follows the offered case instead: their photo is not kept.
    page.context.clear_cookies()
    fill_report("路灯还是不亮")
    page.get_by_label("手机号码", exact=True).fill("13700137000")
    page.locator("#id_photos").set_input_files(str(street_photo(tmp_path / "lamp2.jpg")))
    page.get_by_role("button", name="提交", exact=True).click()
    page.locator("#nearby-offers").wait_for()
    assert PendingPhoto.objects.count() == 1
    page.locator(f"#nearby-offers input[value='{offered.pk}']").check()
    page.fill("#follow_name", "李四")
    page.get_by_role("button", name="关注这个案件", exact=True).click()
    page.wait_for_selector("text=您已关注案件")
    assert PendingPhoto.objects.count() == 0
    # And a duplicate the dispatcher dismisses brings its reporter along (the merge).
    duplicate = create_case(
        actor=None,
        source="resident",
        title="路灯坏了",
        description="同一盏路灯",
        category=categories["dispute"],
        grid=tree.grid_a,
        contact_name="王五",
        contact_email="wangwu@example.com",
    )
    transition_case(
        actor=people[Role.COMMUNITY_STAFF],
        case=duplicate,
        name="dismiss",
        reason="duplicate",
        duplicate_of=offered,
        comment="重复上报",
    )
    assert CaseFollower.objects.filter(case=offered).count() == 2

    # 4. The community official reads the followers on the case page (in full: they dispatch it).
    official = Client()
    official.force_login(people[Role.COMMUNITY_STAFF])
    office = page.context.browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    office.add_cookies([{"name": "sessionid", "value": official.cookies["sessionid"].value, "url": base}])
    admin = office.new_page()
    admin.goto(f"{base}/admin/cases/case/{offered.pk}/change/")
    followers = admin.locator("#case-followers")
    text = followers.inner_text()
    assert "关注人（2）" in text and "李四" in text and "13700137000" in text and "wangwu@example.com" in text
    assert "关注而未重复上报" in text and "其上报已合并到本案件" in text and duplicate.number in text
    followers.scroll_into_view_if_needed()
    admin.screenshot(path=str(shots / "h13-admin-case-followers.png"), full_page=True)
    office.close()
