"""Admin pages for the organisation: areas, departments and party organisations within the user's scope, and the file import."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from gov_platform.errors import add_service_errors

from .cameras import (
    CameraImportError,
    camera_records,
    import_cameras,
    place_camera,
    read_camera_rows,
    save_camera,
)
from .cameras import write_csv as write_camera_csv
from .cameras import write_xlsx as write_camera_xlsx
from .models import Area, Camera, Department, LinkedHousehold, PartyOrganization, PartyOrgKind, Tier, ancestor_path_at
from .orgfile import OrgFileError, read_rows, write_csv, write_xlsx
from .selectors import organisation_records
from .services import OrganisationImportError, boundary_features, import_boundaries, import_organisation
from .signals import organisation_imported


class ScopedAdmin(admin.ModelAdmin):
    """Admin whose rows, choices and edit rights all come from the user's scope.

    Subclasses say how scope selects their rows (``scoped``), which rows the
    user may change (``managed``) and where a row hangs (``path_of``).
    """

    def scoped(self, scope, qs):
        raise NotImplementedError

    def managed(self, scope, obj) -> bool:
        raise NotImplementedError

    def get_queryset(self, request):
        return self.scoped(request.user.scope, super().get_queryset(request))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or self.managed(request.user.scope, obj))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or self.managed(request.user.scope, obj))

    def save_model(self, request, obj, form, change):
        # The form's choices already keep the user inside their subtree; this
        # guards the rule again at the point of writing.
        if not self.managed(request.user.scope, obj):
            raise PermissionDenied
        super().save_model(request, obj, form, change)


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("Organisation file (.xlsx or .csv) or boundaries (.geojson)"),
        help_text=_(
            "Boundaries: a GeoJSON FeatureCollection of polygons in WGS 84 longitude/latitude, each feature with the "
            "area's code in properties.code."
        ),
    )


# A district's boundaries with every building fit in a few megabytes; a bigger upload is a mistake.
MAX_GEOJSON_BYTES = 20 * 1024 * 1024


def _read_geojson(upload):
    if upload.size > MAX_GEOJSON_BYTES:
        raise OrgFileError(gettext("The file is larger than %(mb)d MB.") % {"mb": MAX_GEOJSON_BYTES // 2**20})
    try:
        return boundary_features(json.loads(upload.read().decode("utf-8-sig")))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OrgFileError(gettext("The file is not readable GeoJSON.")) from exc


@admin.register(Area)
class AreaAdmin(ScopedAdmin):
    list_display = ["name", "code", "tier", "parent", "children_link", "population", "households"]
    list_filter = ["tier"]
    # Drilling down the tree: the children of one area (the "下级" links and the trail above the list).
    allowed_lookups = ("parent__id__exact",)
    search_fields = ["name", "code"]
    readonly_fields = ["path", "depth"]
    fields = ["tier", "code", "name", "parent", "population", "households", "boundary", "path", "depth"]
    autocomplete_fields = ["parent"]
    list_select_related = ["parent"]
    list_per_page = 50
    show_full_result_count = False
    change_list_template = "admin/grids/area/change_list.html"

    def scoped(self, scope, qs):
        return scope.areas(qs)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(children_count=Count("children"))

    @admin.display(description=_("sub-areas"), ordering="children_count")
    def children_link(self, obj):
        if not obj.children_count:
            return "—"
        url = reverse("admin:grids_area_changelist") + f"?parent__id__exact={obj.pk}"
        return format_html('<a href="{}">{} ›</a>', url, obj.children_count)

    def changelist_view(self, request, extra_context=None):
        """Filtered to one area's children, the list shows the trail from the user's top area down to it."""
        trail = []
        parent_id = request.GET.get("parent__id__exact", "")
        if parent_id.isdigit():
            parent = self.get_queryset(request).filter(pk=parent_id).first()
            if parent is not None:
                visible = request.user.scope.areas()
                trail = [*visible.filter(path__in=parent.ancestor_paths()).order_by("depth"), parent]
        return super().changelist_view(request, {**(extra_context or {}), "area_trail": trail})

    def managed(self, scope, obj):
        if obj.pk is None:
            return obj.parent_id is not None and scope.manages_path(obj.build_path())
        return scope.manages_path(obj.path)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "parent":
            kwargs["queryset"] = request.user.scope.managed_areas(include_roots=True).exclude(tier=Tier.BUILDING)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="grids_area_import"),
            path("export/", self.admin_site.admin_view(self.export_view), name="grids_area_export"),
            *super().get_urls(),
        ]

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        errors, file_error, boundaries = [], None, False
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            boundaries = upload.name.lower().endswith((".geojson", ".json"))
            try:
                if boundaries:
                    changed = import_boundaries(actor=request.user, features=_read_geojson(upload), source=upload.name)
                else:
                    rows = read_rows(upload, upload.name)
                    result = import_organisation(actor=request.user, rows=rows, source=upload.name)
            except OrgFileError as exc:
                file_error = str(exc)
                organisation_imported.send(
                    sender=type(self), actor=request.user, accepted=False, file=upload.name, errors=1, reason=file_error
                )
            except OrganisationImportError as exc:
                errors = exc.errors
                # Refused imports are kept too: repeated refusals are what an auditor looks for.
                organisation_imported.send(
                    sender=type(self),
                    actor=request.user,
                    accepted=False,
                    file=upload.name,
                    errors=len(errors),
                    reason=str(errors[0].message) if errors else "",
                )
            else:
                if boundaries:
                    messages.success(request, gettext("Boundaries imported: %(n)d changed.") % {"n": changed})
                    return redirect(reverse("admin:grids_area_changelist"))
                messages.success(
                    request,
                    gettext("Imported: %(created)d created, %(updated)d updated, %(unchanged)d unchanged.")
                    % {
                        "created": sum(result.created.values()),
                        "updated": sum(result.updated.values()),
                        "unchanged": result.unchanged,
                    },
                )
                return redirect(reverse("admin:grids_area_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Import the organisation"),
            "form": form,
            "row_errors": errors,
            "boundary_file": boundaries,
            "file_error": file_error,
        }
        status = 400 if errors or file_error else 200
        return TemplateResponse(request, "admin/grids/area/import.html", context, status=status)

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        records = organisation_records(scope=request.user.scope)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        if request.GET.get("format") == "csv":
            response = HttpResponse(write_csv(records), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="organisation-{stamp}.csv"'
        else:
            response = HttpResponse(
                write_xlsx(records),
                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
            response["Content-Disposition"] = f'attachment; filename="organisation-{stamp}.xlsx"'
        return response


@admin.register(Department)
class DepartmentAdmin(ScopedAdmin):
    list_display = ["name", "code", "area", "phone"]
    list_filter = ["area__tier"]
    search_fields = ["name", "code"]
    list_select_related = ["area"]

    def scoped(self, scope, qs):
        return scope.departments(qs)

    def managed(self, scope, obj):
        return obj.area_id is not None and scope.manages_path(obj.area.path, strictly_below=False)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "area":
            kwargs["queryset"] = request.user.scope.managed_areas(include_roots=True).filter(
                tier__in=[Tier.DISTRICT, Tier.STREET]
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class LinkedHouseholdInline(admin.TabularInline):
    """The households a party-member household looks after (联系户): buildings of its grid, counted."""

    model = LinkedHousehold
    extra = 1
    fields = ["building", "address", "households"]

    def _manages(self, request, obj):
        return (
            obj is not None
            and obj.area_id is not None
            and request.user.scope.manages_path(obj.area.path, strictly_below=False)
        )

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and self._manages(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._manages(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._manages(request, obj)

    def get_formset(self, request, obj=None, **kwargs):
        request._party_household = obj
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        party = getattr(request, "_party_household", None)
        if db_field.name == "building" and party is not None:
            grid_path = ancestor_path_at(party.area.path, Tier.GRID) or party.area.path
            kwargs["queryset"] = Area.objects.filter(tier=Tier.BUILDING, path__startswith=grid_path).order_by("path")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(PartyOrganization)
class PartyOrganizationAdmin(ScopedAdmin):
    list_display = ["name", "kind", "code", "area", "secretary", "members"]
    list_filter = ["kind"]
    search_fields = ["name", "code", "area__name"]
    list_select_related = ["area"]
    autocomplete_fields = ["area"]
    inlines = [LinkedHouseholdInline]

    def get_inlines(self, request, obj):
        # Only a party-member household looks after households.
        return self.inlines if obj is not None and obj.kind == PartyOrgKind.MEMBER_HOUSEHOLD else []

    def scoped(self, scope, qs):
        return scope.party_organizations(qs)

    def managed(self, scope, obj):
        return obj.area_id is not None and scope.manages_path(obj.area.path, strictly_below=False)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "area":
            kwargs["queryset"] = request.user.scope.managed_areas(include_roots=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class CameraForm(forms.ModelForm):
    class Meta:
        model = Camera
        fields = ["code", "name", "latitude", "longitude", "grid", "status", "installed_at"]
        help_texts = {"grid": _("Leave empty to take the grid that holds the point.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["grid"].required = False

    def clean(self):
        data = super().clean()
        if self.errors.keys() & {"latitude", "longitude", "grid"}:
            return data
        try:
            data["grid"] = place_camera(latitude=data["latitude"], longitude=data["longitude"], grid=data.get("grid"))
        except ValidationError as exc:
            add_service_errors(self, exc)
        else:
            self.instance.grid = data["grid"]
        return data


class AreaOfCameraFilter(admin.SimpleListFilter):
    """Cameras under one street or community of the user's areas: one prefix match on the grid's path."""

    tier = None

    def areas(self, request):
        return request.user.scope.areas(Area.objects.filter(tier=self.tier)).order_by("path")

    def lookups(self, request, model_admin):
        return [(str(area.pk), area.name) for area in self.areas(request)]

    def queryset(self, request, queryset):
        if not (self.value() or "").isdigit():
            return queryset
        area = self.areas(request).filter(pk=self.value()).first()
        return queryset.filter(grid__path__startswith=area.path) if area else queryset.none()


class CameraStreetFilter(AreaOfCameraFilter):
    title = _("street")
    parameter_name = "street"
    tier = Tier.STREET


class CameraCommunityFilter(AreaOfCameraFilter):
    title = _("community")
    parameter_name = "community"
    tier = Tier.COMMUNITY

    def areas(self, request):
        # 255 communities are too many to pick from: those of the chosen street, or of the user's one street.
        areas = super().areas(request)
        street = request.GET.get("street", "")
        if street.isdigit():
            parent = Area.objects.filter(pk=street).values_list("path", flat=True).first()
            return areas.filter(path__startswith=parent) if parent else areas.none()
        streets = {ancestor_path_at(path, Tier.STREET) for path in areas.values_list("path", flat=True)[:1000]}
        return areas if len(streets) == 1 else areas.none()


@admin.register(Camera)
class CameraAdmin(ScopedAdmin):
    form = CameraForm
    list_display = ["code", "name", "status", "grid", "community_display", "street_display", "installed_at"]
    list_filter = ["status", CameraStreetFilter, CameraCommunityFilter]
    allowed_lookups = ()
    search_fields = ["code", "name"]
    search_help_text = _("Camera code or words of its name.")
    list_select_related = ["grid__parent__parent"]
    list_per_page = 50
    change_list_template = "admin/grids/camera/change_list.html"

    def scoped(self, scope, qs):
        return scope.cameras(qs)

    def managed(self, scope, obj):
        return obj.grid_id is not None and scope.manages_path(obj.grid.path)

    def has_change_permission(self, request, obj=None):
        # The stored row decides: a camera of another street is read-only, whatever the form posts.
        if obj is not None and obj.pk:
            obj = Camera.objects.select_related("grid").get(pk=obj.pk)
        return super().has_change_permission(request, obj)

    @admin.display(description=_("community"), ordering="grid__parent__name")
    def community_display(self, obj):
        return obj.grid.parent.name if obj.grid.parent_id else "—"

    @admin.display(description=_("street"), ordering="grid__parent__parent__name")
    def street_display(self, obj):
        community = obj.grid.parent
        return community.parent.name if community and community.parent_id else "—"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "grid":
            kwargs["queryset"] = request.user.scope.managed_areas().filter(tier=Tier.GRID).select_related("parent")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        save_camera(actor=request.user, camera=obj)

    def get_urls(self):
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name="grids_camera_import"),
            path("export/", self.admin_site.admin_view(self.export_view), name="grids_camera_export"),
            *super().get_urls(),
        ]

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        errors, file_error = [], None
        form = CameraImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = import_cameras(
                    actor=request.user, rows=read_camera_rows(upload, upload.name), source=upload.name
                )
            except OrgFileError as exc:
                file_error = str(exc)
                organisation_imported.send(
                    sender=type(self), actor=request.user, accepted=False, file=upload.name, errors=1, reason=file_error
                )
            except CameraImportError as exc:
                errors = exc.errors
                organisation_imported.send(
                    sender=type(self),
                    actor=request.user,
                    accepted=False,
                    file=upload.name,
                    errors=len(errors),
                    reason=str(errors[0].message) if errors else "",
                )
            else:
                messages.success(
                    request,
                    gettext("Cameras imported: %(created)d created, %(updated)d updated, %(unchanged)d unchanged.")
                    % {"created": result.created, "updated": result.updated, "unchanged": result.unchanged},
                )
                return redirect(reverse("admin:grids_camera_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Import cameras"),
            "form": form,
            "row_errors": errors,
            "file_error": file_error,
        }
        status = 400 if errors or file_error else 200
        return TemplateResponse(request, "admin/grids/camera/import.html", context, status=status)

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        records = camera_records(request.user.scope.cameras())
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        if request.GET.get("format") == "csv":
            response = HttpResponse(write_camera_csv(records), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="cameras-{stamp}.csv"'
        else:
            response = HttpResponse(
                write_camera_xlsx(records),
                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
            response["Content-Disposition"] = f'attachment; filename="cameras-{stamp}.xlsx"'
        return response


class CameraImportForm(forms.Form):
    file = forms.FileField(label=_("Camera file (.xlsx or .csv)"))
