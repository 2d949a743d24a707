"""The resident pages in a real browser: headless Chromium (the system's, driven by Playwright)
against a live server. Skipped without /usr/bin/chromium, failed instead when REQUIRE_SERVICES=1."""

import datetime as dt
import re
from pathlib import Path

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import connections
from django.utils import timezone

from accounts.roles import Role
from cases.models import Case
from cases.services import transition_case
from outbox.backends import sms
from outbox.delivery import deliver_pending
from tests.conftest import need_service

from .conftest import png_bytes

CHROMIUM = Path("/usr/bin/chromium")
PHONE, EMAIL = "13912345678", "resident@example.com"

pytestmark = [pytest.mark.browser]


@pytest.fixture
def browser_page(monkeypatch):
    need_service("Chromium", CHROMIUM.exists(), "install it with `apt-get install -y chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - requirements-dev.txt installs it
        need_service("Playwright", False, str(exc))
    # Playwright's sync API keeps an event loop in this thread; the ORM calls of the test
    # itself are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        # A phone, in Chinese: the page residents get.
        context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, java_script_enabled=False)
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
            # The test's queries ran beside Playwright's event loop, on connections of their own:
            # closed here, or PostgreSQL refuses to drop the test database at the end of the run.
            connections.close_all()


@pytest.fixture
def _clean(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SMS_BACKEND = "outbox.backends.sms.MemoryBackend"
    cache.clear()
    sms.outbox.clear()
    mail.outbox.clear()
    yield
    cache.clear()


def test_report_track_rate_dissatisfied_and_the_link_is_spent(
    live_server, browser_page, _clean, categories, tree, people, tmp_path
):
    page = browser_page
    photo = tmp_path / "street-light.png"
    photo.write_bytes(png_bytes(size=(120, 90)))

    # 1. The resident reports with a photo, without JavaScript.
    page.goto(f"{live_server.url}/report/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    page.get_by_label("问题类别", exact=True).select_option(label="邻里纠纷")
    page.get_by_label("问题描述", exact=True).fill("小区门口的路灯坏了一周，晚上很黑 <b>急</b>")
    page.get_by_label("照片", exact=True).set_input_files(str(photo))
    page.get_by_label("网格", exact=True).select_option(label="甲一网格")
    page.get_by_label("地址", exact=True).fill("甲一楼院3号楼门口")
    page.get_by_label("手机号码", exact=True).fill(PHONE)
    page.get_by_label("电子邮箱", exact=True).fill(EMAIL)
    page.get_by_role("button", name="提交", exact=True).click()

    # 2. The tracking page: the code, the status, no personal data.
    page.wait_for_url(re.compile(r"/track/[0-9A-Z]{10}/\?new=1$"))
    code = page.locator(".success .code").inner_text().strip()
    case = Case.objects.get(tracking_code=code)
    assert case.source == "resident" and case.attachments.count() == 1
    assert page.locator("#case-status").inner_text() == "已提交，待受理"
    content = page.content()
    assert PHONE not in content and EMAIL not in content and "路灯坏了" not in content
    assert page.locator("ol.timeline li").count() == 1

    # 3. The office takes it through to fed_back.
    staff = people[Role.COMMUNITY_STAFF]
    for name, params in [
        ("assess", {}),
        ("assign", {}),
        ("handle", {"result": "已更换路灯灯泡", "photos": [_upload()]}),
        ("feed_back", {"comment": "现场核查属实"}),
    ]:
        case = transition_case(actor=staff, case=case, name=name, **params)
    page.goto(f"{live_server.url}/track/{code}/")
    assert page.locator("#case-status").inner_text() == "已办理，待评价"
    assert "已更换路灯灯泡" in page.content()
    assert "现场核查属实" not in page.content()

    # 4. The emailed link.
    deliver_pending(now=timezone.now() + dt.timedelta(minutes=1))
    (message,) = [m for m in mail.outbox if EMAIL in m.to]
    link = re.search(r"https?://\S+/rate/\S+/", message.body).group(0)
    link = live_server.url + link[link.index("/rate/") :]

    page.goto(link)
    assert case.number in page.content()
    assert "小区门口的路灯坏了一周" in page.content()
    assert page.get_by_role("img", name="处置后照片1").count() == 1
    page.get_by_label("不满意", exact=True).check()
    page.get_by_label("意见建议（选填）", exact=True).fill("晚上还是不亮")
    page.get_by_role("button", name="提交评价", exact=True).click()
    page.wait_for_load_state()
    assert "由于您不满意，案件已重新交办" in page.content()

    case.refresh_from_db()
    assert (case.status, case.rework_count, case.rating, case.rating_comment) == (
        "assigned",
        1,
        "dissatisfied",
        "晚上还是不亮",
    )

    # 5. The same link again: already used, and nothing changes.
    response = page.goto(link)
    assert response.status == 410
    assert page.get_by_role("heading", name="链接已使用").count() == 1
    case.refresh_from_db()
    assert (case.status, case.rework_count) == ("assigned", 1)


def test_errors_show_in_the_page_and_html_stays_text(live_server, browser_page, _clean, categories, tree):
    page = browser_page
    page.goto(f"{live_server.url}/report/")
    page.get_by_label("问题类别", exact=True).select_option(label="邻里纠纷")
    page.get_by_label("问题描述", exact=True).fill('<img src=x onerror="document.title=1">路灯坏了好几天')
    page.get_by_role("button", name="提交", exact=True).click()
    # No grid, address or point: the page says so, keeps the text, and the text stays text.
    assert page.get_by_role("alert").count() >= 1
    assert "请选择网格，或填写地址或位置坐标。" in page.content()
    assert page.get_by_label("问题描述", exact=True).input_value().startswith("<img src=x")
    assert page.locator("img").count() == 0
    assert Case.objects.count() == 0

    response = page.goto(f"{live_server.url}/track/NOSUCHCODE/")
    assert response.status == 404
    assert page.get_by_role("heading", name="查询码不存在").count() == 1
    response = page.goto(f"{live_server.url}/rate/made-up-token/")
    assert response.status == 404
    assert page.get_by_role("heading", name="链接无效").count() == 1


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("after.png", png_bytes(color=(20, 160, 40)), content_type="image/png")
