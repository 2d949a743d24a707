"""Changelist query-string lookups only from an explicit allow-list.

Django's admin accepts any lookup on a model's own fields (``?contact_phone__startswith=139``),
which lets a user who sees a column masked read it back one character at a time by counting
rows. Here a lookup passes only when a list filter or the date hierarchy generates it, or when
the admin names it in ``allowed_lookups``; personal-data columns are never looked up by anyone
but a superuser. A refused lookup raises ``DisallowedModelAdminLookup`` (a 400), as Django does
for a forbidden relational lookup.

The platform's admin site (accounts.admin_site.PlatformAdminSite) applies the rule to every
ModelAdmin registered on it, including those of third-party apps, so a new admin cannot forget it.
"""

from django.contrib import admin
from django.contrib.admin import filters, widgets
from django.contrib.admin.filters import FieldListFilter, SimpleListFilter
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.core.exceptions import FieldDoesNotExist
from django.db.models.constants import LOOKUP_SEP

# Columns holding residents' contacts (shown masked to officials): no lookup may touch them,
# directly or through a relation, except a superuser's.
PERSONAL_DATA_FIELDS = frozenset({"contact_name", "contact_phone", "contact_email", "rated_by_phone", "to_address"})


class LookupAllowListMixin:
    """ModelAdmin part: refuse every changelist lookup that is not explicitly allowed."""

    # An admin names extra query-string keys it accepts in ``allowed_lookups``, spelled exactly as
    # they appear in the URL. Not declared here: the site puts this mixin first in each admin's
    # bases, where a default would hide the admin's own list.

    def lookup_allowed(self, lookup, value, request=None):
        if touches_personal_data(lookup) and not (request is not None and request.user.is_superuser):
            return False
        if lookup in getattr(self, "allowed_lookups", ()):
            return True
        if lookup in self.generated_lookups(request) or self._raw_id_popup_lookup(lookup, value):
            # Still ask Django (and any third-party admin's own rule, e.g. "never the password").
            return super().lookup_allowed(lookup, value, request)
        return False

    def generated_lookups(self, request=None) -> set[str]:
        """The query-string keys the admin's own list filters and date hierarchy produce."""
        keys = set()
        list_filter = self.get_list_filter(request) if request is not None else self.list_filter
        for item in list_filter:
            if isinstance(item, type) and issubclass(item, SimpleListFilter):
                keys.add(item.parameter_name)
                continue
            path, filter_class = item if isinstance(item, list | tuple) else (item, None)
            if not isinstance(path, str):  # a model field given as the filter
                path = path.name
            try:
                field = get_fields_from_path(self.model, path)[-1]
            except (FieldDoesNotExist, NotRelationField):
                continue
            keys |= filter_keys(path, field, filter_class or default_filter_class(field))
        if self.date_hierarchy:
            keys.update(f"{self.date_hierarchy}{LOOKUP_SEP}{part}" for part in ("year", "month", "day"))
        return keys

    def _raw_id_popup_lookup(self, lookup, value) -> bool:
        # The raw-id popup of a foreign key with limit_choices_to passes those limits as lookups.
        for fk_lookup in self.model._meta.related_fkey_lookups:
            if callable(fk_lookup):
                fk_lookup = fk_lookup()
            if (lookup, value) in widgets.url_params_from_lookup_dict(fk_lookup).items():
                return True
        return False


def default_filter_class(field):
    """The FieldListFilter Django picks for a plain field name in ``list_filter``."""
    for test, filter_class in FieldListFilter._field_list_filters:
        if test(field):
            return filter_class
    return None


def filter_keys(path, field, filter_class) -> set[str]:
    """The query-string keys one of Django's field list filters writes (its expected_parameters)."""
    if filter_class is None:
        return set()

    def key(*parts):
        return LOOKUP_SEP.join([path, *parts])

    if issubclass(filter_class, filters.RelatedFieldListFilter):
        return {key(field.target_field.name, "exact"), key("isnull")}
    if issubclass(filter_class, filters.DateFieldListFilter):
        return {key("gte"), key("lt"), key("isnull")}
    if issubclass(filter_class, filters.EmptyFieldListFilter):
        return {key("isempty")}
    if issubclass(filter_class, filters.AllValuesFieldListFilter):
        return {path, key("isnull")}
    if issubclass(filter_class, filters.BooleanFieldListFilter | filters.ChoicesFieldListFilter):
        return {key("exact"), key("isnull")}
    # Any other filter class names its keys in the admin's allowed_lookups.
    return set()


def touches_personal_data(lookup: str) -> bool:
    return not PERSONAL_DATA_FIELDS.isdisjoint(lookup.split(LOOKUP_SEP))


def with_lookup_allow_list(admin_class):
    """``admin_class``, or a subclass of it that applies the allow-list when it does not yet."""
    if issubclass(admin_class, LookupAllowListMixin):
        return admin_class
    return type(
        admin_class.__name__,
        (LookupAllowListMixin, admin_class),
        {"__module__": admin_class.__module__, "__qualname__": admin_class.__qualname__},
    )


class LookupAllowListSiteMixin:
    """AdminSite part: every ModelAdmin registered on the site gets the lookup allow-list."""

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = with_lookup_allow_list(admin_class or admin.ModelAdmin)
        super().register(model_or_iterable, admin_class, **options)
