"""PIPL (issue 17, item 4): residents' contacts erased after the retention period, and the
lookups behind the privacy officer's data-subject requests (cases/privacy.py)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_fsm_log.models import StateLog

from accounts.models import SecurityEvent
from accounts.roles import Role
from cases import privacy
from cases.models import Case
from cases.notifications import NotificationKind
from cases.tasks import erase_expired_contacts
from metrics import selectors as metrics_selectors
from metrics.kpis import Period
from outbox.delivery import deliver_pending
from outbox.models import Notification, NotificationChannel, NotificationStatus

PAST = timedelta(days=settings.CONTACT_RETENTION_DAYS + 1)
INSIDE = timedelta(days=settings.CONTACT_RETENTION_DAYS - 1)
CONTACT = {"contact_name": "王女士", "contact_phone": "13912345678", "contact_email": "wang@example.com"}


def _finished(case, ago):
    Case.objects.filter(pk=case.pk).update(closed_at=timezone.now() - ago)
    case.refresh_from_db()
    return case


def _history(case):
    return list(
        StateLog.objects.filter(object_id=case.pk, content_type__model="case").values_list(
            "transition", "state", "by_id", "description"
        )
    )


def _figures(people, tree):
    kpis = metrics_selectors.area_kpis(user=people["superuser"], area=tree.district, period=Period.month_to_date())
    return {key: (figure.value, figure.numerator, figure.denominator) for key, figure in kpis.figures.items()}


@pytest.fixture
def finished_cases(make_case):
    rated_old = _finished(make_case("rated", **CONTACT), PAST)
    dismissed_old = _finished(
        make_case("dismissed", contact_name="李先生", contact_phone="13800000001", contact_email=""), PAST
    )
    closed_recent = _finished(
        make_case("closed", contact_name="赵先生", contact_phone="13700000002", contact_email="zhao@example.com"),
        INSIDE,
    )
    open_case = make_case("assigned", contact_name="钱女士", contact_phone="13600000003")
    Case.objects.filter(pk=open_case.pk).update(reported_at=timezone.now() - PAST - PAST)
    no_contact = _finished(make_case("rated"), PAST)
    return {
        "rated_old": rated_old,
        "dismissed_old": dismissed_old,
        "closed_recent": closed_recent,
        "open": open_case,
        "no_contact": no_contact,
    }


def test_contacts_past_the_retention_period_are_erased_and_the_rest_stays(finished_cases, people, tree):
    deliver_pending()  # the rating invitations leave: sent rows keep the address until the erasure
    before = {name: Case.objects.get(pk=c.pk) for name, c in finished_cases.items()}
    histories = {name: _history(c) for name, c in finished_cases.items()}
    figures = _figures(people, tree)
    assert any(value is not None for value, _n, _d in figures.values())

    result = erase_expired_contacts()  # the beat task itself

    assert result == {"erased": 2, "followers": 0, "outbox_rows": 2}
    after = {name: Case.objects.get(pk=c.pk) for name, c in finished_cases.items()}
    for name in ("rated_old", "dismissed_old"):
        case = after[name]
        assert (case.contact_name, case.contact_phone, case.contact_email) == ("", "", "")
        assert case.contact_erased_at is not None
        # The case itself, its rating and its timeline are untouched.
        for field in ("status", "number", "title", "description", "rating", "closed_at", "reported_at", "result"):
            assert getattr(case, field) == getattr(before[name], field)
        assert _history(case) == histories[name]
    for name in ("closed_recent", "open"):
        case = after[name]
        assert case.contact_erased_at is None
        assert case.contact_phone == before[name].contact_phone
        assert case.contact_name == before[name].contact_name
    assert after["no_contact"].contact_erased_at is None  # nothing to erase, nothing counted
    assert _figures(people, tree) == figures

    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.CONTACT_ERASED)
    assert event.actor is None
    assert event.detail["count"] == 2
    assert event.detail["retention_days"] == settings.CONTACT_RETENTION_DAYS

    # A rerun finds nothing more: no erasure, no second audit row.
    assert erase_expired_contacts() == {"erased": 0, "followers": 0, "outbox_rows": 0}
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.CONTACT_ERASED).count() == 1
    assert Case.objects.get(pk=finished_cases["rated_old"].pk).contact_erased_at == after["rated_old"].contact_erased_at


def test_the_erased_residents_outbox_rows_lose_their_address_and_link(finished_cases):
    rated_old, recent = finished_cases["rated_old"], finished_cases["closed_recent"]
    invitations = Notification.objects.filter(kind=NotificationKind.RATING_INVITATION)
    # One email sent, one text message failed with the number in the error: both hold personal data.
    email = invitations.get(context__case=rated_old.pk, channel="email")
    sms = invitations.get(context__case=rated_old.pk, channel="sms")
    Notification.objects.filter(pk=email.pk).update(status=NotificationStatus.SENT, context={"case": rated_old.pk})
    Notification.objects.filter(pk=sms.pk).update(
        status=NotificationStatus.FAILED, last_error="Gateway refused 13912345678"
    )
    kept = list(invitations.filter(context__case=recent.pk).values_list("pk", "to_address", "context"))
    assert kept and all(address for _pk, address, _c in kept)

    privacy.erase_expired_contacts()

    email.refresh_from_db()
    sms.refresh_from_db()
    assert (email.to_address, email.status, email.context) == ("", NotificationStatus.SENT, {"case": rated_old.pk})
    assert sms.to_address == "" and sms.status == NotificationStatus.FAILED
    assert "link_token" not in sms.context and sms.context["case"] == rated_old.pk
    assert "13912345678" not in sms.last_error
    # The recent case's rows are untouched.
    assert list(invitations.filter(context__case=recent.pk).values_list("pk", "to_address", "context")) == kept
    # Staff rows (a user's own address) are never touched; in-app copies never had an address.
    staff_rows = Notification.objects.filter(recipient__isnull=False).exclude(channel=NotificationChannel.INAPP)
    assert not staff_rows.filter(to_address="").exists()


def test_a_case_reopened_after_the_ids_were_read_is_left_alone(finished_cases):
    # The UPDATE repeats the conditions: a case no longer finished is not erased, whatever was read first.
    rated_old = finished_cases["rated_old"]
    Case.objects.filter(pk=rated_old.pk).update(closed_at=None)
    assert privacy.erase_expired_contacts()["erased"] == 1
    assert Case.objects.get(pk=rated_old.pk).contact_phone == CONTACT["contact_phone"]


def test_the_backlog_is_erased_in_chunks_and_the_limit_carries_it_to_the_next_run(make_case):
    cases = [_finished(make_case("dismissed", contact_phone=f"1390000000{i}"), PAST) for i in range(5)]
    assert privacy.erase_expired_contacts(chunk=2, limit=3)["erased"] == 3
    assert privacy.erase_expired_contacts(chunk=2, limit=3)["erased"] == 2
    assert not Case.objects.filter(pk__in=[c.pk for c in cases], contact_erased_at__isnull=True).exists()
    # One audit row per run, with the run's count.
    counts = sorted(
        SecurityEvent.objects.filter(kind=SecurityEvent.Kind.CONTACT_ERASED).values_list("detail__count", flat=True)
    )
    assert counts == [2, 3]


def test_the_retention_period_comes_from_the_setting(make_case, settings):
    case = _finished(make_case("dismissed", contact_phone="13900000009"), timedelta(days=31))
    settings.CONTACT_RETENTION_DAYS = 60
    assert privacy.erase_expired_contacts()["erased"] == 0
    settings.CONTACT_RETENTION_DAYS = 30
    assert privacy.erase_expired_contacts()["erased"] == 1
    assert Case.objects.get(pk=case.pk).contact_phone == ""


def test_the_beat_schedule_runs_the_retention_task():
    from gov_platform.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["erase-expired-contacts"]
    assert entry["task"] == "cases.tasks.erase_expired_contacts"
    assert entry["task"] in app.tasks


# --- data-subject lookups --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "kind", "value"),
    [
        ("139 1234-5678", "phone", "13912345678"),
        ("+86 139 1234 5678", "phone", "+8613912345678"),
        (" Wang@Example.COM ", "email", "wang@example.com"),
    ],
)
def test_a_contact_is_normalised(typed, kind, value):
    contact = privacy.parse_contact(typed)
    assert (contact.kind, contact.value) == (kind, value)


@pytest.mark.parametrize("typed", ["", "139", "1391234567%", "139*", "wang@", "@example.com", "139_2345678"])
def test_partial_or_wildcard_contacts_are_refused(typed):
    with pytest.raises(ValidationError):
        privacy.parse_contact(typed)


def test_only_an_exact_contact_finds_cases(make_case, tree):
    mine = make_case(contact_phone="13912345678", contact_email="Wang@Example.com")
    # Rows stored before phones were validated on the way in keep what was typed.
    typed_by_staff = make_case(grid=tree.grid_b)
    with_prefix = make_case()
    Case.objects.filter(pk=typed_by_staff.pk).update(contact_phone="139 1234-5678")
    Case.objects.filter(pk=with_prefix.pk).update(contact_phone="+8613912345678")
    make_case(contact_phone="13912345679", contact_email="wang@example.co")
    landline = make_case(contact_phone="0536-1234567")

    found = set(privacy.cases_with_contact(privacy.parse_contact("13912345678")).values_list("pk", flat=True))
    assert found == {mine.pk, typed_by_staff.pk, with_prefix.pk}  # the whole district, every stored form
    assert not privacy.cases_with_contact(privacy.parse_contact("1391234567")).exists()  # no prefix match
    assert list(privacy.cases_with_contact(privacy.parse_contact("05361234567")).values_list("pk", flat=True)) == [
        landline.pk
    ]
    by_email = privacy.cases_with_contact(privacy.parse_contact("wang@example.com"))
    assert list(by_email.values_list("pk", flat=True)) == [mine.pk]


def test_only_the_privacy_officer_may_search_or_erase(make_case, people):
    make_case(contact_phone="13912345678")
    contact = privacy.parse_contact("13912345678")
    for role in (Role.DISTRICT_STAFF, Role.STREET_STAFF):
        with pytest.raises(PermissionDenied):
            privacy.find_subject_cases(actor=people[role], contact=contact)
        with pytest.raises(PermissionDenied):
            privacy.erase_subject_contact(actor=people[role], contact=contact)
    assert Case.objects.filter(contact_phone="13912345678").exists()
    assert not SecurityEvent.objects.filter(
        kind__in=[SecurityEvent.Kind.SUBJECT_REQUEST, SecurityEvent.Kind.CONTACT_ERASED]
    ).exists()


def test_erasing_at_a_request_also_covers_open_cases_and_pending_invitations(make_case, people):
    fed_back = make_case("fed_back", **CONTACT)
    other = make_case("fed_back", contact_phone="13800000000", contact_email="other@example.com")
    pending = Notification.objects.filter(context__case=fed_back.pk, kind=NotificationKind.RATING_INVITATION)
    assert pending.count() == 2 and all(n.status == NotificationStatus.PENDING for n in pending)
    stale_copy = Case.objects.get(pk=fed_back.pk)

    count = privacy.erase_subject_contact(actor=people["superuser"], contact=privacy.parse_contact("13912345678"))

    assert count == 1
    case = Case.objects.get(pk=fed_back.pk)
    assert (case.contact_name, case.contact_phone, case.contact_email) == ("", "", "")
    assert case.status == "fed_back"
    for row in pending.all():
        assert row.to_address == "" and "link_token" not in row.context
        assert row.status == NotificationStatus.FAILED  # never sent to an erased address
    assert deliver_pending()["sent"] == 2  # only the other resident's invitations leave
    assert Case.objects.get(pk=other.pk).contact_phone == "13800000000"
    # A copy read before the erasure cannot write the contact back.
    from cases.services import CaseStateConflict, transition_case

    with pytest.raises(CaseStateConflict):
        transition_case(actor=people["superuser"], case=stale_copy, name="rate", rating="satisfied")
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.CONTACT_ERASED)
    assert event.actor == people["superuser"]
    assert event.target == "139****5678" and event.detail["count"] == 1


# --- the indexes make it cheap at a million cases (PostgreSQL's planner) ----------------------------
def _plan(queryset):
    with connection.cursor() as cursor:
        # On a table this small a sequential scan is cheaper; forbid it to see whether the index applies.
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.services
def test_retention_and_subject_lookups_use_their_indexes(postgres, finished_cases):
    cutoff = timezone.now() - PAST
    due = Case.objects.filter(
        privacy.HAS_CONTACT, status__in=privacy.TERMINAL_STATUSES, contact_erased_at__isnull=True
    ).filter(closed_at__lt=cutoff)
    assert "case_contact_kept_idx" in _plan(due.order_by("closed_at").values("pk")[:5000])
    phone = privacy.cases_with_contact(privacy.parse_contact("13912345678"))
    assert "case_contact_phone_idx" in _plan(phone.values("pk"))
    email = privacy.cases_with_contact(privacy.parse_contact("wang@example.com"))
    assert "case_contact_email_idx" in _plan(email.values("pk"))
    rows = (
        Notification.objects.filter(recipient__isnull=True)
        .exclude(to_address="")
        .alias(resident_case=privacy.RESIDENT_ROW_CASE)
        .filter(resident_case__in=[finished_cases["rated_old"].pk])
        .values("pk")
    )
    assert "notification_resident_idx" in _plan(rows)


# --- what the public pages tell residents -----------------------------------------------------------
@pytest.mark.parametrize("days", [180, 90])
def test_the_report_form_says_in_chinese_what_is_kept_for_how_long_why_and_who_sees_it(db, settings, days):
    from django.test import Client

    settings.CONTACT_RETENTION_DAYS = days
    page = Client(HTTP_ACCEPT_LANGUAGE="zh-hans").get(reverse("residents:report"))
    assert page.status_code == 200
    notice = page.content.decode().split('id="privacy-notice"', 1)[1].split("</section>", 1)[0]
    assert "姓名、手机号码和电子邮箱" in notice
    assert f"结案后{days}天" in notice
    assert "与您联系" in notice and "评价" in notice
    assert "139****5678" in notice and "公开页面从不显示" in notice


def test_the_tracking_page_repeats_the_notice_without_the_contact(make_case, settings):
    from django.test import Client

    case = make_case(**CONTACT)
    page = Client(HTTP_ACCEPT_LANGUAGE="zh-hans").get(reverse("residents:track", args=[case.tracking_code]))
    text = page.content.decode()
    assert page.status_code == 200 and 'id="privacy-notice"' in text
    assert f"结案后{settings.CONTACT_RETENTION_DAYS}天" in text
    assert CONTACT["contact_phone"] not in text and CONTACT["contact_name"] not in text


# --- followers (cases/followers.py) are residents' contacts too -------------------------------------
def _follower(case, phone="", email=""):
    from cases.followers import contact_key
    from cases.models import CaseFollower

    return CaseFollower.objects.create(
        case=case, name="周先生", phone=phone, email=email, contact_key=contact_key(phone, email)
    )


def test_followers_of_cases_past_the_retention_period_are_removed(finished_cases):
    old = _follower(finished_cases["rated_old"], phone="13500000009")
    recent = _follower(finished_cases["closed_recent"], phone="13500000009")
    running = _follower(finished_cases["open"], email="zhou@example.com")

    result = privacy.erase_expired_contacts()

    from cases.models import CaseFollower

    assert result["followers"] == 1
    assert set(CaseFollower.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}
    assert not CaseFollower.objects.filter(pk=old.pk).exists()
    event = SecurityEvent.objects.get(kind=SecurityEvent.Kind.CONTACT_ERASED)
    assert event.detail["followers"] == 1
    assert privacy.erase_expired_contacts()["followers"] == 0  # a rerun removes nothing more


def test_a_subject_request_finds_and_erases_the_cases_a_resident_follows(make_case, people, tree):
    from cases.models import CaseFollower

    reported = make_case("assigned", **CONTACT)
    followed = make_case("assigned", contact_name="李先生", contact_phone="13800000001")
    elsewhere = make_case("assigned", grid=tree.grid_b)
    _follower(followed, phone="139 1234 5678")
    _follower(elsewhere, email="Wang@Example.com")
    by_phone = privacy.find_subject_cases(actor=people["superuser"], contact=privacy.parse_contact("13912345678"))
    assert {c.pk for c in by_phone} == {reported.pk, followed.pk}
    by_email = privacy.find_subject_cases(actor=people["superuser"], contact=privacy.parse_contact("wang@example.com"))
    assert {c.pk for c in by_email} == {reported.pk, elsewhere.pk}

    count = privacy.erase_subject_contact(actor=people["superuser"], contact=privacy.parse_contact("13912345678"))

    assert count == 2
    assert not CaseFollower.objects.filter(case=followed).exists()
    assert CaseFollower.objects.filter(case=elsewhere).exists()  # the email was not asked about
    # The reporter of the followed case keeps their own contact.
    assert Case.objects.get(pk=followed.pk).contact_phone == "13800000001"
    assert SecurityEvent.objects.get(kind=SecurityEvent.Kind.CONTACT_ERASED).detail["followers"] == 1
