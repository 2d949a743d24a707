"""The outbox table: one row per message to one person, written in the transaction of the change it reports."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import registry


class NotificationStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class NotificationChannel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    # The person's inbox in the back office: "sent" when written, never delivered by a worker.
    INAPP = "inapp", _("In-app")
    # A signed JSON POST to an external system's URL (outbox/backends/webhook.py).
    WEBHOOK = "webhook", _("Webhook")


# What a row to someone without an account (a resident's rating invitation) is about: the id
# its sender stores under "case" in the context. Erasing that person's contact finds the rows here.
RESIDENT_ROW_CASE = Cast(KeyTextTransform("case", "context"), models.BigIntegerField())


class Notification(models.Model):
    """The outbox: written in the transaction of the change it reports, delivered by a task.

    The rows lived in the cases app until the outbox became its own app; the table was
    renamed from ``cases_notification`` then (migrations 0001 and 0002).
    """

    # The kinds are registered by the apps that send them (outbox.registry), so the outbox
    # imports none of them; the choices are read at use, after every app is ready.
    kind = models.CharField(_("kind"), max_length=32, choices=registry.kind_choices)
    channel = models.CharField(
        _("channel"), max_length=8, choices=NotificationChannel.choices, default=NotificationChannel.EMAIL
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    to_address = models.CharField(_("address"), max_length=254)
    context = models.JSONField(_("content"), default=dict)
    status = models.CharField(
        _("status"), max_length=8, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # Who put a failed row back in the queue, and when (the admin's "send again").
    resent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("sent again by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resent_at = models.DateTimeField(_("sent again at"), null=True, blank=True)
    # In-app rows: the subject as rendered when queued, and when the recipient read it.
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    # Set for notifications that must exist once (one digest per recipient per sweep).
    dedupe_key = models.CharField(_("dedupe key"), max_length=80, null=True, blank=True, unique=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="notification_pending_idx", condition=Q(status="pending")),
            # The inbox bell: a user's unread in-app rows.
            models.Index(
                fields=["recipient", "-id"],
                name="notification_unread_idx",
                condition=Q(channel="inapp", read_at__isnull=True),
            ),
            # Rows that still hold a resident's address, by case: erasing a case's contact finds them here.
            # Every row about one case (its timeline on the case page).
            models.Index(RESIDENT_ROW_CASE, name="notification_case_idx"),
            models.Index(
                RESIDENT_ROW_CASE,
                name="notification_resident_idx",
                condition=Q(recipient__isnull=True) & ~Q(to_address=""),
            ),
        ]

    def __str__(self):
        # No address: the title of the admin page and the admin log show this to officials.
        return f"{self.get_kind_display()} #{self.pk}"
