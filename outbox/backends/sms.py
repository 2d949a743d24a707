"""Text messages to residents. The gateway is pluggable: ``settings.SMS_BACKEND`` names
a class whose instances have ``send(to, text)``; it raises on failure, and the outbox
retries. Until a real gateway is configured, messages are only logged."""

import logging

from django.conf import settings
from django.utils.module_loading import import_string

from gov_platform.masking import mask_phone

logger = logging.getLogger(__name__)


class LoggingBackend:
    def send(self, to: str, text: str) -> None:
        # The development stand-in: operators read the message (and its link) in the log.
        logger.info("SMS to %s: %s", mask_phone(to), text)


# Messages "sent" by MemoryBackend, for tests (like django.core.mail.outbox).
outbox: list[tuple[str, str]] = []


class MemoryBackend:
    def send(self, to: str, text: str) -> None:
        outbox.append((to, text))


def get_backend():
    return import_string(settings.SMS_BACKEND)()


def send(to: str, text: str) -> None:
    get_backend().send(to, text)
