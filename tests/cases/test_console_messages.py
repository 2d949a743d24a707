"""The demo's console backends: the rating invitation by email and by SMS reach the terminal readable
(decoded subject, plain text, the link whole, the number masked)."""

import pytest

from accounts.roles import Role
from cases.services import transition_case
from outbox.delivery import deliver_pending

pytestmark = pytest.mark.django_db


def test_the_rating_invitation_is_readable_on_the_console(settings, make_case, people, capsys):
    settings.EMAIL_BACKEND = "outbox.backends.console.ReadableEmailBackend"
    settings.SMS_BACKEND = "outbox.backends.console.ConsoleSMSBackend"
    case = make_case("handled", contact_phone="13912345678", contact_email="wang@example.com")
    transition_case(actor=people[Role.COMMUNITY_STAFF], case=case, name="feed_back", comment="核查属实")
    deliver_pending()
    out = capsys.readouterr().out
    assert "邮件 EMAIL  →  wang@example.com" in out
    assert "短信 SMS  →  139****5678" in out and "13912345678" not in out
    assert out.count("/rate/") >= 2  # the link, whole, in both messages
    assert "=?utf-8?" not in out and "Content-Transfer-Encoding" not in out  # nothing encoded
    assert case.number in out
