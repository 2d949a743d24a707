"""Settings changes say who made them and what changed (the security audit log)."""

from decimal import Decimal

import pytest

from accounts.models import SecurityEvent
from accounts.roles import Role
from cases.models import WorkflowSettings
from cases.services import save_workflow_settings
from metrics.models import MetricsSettings
from metrics.services import save_metrics_settings


@pytest.mark.django_db
def test_workflow_settings_change_names_the_official_and_the_fields(people):
    actor = people[Role.DISTRICT_STAFF]
    save_workflow_settings(actor=actor, workflow_settings=WorkflowSettings.current())
    first = SecurityEvent.objects.get(kind=SecurityEvent.Kind.SETTINGS_CHANGED)
    assert first.actor == actor
    policy = WorkflowSettings.current()
    policy.warning_ratio = Decimal("0.70")
    save_workflow_settings(actor=actor, workflow_settings=policy)
    event = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.SETTINGS_CHANGED).order_by("-id").first()
    label = str(WorkflowSettings._meta.get_field("warning_ratio").verbose_name)
    assert event.detail["changed"] == {label: ["0.80", "0.70"]}


@pytest.mark.django_db
def test_metrics_settings_change_is_recorded(people):
    actor = people[Role.DISTRICT_STAFF]
    rules = MetricsSettings.current()
    save_metrics_settings(actor=actor, metrics_settings=rules)
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.SETTINGS_CHANGED, actor=actor).exists()
