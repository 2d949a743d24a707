"""The demo's console: emails and text messages printed readably (decoded subject, plain text, the rating link)."""

import sys
import threading

from django.core.mail.backends.base import BaseEmailBackend

from gov_platform.masking import mask_phone

_lock = threading.Lock()
RULE = "─" * 72


def _print(lines: list[str], stream=None) -> None:
    stream = stream or sys.stdout
    with _lock:
        stream.write("\n".join(["", RULE, *lines, RULE, ""]) + "\n")
        stream.flush()


class ReadableEmailBackend(BaseEmailBackend):
    """Like Django's console backend, but a person can read it: headers decoded, the plain-text part
    only (no base64, no HTML). For the demo; production uses EMAIL_URL."""

    def send_messages(self, email_messages):
        for message in email_messages:
            _print(
                [
                    f"邮件 EMAIL  →  {', '.join(message.to)}",
                    f"主题 Subject: {message.subject}",
                    "",
                    message.body.rstrip(),
                ]
            )
        return len(email_messages)


class ConsoleSMSBackend:
    """Text messages on the console (the demo's stand-in for an SMS gateway): the number masked, the
    text whole, so the rating link can be opened from the terminal."""

    def send(self, to: str, text: str) -> None:
        _print([f"短信 SMS  →  {mask_phone(to)}", "", text])
