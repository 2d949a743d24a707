"""Rating through the services (DESIGN §5, issue 5): invitations on feed-back, the signed
single-use expiring token, the dissatisfied → rework loop and its limit, auto-close.

Time is moved by passing ``now``; nothing waits.
"""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core import mail, signing
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_fsm_log.models import StateLog

from accounts.models import User
from accounts.roles import Role
from cases.models import Case, RatingInvitation, WorkflowSettings
from cases.notifications import NotificationKind
from cases.residents import invitations
from cases.residents.invitations import InvitationState
from cases.services import InvitationRefused, close_unrated, rate_by_invitation, transition_case
from cases.tasks import close_unrated_cases
from outbox.backends import sms
from outbox.delivery import deliver_pending
from outbox.models import Notification, NotificationChannel, NotificationStatus

SH = ZoneInfo("Asia/Shanghai")
# A Tuesday after every run of the suite: the outbox's rows are due from the real clock (next_attempt_at),
# so deliver_pending(now=NOW) must not be earlier than the day the tests run (a date in 2026 was, from its
# 10 o'clock on).
NOW = dt.datetime(2037, 12, 1, 10, 0, tzinfo=SH)
PHONE, EMAIL = "13912345678", "resident@example.com"
TOKEN_IN_TEXT = re.compile(r"/rate/([^/\s]+)/")


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SMS_BACKEND = "outbox.backends.sms.MemoryBackend"
    settings.SITE_URL = "https://grid.example.gov.cn"
    sms.outbox.clear()
    mail.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture
def staff(people):
    return people[Role.COMMUNITY_STAFF]


@pytest.fixture
def handled(make_case):
    """A case with the resident's phone and email, handled and waiting for verification."""
    return make_case("handled", contact_phone=PHONE, contact_email=EMAIL, contact_name="张三")


def feed_back(case, staff, now=NOW):
    return transition_case(actor=staff, case=case, name="feed_back", comment="核查属实", now=now)


def sent_tokens():
    """The tokens in the links the resident received (email and SMS), after delivery."""
    deliver_pending(now=NOW + dt.timedelta(minutes=1))
    by_mail = [TOKEN_IN_TEXT.search(m.body).group(1) for m in mail.outbox if EMAIL in m.to]
    by_sms = [TOKEN_IN_TEXT.search(text).group(1) for to, text in sms.outbox if to == PHONE]
    return by_mail, by_sms


def policy(**values):
    settings_row = WorkflowSettings.current()
    for name, value in values.items():
        setattr(settings_row, name, value)
    settings_row.save()
    return settings_row


def history(case):
    return list(
        StateLog.objects.filter(content_type=ContentType.objects.get_for_model(Case), object_id=case.pk)
        .order_by("pk")
        .values_list("transition", flat=True)
    )


@pytest.mark.django_db
class TestInvitation:
    def test_feed_back_invites_by_email_and_sms_in_the_same_transaction(self, handled, staff):
        feed_back(handled, staff)
        invites = list(RatingInvitation.objects.filter(case=handled).order_by("channel"))
        assert [(i.channel, i.expires_at, i.used_at) for i in invites] == [
            ("email", NOW + dt.timedelta(days=7), None),
            ("sms", NOW + dt.timedelta(days=7), None),
        ]
        rows = Notification.objects.filter(kind=NotificationKind.RATING_INVITATION).order_by("channel")
        assert [(n.channel, n.to_address, n.recipient_id) for n in rows] == [
            ("email", EMAIL, None),
            ("sms", PHONE, None),
        ]

        by_mail, by_sms = sent_tokens()
        assert len(by_mail) == 1 and len(by_sms) == 1 and by_mail != by_sms
        message = next(m for m in mail.outbox if EMAIL in m.to)
        assert handled.number in message.subject
        assert f"https://grid.example.gov.cn/rate/{by_mail[0]}/" in message.body
        assert "已清理" in message.body  # what was done
        html = message.alternatives[0][0]
        assert f'href="https://grid.example.gov.cn/rate/{by_mail[0]}/"' in html
        assert "https://grid.example.gov.cn/rate/" in sms.outbox[0][1]
        for token in by_mail + by_sms:
            assert invitations.resolve(token, now=NOW).state == InvitationState.VALID

    def test_only_a_hash_of_the_nonce_is_stored_and_sent_rows_forget_the_link(self, handled, staff):
        feed_back(handled, staff)
        (token,), _ = sent_tokens()
        invitation_id, nonce = signing.loads(token, salt=invitations.SALT)
        stored = RatingInvitation.objects.get(pk=invitation_id)
        assert nonce not in stored.nonce_hash and len(stored.nonce_hash) == 64
        for row in Notification.objects.filter(kind=NotificationKind.RATING_INVITATION):
            assert row.status == NotificationStatus.SENT
            assert "link_token" not in row.context
            assert token not in str(row.context)

    def test_no_contact_no_invitation(self, make_case, staff):
        case = make_case("handled")
        feed_back(case, staff)
        assert not RatingInvitation.objects.exists()
        assert not Notification.objects.filter(kind=NotificationKind.RATING_INVITATION).exists()

    def test_email_only_contact_gets_an_email_only(self, make_case, staff):
        case = make_case("handled", contact_email=EMAIL)
        feed_back(case, staff)
        assert list(RatingInvitation.objects.values_list("channel", flat=True)) == ["email"]

    def test_link_validity_is_a_setting(self, handled, staff):
        policy(rating_link_days=3)
        feed_back(handled, staff)
        assert {i.expires_at for i in RatingInvitation.objects.all()} == {NOW + dt.timedelta(days=3)}

    def test_a_refused_feed_back_creates_no_invitation(self, handled, staff):
        queued = Notification.objects.count()  # the report and assignment notices of the steps so far
        with pytest.raises(ValidationError):
            transition_case(actor=staff, case=handled, name="feed_back", comment="", now=NOW)
        assert not RatingInvitation.objects.exists() and Notification.objects.count() == queued


@pytest.mark.django_db
class TestToken:
    def invitation_and_token(self, handled, staff):
        feed_back(handled, staff)
        (token,), _ = sent_tokens()
        return invitations.resolve(token, now=NOW).invitation, token

    @pytest.mark.parametrize(
        "mangle",
        [
            lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
            lambda t: "x" + t,
            lambda t: t.split(":")[0],  # signature cut off
            lambda t: "",
            lambda t: "not-a-token",
            lambda t: t + ":" + t,
        ],
        ids=["signature", "prefix", "unsigned", "empty", "garbage", "doubled"],
    )
    def test_tampered_tokens_are_unknown(self, handled, staff, mangle):
        _, token = self.invitation_and_token(handled, staff)
        assert invitations.resolve(mangle(token), now=NOW).state == InvitationState.UNKNOWN

    def test_a_validly_signed_token_with_a_wrong_nonce_is_unknown(self, handled, staff):
        invitation, _ = self.invitation_and_token(handled, staff)
        forged = invitations.make_token(invitation.pk, "guessed-nonce")
        assert invitations.resolve(forged, now=NOW).state == InvitationState.UNKNOWN

    def test_a_token_signed_with_another_salt_is_unknown(self, handled, staff):
        invitation, token = self.invitation_and_token(handled, staff)
        _, nonce = signing.loads(token, salt=invitations.SALT)
        other = signing.dumps([invitation.pk, nonce], salt="something-else")
        assert invitations.resolve(other, now=NOW).state == InvitationState.UNKNOWN

    def test_a_token_of_a_deleted_invitation_is_unknown(self, handled, staff):
        invitation, token = self.invitation_and_token(handled, staff)
        RatingInvitation.objects.filter(pk=invitation.pk).delete()
        assert invitations.resolve(token, now=NOW).state == InvitationState.UNKNOWN

    def test_expiry(self, handled, staff):
        _, token = self.invitation_and_token(handled, staff)
        assert invitations.resolve(token, now=NOW + dt.timedelta(days=7, seconds=-1)).state == InvitationState.VALID
        assert invitations.resolve(token, now=NOW + dt.timedelta(days=7)).state == InvitationState.EXPIRED

    def test_an_expired_link_cannot_rate_and_changes_nothing(self, handled, staff):
        invitation, _ = self.invitation_and_token(handled, staff)
        with pytest.raises(InvitationRefused) as err:
            rate_by_invitation(invitation=invitation, rating="satisfied", now=NOW + dt.timedelta(days=8))
        assert err.value.state == InvitationState.EXPIRED
        assert Case.objects.get(pk=handled.pk).status == "fed_back"
        assert RatingInvitation.objects.get(pk=invitation.pk).used_at is None

    def test_single_use(self, handled, staff):
        invitation, token = self.invitation_and_token(handled, staff)
        rate_by_invitation(invitation=invitation, rating="satisfied", comment="很好", now=NOW)
        case = Case.objects.get(pk=handled.pk)
        assert (case.status, case.rating, case.rating_comment, case.rated_by_phone) == (
            "rated",
            "satisfied",
            "很好",
            False,
        )
        assert invitations.resolve(token, now=NOW).state == InvitationState.USED
        with pytest.raises(InvitationRefused) as err:
            rate_by_invitation(invitation=invitation, rating="dissatisfied", now=NOW)
        assert err.value.state == InvitationState.USED
        assert Case.objects.get(pk=handled.pk).rating == "satisfied"

    def test_the_other_channels_link_is_spent_with_it(self, handled, staff):
        feed_back(handled, staff)
        (by_mail,), (by_sms,) = sent_tokens()
        rate_by_invitation(invitation=invitations.resolve(by_mail).invitation, rating="basically", now=NOW)
        assert invitations.resolve(by_sms, now=NOW).state == InvitationState.USED

    def test_a_stale_copy_of_the_invitation_cannot_rate_twice(self, handled, staff):
        # Two submits that both loaded the invitation before either saved: the conditional UPDATE decides.
        invitation, _ = self.invitation_and_token(handled, staff)
        stale = RatingInvitation.objects.get(pk=invitation.pk)
        rate_by_invitation(invitation=invitation, rating="satisfied", now=NOW)
        with pytest.raises(InvitationRefused):
            rate_by_invitation(invitation=stale, rating="dissatisfied", now=NOW)
        assert Case.objects.get(pk=handled.pk).rating == "satisfied"

    def test_a_bad_rating_leaves_the_link_usable(self, handled, staff):
        invitation, token = self.invitation_and_token(handled, staff)
        with pytest.raises(ValidationError):
            rate_by_invitation(invitation=invitation, rating="great", now=NOW)
        assert RatingInvitation.objects.get(pk=invitation.pk).used_at is None
        assert invitations.resolve(token, now=NOW).state == InvitationState.VALID

    def test_a_closed_case_cannot_be_rated_through_an_unexpired_link(self, handled, staff):
        invitation, token = self.invitation_and_token(handled, staff)
        transition_case(actor=None, case=Case.objects.get(pk=handled.pk), name="close", now=NOW)
        assert invitations.resolve(token, now=NOW).state == InvitationState.CLOSED
        with pytest.raises(InvitationRefused) as err:
            rate_by_invitation(invitation=invitation, rating="satisfied", now=NOW)
        assert err.value.state == InvitationState.CLOSED
        assert RatingInvitation.objects.get(pk=invitation.pk).used_at is None

    def test_a_new_feed_back_retires_the_earlier_links(self, handled, staff):
        # The office records a dissatisfied phone visit; the resident's unused link of that round
        # must not rate the next round's result.
        _, first = self.invitation_and_token(handled, staff)
        case = Case.objects.get(pk=handled.pk)
        transition_case(actor=staff, case=case, name="rate", rating="dissatisfied", now=NOW)
        assert case.status == "assigned"
        assert invitations.resolve(first, now=NOW).state == InvitationState.CLOSED
        later = NOW + dt.timedelta(days=1)
        case = transition_case(actor=staff, case=case, name="handle", result="再次清理", now=later)
        mail.outbox.clear()
        feed_back(case, staff, now=later)
        assert invitations.resolve(first, now=later).state == InvitationState.EXPIRED
        deliver_pending(now=later + dt.timedelta(minutes=1))
        second = TOKEN_IN_TEXT.search(mail.outbox[0].body).group(1)
        assert invitations.resolve(second, now=later).state == InvitationState.VALID
        assert RatingInvitation.objects.filter(case=case).count() == 4


@pytest.mark.django_db
class TestReworkLoop:
    def test_dissatisfied_reopens_with_a_new_clock_and_tells_the_handling_unit(self, handled, staff, tree):
        User.objects.filter(pk=staff.pk).update(email="community_a@example.gov.cn")
        case = feed_back(handled, staff)
        transition_case(actor=None, case=case, name="rate", rating="dissatisfied", rating_comment="没修好", now=NOW)
        case.refresh_from_db()
        assert (case.status, case.rework_count, case.closed_at) == ("assigned", 1, None)
        assert case.handling_area == tree.community_a
        assert case.stage_started_at == NOW and case.current_deadline == case.handle_deadline > NOW
        assert history(case)[-2:] == ["rate", "rework"]
        rework_log = StateLog.objects.filter(object_id=case.pk, transition="rework").get()
        assert rework_log.by is None and "1" in rework_log.description
        told = Notification.objects.filter(kind=NotificationKind.CASE_REWORK)
        assert set(told.values_list("recipient_id", flat=True)) == {staff.pk}

    @pytest.mark.parametrize("rating", ["satisfied", "basically"])
    def test_satisfied_ratings_end_the_case(self, handled, staff, rating):
        case = feed_back(handled, staff)
        transition_case(actor=None, case=case, name="rate", rating=rating, now=NOW)
        case.refresh_from_db()
        assert (case.status, case.rework_count, case.closed_at) == ("rated", 0, NOW)

    def test_the_staff_phone_visit_follows_the_same_rule(self, handled, staff):
        case = feed_back(handled, staff)
        transition_case(actor=staff, case=case, name="rate", rating="dissatisfied", comment="电话回访不满意", now=NOW)
        case.refresh_from_db()
        assert (case.status, case.rework_count, case.rated_by_phone) == ("assigned", 1, True)

    def test_past_the_limit_the_case_stays_rated_and_the_dispatching_supervisors_are_told(
        self, handled, staff, supervisors
    ):
        policy(rework_limit=2)
        case = feed_back(handled, staff)
        for round_ in range(2):
            transition_case(actor=None, case=case, name="rate", rating="dissatisfied", now=NOW)
            assert case.status == "assigned" and case.rework_count == round_ + 1
            case = transition_case(actor=staff, case=case, name="handle", result=f"第{round_ + 2}次处置", now=NOW)
            case = feed_back(case, staff)
        deliver_pending(now=NOW + dt.timedelta(minutes=1))  # the rework notices so far
        mail.outbox.clear()

        transition_case(actor=None, case=case, name="rate", rating="dissatisfied", rating_comment="还是不行", now=NOW)
        case.refresh_from_db()
        assert (case.status, case.rework_count, case.rating) == ("rated", 2, "dissatisfied")
        assert history(case)[-2:] == ["rate", "rework_limit"]
        flagged = Notification.objects.filter(kind=NotificationKind.REWORK_LIMIT, channel=NotificationChannel.EMAIL)
        # The case was dispatched by community A: its supervisor, not the street's or the district's.
        assert list(flagged.values_list("to_address", flat=True)) == [supervisors["community_a"].email]
        deliver_pending(now=NOW + dt.timedelta(minutes=2))
        assert [m.to for m in mail.outbox] == [[supervisors["community_a"].email]]
        assert case.number in mail.outbox[0].subject

    def test_a_limit_of_zero_never_reopens(self, handled, staff):
        policy(rework_limit=0)
        case = feed_back(handled, staff)
        transition_case(actor=None, case=case, name="rate", rating="dissatisfied", now=NOW)
        case.refresh_from_db()
        assert (case.status, case.rework_count) == ("rated", 0)

    def test_verification_failures_count_towards_the_limit(self, make_case, staff):
        # rework_count is one counter: a case already sent back twice by the verifier is at the limit.
        policy(rework_limit=2)
        case = make_case("handled", contact_phone=PHONE)
        for _ in range(2):
            case = transition_case(actor=staff, case=case, name="reject", comment="不到位", now=NOW)
            case = transition_case(actor=staff, case=case, name="handle", result="整改", now=NOW)
        case = feed_back(case, staff)
        transition_case(actor=None, case=case, name="rate", rating="dissatisfied", now=NOW)
        case.refresh_from_db()
        assert (case.status, case.rework_count) == ("rated", 2)

    def test_the_resident_link_reopens_through_the_same_rule(self, handled, staff):
        feed_back(handled, staff)
        (token,), _ = sent_tokens()
        rate_by_invitation(invitation=invitations.resolve(token).invitation, rating="dissatisfied", now=NOW)
        case = Case.objects.get(pk=handled.pk)
        assert (case.status, case.rework_count, case.rated_by_phone) == ("assigned", 1, False)


@pytest.mark.django_db
class TestAutoClose:
    def test_closes_after_the_window_and_not_before(self, make_case, staff):
        policy(rating_window_days=5)
        old = make_case("handled")
        feed_back(old, staff, now=NOW)
        young = make_case("handled")
        feed_back(young, staff, now=NOW + dt.timedelta(days=2))
        assert close_unrated(now=NOW + dt.timedelta(days=5, seconds=-1)) == 0
        assert close_unrated(now=NOW + dt.timedelta(days=5)) == 1
        old.refresh_from_db()
        young.refresh_from_db()
        assert (old.status, old.closed_at, old.rating) == ("closed", NOW + dt.timedelta(days=5), "")
        assert young.status == "fed_back"
        log = StateLog.objects.filter(object_id=old.pk, transition="close").get()
        assert log.by is None and (log.source_state, log.state) == ("fed_back", "closed")
        # A rerun does nothing more; later the younger one goes too.
        assert close_unrated(now=NOW + dt.timedelta(days=5)) == 0
        assert close_unrated(now=NOW + dt.timedelta(days=7)) == 1

    def test_only_fed_back_cases_are_closed(self, make_case, staff):
        for status in ["reported", "assigned", "handled", "rated", "dismissed"]:
            make_case(status)
        assert close_unrated(now=NOW + dt.timedelta(days=400)) == 0

    def test_the_due_cases_are_found_in_one_query(self, make_case, staff):
        for _ in range(3):
            feed_back(make_case("handled"), staff, now=NOW)
        with CaptureQueriesContext(connection) as queries:
            assert close_unrated(now=NOW + dt.timedelta(days=30)) == 3
        selections = [
            q for q in queries.captured_queries if q["sql"].startswith("SELECT") and 'fed_back_at" <=' in q["sql"]
        ]
        assert len(selections) == 1

    def test_the_beat_task_closes_through_the_service(self, make_case, staff):
        case = make_case("handled")
        feed_back(case, staff, now=timezone.now() - dt.timedelta(days=30))  # the task reads the real clock
        assert close_unrated_cases() == 1
        case.refresh_from_db()
        assert case.status == "closed"

    def test_the_beat_schedule_runs_the_task(self, settings):
        entries = [e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()]
        assert "cases.tasks.close_unrated_cases" in entries

    def test_the_link_of_a_closed_case_says_so(self, handled, staff):
        feed_back(handled, staff, now=NOW)
        (token,), _ = sent_tokens()
        close_unrated(now=NOW + dt.timedelta(days=7))
        # Still within the link's validity, but the case is closed.
        assert invitations.resolve(token, now=NOW + dt.timedelta(days=6)).state == InvitationState.CLOSED


@pytest.mark.django_db(transaction=True)
def test_two_submits_of_one_link_at_once_rate_once(postgres, make_case, people):
    """Two requests with the same link, in their own connections at the same moment (PostgreSQL)."""
    from tests.cases.test_concurrency import run_threads

    staff = people[Role.COMMUNITY_STAFF]
    case = make_case("handled", contact_email=EMAIL)
    feed_back(case, staff, now=timezone.now())
    invitation = RatingInvitation.objects.get(case=case)

    def submit(rating):
        def worker(barrier):
            loaded = RatingInvitation.objects.get(pk=invitation.pk)
            barrier.wait()
            return rate_by_invitation(invitation=loaded, rating=rating).status

        return worker

    results = run_threads([submit("dissatisfied"), submit("dissatisfied")])
    oks = [value for outcome, value in results if outcome == "ok"]
    errors = [value for outcome, value in results if outcome == "error"]
    assert oks == ["assigned"], results
    assert len(errors) == 1 and isinstance(errors[0], InvitationRefused), results
    assert errors[0].state == InvitationState.USED
    case.refresh_from_db()
    assert (case.status, case.rework_count) == ("assigned", 1)
    assert history(case).count("rate") == 1 and history(case).count("rework") == 1
