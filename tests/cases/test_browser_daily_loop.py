"""The back office's daily loop in Chromium, as each role who takes part, with a screenshot of every page:
report (grid worker) → assess and assign in bulk (community) → red escalation, supervision instruction
(district supervisor) and the unit's reply → handle with a stock phrase (department) → verify (community)
→ phone-visit rating "dissatisfied" → rework, back on the department's list.

Screenshots land in ``$TEST_ARTIFACTS/daily-loop`` (default ``$VAR_DIR/artifacts/daily-loop``), numbered in
the order of the walk, so a reviewer can page through what each role saw."""

import datetime as dt
import os
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from accounts.roles import Role
from cases.escalation import sweep
from cases.models import Case, Escalation, EscalationLevel, ResponseTemplate
from outbox.models import Notification

from .conftest import png_bytes
from .test_browser import CHROMIUM, _clean  # noqa: F401 - fixture
from .test_browser_office import office  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser]
PHONE = "13800001111"


@pytest.fixture
def artifacts():
    folder = Path(os.environ.get("TEST_ARTIFACTS") or settings.VAR_DIR / "artifacts") / "daily-loop"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


class Walk:
    """Numbered screenshots of each page, named after the role and the page."""

    def __init__(self, folder):
        self.folder, self.n = folder, 0

    def shot(self, page, name):
        self.n += 1
        path = self.folder / f"{self.n:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def badges(page):
    return page.locator("#todo-badges").inner_text()


def test_the_daily_loop_as_each_role(  # noqa: PLR0915 - one walk, one story
    live_server,
    role_groups,
    office,  # noqa: F811
    _clean,  # noqa: F811
    artifacts,
    people,
    tree,
    categories,
    make_user,
    tmp_path,
):
    walk = Walk(artifacts)
    before, after = tmp_path / "before.png", tmp_path / "after.png"
    before.write_bytes(png_bytes(size=(160, 120), color=(180, 60, 40)))
    after.write_bytes(png_bytes(size=(160, 120), color=(40, 160, 60)))
    # A case in a department's hands climbs straight to the district's supervisors.
    supervisor = make_user(Role.DISTRICT_STAFF, area=tree.district, supervisor=True, username="district_lead")
    ResponseTemplate.objects.create(
        step="handle", text="案件{number}已由{unit}现场处置完毕。", area=tree.street_a, audience="public"
    )

    # 1. The grid worker reports from the add form; their one grid is chosen already.
    grid = office(people[Role.GRID_WORKER], live_server)
    grid.goto(f"{live_server.url}/admin/cases/case/add/")
    assert grid.locator("select[name=grid] option:checked").inner_text() == tree.grid_a.name or (
        grid.locator("[name=grid]").input_value() == str(tree.grid_a.pk)
    )
    grid.fill("input[name=title]", "楼道堆放纸箱堵塞通道")
    grid.fill("textarea[name=description]", "3号楼2单元楼道堆放纸箱，堵塞消防通道")
    grid.select_option("select[name=category]", str(categories["dispute"].pk))
    grid.fill("input[name=address]", "甲一路3号楼")
    grid.fill("input[name=contact_name]", "李女士")
    grid.fill("input[name=contact_phone]", PHONE)
    grid.set_input_files("input[name=photos]", str(before))
    walk.shot(grid, "grid-worker-add-form")
    grid.click("input[name=_save]")
    case = Case.objects.get(title="楼道堆放纸箱堵塞通道")
    # Lands on the case just reported, not on an empty list.
    assert f"/admin/cases/case/{case.pk}/change/" in grid.url
    assert case.number in grid.locator("#content").inner_text()
    walk.shot(grid, "grid-worker-case-page")

    # 2. The community assesses and assigns from the list, in bulk, to the street's enforcement squad.
    community = office(people[Role.COMMUNITY_STAFF], live_server)
    community.goto(f"{live_server.url}/admin/")
    assert "待研判 1" in badges(community)
    walk.shot(community, "community-dashboard")
    community.click("#todo-badges >> text=待研判")
    expect(community.locator("#result_list tbody tr")).to_have_count(1)
    walk.shot(community, "community-waiting-list")
    community.locator("#result_list input.action-select").first.check()
    community.select_option("select[name=action]", "bulk_assess_assign")
    community.click("button[name=index]")
    community.select_option("select[name=department]", label=tree.dept_a.name)
    walk.shot(community, "community-bulk-assign-form")
    community.click("input[type=submit].default")
    assert "已办理：1" in community.locator("#bulk-moved h2").inner_text()
    walk.shot(community, "community-bulk-result")
    case.refresh_from_db()
    assert case.status == "assigned" and case.handling_department_id == tree.dept_a.pk

    # 3. The handling deadline passes: the sweep records a red step and tells the district's supervisor.
    past = timezone.now() - dt.timedelta(hours=1)
    Case.objects.filter(pk=case.pk).update(warn_at=past - dt.timedelta(hours=2), current_deadline=past)
    sweep()
    red = Escalation.objects.get(case=case, level=EscalationLevel.OVERDUE)
    assert supervisor.pk in red.notified
    lead = office(supervisor, live_server)
    lead.goto(f"{live_server.url}/admin/cases/escalation/{red.pk}/change/")
    assert case.number in lead.locator("#content").inner_text()
    lead.fill("textarea[name=instruction]", "请于今日内清理完毕并回复")
    walk.shot(lead, "supervisor-instruction")
    lead.click("input[name=_save]")
    red.refresh_from_db()
    assert red.acknowledged_by_id == supervisor.pk

    # 4. The department: its badges, the instruction in its inbox, a reply, then the handling with a stock phrase.
    dept = office(people[Role.DEPARTMENT_STAFF], live_server)
    dept.goto(f"{live_server.url}/admin/")
    assert "待处置 1" in badges(dept) and "已超期 1" in badges(dept)
    walk.shot(dept, "department-dashboard")
    dept.goto(f"{live_server.url}/admin/outbox/notification/inbox/")
    inbox = dept.locator("#inbox-list").inner_text()
    assert case.number in inbox and "督办" in inbox
    walk.shot(dept, "department-inbox")
    dept.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    sheet = dept.locator("#content").inner_text()
    # The handling unit reads the resident's number in full: it may have to call them.
    assert f"李女士 · {PHONE}" in sheet
    walk.shot(dept, "department-case-page")
    # The reply button is the handling unit's; the dispatcher is not offered one.
    assert dept.get_by_role("link", name="回复督办").count() == 1
    community.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    assert community.get_by_role("link", name="回复督办").count() == 0
    dept.get_by_role("link", name="回复督办").click()
    assert f"/admin/cases/escalation/{red.pk}/reply/" in dept.url
    dept.fill("textarea[name=text]", "已安排人员今日下午清理")
    dept.click("input[type=submit]")
    assert f"/admin/cases/case/{case.pk}/change/" in dept.url
    # The supervisor is told of the reply, in their inbox too.
    assert Notification.objects.filter(recipient=supervisor, channel="inapp").count() >= 2
    dept.get_by_role("link", name="处置", exact=True).click()
    assert dept.locator("label.required[for=id_result]").count() == 1  # marked before any submit
    dept.select_option("select[name=template]", index=1)
    dept.fill("textarea[name=result]", "已清理楼道纸箱，通道畅通")
    dept.set_input_files("input[name=photos]", str(after))
    walk.shot(dept, "department-handle-form")
    dept.click("input[type=submit].default")
    case.refresh_from_db()
    assert case.status == "handled"
    walk.shot(dept, "department-after-handle")

    # 5. The community verifies and, after a phone visit, records "dissatisfied": back for rework.
    community.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    community.get_by_role("link", name="核查反馈", exact=True).click()
    page_text = community.locator("#content").inner_text()
    assert "已清理楼道纸箱，通道畅通" in page_text  # the result being judged is on the step page
    community.fill("textarea[name=comment]", "现场核查属实")
    walk.shot(community, "community-verify-form")
    community.click("input[type=submit].default")
    case.refresh_from_db()
    assert case.status == "fed_back"
    community.get_by_role("link", name="录入评价", exact=True).click()
    community.check("input[name=rating][value=dissatisfied]")
    community.fill("textarea[name=rating_comment]", "纸箱又堆回来了")
    walk.shot(community, "community-phone-visit-form")
    community.click("input[type=submit].default")
    message = community.locator("ul.messagelist").inner_text()
    assert "返工" in message and re.search(r"\d{4}-\d{2}-\d{2}|\d{1,2}月\d{1,2}日", message), message
    walk.shot(community, "community-after-rating")
    case.refresh_from_db()
    assert case.status == "assigned" and case.rework_count == 1

    # 6. The department finds it waiting again; the timeline tells the whole story in order.
    dept.goto(f"{live_server.url}/admin/cases/case/")
    assert case.number in dept.locator("#result_list").inner_text()
    walk.shot(dept, "department-rework-list")
    dept.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    timeline = dept.locator(".case-timeline").inner_text()
    expected = ["上报", "研判", "派遣", "超期", "督办", "回复", "处置", "核查", "不满意", "返工"]
    positions = [timeline.find(word) for word in expected]
    assert all(p >= 0 for p in positions), dict(zip(expected, positions, strict=True))
    walk.shot(dept, "department-timeline")

    # A colleague of the reporter in the same grid sees the case, the contact masked everywhere on it.
    neighbour = office(make_user(Role.GRID_WORKER, area=tree.grid_a, username="grid_a2"), live_server)
    neighbour.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    assert "138****1111" in neighbour.locator(".case-sheet").inner_text()
    assert PHONE not in neighbour.content()
    walk.shot(neighbour, "grid-colleague-masked")

    # Another street's staff never see the case.
    other = make_user(Role.STREET_STAFF, area=tree.street_b, username="street_b")
    outsider = office(other, live_server)
    response = outsider.goto(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    assert case.number not in outsider.content() and (response.status in (302, 404) or "/admin/" in outsider.url)
    shots = sorted(p.name for p in artifacts.glob("*.png"))
    assert len(shots) == walk.n >= 15
