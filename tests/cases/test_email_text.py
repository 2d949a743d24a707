"""Plain-text emails carry text as written (no HTML entities); the HTML part stays escaped."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from cases.escalation import sweep
from cases.models import Case
from outbox.delivery import deliver_pending

TITLE = '<b>"水"</b> & 漏'
ESCAPED = "&lt;b&gt;&quot;水&quot;&lt;/b&gt; &amp; 漏"


def overdue(case, hours=1):
    case.refresh_from_db()
    shift = case.current_deadline - timezone.now() + timedelta(hours=hours)
    Case.objects.filter(pk=case.pk).update(
        stage_started_at=case.stage_started_at - shift,
        current_deadline=case.current_deadline - shift,
        warn_at=case.warn_at - shift,
        final_at=case.final_at + timedelta(days=30),
    )


def messages_to(address):
    return [m for m in mail.outbox if address in m.to]


def parts(message):
    (html, mimetype) = message.alternatives[0]
    assert mimetype == "text/html"
    return message.subject, message.body, html


@pytest.fixture(autouse=True)
def _clean_outbox():
    mail.outbox.clear()


@pytest.mark.django_db
def test_assignment_email_text_part_is_literal(make_case, supervisors):
    make_case("assigned", title=TITLE)  # assigned to community A: its supervisor is told
    deliver_pending()
    # Community A's staff are told of the new report first, then of the assignment.
    report_notice, message = messages_to("sup_comm_a@example.gov.cn")
    subject, text, html = parts(message)
    assert TITLE in subject and TITLE in text
    assert "&lt;" not in text and "&quot;" not in text and "&amp;" not in text
    assert ESCAPED in html and TITLE not in html


@pytest.mark.django_db
def test_escalation_digest_text_part_is_literal(make_case, supervisors):
    case = make_case("assigned", title=TITLE)
    overdue(case)
    sweep()
    mail.outbox.clear()
    deliver_pending()
    (message,) = messages_to("sup_street_a@example.gov.cn")
    subject, text, html = parts(message)
    assert TITLE in text and "&lt;" not in text and "&quot;" not in text
    assert ESCAPED in html and TITLE not in html


def test_every_plain_text_template_turns_autoescape_off():
    """Closing the class: any .txt template (email bodies and subjects, SMS) renders text as written."""
    roots = [Path(d) for d in settings.TEMPLATES[0]["DIRS"]]
    texts = [p for root in roots for p in root.rglob("*.txt")]
    assert texts
    missing = [str(p) for p in texts if "{% autoescape off %}" not in p.read_text(encoding="utf-8")]
    assert missing == []
