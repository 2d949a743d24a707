"""Roll-ups give exactly the direct computation (metrics.kpis.compute) on a random history, and stay current."""

import gc
import io
import random
import threading
from collections import Counter
from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Substr
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from PIL import Image

from cases.calendar import forget_calendar
from cases.changes import case_changed
from cases.models import Case, Category, DeadlineUnit, Status, WorkCalendarDay
from cases.services import CaseStateConflict, create_case, transition_case
from grids.models import Area, Tier
from metrics import percentiles, rollups, selectors
from metrics import tasks as metrics_tasks
from metrics.kpis import KPIS, TOTAL, Period, add_months, analytic_queries, compute, first_of_month, monthly_counts
from metrics.models import CoarseRollup, DailyRollup, DirtyBucket, MonthlyRollup, RollupState
from metrics.selectors import path_length


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def photo():
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), (20, 160, 40)).save(buffer, format="PNG")
    return SimpleUploadedFile("after.png", buffer.getvalue(), content_type="image/png")


@pytest.fixture
def kinds(tree):
    group = Category.objects.create(code="R1", name="城市管理")
    limits = {"handle_limit": 2, "handle_unit": DeadlineUnit.WORKDAYS}
    return [
        Category.objects.create(code="R101", name="乱堆乱放", parent=group, default_tier="community", **limits),
        Category.objects.create(code="R102", name="占道经营", parent=group, default_tier="community", **limits),
        Category.objects.create(
            code="R103",
            name="治安隐患",
            parent=group,
            default_department=tree.dept_district,
            handle_limit=8,
            handle_unit=DeadlineUnit.HOURS,
        ),
    ]


def random_history(rng, tree, kinds, root, *, cases=40):
    """Cases reported over the last ten weeks and today, walked through random steps by the services:
    category changes at assessment, send-backs and re-dispatch, rejection (rework), dissatisfied
    ratings (automatic rework), unrated closing, dismissals, and moves between grids."""
    now = timezone.now()
    grids = [tree.grid_a, tree.grid_b]

    def units(case):
        in_a = case.grid_id == tree.grid_a.pk
        own = {"department": tree.dept_a} if in_a else {"area": tree.community_b}
        return [{"area": tree.community_a if in_a else tree.street_b}, {"department": tree.dept_district}, own]

    made = []
    for n in range(cases):
        # About one in six today, so today's live part is exercised beside the roll-ups.
        start = now - timedelta(hours=rng.uniform(0.5, 6)) if n % 6 == 0 else now - timedelta(days=rng.uniform(1, 70))
        moment = start
        grid = rng.choice(grids)
        case = create_case(
            actor=root, title=f"随机案件{n}", description="随机历史", category=rng.choice(kinds), grid=grid, now=moment
        )
        for _ in range(rng.randint(0, 12)):
            moment = min(moment + timedelta(hours=rng.uniform(0.2, 40)), now - timedelta(minutes=1))
            case.refresh_from_db()
            name, params = next_step(rng, case, kinds, units, moment=moment, tree=tree)
            if name is None:
                break
            try:
                case = transition_case(actor=root, case=case, name=name, now=moment, **params)
            except PermissionDenied:
                # Steps no official takes (a resident's rating): the platform's, as a signed link does it.
                case = transition_case(actor=None, case=case, name=name, now=moment, **params)
            except CaseStateConflict:
                break
        if rng.random() < 0.15:
            # Moved to the other grid (no step does it yet; a repair would): the old and new buckets are marked.
            case.refresh_from_db()
            other = tree.grid_b if case.grid_id == tree.grid_a.pk else tree.grid_a
            previous = case.area_path
            Case.objects.filter(pk=case.pk).update(grid=other, area_path=other.path)
            case.refresh_from_db()
            case_changed(case, previous_path=previous)
        made.append(case)
    return made


def next_step(rng, case, kinds, units, *, moment=None, tree=None):
    status = case.status
    if status == Status.SUSPENDED:
        return "lift_suspension", {"comment": "资金到位，恢复办理"}
    if status == Status.ASSIGNED and tree is not None:
        # Moved clocks and assisting tasks, so their counts are compared too.
        if case.pending_request == "extension":
            return "approve_extension", {"comment": "同意延期", "granted_days": 1}
        if case.pending_request == "suspension":
            return "approve_suspension", {"comment": "同意挂账"}
        if case.open_assist_count:
            return "finish_assist", {"result": "已配合处置"}
        r = rng.random()
        if r < 0.12:
            return "request_extension", {"days": rng.randint(1, 3), "comment": "需要更多时间"}
        if r < 0.18:
            review = timezone.localdate(moment) + timedelta(days=10)
            return "request_suspension", {"review_date": review, "comment": "等待资金"}
        if r < 0.26 and case.handling_department_id != tree.dept_district.pk:
            return "add_assist", {"department": tree.dept_district, "task": "配合清理"}
    if status == Status.REPORTED:
        if rng.random() < 0.1:
            return "dismiss", {"reason": "not_real", "comment": "现场无此情况"}
        return "assess", {"category": rng.choice(kinds)} if rng.random() < 0.4 else {}
    if status == Status.ASSESSED:
        return "assign", dict(rng.choice(units(case)))
    if status == Status.ASSIGNED:
        if rng.random() < 0.2:
            return "send_back", {"comment": "不属于本单位职责"}
        return "handle", {"result": "已处置", "photos": [photo()]}
    if status == Status.HANDLED:
        if rng.random() < 0.25:
            return "reject", {"comment": "现场仍有问题"}
        return "feed_back", {"comment": "核查属实"}
    if status == Status.FED_BACK:
        if rng.random() < 0.2:
            return "close", {}
        return "rate", {"rating": rng.choice(["satisfied", "basically", "dissatisfied"])}
    return None, {}


def same_figures(rolled, direct):
    assert set(rolled) == set(direct)
    for key, kpis in direct.items():
        for kpi in KPIS:
            want, got = kpis[kpi.key], rolled[key][kpi.key]
            assert (got.value, got.previous, got.numerator, got.denominator) == (
                want.value,
                want.previous,
                want.numerator,
                want.denominator,
            ), (key, kpi.key)


def coarse_values(row) -> list[int]:
    """A coarse row's working times: its list plus the values gained and less those lost since it was merged."""
    values = Counter(row.handle_us)
    values.update(row.pending_gained)
    values.subtract(row.pending_lost)
    assert all(n >= 0 for n in values.values()), row
    return sorted(values.elements())


def rollup_rows():
    """Every column of every roll-up row but the id, daily and monthly, in a fixed order; the coarse rows by
    their counts and values (how many of those wait to be merged into the list is the row's own affair)."""
    named = [*rollups.COARSE_KEY, "depth", *rollups.SUMMED]
    return (
        sorted(DailyRollup.objects.values_list(*rollups.DAILY_COLUMNS), key=repr),
        sorted(MonthlyRollup.objects.values_list(*rollups.MONTHLY_COLUMNS), key=repr),
        sorted(
            ((*(getattr(row, name) for name in named), coarse_values(row)) for row in CoarseRollup.objects.all()),
            key=repr,
        ),
    )


def stored_coarse_rows():
    """Every column of every coarse row but the id, as stored (samples and pending values included)."""
    return sorted(CoarseRollup.objects.values_list(*rollups.COARSE_COLUMNS), key=repr)


def periods(today):
    this_month = Period.month_to_date(today)
    return [
        this_month,
        Period.month(add_months(first_of_month(today), -1)),
        Period(today - timedelta(days=30), today),
        Period(today - timedelta(days=45), today - timedelta(days=3)),
        Period(today, today),
        Period(today - timedelta(days=1), today - timedelta(days=1)),
        # Whole months on both sides, and a month missing its first days (read as the monthly row less them).
        Period(add_months(first_of_month(today), -1), today),
        Period(first_of_month(today) - timedelta(days=1), today),
        Period(add_months(first_of_month(today), -2) + timedelta(days=1), today - timedelta(days=1)),
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_rollups_equal_the_direct_computation_on_a_random_history(seed, tree, kinds, people, monkeypatch):
    # A few samples per working-times list, so that these small histories read slices as a district's do.
    monkeypatch.setattr(percentiles, "SAMPLES", 3)
    read_slices = []
    monkeypatch.setattr(
        rollups, "_slices", lambda requests, read=rollups._slices: read_slices.append(requests) or read(requests)
    )
    rng = random.Random(seed)
    first = random_history(rng, tree, kinds, people["superuser"], cases=25)
    assert DirtyBucket.objects.exists()
    rollups.refresh()
    assert not DirtyBucket.objects.exists()
    # Changes after the monthly level is built reach it through the marked days: new cases on past
    # days, further steps on the first cases, moves between grids.
    random_history(rng, tree, kinds, people["superuser"], cases=20)
    for case in rng.sample(first, 10):
        case.refresh_from_db()
        name, params = next_step(rng, case, kinds, lambda c: [{"department": tree.dept_district}])
        try:
            if name:
                transition_case(actor=people["superuser"], case=case, name=name, **params)
        except PermissionDenied:
            transition_case(actor=None, case=case, name=name, **params)
        except (CaseStateConflict, ValidationError):
            pass  # a step this case cannot take now (an open assisting task): the others still change
    rollups.refresh()
    assert not DirtyBucket.objects.exists()
    today = timezone.localdate()
    statuses = set(Case.objects.values_list("status", flat=True))
    assert {Status.RATED, Status.ASSIGNED} <= statuses
    assert Case.objects.filter(rework_count__gt=0).exists() and Case.objects.filter(send_back_count__gt=0).exists()
    assert Case.objects.filter(extended_until__isnull=False).exists()
    assert Case.objects.filter(suspension_count__gt=0).exists()
    assert Case.objects.filter(assist_done_count__gt=0).exists()
    groupings = [
        (Q(), None, False),
        (Q(area_path__startswith=tree.district.path), Substr("area_path", 1, path_length(Tier.STREET)), True),
        (Q(area_path__startswith=tree.street_a.path), Substr("area_path", 1, path_length(Tier.COMMUNITY)), True),
        (Q(handling_department__isnull=False), F("handling_department_id"), False),
        (Q(handling_department_id__in=[tree.dept_a.pk]), None, False),
        (Q(category=kinds[0]), None, False),
    ]
    for period in periods(today):
        # And all of them read together (a dashboard's area and departments): each step one statement for all.
        batched = rollups.figures_of([rollups.Ask(where, group, total) for where, group, total in groupings], period)
        for (where, group, total), together in zip(groupings, batched, strict=True):
            direct = compute(Case.objects.filter(where), period, group=group, total=total)
            rolled = rollups.figures(where, period, group=group, total=total)
            same_figures(rolled, direct)
            same_figures(together, direct)
    assert any(read_slices), "whole months' times to handle were counted in their lists, slices read"
    # The public page's pair (this month against the whole last month), counts only.
    this_month, last_month = Period.month_to_date(today), Period.month(add_months(first_of_month(today), -1))
    group = Substr("area_path", 1, path_length(Tier.COMMUNITY))
    same_figures(
        rollups.figures(Q(), this_month, previous=last_month, group=group, hours=False),
        compute(Case.objects.all(), this_month, previous=last_month, group=group, hours=False),
    )
    first = add_months(first_of_month(today), -3)
    assert rollups.monthly_counts(Q(), first, today) == {
        month: counts
        for month, counts in monthly_counts(Case.objects.all(), first, today).items()
        if counts["reported"]
    }
    start, end = Period(today - timedelta(days=40), today).bounds()
    live = {}
    for category_id in Case.objects.filter(reported_at__gte=start, reported_at__lt=end).values_list(
        "category_id", flat=True
    ):
        live[category_id] = live.get(category_id, 0) + 1
    assert dict(rollups.category_volumes(Q(), Period(today - timedelta(days=40), today))) == live

    # A rebuild from scratch gives the same rows as the incremental refreshes did, on both levels; merging
    # the coarse rows' pending values changes none of their values, and leaves the rows a rebuild stores.
    incremental = rollup_rows()
    assert incremental[1], "the monthly level holds the past days"
    assert incremental[2], "and the coarse level sums them"
    assert CoarseRollup.objects.filter(pending__gt=0).exists(), "changed working times wait to be merged"
    assert rollups.compact(everything=True)
    assert not CoarseRollup.objects.filter(pending__gt=0).exists()
    assert rollup_rows() == incremental
    compacted = stored_coarse_rows()
    call_command("rebuild_rollups", stdout=io.StringIO())
    assert rollup_rows() == incremental
    assert stored_coarse_rows() == compacted


def test_postgresql_rollups_equal_the_direct_computation(postgres, tree, kinds, people, monkeypatch):
    """The same comparison where the direct computation runs its SQL work clock and percentile_cont."""
    test_rollups_equal_the_direct_computation_on_a_random_history(3, tree, kinds, people, monkeypatch)


def test_each_change_marks_its_bucket_in_the_same_transaction(tree, kinds, people):
    root = people["superuser"]
    case = create_case(actor=root, title="占道", description="门口占道", category=kinds[1], grid=tree.grid_a)
    day = timezone.localdate(case.reported_at)
    assert list(DirtyBucket.objects.values_list("day", "area_path")) == [(day, tree.grid_a.path)]
    rollups.refresh()
    assert not DirtyBucket.objects.exists()
    # A refused step writes nothing, so it marks nothing.
    with pytest.raises(CaseStateConflict):
        transition_case(actor=root, case=case, name="feed_back", comment="x")
    assert not DirtyBucket.objects.exists()
    transition_case(actor=root, case=case, name="assess")
    assert DirtyBucket.objects.count() == 1
    # Rejected input rolls back the case and its mark together.
    with pytest.raises(Exception):  # noqa: B017 - whichever validation error the service raises
        create_case(actor=root, title="", description="", category=kinds[1], grid=tree.grid_a)
    assert DirtyBucket.objects.count() == 1
    assert RollupState.current().refreshed_at is not None


def test_refresh_recomputes_only_marked_buckets_in_a_fixed_number_of_queries(
    tree, kinds, people, django_assert_max_num_queries
):
    root = people["superuser"]
    yesterday = timezone.now() - timedelta(days=1)
    for n in range(6):
        create_case(
            actor=root,
            title=f"案件{n}",
            description="d",
            category=kinds[n % 3],
            grid=[tree.grid_a, tree.grid_b][n % 2],
            now=yesterday - timedelta(days=n % 3),
        )
    # One pass over the three marked days (counts, hours, old rows, new rows), whatever the number of
    # days or cases; two more build the monthly level from the daily rows the first time, and two the
    # coarse level from it (its rows read, new ones inserted).
    with django_assert_max_num_queries(19):  # and the state row created, in a savepoint
        rollups.refresh()
    assert DailyRollup.objects.aggregate(n=Sum("reported"))["n"] == 6
    assert MonthlyRollup.objects.aggregate(n=Sum("reported"))["n"] == 6
    # Once built, the changed daily rows are deleted and inserted again, the monthly rows they belong
    # to read and their counts updated, and the coarse rows holding those read and updated, whatever
    # the number of days.
    for n in range(6):
        create_case(
            actor=root,
            title=f"又一件{n}",
            description="d",
            category=kinds[n % 3],
            grid=[tree.grid_a, tree.grid_b][n % 2],
            now=yesterday - timedelta(days=n % 3),
        )
    with django_assert_max_num_queries(18):
        rollups.refresh()
    assert MonthlyRollup.objects.aggregate(n=Sum("reported"))["n"] == 12
    assert CoarseRollup.objects.filter(by_department=False, depth=1).aggregate(n=Sum("reported"))["n"] == 12
    # A case written past the services (a seeder, a repair) is not in the roll-ups until it is marked.
    ghost = Case.objects.create(
        title="旁路",
        description="d",
        category=kinds[0],
        grid=tree.grid_a,
        area_path=tree.grid_a.path,
        reported_at=yesterday,
    )
    district = selectors.area_kpis(user=root, area=tree.district, period=Period(date(2000, 1, 1), timezone.localdate()))
    assert district.value("reported") == 12
    rollups.mark(ghost)
    assert rollups.lag_seconds() >= 0 and DirtyBucket.objects.count() == 1
    rollups.refresh()
    district = selectors.area_kpis(user=root, area=tree.district, period=Period(date(2000, 1, 1), timezone.localdate()))
    assert district.value("reported") == 13
    assert rollups.lag_seconds() == 0


def report_on_days(root, tree, kinds, days, title):
    """One case reported through the services on each of ``days`` (days ago), in alternate grids."""
    for n in days:
        create_case(
            actor=root,
            title=f"{title}{n}",
            description="d",
            category=kinds[n % 3],
            grid=[tree.grid_a, tree.grid_b][n % 2],
            now=timezone.now() - timedelta(days=n, hours=1),
        )


def test_a_refresh_takes_as_many_statements_for_forty_marked_days_as_for_two(tree, kinds, people):
    """One pass over every marked bucket: grouped statements over the case table and the roll-ups, however many
    days and grids are marked (before: about five statements per marked day)."""
    root = people["superuser"]
    report_on_days(root, tree, kinds, range(1, 41), "首批")
    rollups.refresh()  # the first: builds the monthly level too
    counted = []
    for days in (range(1, 3), range(1, 41)):
        report_on_days(root, tree, kinds, days, "又一批")
        assert DirtyBucket.objects.values("day").distinct().count() == len(days)
        forget_calendar()  # the work calendar's exceptions are read once a minute: read them both times
        with CaptureQueriesContext(connection) as queries:
            rollups.refresh()
        counted.append(len(queries))
    # The state row and its lock, the marks, the calendar, the cases' counts and handling times (one statement
    # on PostgreSQL, two on SQLite), the old daily rows, the changed ones deleted and inserted, the monthly rows
    # read (without their kept values) and their counts updated in place, the coarse rows holding them read and
    # updated, the marks removed, the state saved; and the savepoint around it here. (On
    # PostgreSQL an insert is one statement whatever its rows; SQLite's parameter limit splits one into
    # statements of 45 rows, more than change here.)
    assert counted[0] == counted[1] == (16 if connection.vendor == "postgresql" else 17), counted
    # New reports change counts, not working times: no monthly row's kept values were read or written.
    monthly = [q["sql"] for q in queries.captured_queries if "metrics_monthlyrollup" in q["sql"]]
    assert monthly and not any('"handle_us"' in sql for sql in monthly), monthly
    assert not DirtyBucket.objects.exists()
    assert DailyRollup.objects.aggregate(n=Sum("reported"))["n"] == 40 + 2 + 40
    assert MonthlyRollup.objects.aggregate(n=Sum("reported"))["n"] == 40 + 2 + 40
    incremental = rollup_rows()
    call_command("rebuild_rollups", stdout=io.StringIO())
    assert rollup_rows() == incremental


def test_a_refresh_over_more_days_than_a_pass_holds_gives_the_rows_of_a_rebuild(tree, kinds, people, monkeypatch):
    """Marks spread over many passes (a week of days each here; a calendar edit's 401 whole days, a month of them
    per pass), and deletions split to a small parameter limit, end in the rows a rebuild computes."""
    rng = random.Random(11)
    root = people["superuser"]
    random_history(rng, tree, kinds, root, cases=15)
    rollups.refresh()
    random_history(rng, tree, kinds, root, cases=12)
    monkeypatch.setattr(rollups, "PASS_DAYS", 7)
    assert len(rollups._passes({d: set() for d in DirtyBucket.objects.values_list("day", flat=True)})) > 1
    with monkeypatch.context() as patched:
        patched.setattr(connection.features, "max_query_params", 5)
        rollups.refresh()
    assert not DirtyBucket.objects.exists()
    incremental = rollup_rows()
    call_command("rebuild_rollups", stdout=io.StringIO())
    assert rollup_rows() == incremental
    # A holiday moves the working hours of every case handled across it.
    monkeypatch.setattr(rollups, "PASS_DAYS", 366)
    holiday = timezone.localdate() - timedelta(days=20)
    WorkCalendarDay.objects.update_or_create(date=holiday, defaults={"is_workday": False, "name": "临时假日"})
    rollups.refresh()
    assert not DirtyBucket.objects.exists()
    incremental = rollup_rows()
    call_command("rebuild_rollups", stdout=io.StringIO())
    assert rollup_rows() == incremental


def test_a_change_committed_while_the_refresh_runs_keeps_its_mark(tree, kinds, people, monkeypatch):
    """Marks are removed by id: a case changed after the refresh read the case table keeps its mark, and the
    next refresh counts it (removing the marked days' marks would lose it until the next change)."""
    root = people["superuser"]
    report_on_days(root, tree, kinds, [1], "先到")
    read = rollups._fresh_rows
    late = []

    def then_a_change(days, clock):
        rows = read(days, clock)
        if not late:  # as another transaction committing now, the same day and grid
            report_on_days(root, tree, kinds, [1], "后到")
            late.append(True)
        return rows

    monkeypatch.setattr(rollups, "_fresh_rows", then_a_change)
    rollups.refresh()
    case = Case.objects.get(title="后到1")
    assert list(DirtyBucket.objects.values_list("day", "area_path")) == [
        (timezone.localdate(case.reported_at), case.area_path)
    ]
    assert DailyRollup.objects.aggregate(n=Sum("reported"))["n"] == 1
    rollups.refresh()
    assert not DirtyBucket.objects.exists()
    assert DailyRollup.objects.aggregate(n=Sum("reported"))["n"] == 2
    assert MonthlyRollup.objects.aggregate(n=Sum("reported"))["n"] == 2


@pytest.mark.django_db(transaction=True)
def test_postgresql_a_case_committed_during_a_refresh_is_counted_by_the_next(
    postgres, tree, kinds, people, monkeypatch
):
    """The same race with two connections: the refresh has read the case table when another transaction
    commits a new case on a marked day and grid; its mark outlives the refresh."""
    root = people["superuser"]
    report_on_days(root, tree, kinds, [1], "先到")
    read = rollups._fresh_rows
    has_read, committed = threading.Event(), threading.Event()

    def paused(days, clock):
        rows = read(days, clock)
        has_read.set()
        assert committed.wait(20)
        return rows

    monkeypatch.setattr(rollups, "_fresh_rows", paused)
    outcome = {}

    def refresh():
        try:
            outcome["buckets"] = rollups.refresh()
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=refresh, daemon=True)
    thread.start()
    assert has_read.wait(20)
    report_on_days(root, tree, kinds, [1], "后到")  # committed on this thread's connection
    committed.set()
    thread.join(20)
    assert not thread.is_alive() and outcome == {"buckets": 1}
    assert DirtyBucket.objects.count() == 1
    assert DailyRollup.objects.aggregate(n=Sum("reported"))["n"] == 1
    rollups.refresh()
    assert not DirtyBucket.objects.exists()
    assert DailyRollup.objects.aggregate(n=Sum("reported"))["n"] == 2
    assert MonthlyRollup.objects.aggregate(n=Sum("reported"))["n"] == 2


def test_a_calendar_edit_marks_the_days_whose_working_hours_it_changes(db):
    day = timezone.localdate() - timedelta(days=3)
    WorkCalendarDay.objects.update_or_create(date=day, defaults={"is_workday": False, "name": "临时假日"})
    marked = DirtyBucket.objects.filter(area_path=rollups.WHOLE_DAY)
    assert marked.filter(day=day).exists()
    assert marked.filter(day=day - timedelta(days=rollups.CALENDAR_REACH_DAYS)).exists()
    assert not marked.filter(day=day + timedelta(days=1)).exists()


def test_dashboard_reads_roll_ups_for_past_days(tree, kinds, people):
    """The dashboard counts a past case once its bucket is refreshed: the past comes from roll-ups."""
    root = people["superuser"]
    create_case(
        actor=root,
        title="t",
        description="d",
        category=kinds[0],
        grid=tree.grid_a,
        now=timezone.now() - timedelta(days=2),
    )
    period = Period(timezone.localdate() - timedelta(days=5), timezone.localdate())
    assert selectors.dashboard(user=root, period=period).kpis.value("reported") == 0
    rollups.refresh()
    board = selectors.dashboard(user=root, period=period)
    assert board.kpis.value("reported") == 1
    assert [c.kpis.value("reported") for c in board.children] == [1, 0]
    assert board.categories[0]["cases"] == 1
    assert sum(point.reported for point in board.trend) == 1
    assert TOTAL not in (c.area.path for c in board.children)
    assert Area.objects.count() >= 7


def reported_days_ago(tree, kinds, actor, days_ago):
    """A case reported so many days ago for each number, across the categories and the two grids."""
    for n, days in enumerate(days_ago):
        create_case(
            actor=actor,
            title=f"案{n}",
            description="d",
            category=kinds[n % 3],
            grid=[tree.grid_a, tree.grid_b][n % 2],
            now=timezone.now() - timedelta(days=days),
        )


def test_dashboard_figures_read_whole_months_from_the_monthly_level_in_at_most_15_statements(tree, kinds, people):
    """The dashboard's figures (KPIs, children, departments, trend, categories): monthly rows, daily rows and
    today's cases in one statement per figure set. The page's other sections (safety, staffing, visits,
    inspections) are counted by their own tests."""
    root = people["superuser"]
    reported_days_ago(tree, kinds, root, [3 + 9 * n for n in range(8)] + [0])
    rollups.refresh()
    period = Period.month_to_date()
    # As the dashboard reads them: one extent, and the aggregate settings set once for all of them.
    with CaptureQueriesContext(connection) as queries, rollups.one_extent(), analytic_queries():
        figures = selectors.area_figures(user=root, area=tree.district, period=period)
        selectors.department_kpis(user=root, area=tree.district, period=period)
        trend = selectors.monthly_trend(selectors.area_filter(tree.district))
        selectors.categories_by_volume(selectors.area_filter(tree.district), period=period)
    # The savepoint pair is the test's transaction around analytic_queries' own (a BEGIN outside tests).
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) <= 15, "\n".join(statements)
    assert any("metrics_coarserollup" in sql for sql in statements)
    assert sum(point.reported for point in trend) == 9
    direct = compute(Case.objects.all(), period)[None]
    assert figures.kpis.value("reported") == direct.value("reported")


def test_figures_of_several_asks_reads_each_step_once_for_all(tree, kinds, people):
    reported_days_ago(tree, kinds, people["superuser"], [20 + 7 * n for n in range(6)])
    rollups.refresh()
    today = timezone.localdate()
    period = Period.month(add_months(first_of_month(today), -1))
    district = Q(area_path__startswith=tree.district.path)
    asks = [
        rollups.Ask(district, Substr("area_path", 1, path_length(Tier.STREET)), True),
        rollups.Ask(district & Q(handling_department__isnull=False), F("handling_department_id")),
    ]
    with CaptureQueriesContext(connection) as queries:
        together = rollups.figures_of(asks, period)
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    # The extent, the counts, the coarse lists with the days' times; the slices only for long lists.
    assert sum("metrics_rollupstate" in sql for sql in statements) == 1
    assert len(statements) <= 4, "\n\n".join(statements)
    for ask, found in zip(asks, together, strict=True):
        same_figures(found, compute(Case.objects.filter(ask.where), period, group=ask.group, total=ask.total))


def test_a_list_replaced_between_its_two_reads_gives_the_same_figures(tree, kinds, people, monkeypatch):
    """A refresh may replace a working-times list between the read of its samples and the read of its slice:
    the figures are then read from every value, and still equal the direct computation."""
    monkeypatch.setattr(percentiles, "SAMPLES", 3)
    random_history(random.Random(5), tree, kinds, people["superuser"], cases=25)
    rollups.refresh()
    replaced = []

    def replace_then_read(requests, read=rollups._slices):
        rows = list(CoarseRollup.objects.all())
        CoarseRollup.objects.all().delete()
        for row in rows:
            row.pk = None
        CoarseRollup.objects.bulk_create(rows)
        replaced.append(len(requests))
        return read(requests)

    monkeypatch.setattr(rollups, "_slices", replace_then_read)
    today = timezone.localdate()
    period = Period(add_months(first_of_month(today), -2), first_of_month(today) - timedelta(days=1))
    where = Q(area_path__startswith=tree.district.path)
    group = Substr("area_path", 1, path_length(Tier.STREET))
    same_figures(
        rollups.figures(where, period, group=group, total=True),
        compute(Case.objects.filter(where), period, group=group, total=True),
    )
    assert replaced and replaced[0], "slices were asked for, of lists replaced since their samples were read"


def test_postgresql_coarse_rows_built_in_the_database_equal_those_built_in_python(
    postgres, tree, kinds, people, monkeypatch
):
    """PostgreSQL rebuilds the coarse lists with one INSERT ... SELECT; elsewhere Python sums and sorts them:
    the same rows, samples included."""
    monkeypatch.setattr(percentiles, "SAMPLES", 1)  # one sample a list: a step as long as the list
    random_history(random.Random(9), tree, kinds, people["superuser"], cases=25)
    rollups.refresh()
    months = sorted(set(MonthlyRollup.objects.values_list("month", flat=True)))
    keys = {
        key for row in MonthlyRollup.objects.values_list(*rollups.MONTH_KEY) for key in rollups.coarse_keys(tuple(row))
    }
    in_python = sorted(
        (
            tuple(row[name] for name in rollups.COARSE_COLUMNS)
            for row in rollups._CoarseDelta({}, {})._rebuilt(months, keys)
        ),
        key=repr,
    )
    in_database = sorted(CoarseRollup.objects.values_list(*rollups.COARSE_COLUMNS), key=repr)
    assert in_database == in_python
    assert any(row[rollups.COARSE_COLUMNS.index("sample_step")] > 1 for row in in_database)


def test_changed_working_times_wait_in_place_and_compact_merges_them_as_a_rebuild_sorts_them(
    tree, kinds, people, monkeypatch
):
    """A refresh keeps a coarse row's changed working times beside its list, in place (the list is neither read
    nor written); compact replaces the row by its list merged with them (on PostgreSQL in one statement, the
    list never read into Python): the rows a rebuild computes, samples included."""
    monkeypatch.setattr(percentiles, "SAMPLES", 2)
    rng = random.Random(21)
    root = people["superuser"]
    random_history(rng, tree, kinds, root, cases=20)
    rollups.refresh()
    lists = dict(CoarseRollup.objects.values_list("pk", "handle_us"))
    random_history(rng, tree, kinds, root, cases=15)
    rollups.refresh()
    waiting = dict(CoarseRollup.objects.filter(pending__gt=0).values_list("pk", "handle_us"))
    assert waiting, "changed working times wait to be merged"
    assert all(waiting[pk] == lists[pk] for pk in waiting), "their lists as they were, on the same rows"
    for row in CoarseRollup.objects.filter(pending__gt=0):
        assert row.pending == len(row.pending_gained) + len(row.pending_lost)
        assert not set(row.pending_gained) & set(row.pending_lost)
    incremental = rollup_rows()
    assert rollups.compact(everything=True) == len(waiting)
    assert not waiting.keys() & set(CoarseRollup.objects.values_list("pk", flat=True)), "replaced, not updated"
    assert rollup_rows() == incremental
    compacted = stored_coarse_rows()
    call_command("rebuild_rollups", stdout=io.StringIO())
    assert stored_coarse_rows() == compacted
    assert rollup_rows() == incremental


def histories_refreshed(rng, tree, kinds, root, *sizes):
    """Random histories of ``sizes`` cases, each followed by a refresh: the later ones' changed working times
    wait beside the coarse lists as pending values."""
    for cases in sizes:
        random_history(rng, tree, kinds, root, cases=cases)
        rollups.refresh()


def test_compact_merges_only_rows_with_enough_pending_values(tree, kinds, people, monkeypatch):
    """Without ``everything``, a row is merged once its pending values are more than COMPACT_AT and more than a
    COMPACT_FRACTION-th of its list; the beat's task merges them after its refresh."""
    histories_refreshed(random.Random(23), tree, kinds, people["superuser"], 20, 15)
    pending = dict(CoarseRollup.objects.filter(pending__gt=0).values_list("pk", "pending"))
    kept = dict(CoarseRollup.objects.filter(pending__gt=0).values_list("pk", "kept"))
    assert len(set(pending.values())) > 1, "rows wait with different numbers of values"
    monkeypatch.setattr(rollups, "COMPACT_AT", 10**6)
    assert rollups.compact() == 0
    at = sorted(pending.values())[len(pending) // 2]
    monkeypatch.setattr(rollups, "COMPACT_AT", at)
    monkeypatch.setattr(rollups, "COMPACT_FRACTION", 1)
    due = {pk for pk, n in pending.items() if n > at and n > kept[pk]}
    assert rollups.compact() == len(due)
    assert set(CoarseRollup.objects.filter(pending__gt=0).values_list("pk", flat=True)) == pending.keys() - due
    monkeypatch.setattr(rollups, "COMPACT_AT", 0)
    monkeypatch.setattr(rollups, "COMPACT_FRACTION", 10**6)
    assert metrics_tasks.refresh_rollups() == {"buckets": 0, "compacted": len(pending) - len(due)}
    assert not CoarseRollup.objects.filter(pending__gt=0).exists()


def test_figures_read_pending_values_gained_and_lost(tree, kinds, people):
    """Handling times that change again and again before a merge (a case reworked and handled anew, a moved
    case) keep the figures equal to the direct computation, pending or merged."""
    rng = random.Random(29)
    root = people["superuser"]
    random_history(rng, tree, kinds, root, cases=25)
    rollups.refresh()
    today = timezone.localdate()
    where = Q(area_path__startswith=tree.district.path)
    group = Substr("area_path", 1, path_length(Tier.STREET))
    for _ in range(3):
        random_history(rng, tree, kinds, root, cases=8)
        rollups.refresh()
        for period in periods(today):
            same_figures(
                rollups.figures(where, period, group=group, total=True),
                compute(Case.objects.filter(where), period, group=group, total=True),
            )
    assert CoarseRollup.objects.filter(pending__gt=0).exists()
    rollups.compact(everything=True)
    for period in periods(today):
        same_figures(
            rollups.figures(where, period, group=group, total=True),
            compute(Case.objects.filter(where), period, group=group, total=True),
        )


def test_pending_values_cancel_out():
    """A value lost and gained again since the last merge leaves both lists; gained and lost again, too."""
    gained, lost = rollups.pending_after([5, 7], [3, 3], Counter({3: 1, 7: -1, 9: 2, 11: -1}))
    assert (gained, lost) == ([5, 9, 9], [3, 11])
    assert rollups.pending_after(gained, lost, Counter({3: 1, 9: -2, 11: 1, 4: 0})) == ([5], [])


def _local_us(moment) -> int:
    """What LocalMicroseconds computes: microseconds since 1970-01-01 00:00 on the local clock."""
    local = timezone.localtime(moment).replace(tzinfo=None)
    return (local - datetime(1970, 1, 1)) // timedelta(microseconds=1)


def test_working_time_from_local_microseconds_equals_it_from_the_moments(db):
    """The refresh reads each handled case's two moments as local microseconds (PostgreSQL computes them); the
    working time from those is the one from the moments themselves, to the microsecond, across nights,
    weekends, the seeded calendar's holidays and adjusted working days (National Day) and the clock's ends."""
    assert WorkCalendarDay.objects.filter(date__range=(date(2026, 9, 1), date(2026, 10, 31))).exists()
    forget_calendar()
    clock = rollups.clock_from(date(2026, 9, 1))
    by_ordinal = {day.toordinal(): entry for day, entry in clock.days.items()}
    rng = random.Random(5)
    start = timezone.make_aware(datetime(2026, 8, 25))
    for _ in range(2000):
        assigned = start + timedelta(microseconds=rng.randrange(120 * 86_400_000_000))
        handled = assigned + timedelta(microseconds=rng.randrange(12 * 86_400_000_000))
        expected = rollups.handling_us(clock, assigned, handled)
        assert rollups.local_handling_us(by_ordinal, _local_us(assigned), _local_us(handled)) == expected


def test_postgresql_computes_local_microseconds_as_python_does(postgres, tree, kinds, people):
    root = people["superuser"]
    report_on_days(root, tree, kinds, [3, 40, 200], "时刻")
    rows = Case.objects.annotate(local=rollups.LocalMicroseconds("reported_at")).values_list("reported_at", "local")
    assert len(rows) == 3
    for moment, local in rows:
        assert local == _local_us(moment)


def test_postgresql_array_literals_read_back_as_the_values_they_were_built_from(postgres):
    """The refresh writes each column as the text of one array: every kind of value reads back as itself."""
    daily = DailyRollup._meta
    cases = [
        (daily.get_field("area_path"), "text", ['37/0"1/', "a\\b", "网格 {1,2}", "NULL", "", None]),
        (daily.get_field("day"), "date", [date(2026, 12, 1), None]),
        (daily.get_field("category"), "bigint", [7, None, 2**40]),
        (CoarseRollup._meta.get_field("by_department"), "boolean", [True, False, None]),
        (daily.get_field("handle_us"), "text", [[3, -1, 2**50], []]),
    ]
    with connection.cursor() as cursor:
        for field, kind, values in cases:
            cursor.execute(f"SELECT %s::{kind}[]", [rollups._array_literal(field, values)])
            read = cursor.fetchone()[0]
            if field.name == "handle_us":
                read = [[int(v) for v in text.strip("{}").split(",") if v] for text in read]
            assert read == values, field.name


def test_the_refresh_runs_without_the_cycle_collector_and_gives_it_back(tree, kinds, people, monkeypatch):
    """Collection is off while the rows are recomputed, and as it was afterwards, even when the refresh fails."""
    random_history(random.Random(31), tree, kinds, people["superuser"], cases=5)
    seen = []
    recompute = rollups._recompute
    monkeypatch.setattr(rollups, "_recompute", lambda *a: seen.append(gc.isenabled()) or recompute(*a))
    assert gc.isenabled()
    rollups.refresh()
    assert seen == [False] and gc.isenabled()
    random_history(random.Random(32), tree, kinds, people["superuser"], cases=2)
    monkeypatch.setattr(rollups, "_recompute", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        rollups.refresh()
    assert gc.isenabled()
    gc.disable()
    try:
        monkeypatch.setattr(rollups, "_recompute", recompute)
        rollups.refresh()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_marked_bucket_that_did_not_change_keeps_its_rows(tree, kinds, people):
    """The refresh compares each recomputed daily row with the stored one: a mark without a change writes
    nothing, and a change replaces only the rows it touched."""
    random_history(random.Random(41), tree, kinds, people["superuser"], cases=12)
    rollups.refresh()
    before = dict(DailyRollup.objects.values_list("pk", "reported"))
    assert before
    for case in Case.objects.all():
        rollups.mark(case)
    rollups.refresh()
    assert dict(DailyRollup.objects.values_list("pk", "reported")) == before
    case = Case.objects.filter(reported_at__date__lt=timezone.localdate()).order_by("pk").first()
    Case.objects.filter(pk=case.pk).update(assign_count=F("assign_count") + 1)
    for each in Case.objects.all():
        rollups.mark(each)
    rollups.refresh()
    after = set(DailyRollup.objects.values_list("pk", flat=True))
    assert len(before.keys() - after) == 1, "the one row holding the changed case was replaced"
    assert len(after - before.keys()) == 1


@pytest.mark.django_db(transaction=True)
def test_postgresql_compact_leaves_the_rows_alone_while_a_refresh_holds_the_state_row(postgres, tree, kinds, people):
    """The merge and the refresh both write coarse rows: while another connection holds the state row (a refresh
    or a rebuild running), compact merges nothing and returns at once; the next one merges."""
    histories_refreshed(random.Random(43), tree, kinds, people["superuser"], 15, 10)
    waiting = CoarseRollup.objects.filter(pending__gt=0).count()
    assert waiting
    locked, release = threading.Event(), threading.Event()

    def hold_the_state_row():
        try:
            with transaction.atomic():
                RollupState.objects.select_for_update().get(pk=1)
                locked.set()
                release.wait(20)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold_the_state_row, daemon=True)
    thread.start()
    assert locked.wait(20)
    try:
        assert rollups.compact(everything=True) == 0
        assert CoarseRollup.objects.filter(pending__gt=0).count() == waiting
    finally:
        release.set()
        thread.join(20)
    assert rollups.compact(everything=True) == waiting
    assert not CoarseRollup.objects.filter(pending__gt=0).exists()
