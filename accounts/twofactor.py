"""Who must log in with a second factor, and the devices that give it (django-otp).

A user *must* have two-factor login when they are a superuser
(``OTP_REQUIRED_FOR_SUPERUSERS``) or hold a post of a role in
``OTP_REQUIRED_ROLES``; any other official *may* enrol. Whoever has a
confirmed device is asked for a code at every login, required or not.
"""

from base64 import b32encode

from django.conf import settings
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

TOTP_DEVICE_NAME = "authenticator"
RECOVERY_DEVICE_NAME = "recovery"
RECOVERY_CODE_COUNT = 10

_NEEDS_ATTR = "_otp_needed"


def otp_required(user) -> bool:
    """Whether the role (or superuser status) of ``user`` obliges them to use two-factor login."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_superuser and settings.OTP_REQUIRED_FOR_SUPERUSERS:
        return True
    if not user.scope.roles.isdisjoint(settings.OTP_REQUIRED_ROLES):
        return True
    # Duty groups without a post (auditor, security administrator, privacy officer) hold the keys to
    # the audit log and residents' data: they are required by group.
    return user.groups.filter(name__in=settings.OTP_REQUIRED_GROUPS).exists()


def totp_device(user, *, confirmed=True):
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("pk").first()


def has_device(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def needs_second_factor(user) -> bool:
    """Whether a session of ``user`` must be verified with a code before it reaches the admin.

    Computed once per user object, i.e. once per request.
    """
    if user is None or not user.is_authenticated:
        return False
    needed = getattr(user, _NEEDS_ATTR, None)
    if needed is None:
        needed = otp_required(user) or has_device(user)
        setattr(user, _NEEDS_ATTR, needed)
    return needed


def forget(user) -> None:
    """Drop the per-request answer after the user's devices changed."""
    if hasattr(user, _NEEDS_ATTR):
        delattr(user, _NEEDS_ATTR)


def is_verified(user) -> bool:
    # Without OTPMiddleware (a request built by hand) nothing was verified.
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def awaiting_second_factor(user) -> bool:
    """Logged in with the password, but the code step is still to come."""
    return (
        user is not None
        and user.is_authenticated
        and user.is_active
        and needs_second_factor(user)
        and not is_verified(user)
    )


def secret_of(device: TOTPDevice) -> str:
    """The key as authenticator apps take it when typed in: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def current_code(device: TOTPDevice) -> str:
    """The code an authenticator app shows now for ``device`` (the demo and tests type it)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def recovery_device(user):
    return StaticDevice.objects.filter(user=user, name=RECOVERY_DEVICE_NAME).first()


def remaining_recovery_codes(user) -> int:
    device = recovery_device(user)
    return device.token_set.count() if device else 0
