"""The kinds of message other apps send through the outbox, and the delivery policy they set.

The outbox renders and delivers rows without knowing what they are about: an app
registers each kind it queues once, at start-up (its ``AppConfig.ready``), with

- ``label``: what officials read for the kind (the admin's column and filter);
- ``templates``: the base name of the email templates (``<base>_subject.txt``,
  ``<base>.txt``, ``<base>.html``), and ``sms``: the SMS template, if the kind goes by SMS;
- ``build_context``: the row's stored context (JSON) → the template context; the
  outbox adds ``site_url``, ``kind`` and ``now``. When a row is queued, the context may also
  hold objects the caller had in hand (``queue(loaded=...)``): use them rather than read them again;
- ``subject_context``: the context the subject template needs, when it can be had more cheaply
  than ``build_context`` (a digest's count); the in-app copy's subject is rendered with it when queued;
- ``link``: the row's stored context → the back-office page it is about (the inbox links there);
- ``secret_keys``: context entries that work as a credential (a link token); they are
  dropped once the message has left and never shown below the superuser;
- ``webhook_secret``: for a kind sent by webhook, the row's stored context → the subscriber's
  signing secret, read at each delivery (the secret never sits in the outbox table); the
  body posted is the context's ``payload``.
"""

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MessageKind:
    code: str
    label: str
    templates: str | None = None
    sms: str | None = None
    build_context: Callable[[dict], dict] = dict
    secret_keys: frozenset[str] = field(default_factory=frozenset)
    subject_context: Callable[[dict], dict] | None = None
    link: Callable[[dict], str] | None = None
    webhook_secret: Callable[[dict], str] | None = None


_kinds: dict[str, MessageKind] = {}
# Attempts before a row is marked failed for a person to resend; an app may read it from its settings.
DEFAULT_MAX_ATTEMPTS = 5
_max_attempts: Callable[[], int] = lambda: DEFAULT_MAX_ATTEMPTS  # noqa: E731


def register(
    code: str,
    *,
    label,
    templates: str | None = None,
    sms: str | None = None,
    build_context: Callable[[dict], dict] = dict,
    secret_keys=(),
    subject_context: Callable[[dict], dict] | None = None,
    link: Callable[[dict], str] | None = None,
    webhook_secret: Callable[[dict], str] | None = None,
) -> MessageKind:
    """Make a kind of message known to the outbox; registering a code again replaces it."""
    kind = MessageKind(
        code, label, templates, sms, build_context, frozenset(secret_keys), subject_context, link, webhook_secret
    )
    _kinds[code] = kind
    return kind


def kind(code: str) -> MessageKind:
    """The registered kind; a row of a kind no app registers cannot be rendered (KeyError)."""
    return _kinds[code]


def kind_choices() -> list[tuple[str, str]]:
    """(code, label) of every registered kind: the choices of ``Notification.kind``."""
    return [(k.code, k.label) for k in _kinds.values()]


def secret_keys() -> frozenset[str]:
    """Context entries that are a credential in some kind: redacted in every row, to be safe."""
    return frozenset().union(*(k.secret_keys for k in _kinds.values()))


def set_max_attempts(provider: Callable[[], int]) -> None:
    """Where delivery reads how many attempts a row gets (read at each delivery run)."""
    global _max_attempts
    _max_attempts = provider


def max_attempts() -> int:
    return _max_attempts()
