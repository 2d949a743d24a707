"""External systems (the 12345 hotline, the video platform, departments' systems) as clients.

How a system proves who it is: a random key of its own, stored only as its SHA-256 digest on
``ExternalSystem``, sent as ``Authorization: System <key>`` (Open311 clients send it as ``api_key``).
Not the people's expiring DRF token (accounts/authentication.py): that token lapses after
``API_TOKEN_TTL_HOURS`` and a person gets a new one by logging in with a password and a second
factor, which a machine cannot do; a system's key lasts until the district rotates it in the admin
(rotating is the expiry, and it is audited). A plain SHA-256 is enough for 256 random bits: a slow
password hash would only slow each call.

Who a system is inside the platform: a service account (``service_user``) without posts or
password. Cases it files name that account as reporter, the history and the security log show its
name, idempotency keys and rate limits are per account: everything keyed on a user works for it
unchanged. Its scope is not a post's: ``scope_errors`` checks the areas, categories and sources
registered on the system, and the case services ask that instead of the user's scope.
"""

import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.roles import Role
from gov_platform.clients import client_ip
from grids.models import Area, ancestor_paths

from .models import Category, ExternalSystem, IntakeRefusal

KEY_PREFIX = "sys_"
SERVICE_USERNAME_PREFIX = "system-"


class OutsideScope(PermissionDenied):
    """A well-formed request for something the system may not file: {field: message} in ``errors``."""

    def __init__(self, errors: dict):
        self.errors = errors
        super().__init__(" ".join(str(m) for m in errors.values()))

    @property
    def field(self) -> str:
        return next(iter(self.errors), "")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key(system: ExternalSystem, now, key: str | None = None) -> str:
    key = key or KEY_PREFIX + secrets.token_urlsafe(32)
    if not key.startswith(KEY_PREFIX) or len(key) < 24:
        raise ValueError("A system key starts with sys_ and has at least 24 characters.")
    system.key_hash = _digest(key)
    system.key_prefix = key[:10]
    system.key_issued_at = now
    return key


# --- who may register systems ------------------------------------------------------------------


def may_administer(user) -> bool:
    """District staff and superusers register and edit external systems: a system files across streets."""
    if user is None or not user.is_authenticated:
        return False
    return user.is_superuser or Role.DISTRICT_STAFF in user.scope.roles


# --- services ----------------------------------------------------------------------------------


@transaction.atomic
def register_system(*, actor, system: ExternalSystem, areas=(), categories=()) -> str:
    """Create ``system`` with its service account and first key; returns the key, shown once."""
    now = timezone.now()
    user = get_user_model()(
        username=f"{SERVICE_USERNAME_PREFIX}{system.code}"[:150], real_name=system.name[:50], is_active=system.is_active
    )
    user.set_unusable_password()
    user.save()
    system.service_user = user
    key = _new_key(system, now)
    system.full_clean(exclude=["service_user", "areas", "categories"])
    system.save()
    if areas:
        system.areas.set(areas)
    if categories:
        system.categories.set(categories)
    audit.record(audit.Kind.TOKEN_ISSUED, actor=actor, target_user=user, target=system.name, via="external_system")
    return key


@transaction.atomic
def save_system(*, actor, system: ExternalSystem, changed=()) -> ExternalSystem:
    """Save an edited system; its service account follows its name and whether it is active."""
    system.full_clean(exclude=["service_user", "areas", "categories"])
    system.save()
    user = system.service_user
    if (user.real_name, user.is_active) != (system.name[:50], system.is_active):
        user.real_name, user.is_active = system.name[:50], system.is_active
        user.save(update_fields=["real_name", "is_active"])
    audit.record(audit.Kind.SETTINGS_CHANGED, actor=actor, target=system.name, fields=list(changed))
    return system


@transaction.atomic
def rotate_key(*, actor, system: ExternalSystem, key: str | None = None) -> str:
    """A new key for the system; the old one stops working at once. Returns the key, shown once.
    ``key``: a chosen key instead of a random one (the demo's printed keys only)."""
    key = _new_key(system, timezone.now(), key)
    system.save(update_fields=["key_hash", "key_prefix", "key_issued_at"])
    audit.record(
        audit.Kind.TOKEN_ISSUED, actor=actor, target_user=system.service_user, target=system.name, via="external_system"
    )
    return key


@transaction.atomic
def rotate_webhook_secret(*, actor, system: ExternalSystem, secret: str | None = None) -> str:
    """A new secret to sign webhooks and callbacks with; returns it, shown once (``secret``: the demo's)."""
    system.webhook_secret = secret or secrets.token_hex(32)
    system.save(update_fields=["webhook_secret"])
    audit.record(
        audit.Kind.TOKEN_ISSUED, actor=actor, target_user=system.service_user, target=system.name, via="webhook"
    )
    return system.webhook_secret


def record_refusal(
    *, system: ExternalSystem, request, endpoint: str, status_code: int, field="", reason="", external_id=""
):
    """Log a refused call for the system, outside the refused call's transaction (which rolls back)."""
    return IntakeRefusal.objects.create(
        system=system,
        endpoint=endpoint[:100],
        status_code=status_code,
        field=str(field)[:50],
        reason=str(reason)[:500],
        external_id=str(external_id or "")[:64],
        ip_address=(client_ip(request) or None) if request is not None else None,
    )


# --- selectors ---------------------------------------------------------------------------------


def system_for_key(key: str) -> ExternalSystem | None:
    """The active system whose key this is (one indexed lookup), or None."""
    if not key or not key.startswith(KEY_PREFIX):
        return None
    return (
        ExternalSystem.objects.select_related("service_user")
        .filter(key_hash=_digest(key), is_active=True, service_user__is_active=True)
        .first()
    )


def system_of(user) -> ExternalSystem | None:
    """The system a (service) user acts for, or None for a person."""
    if user is None or not user.is_authenticated:
        return None
    try:
        return user.external_system
    except ExternalSystem.DoesNotExist:
        return None


def may_file_category(system: ExternalSystem, category: Category) -> bool:
    ids = {category.pk, category.parent_id}
    return system.categories.filter(pk__in=[i for i in ids if i]).exists()


def may_file_in(system: ExternalSystem, grid: Area) -> bool:
    return system.areas.filter(path__in=ancestor_paths(grid.path)).exists()


def may_use_source(system: ExternalSystem, source: str) -> bool:
    return source in (system.sources or [])


def scope_errors(system: ExternalSystem, *, category: Category, grid: Area, source: str) -> dict:
    """May this system file ``category`` in ``grid`` with ``source``? {} when it may, else {field: message}."""
    errors = {}
    if not may_file_category(system, category):
        errors["category"] = _("This system may not file cases of this category.")
    if not may_file_in(system, grid):
        errors["grid"] = _("This grid is outside the areas this system may file in.")
    if not may_use_source(system, source):
        errors["source"] = _("This system may not file cases with this source.")
    return errors


def categories_of(system: ExternalSystem):
    """The active subcategories the system may file (its main categories cover their subcategories)."""
    ids = list(system.categories.values_list("pk", flat=True))
    return Category.objects.filter(Q(pk__in=ids) | Q(parent_id__in=ids), parent__isnull=False, is_active=True)
