"""An area's dashboard is computed once for everyone who may read it, and kept FIGURES_CACHE_SECONDS."""

import re
import threading
import time
from datetime import date

import pytest
from django.core.cache import cache
from django.core.exceptions import PermissionDenied

from accounts.roles import Role
from metrics import selectors

from .conftest import MARCH

TODAY = date(2026, 4, 2)


@pytest.fixture
def cached(settings):
    settings.FIGURES_CACHE_SECONDS = 60


def test_a_second_official_of_the_area_reads_it_without_computing_it(
    cached, dataset, people, make_user, tree, django_assert_max_num_queries
):
    first = selectors.dashboard(user=people[Role.DISTRICT_STAFF], period=MARCH, today=TODAY)
    colleague = make_user(Role.DISTRICT_STAFF, area=tree.district, username="district_2")
    # Only the colleague's own scope and home areas are read: no figure, no roll-up, no case.
    with django_assert_max_num_queries(3):
        again = selectors.dashboard(user=colleague, period=MARCH, today=TODAY)
    assert again.kpis.value("on_time_rate") == first.kpis.value("on_time_rate") == 80.0
    assert again.generated_at == first.generated_at
    assert again.areas == [tree.district]


def test_the_cache_never_lets_anyone_past_the_scope(cached, dataset, people, tree):
    selectors.dashboard(user=people[Role.DISTRICT_STAFF], period=MARCH, today=TODAY)
    # The district's dashboard is in the cache: a street official asking for it is still refused.
    with pytest.raises(PermissionDenied):
        selectors.dashboard(user=people[Role.STREET_STAFF], period=MARCH, area=tree.district, today=TODAY)
    # The street official's own dashboard is another entry: their street, not the district.
    own = selectors.dashboard(user=people[Role.STREET_STAFF], period=MARCH, today=TODAY)
    assert own.area == tree.street_a


def test_another_day_or_period_is_computed_afresh(cached, dataset, people):
    district = people[Role.DISTRICT_STAFF]
    march = selectors.dashboard(user=district, period=MARCH, today=TODAY)
    later = selectors.dashboard(user=district, period=MARCH, today=date(2026, 4, 3))
    assert later.generated_at > march.generated_at


def test_without_a_cache_every_view_computes(dataset, people):
    district = people[Role.DISTRICT_STAFF]
    first = selectors.dashboard(user=district, period=MARCH, today=TODAY)
    second = selectors.dashboard(user=district, period=MARCH, today=TODAY)
    assert second.generated_at > first.generated_at


def test_the_page_says_how_fresh_the_figures_are(cached, dataset, client, people):
    client.force_login(people[Role.DISTRICT_STAFF])
    page = client.get("/admin/?from=2026-03-01&to=2026-03-31").content.decode()
    assert "数据更新于" in page


def test_while_one_process_builds_the_others_wait_for_its_result():
    key = "test-shared-cache-wait"
    cache.delete(key)
    cache.add(f"{key}:building", 1, timeout=60)  # another process is building it

    def finish():
        time.sleep(0.3)
        cache.set(key, "built by the other", 60)

    builds = []
    other = threading.Thread(target=finish)
    other.start()
    value = selectors.shared_cache(key, lambda: builds.append(1) or "built here", 60)
    other.join()
    assert value == "built by the other" and builds == []
    cache.delete_many([key, f"{key}:building"])


def test_the_builder_releases_its_lock_even_when_building_fails():
    key = "test-shared-cache-failure"
    cache.delete_many([key, f"{key}:building"])

    def broken():
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        selectors.shared_cache(key, broken, 60)
    assert cache.get(f"{key}:building") is None
    assert selectors.shared_cache(key, lambda: "second try", 60) == "second try"
    cache.delete(key)


def test_the_kpi_api_answers_a_colleague_from_the_first_answer(
    cached, dataset, people, make_user, tree, django_assert_max_num_queries
):
    from tests.api_support import token_client

    url = "/api/v1/metrics/kpis/?from=2026-03-01&to=2026-03-31"
    first = token_client(people[Role.DISTRICT_STAFF]).get(url)
    colleague = token_client(make_user(Role.DISTRICT_STAFF, area=tree.district, username="district_3"))
    with django_assert_max_num_queries(8):  # the token, the colleague's scope and area; no figure
        again = colleague.get(url)
    assert again.status_code == first.status_code == 200
    assert again.json() == first.json()
    # A street official asking for the district is refused, cache or not.
    assert token_client(people[Role.STREET_STAFF]).get(url + f"&area={tree.district.code}").status_code == 403


def test_each_language_has_its_own_copy(cached, dataset, people):
    from django.utils import translation

    district = people[Role.DISTRICT_STAFF]
    with translation.override("en"):
        english = selectors.dashboard(user=district, period=MARCH, today=TODAY)
    with translation.override("zh-hans"):
        chinese = selectors.dashboard(user=district, period=MARCH, today=TODAY)
    assert chinese.generated_at > english.generated_at


def test_the_rendered_panels_are_shared_per_area_only_and_carry_no_token(cached, dataset, client, people, tree):
    client.force_login(people[Role.DISTRICT_STAFF])
    district_page = client.get("/admin/?from=2026-03-01&to=2026-03-31").content.decode()
    assert tree.street_b.name in district_page  # the district's ranking lists both streets
    client.force_login(people[Role.STREET_STAFF])
    street_page = client.get("/admin/?from=2026-03-01&to=2026-03-31").content.decode()
    assert tree.street_b.name not in street_page  # the street's own panels, not the district's cached ones
    panels = street_page[street_page.index('class="metrics-grid"') :]
    assert "csrfmiddlewaretoken" not in panels  # a cached fragment never holds one person's token


def test_a_process_reads_an_entry_once_while_the_shared_cache_holds_the_same_one(monkeypatch):
    key = "test-shared-cache-held"
    cache.delete_many([key, f"{key}:stamp", f"{key}:building"])
    builds = []
    first = selectors.shared_cache(key, lambda: builds.append(1) or {"figures": [1, 2, 3]}, 60)
    read = []
    get = cache.get
    monkeypatch.setattr(cache, "get", lambda k, *a, **kw: read.append(k) or get(k, *a, **kw))
    # Only the stamp is read: the value this process holds is the one the cache holds, not unpickled again.
    assert selectors.shared_cache(key, lambda: builds.append(1) or "again", 60) is first
    assert read == [f"{key}:stamp"] and builds == [1]
    # Another process rebuilt it: its value is read.
    cache.set_many({key: {"figures": [4]}, f"{key}:stamp": "another process"}, 60)
    assert selectors.shared_cache(key, lambda: "never", 60) == {"figures": [4]}
    # The cache was emptied: built afresh here, never served from the copy this process held.
    cache.delete_many([key, f"{key}:stamp"])
    assert selectors.shared_cache(key, lambda: builds.append(1) or "rebuilt", 60) == "rebuilt"
    assert builds == [1, 1]
    cache.delete_many([key, f"{key}:stamp"])


def test_beat_renewing_an_entry_replaces_every_processs_copy():
    key = "test-shared-cache-renewed"
    cache.delete_many([key, f"{key}:stamp"])
    selectors.shared_cache(key, lambda: ["old hotspots"], 60)
    elsewhere = selectors._held[key]  # what another process read and holds
    selectors.shared_cache_put(key, ["new hotspots"], 60)  # beat's warm_hotspots
    selectors._held[key] = elsewhere
    assert selectors.shared_cache(key, lambda: ["never"], 60) == ["new hotspots"]
    cache.delete_many([key, f"{key}:stamp"])


def test_the_cards_trend_and_areas_are_rendered_once_per_figures(cached, dataset, client, people, monkeypatch):
    from metrics import charts

    drawn = []
    draw = charts.trend_chart
    monkeypatch.setattr(charts, "trend_chart", lambda trend: drawn.append(1) or draw(trend))
    client.force_login(people[Role.DISTRICT_STAFF])
    first = client.get("/admin/?from=2026-03-01&to=2026-03-31").content.decode()
    again = client.get("/admin/?from=2026-03-01&to=2026-03-31").content.decode()
    assert drawn == [1]  # the trend's SVG is drawn for the first view only
    for page in (first, again):
        assert 'class="kpi-cards"' in page and "<svg" in page and 'class="metrics-grid"' in page
    cards = again[again.index('class="kpi-cards"') : again.index('class="metrics-exports"')]
    assert "csrfmiddlewaretoken" not in cards


# --- dashboards renewed by beat before they expire (selectors.warm_dashboards) ---------------------------------
@pytest.fixture
def warm(cached, settings):
    settings.DASHBOARD_WARM_SECONDS = 600
    selectors._noted.clear()  # what this process has listed lately: each test lists afresh
    yield
    selectors._noted.clear()


def test_a_dashboard_read_is_renewed_and_the_next_official_reads_it_kept(
    warm, dataset, people, make_user, tree, django_assert_max_num_queries
):
    first = selectors.dashboard(user=people[Role.DISTRICT_STAFF], period=MARCH, today=TODAY)
    assert selectors.warm_dashboards(today=TODAY) == 1
    colleague = make_user(Role.DISTRICT_STAFF, area=tree.district, username="district_4")
    with django_assert_max_num_queries(3):  # the colleague's scope and areas: no figure
        renewed = selectors.dashboard(user=colleague, period=MARCH, today=TODAY)
    assert renewed.generated_at > first.generated_at
    assert renewed.kpis.value("on_time_rate") == first.kpis.value("on_time_rate") == 80.0
    # The street official's dashboard is listed beside it, as its own entry.
    selectors.dashboard(user=people[Role.STREET_STAFF], period=MARCH, today=TODAY)
    assert selectors.warm_dashboards(today=TODAY) == 2


def test_a_dashboard_no_longer_read_or_of_another_day_is_dropped(warm, dataset, people, settings):
    selectors.dashboard(user=people[Role.DISTRICT_STAFF], period=MARCH, today=TODAY)
    assert selectors.warm_dashboards(today=date(2026, 4, 3)) == 0  # the next day's page is another entry
    assert cache.get(selectors.WANTED_KEY) == {}
    selectors._noted.clear()
    selectors.dashboard(user=people[Role.DISTRICT_STAFF], period=MARCH, today=TODAY)
    wanted = cache.get(selectors.WANTED_KEY)
    for entry in wanted.values():
        entry["seen"] -= settings.DASHBOARD_WARM_SECONDS + 1  # last read over ten minutes ago
    cache.set(selectors.WANTED_KEY, wanted)
    assert selectors.warm_dashboards(today=TODAY) == 0  # nobody read it for ten minutes
    assert cache.get(selectors.WANTED_KEY) == {}


def test_beat_never_renews_past_the_last_readers_scope(warm, dataset, people, tree):
    from accounts.models import Post

    street = people[Role.STREET_STAFF]
    selectors.dashboard(user=street, period=MARCH, today=TODAY)
    # The official moves to the other street: their old street's dashboard is no longer theirs to renew.
    Post.objects.filter(user=street).update(area=tree.street_b)
    street.refresh_from_db()
    assert selectors.warm_dashboards(today=TODAY) == 0
    assert cache.get(selectors.WANTED_KEY) == {}
    district = people[Role.DISTRICT_STAFF]
    selectors.dashboard(user=district, period=MARCH, today=TODAY)
    district.is_active = False
    district.save()
    assert selectors.warm_dashboards(today=TODAY) == 0


def test_each_language_is_renewed_in_its_own(warm, dataset, people, monkeypatch):
    from django.utils import translation

    district = people[Role.DISTRICT_STAFF]
    with translation.override("en"):
        selectors.dashboard(user=district, period=MARCH, today=TODAY)
    with translation.override("zh-hans"):
        selectors.dashboard(user=district, period=MARCH, today=TODAY)
    built_in = []
    build = selectors._area_dashboard
    monkeypatch.setattr(
        selectors, "_area_dashboard", lambda **kw: built_in.append(translation.get_language()) or build(**kw)
    )
    assert selectors.warm_dashboards(today=TODAY) == 2
    # Labels translated while building are in the language of the entry's readers.
    assert sorted(built_in) == ["en", "zh-hans"]


def test_without_a_cache_nothing_is_listed_or_renewed(dataset, people, settings):
    settings.FIGURES_CACHE_SECONDS = 0
    selectors._noted.clear()
    selectors.dashboard(user=people[Role.DISTRICT_STAFF], period=MARCH, today=TODAY)
    assert cache.get(selectors.WANTED_KEY) is None
    assert selectors.warm_dashboards(today=TODAY) == 0


def test_beat_renews_them_every_half_cache_period(warm, dataset, people):
    from django.conf import settings as django_settings

    from metrics.tasks import warm_dashboards

    entry = django_settings.CELERY_BEAT_SCHEDULE["warm-dashboards"]
    assert entry["task"] == "metrics.tasks.warm_dashboards"
    assert entry["schedule"] == django_settings.FIGURES_CACHE_SECONDS / 2
    selectors.dashboard(user=people[Role.DISTRICT_STAFF], period=MARCH)
    assert warm_dashboards() == {"dashboards": 1}


def test_beat_renders_the_shared_panels_so_readers_after_it_render_none(warm, dataset, client, people, monkeypatch):
    from metrics import charts, mediation
    from metrics.tasks import warm_dashboards

    drawn, mediated = [], []
    draw, rates = charts.trend_chart, mediation.resolution_rates
    monkeypatch.setattr(charts, "trend_chart", lambda trend: drawn.append(1) or draw(trend))
    monkeypatch.setattr(mediation, "resolution_rates", lambda **kw: mediated.append(1) or rates(**kw))
    client.force_login(people[Role.DISTRICT_STAFF])
    url = "/admin/?from=2026-03-01&to=2026-03-31"
    first = client.get(url).content.decode()
    assert (drawn, mediated) == ([1], [1])
    assert warm_dashboards() == {"dashboards": 1}
    assert (drawn, mediated) == ([1, 1], [1, 1])  # beat drew and computed them for the renewed figures
    renewed = client.get(url).content.decode()
    assert (drawn, mediated) == ([1, 1], [1, 1])  # the reader after it: neither

    def shared(page):
        # From the cards on; the form's token is the reader's own.
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page[page.index('class="kpi-cards"') :])

    # What beat rendered is what a reader renders: same language, links and figures.
    assert shared(renewed) == shared(first)
    assert "<svg" in renewed and 'id="visit-coverage"' in renewed
