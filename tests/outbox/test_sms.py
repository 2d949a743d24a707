"""Text messages: the SMS gateway is pluggable, failures are retried like mail, the default only logs."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from accounts.roles import Role
from cases.services import transition_case
from outbox.backends import sms
from outbox.delivery import deliver_pending
from outbox.models import Notification, NotificationStatus

# A Tuesday after every run of the suite: the outbox's rows are due from the real clock (next_attempt_at),
# so deliver_pending(now=NOW) must not be earlier than the day the tests run (a date in 2026 was, from its
# 10 o'clock on).
NOW = dt.datetime(2037, 12, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
PHONE, EMAIL = "13912345678", "resident@example.com"


class BrokenGateway:
    def send(self, to, text):
        raise ConnectionError("gateway down")


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
    """Feeding back invites the resident to rate: one email and one SMS in the outbox."""
    return transition_case(actor=staff, case=case, name="feed_back", comment="核查属实", now=now)


@pytest.mark.django_db
class TestSms:
    def test_sms_failures_are_retried_like_mail(self, handled, staff, settings):
        settings.SMS_BACKEND = "tests.outbox.test_sms.BrokenGateway"
        feed_back(handled, staff)
        result = deliver_pending(now=NOW)
        assert result["retried"] == 1 and result["sent"] == 1  # the email left, the SMS waits
        row = Notification.objects.get(channel="sms")
        assert row.status == NotificationStatus.PENDING and "gateway down" in row.last_error
        assert "link_token" in row.context  # still needed for the retry
        settings.SMS_BACKEND = "outbox.backends.sms.MemoryBackend"
        deliver_pending(now=NOW + dt.timedelta(hours=1))
        assert Notification.objects.get(channel="sms").status == NotificationStatus.SENT
        assert len(sms.outbox) == 1

    def test_logging_backend_is_the_default_and_masks_the_number(self, handled, staff, settings, caplog):
        settings.SMS_BACKEND = "outbox.backends.sms.LoggingBackend"
        feed_back(handled, staff)
        with caplog.at_level("INFO", logger="outbox.backends.sms"):
            deliver_pending(now=NOW)
        logged = [r.getMessage() for r in caplog.records if r.name == "outbox.backends.sms"]
        assert len(logged) == 1 and "139****5678" in logged[0] and PHONE not in logged[0]
        assert "/rate/" in logged[0]
