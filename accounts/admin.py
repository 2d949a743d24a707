"""Admin pages for users and posts: who administers whom is Scope.administers, writes go through accounts.services."""

import copy
from functools import partial

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from .forms import AdministratorSetPasswordForm
from .models import Post, User
from .services import delete_post, remove_second_factor, revoke_token, save_post, save_user


class PostChoicesMixin:
    """Choices limited to where the user may give posts, and to whom (Scope.administers)."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        scope = request.user.scope
        if db_field.name == "area":
            # Strictly below: an official never gives a post at their own level.
            kwargs["queryset"] = scope.managed_areas()
        elif db_field.name == "department":
            kwargs["queryset"] = scope.managed_departments()
        elif db_field.name == "user":
            kwargs["queryset"] = scope.administered_users()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class PostInline(PostChoicesMixin, admin.TabularInline):
    model = Post
    extra = 0
    fields = ["role", "area", "department", "is_supervisor", "is_full_time", "title"]
    autocomplete_fields = ["area"]

    def get_queryset(self, request):
        return request.user.scope.posts(super().get_queryset(request)).select_related("area", "department")

    def get_formset(self, request, obj=None, **kwargs):
        if obj is None and not request.user.is_superuser:
            # An official creates people into their own subtree: without a post
            # the new account would be invisible to them and to everyone below.
            kwargs.update(min_num=1, validate_min=True)
        return super().get_formset(request, obj, **kwargs)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [PostInline]
    list_display = ["username", "real_name", "posts_display", "mobile", "is_active", "last_login"]
    list_filter = ["is_active", "is_staff", "posts__role"]
    search_fields = ["username", "real_name", "mobile", "email"]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        (_("Personal info"), {"fields": ["real_name", "mobile", "email"]}),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        (_("Important dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    readonly_fields = ["last_login", "date_joined"]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["username", "real_name", "mobile", "password1", "password2"]}),
    ]
    # Officials below the superuser manage people, not privileges: groups and
    # staff status follow from posts.
    limited_fieldsets = [
        (None, {"fields": ["username", "password"]}),
        (_("Personal info"), {"fields": ["real_name", "mobile", "email"]}),
        (_("Status"), {"fields": ["is_active", "last_login", "date_joined"]}),
    ]

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not request.user.is_superuser:
            return self.limited_fieldsets
        return super().get_fieldsets(request, obj)

    def get_queryset(self, request):
        qs = request.user.scope.users(super().get_queryset(request))
        if not request.user.is_superuser:
            qs = qs.filter(is_superuser=False)
        return qs.prefetch_related(Prefetch("posts", Post.objects.select_related("area", "department")))

    @admin.display(description=_("posts"))
    def posts_display(self, obj):
        """Each post as its role and unit (supervisor marked), from the prefetched posts: no query per row."""
        return (
            "；".join(
                f"{post.get_role_display()} · {post.unit}"
                + (f"（{gettext('supervisor')}）" if post.is_supervisor else "")
                for post in obj.posts.all()
            )
            or "—"
        )

    def has_view_permission(self, request, obj=None):
        if obj is not None and obj.pk and not self.get_queryset(request).filter(pk=obj.pk).exists():
            return False
        return super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        # Seeing yourself or a peer is not administering them (Scope.administers);
        # one's own password is changed through the admin's own password page.
        if obj is not None and obj.pk and not request.user.scope.administers(obj):
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        save_user(actor=request.user, user=obj, changed=form.changed_data if change else ())

    def user_change_password(self, request, id, form_url=""):
        # Django builds this form without the request; a copy of the admin for this
        # request gives it the acting user, so the password goes through set_password.
        view = copy.copy(self)
        view.change_password_form = partial(AdministratorSetPasswordForm, actor=request.user)
        return DjangoUserAdmin.user_change_password(view, request, id, form_url)

    actions = ["revoke_api_tokens", "reset_two_factor"]

    def _for_each_administered(self, request, queryset, change, done_message):
        done = refused = 0
        for user in queryset:
            try:
                done += bool(change(actor=request.user, user=user))
            except PermissionDenied:
                refused += 1
        self.message_user(request, done_message(done), messages.SUCCESS)
        if refused:
            self.message_user(
                request,
                ngettext(
                    "%(count)d person is not yours to administer and was left unchanged.",
                    "%(count)d people are not yours to administer and were left unchanged.",
                    refused,
                )
                % {"count": refused},
                messages.WARNING,
            )

    @admin.action(description=_("Revoke API tokens"), permissions=["change"])
    def revoke_api_tokens(self, request, queryset):
        self._for_each_administered(
            request,
            queryset,
            revoke_token,
            lambda n: ngettext("%(count)d API token revoked.", "%(count)d API tokens revoked.", n) % {"count": n},
        )

    @admin.action(description=_("Reset two-factor login (lost phone)"), permissions=["change"])
    def reset_two_factor(self, request, queryset):
        self._for_each_administered(
            request,
            queryset,
            remove_second_factor,
            lambda n: (
                ngettext(
                    "Two-factor login reset for %(count)d person; they set it up again at their next login.",
                    "Two-factor login reset for %(count)d people; they set it up again at their next login.",
                    n,
                )
                % {"count": n}
            ),
        )

    def save_formset(self, request, form, formset, change):
        if formset.model is not Post:
            return super().save_formset(request, form, formset, change)
        instances = formset.save(commit=False)
        for post in formset.deleted_objects:
            delete_post(actor=request.user, post=post)
        for post in instances:
            post.user = form.instance
            save_post(actor=request.user, post=post, new_user=not change)
        formset.save_m2m()


@admin.register(Post)
class PostAdmin(PostChoicesMixin, admin.ModelAdmin):
    list_display = ["user", "role", "area", "department", "is_supervisor", "is_full_time"]
    list_filter = ["role", "is_supervisor", "is_full_time"]
    search_fields = ["user__username", "user__real_name", "area__name", "department__name"]
    autocomplete_fields = ["user", "area"]
    list_select_related = ["user", "area", "department"]
    show_full_result_count = False

    def get_queryset(self, request):
        return request.user.scope.posts(super().get_queryset(request))

    def save_model(self, request, obj, form, change):
        save_post(actor=request.user, post=obj)

    def delete_model(self, request, obj):
        delete_post(actor=request.user, post=obj)

    def delete_queryset(self, request, queryset):
        for post in queryset.select_related("area", "department__area", "user"):
            delete_post(actor=request.user, post=post)


# The audit log's admin is kept apart: it belongs to the auditor, not to those who administer people.
from .audit_admin import SecurityEventAdmin  # noqa: E402, F401

# Training courses and attendance (accounts/training.py).
from .training_admin import AttendanceAdmin, CourseAdmin  # noqa: E402, F401
