"""The move of Notification from cases to outbox keeps every row (cases 0011, outbox 0001–0003).

The database is migrated back to before the move, rows are written with the model as it
was then, and migrated forward again: the rows are read through the outbox's model, the
permissions and their groups follow the model. Runs on SQLite and PostgreSQL.
"""

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import translation

from accounts.roles import Role
from outbox.models import Notification, NotificationStatus

BEFORE_THE_MOVE = ("cases", "0010_privacy_officer_group")


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


@pytest.fixture
def back_before_the_move(transactional_db):
    """The historical apps of the database as it was before the move; the latest schema again afterwards."""
    executor = migrate([BEFORE_THE_MOVE, ("outbox", None)])
    yield executor.loader.project_state([BEFORE_THE_MOVE]).apps
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()


def test_rows_written_before_the_move_are_read_through_the_outbox_after_it(back_before_the_move):
    old = back_before_the_move
    assert "cases_notification" in connection.introspection.table_names()
    assert "outbox_notification" not in connection.introspection.table_names()
    user = old.get_model("accounts", "User").objects.create(username="keeper", email="keeper@example.gov.cn")
    OldNotification = old.get_model("cases", "Notification")
    invitation = OldNotification.objects.create(
        kind="rating_invitation",
        channel="sms",
        to_address="13912345678",
        context={"case": 7, "invitation": 3, "link_token": "abc"},
    )
    digest = OldNotification.objects.create(
        kind="escalation_digest",
        recipient_id=user.pk,
        to_address="keeper@example.gov.cn",
        context={"escalations": [1, 2]},
        status="sent",
        attempts=1,
        dedupe_key="sweep:escalation:1",
    )
    old_type = old.get_model("contenttypes", "ContentType").objects.get(app_label="cases", model="notification")

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()

    tables = connection.introspection.table_names()
    assert "outbox_notification" in tables and "cases_notification" not in tables
    rows = {n.pk: n for n in Notification.objects.all()}
    assert set(rows) == {invitation.pk, digest.pk}
    moved = rows[invitation.pk]
    assert (moved.kind, moved.channel, moved.to_address, moved.recipient_id) == (
        "rating_invitation",
        "sms",
        "13912345678",
        None,
    )
    assert moved.context == {"case": 7, "invitation": 3, "link_token": "abc"}
    assert moved.status == NotificationStatus.PENDING
    sent = rows[digest.pk]
    assert (sent.recipient.username, sent.status, sent.attempts, sent.dedupe_key) == (
        "keeper",
        NotificationStatus.SENT,
        1,
        "sweep:escalation:1",
    )
    with translation.override("en"):
        assert str(moved) == f"Rating invitation #{invitation.pk}"  # the label cases registers
    # The resident-row index still finds the row by its case (privacy erasure).
    assert Notification.objects.filter(recipient__isnull=True, context__case=7).get().pk == invitation.pk
    # New rows continue the same ids; the unique dedupe key still holds.
    fresh = Notification.objects.create(kind="case_assigned", to_address="x@example.gov.cn", dedupe_key="k")
    assert fresh.pk > max(invitation.pk, digest.pk)

    # The content type moved with the model: same id, so permissions and admin log entries follow.
    new_type = ContentType.objects.get_for_model(Notification)
    assert new_type.pk == old_type.pk and new_type.app_label == "outbox"
    assert not ContentType.objects.filter(app_label="cases", model="notification").exists()
    district = Group.objects.get(name=Role.DISTRICT_STAFF.value)
    granted = set(district.permissions.filter(content_type=new_type).values_list("codename", flat=True))
    assert {"view_notification", "change_notification"} <= granted


def test_no_name_of_the_old_table_is_left_on_postgresql(postgres, back_before_the_move):
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    with connection.cursor() as cursor:
        names = set(connection.introspection.get_constraints(cursor, "outbox_notification"))
        cursor.execute("SELECT pg_get_serial_sequence('outbox_notification', 'id')")
        (sequence,) = cursor.fetchone()
    assert names and not [n for n in names if n.startswith("cases_")]
    assert {"notification_pending_idx", "notification_resident_idx"} <= names
    assert "outbox_notification" in sequence
