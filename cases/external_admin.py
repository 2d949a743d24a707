"""The back office for external systems: district staff register them, see their key once, read their refusals."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from gov_platform.admin_readonly import ReadOnlyAdminMixin
from grids.models import Area, Tier

from . import external
from .models import Category, ExternalSystem, IntakeRefusal, Source


class ExternalSystemForm(forms.ModelForm):
    sources = forms.MultipleChoiceField(
        label=_("sources it may use"), choices=Source.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    webhook_url = forms.URLField(
        label=_("webhook URL"),
        required=False,
        assume_scheme="https",
        help_text=_("Public state changes of the cases it filed are posted here, signed with the secret."),
    )

    class Meta:
        model = ExternalSystem
        fields = ["name", "code", "is_active", "areas", "categories", "sources", "webhook_url"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["areas"].queryset = Area.objects.filter(
            tier__in=[Tier.DISTRICT, Tier.STREET, Tier.COMMUNITY, Tier.GRID]
        ).order_by("path")
        self.fields["categories"].queryset = Category.objects.filter(is_active=True).order_by("code")
        if self.instance.pk:
            # The code names its service account: fixed once registered.
            self.fields["code"].disabled = True


@admin.register(ExternalSystem)
class ExternalSystemAdmin(admin.ModelAdmin):
    form = ExternalSystemForm
    list_display = ["name", "code", "is_active", "key_prefix", "key_issued_at", "has_webhook"]
    list_filter = ["is_active"]
    search_fields = ["name", "code"]
    filter_horizontal = ["areas", "categories"]
    readonly_fields = ["key_prefix", "key_issued_at", "service_user", "created_at"]
    actions = ["issue_key", "issue_webhook_secret"]
    allowed_lookups = ()

    def _may(self, request, codename):
        return external.may_administer(request.user) and request.user.has_perm(f"cases.{codename}_externalsystem")

    def has_view_permission(self, request, obj=None):
        return self._may(request, "view") or self._may(request, "change")

    def has_add_permission(self, request):
        return self._may(request, "add")

    def has_change_permission(self, request, obj=None):
        return self._may(request, "change")

    def has_delete_permission(self, request, obj=None):
        # Cases keep the system that filed them; a retired system is made inactive instead.
        return False

    @admin.display(boolean=True, description=_("webhook"))
    def has_webhook(self, obj):
        return bool(obj.webhook_url and obj.webhook_secret)

    def save_model(self, request, obj, form, change):
        if change:
            external.save_system(actor=request.user, system=obj, changed=form.changed_data)
            return
        self._new_key = external.register_system(actor=request.user, system=obj)
        self._new_secret = external.rotate_webhook_secret(actor=request.user, system=obj) if obj.webhook_url else ""

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        key = getattr(self, "_new_key", None)
        if key:
            self._show_once(request, form.instance, key, getattr(self, "_new_secret", ""))
            self._new_key = self._new_secret = None

    def _show_once(self, request, system, key, secret=""):
        text = gettext("Key of %(system)s, shown only now; give it to the system's operators: %(key)s") % {
            "system": system.name,
            "key": key,
        }
        messages.warning(request, text)
        if secret:
            messages.warning(
                request,
                gettext("Webhook secret of %(system)s, shown only now: %(secret)s")
                % {"system": system.name, "secret": secret},
            )

    @admin.action(description=_("Issue a new key (the old one stops working)"), permissions=["change"])
    def issue_key(self, request, queryset):
        for system in queryset:
            self._show_once(request, system, external.rotate_key(actor=request.user, system=system))

    @admin.action(description=_("Issue a new webhook secret"), permissions=["change"])
    def issue_webhook_secret(self, request, queryset):
        for system in queryset:
            secret = external.rotate_webhook_secret(actor=request.user, system=system)
            messages.warning(
                request,
                gettext("Webhook secret of %(system)s, shown only now: %(secret)s")
                % {"system": system.name, "secret": secret},
            )


@admin.register(IntakeRefusal)
class IntakeRefusalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "system", "endpoint", "status_code", "field", "reason", "external_id"]
    list_filter = ["system", "status_code"]
    date_hierarchy = "at"
    list_select_related = ["system"]
    allowed_lookups = ()

    def has_view_permission(self, request, obj=None):
        return external.may_administer(request.user) and request.user.has_perm("cases.view_intakerefusal")
