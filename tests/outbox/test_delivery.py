"""Delivering the outbox: retries with backoff, failed rows resent, nothing lost with the broker down."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.roles import Role
from cases.escalation import sweep
from cases.models import WorkflowSettings
from cases.services import transition_case
from outbox.delivery import deliver_pending
from outbox.models import Notification, NotificationStatus
from outbox.services import resend
from tests.cases.test_escalation import digests_to, overdue


@pytest.fixture(autouse=True)
def _clean_outbox():
    mail.outbox.clear()


@pytest.mark.django_db
def test_failed_mail_is_retried_then_marked_failed_and_resendable(make_case, supervisors, settings):
    case = make_case("assigned")
    overdue(case)
    sweep()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    assert deliver_pending()["retried"] >= 1
    row = Notification.objects.get(to_address="sup_street_a@example.gov.cn")
    assert row.status == NotificationStatus.PENDING and row.attempts == 1 and "Error" in row.last_error
    later = timezone.now() + timedelta(days=1)
    for _ in range(WorkflowSettings.current().max_delivery_attempts):
        deliver_pending(now=later)
        later += timedelta(days=1)
    row.refresh_from_db()
    assert row.status == NotificationStatus.FAILED
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    official = supervisors["district"]
    assert resend(actor=official, notifications=Notification.objects.filter(pk=row.pk)) == 1
    deliver_pending()
    row.refresh_from_db()
    assert row.status == NotificationStatus.SENT
    assert row.resent_at is not None and row.resent_by == official
    assert len(digests_to("sup_street_a@example.gov.cn")) == 1


@pytest.mark.django_db
def test_the_attempts_come_from_the_workflow_settings(make_case, supervisors, settings):
    """cases sets the policy (WorkflowSettings.max_delivery_attempts); the outbox reads it at each run."""
    policy = WorkflowSettings.current()
    policy.max_delivery_attempts = 1
    policy.save()
    case = make_case("assigned")
    overdue(case)
    sweep()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nothing listens
    assert deliver_pending()["retried"] == 0  # every row failed at its first attempt
    assert Notification.objects.get(to_address="sup_street_a@example.gov.cn").status == NotificationStatus.FAILED


@pytest.mark.django_db
def test_broker_down_loses_nothing(make_case, people, tree, supervisors, django_capture_on_commit_callbacks, request):
    from accounts.models import User

    User.objects.filter(pk=people[Role.DEPARTMENT_STAFF].pk).update(email="dept_a@example.gov.cn")
    request.getfixturevalue("broker_down")
    with django_capture_on_commit_callbacks(execute=True):
        case = make_case("assessed")
        transition_case(actor=people[Role.STREET_STAFF], case=case, name="assign", department=tree.dept_a)
    case.refresh_from_db()
    assert case.status == "assigned"
    # In-app copies are in the inbox at once; the emails (the assignment, the new report) wait for the broker.
    assert Notification.objects.filter(status="pending", kind="case_assigned").count() == 1
    assert not Notification.objects.filter(status="pending", channel="inapp").exists()
    deliver_pending()
    deliver_pending()
    assert len(digests_to("dept_a@example.gov.cn")) == 1


@pytest.mark.django_db
def test_a_row_of_a_kind_no_app_registered_fails_with_the_reason_kept(people):
    row = Notification.objects.create(kind="nobody_sends_this", to_address="someone@example.gov.cn")
    assert deliver_pending()["retried"] == 1
    row.refresh_from_db()
    assert row.status == NotificationStatus.PENDING and "nobody_sends_this" in row.last_error


# --- asking a worker to deliver --------------------------------------------------------------------------------
@pytest.fixture
def kicks(monkeypatch, people):
    """The deliveries commits queue (the Celery message is recorded, not sent); no delivery waiting at first.
    The community's staff, who hear of each new report, have an email address."""
    from django.core.cache import cache

    from accounts.models import User
    from outbox import delivery, tasks

    User.objects.filter(pk=people[Role.COMMUNITY_STAFF].pk).update(email="community_a@example.gov.cn")
    cache.delete(delivery.KICK_WAITING)
    sent = []
    monkeypatch.setattr(tasks.deliver_notifications, "apply_async", lambda **options: sent.append(options))
    yield sent
    cache.delete(delivery.KICK_WAITING)


def _report(make_case, capture):
    with capture(execute=True):
        make_case("reported")


@pytest.mark.django_db
def test_commits_ask_once_while_a_delivery_waits_and_again_once_it_started(
    make_case, kicks, django_capture_on_commit_callbacks
):
    from outbox import tasks

    _report(make_case, django_capture_on_commit_callbacks)
    assert Notification.objects.filter(status="pending").count() >= 1, "the report queues an email to deliver"
    _report(make_case, django_capture_on_commit_callbacks)
    _report(make_case, django_capture_on_commit_callbacks)
    assert len(kicks) == 1, "the delivery already queued reads every row committed before it starts"

    result = tasks.deliver_notifications()  # the worker runs the queued delivery: every row goes
    assert result["sent"] >= 3 and not Notification.objects.filter(status="pending").exists()
    assert len(kicks) == 1
    _report(make_case, django_capture_on_commit_callbacks)
    assert len(kicks) == 2, "a commit after the delivery started asks for another"


@pytest.mark.django_db
def test_a_delivery_the_broker_refused_is_asked_for_again(
    make_case, kicks, monkeypatch, django_capture_on_commit_callbacks
):
    from outbox import tasks

    def refuse(**options):
        kicks.append(options)
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.deliver_notifications, "apply_async", refuse)
    _report(make_case, django_capture_on_commit_callbacks)
    _report(make_case, django_capture_on_commit_callbacks)
    assert len(kicks) == 2, "nothing was queued the first time: the second commit asks again"
    assert Notification.objects.filter(status="pending").count() >= 2


@pytest.mark.django_db
def test_a_full_batch_asks_for_another_run(make_case, kicks, monkeypatch, django_capture_on_commit_callbacks):
    from outbox import delivery, tasks

    _report(make_case, django_capture_on_commit_callbacks)
    _report(make_case, django_capture_on_commit_callbacks)
    assert len(kicks) == 1
    full = delivery.deliver_pending
    monkeypatch.setattr(delivery, "deliver_pending", lambda: full(limit=1))
    assert tasks.deliver_notifications()["more"] is True
    assert len(kicks) == 2, "rows beyond the batch get a run of their own"
    monkeypatch.setattr(delivery, "deliver_pending", full)
    assert tasks.deliver_notifications()["more"] is False
    assert len(kicks) == 2
    assert not Notification.objects.filter(status="pending").exists()
