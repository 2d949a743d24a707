"""Forms of the account security pages: password changes through the one service, and code entry."""

from django import forms
from django.contrib.admin.forms import AdminPasswordChangeForm as OwnPasswordChangeBase
from django.contrib.auth.forms import AdminPasswordChangeForm as SetPasswordBase
from django.utils.translation import pgettext_lazy

from .services import set_password


class OwnPasswordChangeForm(OwnPasswordChangeBase):
    """The admin's "change my password" page (old password, new twice)."""

    def set_password_and_save(self, user, password_field_name="new_password1", commit=True):  # noqa: S107
        return set_password(actor=user, user=user, raw_password=self.cleaned_data[password_field_name])


class AdministratorSetPasswordForm(SetPasswordBase):
    """UserAdmin's password page for another person: ``actor`` must administer them (the service checks)."""

    def __init__(self, user, *args, actor, **kwargs):
        self.actor = actor
        super().__init__(user, *args, **kwargs)

    def set_password_and_save(self, user, password_field_name="password1", commit=True):  # noqa: S107
        usable = self.cleaned_data.get("set_usable_password", True)
        raw_password = self.cleaned_data[password_field_name] if usable else None
        return set_password(actor=self.actor, user=user, raw_password=raw_password)


class CodeForm(forms.Form):
    code = forms.CharField(
        label=pgettext_lazy("two-factor", "Code"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "numeric"}),
    )
