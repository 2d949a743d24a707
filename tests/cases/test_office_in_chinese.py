"""Every back-office page reads in Simplified Chinese: each admin list, change page, step page and the
dashboard, as each role, with cases in every state — no msgid of ours left in English and no raw
state, step, stage, source or priority value in the visible text."""

import re
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.contrib import admin
from django.test import Client, RequestFactory
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.roles import Role
from cases import steps
from cases.models import DismissReason, Escalation, Priority, Rating, Source, Stage, Status

pytestmark = pytest.mark.django_db

ROLES = [Role.DISTRICT_STAFF, Role.STREET_STAFF, Role.COMMUNITY_STAFF, Role.GRID_WORKER, Role.DEPARTMENT_STAFF]
RAW_VALUES = (
    set(Status.values)
    | set(Source.values)
    | set(Priority.values)
    | set(Stage.values)
    | set(DismissReason.values)
    | set(Rating.values)
    | set(steps.STEPS)
    | set(steps.EVENTS)
)


# The states the cases fixture walks a case to (tests/cases/conftest.py make_case).
WALKABLE = ["reported", "assessed", "assigned", "handled", "fed_back", "rated", "dismissed", "closed"]


def _english_msgids() -> dict[str, str]:
    """Our msgids (lower-cased) whose Chinese differs: met in a zh-hans page, they were left untranslated."""
    po = polib.pofile(str(Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    found = {}
    for e in po:
        text = e.msgid.strip()
        # Only whole phrases that are clearly words (placeholders are filled in, so they never match).
        if e.msgstr and e.msgstr != e.msgid and re.search(r"[A-Za-z]{3}", text) and "%" not in text:
            found[text.lower()] = text
    return found


class VisibleText(HTMLParser):
    """The text a person reads: no tags, attributes, scripts, styles or hidden SVG symbols."""

    SKIP = {"script", "style", "svg", "template"}

    def __init__(self):
        super().__init__()
        self.depth, self.chunks = 0, []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth and data.strip():
            self.chunks.append(data.strip())


def visible_text(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return parser.chunks


@pytest.fixture
def cases_in_every_state(make_case, people):
    made = {status: make_case(status) for status in WALKABLE}
    late = made["assigned"]
    Escalation.objects.create(
        case=late, level=2, stage=Stage.HANDLE, deadline=timezone.now(), sweep="t", notified_names="督办人"
    )
    return made


def pages_for(user) -> list[str]:
    """The dashboard, every changelist the user may view, the first row's change page, and step pages."""
    request = RequestFactory().get("/admin/")
    request.user = user
    urls = [reverse("admin:index")]
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_view_permission(request):
            continue
        info = model._meta.app_label, model._meta.model_name
        try:
            urls.append(reverse(f"admin:{info[0]}_{info[1]}_changelist"))
        except NoReverseMatch:
            continue
        for obj in model_admin.get_queryset(request)[:1]:
            urls.append(reverse(f"admin:{info[0]}_{info[1]}_change", args=[obj.pk]))
    return urls


def test_every_page_as_every_role_reads_in_chinese(people, cases_in_every_state):
    english = _english_msgids()
    problems = []
    for role in ROLES:
        user = people[role]
        client = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")  # the browser's wish is not asked
        client.force_login(user)
        urls = pages_for(user)
        for case in cases_in_every_state.values():
            urls.append(reverse("admin:cases_case_change", args=[case.pk]))
            urls += [
                reverse("admin:cases_case_transition", args=[case.pk, name])
                for name, step in steps.STEPS.items()
                if step.by_people and case.status in step.sources
            ]
        urls.append(reverse("admin:cases_case_changelist") + "?view=all")
        for url in dict.fromkeys(urls):
            response = client.get(url)
            if response.status_code in (302, 403, 404):
                continue  # not this role's page (a step they may not take): nothing to read
            assert response.status_code == 200, (role, url, response.status_code)
            for chunk in visible_text(response.content.decode()):
                stripped = chunk.strip(" :：*·/|()（）").lower()
                if stripped in english and chunk != user.username:  # "district" is also a login name
                    problems.append(f"{role} {url}: untranslated “{chunk}”")
                raw = RAW_VALUES.intersection(re.findall(r"(?<![\w-])[a-z_]+(?![\w-])", chunk, re.ASCII))
                if raw:
                    problems.append(f"{role} {url}: raw value {sorted(raw)} in “{chunk[:80]}”")
    assert not problems, "\n".join(dict.fromkeys(problems))
