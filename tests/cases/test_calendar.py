"""The one deadline calculator (cases/calendar.py) over the seeded, editable work calendar.

2026 around National Day, as seeded from chinese-calendar by migration cases/0002:
Sat 19 Sep off, Sun 20 Sep WORKING, Fri 25 Sep Mid-autumn holiday, Thu 1 - Wed 7
Oct holiday, Thu 8 and Fri 9 Oct working, Sat 10 Oct WORKING, Sun 11 Oct off.
"""

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from accounts.roles import Role
from cases.calendar import deadline_after, is_workday, working_hours_between, years_without_calendar
from cases.models import WorkCalendarDay
from cases.services import create_case, transition_case
from cases.workcalendar_seed import covered_years

SH = ZoneInfo("Asia/Shanghai")


def at(text):
    return dt.datetime.fromisoformat(text).replace(tzinfo=SH)


@pytest.mark.django_db
class TestSeededCalendar:
    def test_national_day_2026_is_seeded(self):
        seeded = dict(
            WorkCalendarDay.objects.filter(date__range=("2026-09-19", "2026-10-11")).values_list("date", "is_workday")
        )
        # Weekday holidays and working weekend days only; ordinary days are not stored.
        assert seeded == {
            dt.date(2026, 9, 20): True,
            dt.date(2026, 9, 25): False,
            dt.date(2026, 10, 1): False,
            dt.date(2026, 10, 2): False,
            dt.date(2026, 10, 5): False,
            dt.date(2026, 10, 6): False,
            dt.date(2026, 10, 7): False,
            dt.date(2026, 10, 10): True,
        }

    def test_is_workday(self):
        overrides = {dt.date(2026, 10, 1): False, dt.date(2026, 10, 10): True}
        assert is_workday(dt.date(2026, 9, 30), overrides)  # plain Wednesday
        assert not is_workday(dt.date(2026, 10, 1), overrides)  # holiday Thursday
        assert is_workday(dt.date(2026, 10, 10), overrides)  # adjusted Saturday
        assert not is_workday(dt.date(2026, 10, 11), overrides)  # plain Sunday


@pytest.mark.django_db
class TestDeadlineAfter:
    @pytest.mark.parametrize(
        ("start", "limit", "expected"),
        [
            # An ordinary week: same time of day on the Nth working day.
            ("2026-11-24T10:00", 1, "2026-11-25T10:00"),
            ("2026-11-20T10:00", 1, "2026-11-23T10:00"),  # Friday -> Monday, over the weekend
            ("2026-11-20T16:45", 5, "2026-11-27T16:45"),
            ("2026-11-19T09:00", 3, "2026-11-24T09:00"),
            # Over National Day.
            ("2026-09-30T15:00", 1, "2026-10-08T15:00"),
            ("2026-09-30T15:00", 3, "2026-10-10T15:00"),  # 8, 9 and the working Saturday 10
            ("2026-09-24T10:00", 5, "2026-10-09T10:00"),  # 28, 29, 30 Sep, 8, 9 Oct
            # Adjusted working weekend days count.
            ("2026-10-09T09:30", 1, "2026-10-10T09:30"),  # Friday -> working Saturday
            ("2026-09-18T10:00", 1, "2026-09-20T10:00"),  # Friday -> working Sunday
            ("2026-10-10T11:00", 1, "2026-10-12T11:00"),  # from the working Saturday, Sunday is off
            # Starting on a non-working day: from the start of the next working day.
            ("2026-11-21T10:00", 1, "2026-11-24T00:00"),  # Saturday: Monday 00:00 + 1 day
            ("2026-11-22T23:59", 2, "2026-11-25T00:00"),  # Sunday
            ("2026-10-03T14:00", 1, "2026-10-09T00:00"),  # holiday: from Thursday 8 October
            ("2026-10-05T08:00", 2, "2026-10-10T00:00"),  # holiday: 9 and the working Saturday
            ("2026-09-19T12:00", 1, "2026-09-21T00:00"),  # Saturday before the working Sunday
            ("2026-09-25T10:00", 5, "2026-10-10T00:00"),  # Mid-autumn: from 28 Sep, to the working Saturday
            ("2026-11-21T10:00", 0, "2026-11-23T00:00"),
        ],
    )
    def test_working_days(self, start, limit, expected):
        deadline = deadline_after(at(start), limit, "workdays")
        assert deadline == at(expected)
        assert timezone.localtime(deadline).utcoffset() == dt.timedelta(hours=8)

    @pytest.mark.parametrize(
        ("start", "hours", "expected"),
        [
            ("2026-09-30T22:00", 24, "2026-10-01T22:00"),  # into a holiday
            ("2026-10-03T14:00", 2, "2026-10-03T16:00"),  # on a holiday
            ("2026-11-21T23:00", 3, "2026-11-22T02:00"),  # Saturday night
            ("2026-11-24T10:00", 72, "2026-11-27T10:00"),
        ],
    )
    def test_natural_hours_ignore_the_calendar(self, start, hours, expected):
        assert deadline_after(at(start), hours, "hours") == at(expected)

    def test_working_days_are_counted_in_shanghai_time(self):
        # Friday 01:00 in Shanghai is still Thursday in UTC: the next working day is Monday.
        start = dt.datetime(2026, 11, 19, 17, 0, tzinfo=dt.UTC)
        assert deadline_after(start, 1, "workdays") == at("2026-11-23T01:00")

    def test_given_overrides_replace_the_database(self):
        # Monday off, Saturday on, as the caller says, whatever the table holds.
        overrides = {dt.date(2026, 11, 23): False, dt.date(2026, 11, 21): True}
        assert deadline_after(at("2026-11-20T10:00"), 1, "workdays", overrides) == at("2026-11-21T10:00")
        assert deadline_after(at("2026-11-20T10:00"), 2, "workdays", overrides) == at("2026-11-24T10:00")

    def test_editing_the_calendar_changes_the_next_computation(self):
        start = at("2026-11-20T10:00")
        assert deadline_after(start, 1, "workdays") == at("2026-11-23T10:00")
        WorkCalendarDay.objects.create(date=dt.date(2026, 11, 23), is_workday=False, name="临时停工")
        assert deadline_after(start, 1, "workdays") == at("2026-11-24T10:00")
        WorkCalendarDay.objects.create(date=dt.date(2026, 11, 21), is_workday=True, name="调休上班")
        assert deadline_after(start, 1, "workdays") == at("2026-11-21T10:00")
        WorkCalendarDay.objects.filter(date__in=[dt.date(2026, 11, 21), dt.date(2026, 11, 23)]).delete()
        assert deadline_after(start, 1, "workdays") == at("2026-11-23T10:00")

    def test_editing_a_seeded_day(self):
        start = at("2026-09-30T15:00")
        WorkCalendarDay.objects.filter(date=dt.date(2026, 10, 7)).update(is_workday=True)
        assert deadline_after(start, 1, "workdays") == at("2026-10-07T15:00")

    def test_a_long_holiday_run_within_a_long_limit(self):
        # Twenty working days from mid-September cross National Day: the lookahead must reach far enough.
        deadline = deadline_after(at("2026-09-15T09:00"), 20, "workdays")
        # 16..18 (3), 20 (4), 21..24 (8), 28..30 (11), 8, 9, 10 Oct (14), 12..16 (19), 19 (20).
        assert deadline == at("2026-10-19T09:00")

    def test_a_year_without_calendar_counts_weekdays(self):
        assert not WorkCalendarDay.objects.filter(date__year__in=[2090, 2091]).exists()
        # New Year's Day 2091 is a Monday; no holiday is known for it, so it counts as a working day.
        assert deadline_after(at("2090-12-29T10:00"), 1, "workdays") == at("2091-01-01T10:00")
        assert deadline_after(at("2090-12-30T10:00"), 1, "workdays") == at("2091-01-02T00:00")


@pytest.mark.django_db
class TestWorkingHoursBetween:
    @pytest.mark.parametrize(
        ("start", "end", "hours"),
        [
            ("2026-11-24T09:00", "2026-11-24T17:30", 8.5),
            ("2026-11-20T12:00", "2026-11-23T12:00", 24.0),  # over a weekend
            ("2026-11-21T08:00", "2026-11-22T20:00", 0.0),  # all weekend
            ("2026-09-30T12:00", "2026-10-08T12:00", 24.0),  # over National Day
            ("2026-10-09T12:00", "2026-10-11T12:00", 36.0),  # the working Saturday counts whole
            ("2026-09-19T00:00", "2026-09-21T00:00", 24.0),  # the working Sunday
            ("2026-11-24T10:00", "2026-11-24T10:00", 0.0),
            ("2026-11-24T10:00", "2026-11-23T10:00", 0.0),
        ],
    )
    def test_counts_only_working_days(self, start, end, hours):
        assert working_hours_between(at(start), at(end)) == hours

    def test_follows_calendar_edits(self):
        start, end = at("2026-11-20T12:00"), at("2026-11-23T12:00")
        WorkCalendarDay.objects.create(date=dt.date(2026, 11, 21), is_workday=True)
        assert working_hours_between(start, end) == 48.0


@pytest.mark.django_db
class TestYearsWithoutCalendar:
    def test_covered_and_uncovered_years(self):
        # The seed covers the years chinese-calendar knows (2020 to 2026 with the pinned 1.11.0).
        covered = covered_years()
        assert WorkCalendarDay.objects.filter(date__year=2026).exists()
        assert years_without_calendar(dt.date(2026, 3, 1)) == [y for y in (2026, 2027) if y not in covered]
        assert years_without_calendar(dt.date(2025, 12, 31)) == []
        last = covered[-1]
        assert years_without_calendar(dt.date(last, 6, 1)) == [last + 1]
        assert years_without_calendar(dt.date(2090, 6, 1)) == [2090, 2091]

    def test_one_entry_covers_a_year(self):
        WorkCalendarDay.objects.create(date=dt.date(2091, 1, 1), is_workday=False, name="元旦")
        assert years_without_calendar(dt.date(2090, 6, 1)) == [2090]
        WorkCalendarDay.objects.create(date=dt.date(2090, 10, 1), is_workday=False, name="国庆节")
        assert years_without_calendar(dt.date(2090, 6, 1)) == []

    def test_removing_a_year_uncovers_it(self):
        WorkCalendarDay.objects.filter(date__year=2026).delete()
        assert years_without_calendar(dt.date(2026, 3, 1)) == [2026, 2027]

    def test_asked_again_it_reads_nothing(self, django_assert_num_queries):
        # Every view of the case list asks (for those who keep the calendar).
        assert years_without_calendar(dt.date(2090, 6, 1)) == [2090, 2091]
        with django_assert_num_queries(0):
            assert years_without_calendar(dt.date(2090, 6, 1)) == [2090, 2091]

    def test_defaults_to_today(self, monkeypatch):
        monkeypatch.setattr(timezone, "localdate", lambda *a, **k: dt.date(2090, 6, 1))
        assert years_without_calendar() == [2090, 2091]


# --- deadlines of the workflow stages over the calendar ------------------------------------------------------
@pytest.mark.django_db
class TestStageDeadlines:
    def test_report_starts_the_assess_clock_over_a_holiday(self, people, tree, categories):
        case = create_case(
            actor=people[Role.GRID_WORKER],
            title="t",
            description="d",
            category=categories["dispute"],
            grid=tree.grid_a,
            now=at("2026-09-30T15:00"),
        )
        case.refresh_from_db()
        assert case.assess_deadline == case.current_deadline == at("2026-10-08T15:00")

    def test_report_on_a_holiday(self, people, tree, categories):
        case = create_case(
            actor=people[Role.GRID_WORKER],
            title="t",
            description="d",
            category=categories["dispute"],
            grid=tree.grid_a,
            now=at("2026-10-03T14:00"),
        )
        case.refresh_from_db()
        assert case.assess_deadline == at("2026-10-09T00:00")

    def test_handle_clock_over_national_day_and_recomputed_on_reject(self, make_case, people):
        staff = people[Role.COMMUNITY_STAFF]
        case = make_case("assessed")
        transition_case(actor=staff, case=case, name="assign", now=at("2026-09-24T10:00"))
        case.refresh_from_db()
        assert case.handle_deadline == case.current_deadline == at("2026-10-09T10:00")

        transition_case(
            actor=staff, case=case, name="handle", result="已处置", photos=[_png()], now=at("2026-09-30T16:00")
        )
        case.refresh_from_db()
        # Verify within 2 working days: 8 and 9 October.
        assert case.verify_deadline == case.current_deadline == at("2026-10-09T16:00")

        transition_case(actor=staff, case=case, name="reject", comment="未到位", now=at("2026-10-09T11:00"))
        case.refresh_from_db()
        # 10 (working Saturday), 12, 13, 14, 15 October.
        assert case.handle_deadline == case.current_deadline == at("2026-10-15T11:00")
        assert case.stage_started_at == at("2026-10-09T11:00")

    def test_rework_recomputes_the_handle_clock(self, make_case):
        case = make_case("rated")
        transition_case(actor=None, case=case, name="rework", now=at("2026-09-18T10:00"))
        case.refresh_from_db()
        # 20 Sep (working Sunday), 21..24 September.
        assert case.handle_deadline == case.current_deadline == at("2026-09-24T10:00")

    def test_send_back_and_redispatch_restart_their_clocks(self, make_case, people, tree):
        staff = people[Role.COMMUNITY_STAFF]
        case = make_case("assessed")
        transition_case(actor=staff, case=case, name="assign", department=tree.dept_a, now=at("2026-11-16T10:00"))
        case.refresh_from_db()
        first_handle = case.handle_deadline
        assert first_handle == at("2026-11-23T10:00")

        transition_case(
            actor=people[Role.DEPARTMENT_STAFF],
            case=case,
            name="send_back",
            comment="非本部门",
            now=at("2026-09-30T09:00"),
        )
        case.refresh_from_db()
        assert case.assess_deadline == case.current_deadline == at("2026-10-08T09:00")
        assert case.handle_deadline == first_handle  # the old clock is kept for the record, not running

        transition_case(actor=staff, case=case, name="assign", area=tree.community_a, now=at("2026-10-09T14:00"))
        case.refresh_from_db()
        # Five working days from Friday 9 October: 10 (Sat), 12, 13, 14, 15.
        assert case.handle_deadline == case.current_deadline == at("2026-10-15T14:00")
        assert (case.assign_count, case.send_back_count) == (2, 1)

    def test_urgent_stages_use_natural_hours(self, make_case, people, categories):
        case = make_case("assessed", category=categories["hazard"])
        transition_case(actor=people[Role.STREET_STAFF], case=case, name="assign", now=at("2026-09-30T20:00"))
        case.refresh_from_db()
        assert case.handle_deadline == at("2026-10-01T20:00")

    def test_a_calendar_edit_applies_to_the_next_stage(self, make_case, people):
        staff = people[Role.COMMUNITY_STAFF]
        case = make_case("assessed")
        WorkCalendarDay.objects.create(date=dt.date(2026, 11, 30), is_workday=False, name="临时休息")
        transition_case(actor=staff, case=case, name="assign", now=at("2026-11-27T10:00"))
        case.refresh_from_db()
        # Friday 27 Nov + 5 working days, Monday 30 off: 1, 2, 3, 4, 7 December.
        assert case.handle_deadline == at("2026-12-07T10:00")


def _png():
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 10, 10)).save(buffer, format="PNG")
    return SimpleUploadedFile("a.png", buffer.getvalue(), content_type="image/png")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
