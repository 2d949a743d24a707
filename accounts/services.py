"""Writes to users and posts. Each checks the acting user's scope itself, so
the admin, the API and commands cannot give a post outside the actor's subtree."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import verify_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from . import audit, twofactor
from .models import PasswordHistory, Post, User
from .roles import Role
from .scope import forget_scope


def sync_role_groups(*, user: User) -> None:
    """Make the user's groups and staff flag follow their posts."""
    roles = set(user.posts.values_list("role", flat=True))
    groups = Group.objects.filter(name__in=roles)
    duties = list(user.groups.exclude(name__in=Role.values))
    user.groups.set(duties + list(groups))
    # Duty groups without a post (auditor, security administrator, privacy officer) work in the admin too.
    should_be_staff = bool(roles) or bool(duties) or user.is_superuser
    if user.is_staff != should_be_staff:
        user.is_staff = should_be_staff
        user.save(update_fields=["is_staff"])
    forget_scope(user)


def _check_administers(actor, post: Post, *, new_user: bool) -> None:
    """The one rule (Scope.administers): the post's unit and its holder must both be the actor's to administer.

    ``new_user`` is the admin's add-user path: an account created by the actor
    in this request holds no post yet, so nobody administers it until its first
    post is saved here.
    """
    if actor is None:
        return
    scope = actor.scope
    if not scope.manages_post_unit(area=post.area, department=post.department):
        raise PermissionDenied(_("You can only give posts below the part of the organisation you manage."))
    user = post.user
    if scope.is_global:
        return
    fresh = new_user and not user.is_superuser and user.pk != actor.pk and not user.posts.exists()
    if not fresh and not scope.administers(user):
        raise PermissionDenied(_("You can only change the posts of people you administer."))


def _post_snapshot(post: Post) -> dict:
    return {
        "role": post.role,
        "area": post.area.code if post.area_id else None,
        "department": post.department.code if post.department_id else None,
        "supervisor": post.is_supervisor,
    }


@transaction.atomic
def save_post(*, actor: User | None, post: Post, new_user: bool = False) -> Post:
    """Create or change a post. ``actor`` None is the system (seed, commands)."""
    _check_administers(actor, post, new_user=new_user)
    before = None
    if post.pk:
        # Moving a post is taking it away from where it was: that must be in scope too.
        current = Post.objects.select_related("area", "department__area", "user").get(pk=post.pk)
        if current.user_id != post.user_id:
            raise PermissionDenied(_("A post cannot be handed to another person; remove it and give a new one."))
        _check_administers(actor, current, new_user=False)
        before = _post_snapshot(current)
    post.full_clean()
    post.save()
    sync_role_groups(user=post.user)
    if actor is not None:
        audit.record(
            audit.Kind.POST_CHANGED, actor=actor, target_user=post.user, before=before, after=_post_snapshot(post)
        )
    return post


@transaction.atomic
def delete_post(*, actor: User | None, post: Post) -> None:
    _check_administers(actor, post, new_user=False)
    user = post.user
    snapshot = _post_snapshot(post)
    post.delete()
    sync_role_groups(user=user)
    if actor is not None:
        audit.record(audit.Kind.POST_REMOVED, actor=actor, target_user=user, before=snapshot)


_ACCOUNT_FIELDS = ("username", "real_name", "mobile", "email", "is_active")


@transaction.atomic
def save_user(*, actor: User | None, user: User, changed: list[str] | tuple[str, ...] = ()) -> User:
    """Save an account changed by ``actor`` (who must administer it); privilege flags only by superusers."""
    if actor is not None and not actor.is_superuser:
        if user.pk is not None and not actor.scope.administers(User.objects.get(pk=user.pk)):
            raise PermissionDenied(_("You can only change the accounts of people you administer."))
        stored = User.objects.filter(pk=user.pk).values("is_superuser", "is_staff").first() or {
            "is_superuser": False,
            "is_staff": False,
        }
        if user.is_superuser != stored["is_superuser"] or (user.pk and user.is_staff != stored["is_staff"]):
            raise PermissionDenied(_("Only a system administrator can grant or remove administrator rights."))
    was_active = User.objects.filter(pk=user.pk).values_list("is_active", flat=True).first() if user.pk else None
    user.save()
    if actor is not None:
        kind = audit.Kind.USER_DEACTIVATED if was_active and not user.is_active else audit.Kind.USER_CHANGED
        audit.record(kind, actor=actor, target_user=user, fields=[f for f in changed if f in _ACCOUNT_FIELDS])
    return user


# --- Passwords ------------------------------------------------------------------


def _check_may_act_for(actor, user: User, message: str) -> None:
    """One's own account, or one the actor administers (Scope.administers); ``actor`` None is the system."""
    if actor is None or actor.pk == user.pk:
        return
    if not actor.scope.administers(user):
        raise PermissionDenied(message)


@transaction.atomic
def set_password(*, actor: User | None, user: User, raw_password: str | None) -> User:
    """Set ``user``'s password (None: no password login at all) under the password rules.

    The earlier hash goes to the history, so it cannot come back; API tokens
    die with the old password. Raises ValidationError for a password the rules refuse.
    """
    _check_may_act_for(actor, user, _("You can only set the passwords of people you administer."))
    if raw_password is not None:
        validate_password(raw_password, user)
    if user.has_usable_password():
        PasswordHistory.objects.create(user=user, password=user.password)
        keep = PasswordHistory.objects.filter(user=user).values_list("pk", flat=True)[: settings.PASSWORD_HISTORY_COUNT]
        PasswordHistory.objects.filter(user=user).exclude(pk__in=list(keep)).delete()
    if raw_password is None:
        user.set_unusable_password()
    else:
        user.set_password(raw_password)
    user.save(update_fields=["password"])
    revoke_token(actor=actor, user=user, reason="password_changed")
    own = actor is not None and actor.pk == user.pk
    audit.record(
        audit.Kind.PASSWORD_CHANGED if own else audit.Kind.PASSWORD_RESET,
        actor=actor,
        target_user=user,
        **({} if raw_password is not None else {"password_login": "disabled"}),
    )
    return user


# --- API tokens -------------------------------------------------------------------


def token_expires_at(token: Token):
    return token.created + timedelta(hours=settings.API_TOKEN_TTL_HOURS)


def token_expired(token: Token, *, now=None) -> bool:
    return (now or timezone.now()) >= token_expires_at(token)


@transaction.atomic
def issue_token(*, user: User) -> Token:
    """The user's API token after a good login: the current one, or a fresh one when it expired."""
    token = Token.objects.select_for_update().filter(user=user).first()
    if token is not None and not token_expired(token):
        return token
    if token is not None:
        token.delete()
        audit.record(audit.Kind.TOKEN_REVOKED, actor=user, target_user=user, reason="expired")
    token = Token.objects.create(user=user)
    audit.record(audit.Kind.TOKEN_ISSUED, actor=user, target_user=user, expires=token_expires_at(token).isoformat())
    return token


@transaction.atomic
def revoke_token(*, actor: User | None, user: User, reason: str = "revoked") -> bool:
    """Delete ``user``'s API token: by themself, by someone who administers them, or by the system."""
    _check_may_act_for(actor, user, _("You can only revoke the API tokens of people you administer."))
    deleted, _rows = Token.objects.filter(user=user).delete()
    if deleted:
        audit.record(audit.Kind.TOKEN_REVOKED, actor=actor, target_user=user, reason=reason)
    return bool(deleted)


# --- Two-factor login -------------------------------------------------------------


def start_totp_enrolment(*, user: User) -> TOTPDevice:
    """The unconfirmed authenticator the user is setting up (one at a time; counts for nothing until confirmed)."""
    device = twofactor.totp_device(user, confirmed=False)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=twofactor.TOTP_DEVICE_NAME, confirmed=False)
    return device


@transaction.atomic
def confirm_totp_device(*, user: User, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm ``device`` with a code from the app: it replaces the user's earlier devices and
    comes with fresh recovery codes, returned once. None when the code is wrong."""
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user, confirmed=False)
    if not device.verify_token(code):
        audit.record(audit.Kind.OTP_FAILED, actor=user, target_user=user, step="enrol")
        return None
    replaced = TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk)
    if replaced.exists():
        replaced.delete()
        audit.record(audit.Kind.OTP_DEVICE_REMOVED, actor=user, target_user=user, reason="replaced")
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    StaticDevice.objects.filter(user=user).delete()
    recovery = StaticDevice.objects.create(user=user, name=twofactor.RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _i in range(twofactor.RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=recovery, token=code) for code in codes])
    twofactor.forget(user)
    audit.record(audit.Kind.OTP_DEVICE_ADDED, actor=user, target_user=user, recovery_codes=len(codes))
    return codes


class SecondFactorRefused(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def verify_second_factor(*, user: User, code: str):
    """The device that accepts ``code`` for ``user``: a 6-digit code is the authenticator's,
    anything else a recovery code (spent by its use). Raises SecondFactorRefused.

    Each device throttles its own failures (django-otp: 1, 2, 4, ... seconds), so
    guessing codes gets slower with every miss."""
    code = "".join(code.split()).lower()
    device = twofactor.totp_device(user) if code.isdigit() else twofactor.recovery_device(user)
    if device is None:
        audit.record(audit.Kind.OTP_FAILED, actor=user, target_user=user, reason="no_device")
        raise SecondFactorRefused(_("That code is not valid. Check the code and try again."))
    allowed, why = device.verify_is_allowed()
    if not allowed:
        audit.record(audit.Kind.OTP_FAILED, actor=user, target_user=user, reason="throttled")
        wait = (why or {}).get("locked_until", timezone.now()) - timezone.now()
        raise SecondFactorRefused(
            _("Too many wrong codes. Wait %(seconds)d seconds and try again.")
            % {"seconds": max(1, int(wait.total_seconds()) + 1)}
        )
    verified = verify_token(user, device.persistent_id, code)
    if verified is None:
        audit.record(audit.Kind.OTP_FAILED, actor=user, target_user=user, device=device.name)
        raise SecondFactorRefused(_("That code is not valid. Check the code and try again."))
    if isinstance(verified, StaticDevice):
        audit.record(audit.Kind.RECOVERY_CODE_USED, actor=user, target_user=user, remaining=verified.token_set.count())
    else:
        audit.record(audit.Kind.OTP_VERIFIED, actor=user, target_user=user)
    return verified


@transaction.atomic
def remove_second_factor(*, actor: User, user: User) -> bool:
    """Remove ``user``'s authenticator and recovery codes (a lost phone).

    A user whose role requires two-factor login will be asked to enrol again at
    their next login; only their administrator may remove it for them then."""
    if actor.pk == user.pk and twofactor.otp_required(user):
        raise PermissionDenied(_("Your role requires two-factor login; ask your administrator to reset it."))
    _check_may_act_for(actor, user, _("You can only reset the two-factor login of people you administer."))
    removed = TOTPDevice.objects.filter(user=user).delete()[0] + StaticDevice.objects.filter(user=user).delete()[0]
    if removed:
        audit.record(audit.Kind.OTP_DEVICE_REMOVED, actor=actor, target_user=user)
    twofactor.forget(user)
    return bool(removed)


@transaction.atomic
def set_language(*, actor: User, language: str) -> None:
    """The user's own choice of the back office's language; nobody chooses it for another."""
    if language not in {code for code, _name in settings.LANGUAGES}:
        raise ValueError(language)
    User.objects.filter(pk=actor.pk).update(language=language)
    actor.language = language
