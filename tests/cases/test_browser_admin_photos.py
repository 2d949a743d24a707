"""In Chromium at 1366 px, as a grid worker on the admin's add-case page: a photo chosen with a point next to
an open case of the same kind comes back kept as a thumbnail beside the nearby offer, and recording anyway
attaches it without choosing it again; two photos chosen with the title forgotten come back, one is ticked
away, and the case has the other. Skipped without /usr/bin/chromium, failed instead when REQUIRE_SERVICES=1."""

import os
import re
from pathlib import Path

import pytest

from accounts.roles import Role
from cases.models import Case, PendingPhoto
from cases.services import create_case

from .test_browser import CHROMIUM, _clean  # noqa: F401 - fixture
from .test_browser_office import office  # noqa: F401 - fixture
from .test_browser_report_photos import street_photo, wait_until_loaded

pytestmark = [pytest.mark.browser]


@pytest.mark.django_db(transaction=True)
def test_a_grid_worker_keeps_the_photos_past_the_nearby_offer_and_a_field_error(
    role_groups,
    live_server,
    office,  # noqa: F811
    _clean,  # noqa: F811
    categories,
    tree,
    people,
    tmp_path,
):
    shots = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))
    base = live_server.url
    offered = create_case(
        actor=None,
        source="resident",
        title="路灯不亮",
        description="路灯不亮，晚上看不见路",
        category=categories["dispute"],
        grid=tree.grid_a,
        latitude="36.050050",
        longitude="120.350000",
        contact_phone="13800138000",
    )
    page = office(people[Role.GRID_WORKER], live_server)

    def fill(title):
        page.goto(f"{base}/admin/cases/case/add/")
        page.fill("input[name=title]", title)
        page.fill("textarea[name=description]", "甲一路口路灯坏了一周，晚上很黑")
        page.select_option("select[name=category]", str(categories["dispute"].pk))
        page.fill("input[name=address]", "甲一路口")

    # 1. A photo and a point next to the open case: the case is offered first, the photo kept.
    fill("甲一路口路灯不亮")
    page.fill("input[name=latitude]", "36.05")
    page.fill("input[name=longitude]", "120.35")
    page.set_input_files("input[name=photos]", str(street_photo(tmp_path / "lamp.jpg")))
    page.click("input[name=_save]")
    page.locator(".errornote").wait_for()
    assert offered.number in page.locator(".field-file_anyway").inner_text()
    kept = page.locator(".field-photos #kept-photos img")
    assert kept.count() == 1
    wait_until_loaded(page, kept)
    assert "已为您保留" in page.locator("#kept-photos").inner_text()
    assert page.locator("input[name=photos]").input_value() == ""  # the browser emptied it; we kept the photo
    page.locator(".field-photos").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "h13-admin-add-kept-photo.png"), full_page=True)

    # 2. Another problem after all: recorded without choosing the photo again; the case has it.
    page.check("input[name=file_anyway]")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/cases/case/\d+/change/$"))
    filed = Case.objects.exclude(pk=offered.pk).get()
    assert filed.reporter == people[Role.GRID_WORKER] and filed.attachments.count() == 1
    assert PendingPhoto.objects.count() == 0

    # 3. Two photos with the title forgotten: both come back; one is ticked away, the case has the other.
    fill("")
    page.set_input_files(
        "input[name=photos]", [str(street_photo(tmp_path / "a.jpg")), str(street_photo(tmp_path / "b.jpg"))]
    )
    page.click("input[name=_save]")
    page.locator(".errornote").wait_for()
    assert page.locator("#kept-photos img").count() == 2
    page.locator("#kept-photos input[name=remove_photo]").first.check()
    page.fill("input[name=title]", "甲一路口井盖松动")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/cases/case/\d+/change/$"))
    assert Case.objects.get(title="甲一路口井盖松动").attachments.count() == 1
    assert PendingPhoto.objects.count() == 0
