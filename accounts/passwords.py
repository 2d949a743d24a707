"""Password rules of 等保 2.0 level 3 beyond Django's own validators.

Listed in ``AUTH_PASSWORD_VALIDATORS``, so every form that validates a
password (the admin's pages, ``set_password`` in the services) applies them.
"""

import string

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

CHARACTER_CLASSES = {
    "lower": str.islower,
    "upper": str.isupper,
    "digit": str.isdigit,
    "symbol": lambda c: c in string.punctuation or not (c.isalnum() or c.isspace()),
}


def character_classes(password: str) -> set[str]:
    return {name for name, test in CHARACTER_CLASSES.items() if any(test(c) for c in password)}


class CharacterClassesValidator:
    """At least ``min_classes`` of: lower-case letters, upper-case letters, digits, symbols."""

    def __init__(self, min_classes: int = 3):
        self.min_classes = min_classes

    def validate(self, password, user=None):
        if len(character_classes(password)) < self.min_classes:
            raise ValidationError(self.get_help_text(), code="password_too_simple")

    def get_help_text(self):
        return ngettext(
            "Your password must mix at least %(count)d kind of character: "
            "lower-case letters, upper-case letters, digits and symbols.",
            "Your password must mix at least %(count)d kinds of character: "
            "lower-case letters, upper-case letters, digits and symbols.",
            self.min_classes,
        ) % {"count": self.min_classes}


def password_history_count() -> int:
    return settings.PASSWORD_HISTORY_COUNT


class PasswordHistoryValidator:
    """Not the current password nor one of the ones before it, ``PASSWORD_HISTORY_COUNT`` in all.

    ``accounts.services.set_password`` keeps the earlier hashes in PasswordHistory.
    """

    def validate(self, password, user=None):
        if user is None or user.pk is None:
            return
        count = password_history_count()
        hashes = [user.password] if user.has_usable_password() else []
        hashes += user.password_history.values_list("password", flat=True)[: max(count - len(hashes), 0)]
        # check_password upgrades nothing here: the history rows are never re-saved.
        if any(check_password(password, encoded) for encoded in hashes):
            raise ValidationError(self.get_help_text(), code="password_reused")

    def get_help_text(self):
        return _("Your password cannot be one of your last %(count)d passwords.") % {"count": password_history_count()}
