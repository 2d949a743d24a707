"""Joint inspections (联合巡查) in the API: plans the user sees, plan one, report a problem found on one
(handled on the spot or not). Scope as on the admin pages (cases.inspections.inspections_for); the cases
found are listed as far as the user sees cases (selectors.cases_for); writes go through the services."""

from django.conf import settings
from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.idempotency import idempotent
from accounts.models import User
from grids.locator import grid_at_point
from grids.models import Area, Department, Tier

from .. import inspections, selectors
from ..models import Case, Category, JointInspection
from .serializers import CaseDetailSerializer
from .views import CASE_ERRORS

ERRORS = {
    400: CASE_ERRORS[400],
    403: OpenApiResponse(description=_("You do not plan or take part in this inspection.")),
    404: OpenApiResponse(description=_("No such inspection in your scope.")),
}


class FoundCaseSerializer(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display")
    grid = serializers.CharField(source="grid.code")
    handling_unit = serializers.SerializerMethodField()

    class Meta:
        model = Case
        fields = ["id", "number", "title", "status", "status_label", "grid", "handling_unit", "reported_at"]
        read_only_fields = fields

    def get_handling_unit(self, case) -> str:
        unit = case.handling_unit
        return unit.name if unit is not None else ""


class InspectionSerializer(serializers.ModelSerializer):
    area = serializers.CharField(source="area.code", help_text=_("Code of the district or street inspected."))
    area_name = serializers.CharField(source="area.name")
    leader = serializers.CharField(source="leader.get_full_name")
    departments = serializers.SerializerMethodField()
    found = serializers.IntegerField(source="found_count", help_text=_("Cases reported on this inspection."))

    class Meta:
        model = JointInspection
        fields = ["id", "title", "date", "area", "area_name", "leader", "departments", "notes", "found"]
        read_only_fields = fields

    def get_departments(self, inspection) -> list[str]:
        return [d.name for d in inspection.departments.all()]


class InspectionDetailSerializer(InspectionSerializer):
    cases = serializers.SerializerMethodField(help_text=_("The cases found that you see, with their state."))

    class Meta(InspectionSerializer.Meta):
        fields = [*InspectionSerializer.Meta.fields, "cases"]
        read_only_fields = fields

    @extend_schema_field(FoundCaseSerializer(many=True))
    def get_cases(self, inspection) -> list:
        visible = selectors.cases_for(self.context["request"].user, inspections.cases_found(inspection))
        return FoundCaseSerializer(visible, many=True).data


class PlanSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=100)
    area = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Area.objects.filter(tier__in=[Tier.DISTRICT, Tier.STREET]),
        help_text=_("Code of the district or of one street."),
    )
    date = serializers.DateField()
    leader = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    departments = serializers.PrimaryKeyRelatedField(queryset=Department.objects.all(), many=True)
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class FoundInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=5000)
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.filter(parent__isnull=False, is_active=True),
        help_text=_("Id of a leaf of the responsibility list."),
    )
    grid = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Area.objects.filter(tier=Tier.GRID),
        required=False,
        help_text=_("Code of the grid; may be left out when latitude and longitude are given."),
    )
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6, required=False)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6, required=False)
    photos = serializers.ListField(
        child=serializers.FileField(), required=False, default=list, max_length=settings.CASE_PHOTOS_PER_UPLOAD
    )
    on_the_spot = serializers.BooleanField(
        required=False,
        default=False,
        help_text=_("Handled on the spot by your department: give result and after_photos."),
    )
    result = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    after_photos = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        default=list,
        max_length=settings.CASE_PHOTOS_PER_UPLOAD,
        help_text=format_lazy(
            _("Up to {n} photos taken after handling (multipart only)."), n=settings.CASE_PHOTOS_PER_UPLOAD
        ),
    )

    def validate(self, attrs):
        lat, lng = attrs.pop("latitude", None), attrs.pop("longitude", None)
        if attrs.get("grid") is None:
            if lat is None or lng is None:
                raise serializers.ValidationError({"grid": _("Give the grid's code, or latitude and longitude.")})
            attrs["grid"] = grid_at_point(lat, lng)
            if attrs["grid"] is None:
                raise serializers.ValidationError({"latitude": _("This point is not inside any grid of the district.")})
        return attrs


def _visible(user):
    return inspections.inspections_for(user).select_related("area", "leader").prefetch_related("departments")


def _with_counts(qs):
    return qs.annotate(found_count=Count("cases", distinct=True))


class InspectionListView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        summary=_("Joint inspections you see"),
        description=_("Newest first: those planned in your areas or above them, and those you take part in."),
        tags=["inspections"],
        responses={200: InspectionSerializer(many=True)},
    )
    def get(self, request):
        qs = _with_counts(_visible(request.user)).order_by("-date", "-pk")[:200]
        return Response(InspectionSerializer(qs, many=True).data)

    @extend_schema(
        summary=_("Plan a joint inspection"),
        description=_(
            "The district or a street plans it in its own area: date today or later, departments serving the "
            "area, a leader from the planning tier or a department taking part."
        ),
        tags=["inspections"],
        request=PlanSerializer,
        responses={201: InspectionDetailSerializer, 400: ERRORS[400], 403: ERRORS[403]},
    )
    @idempotent
    def post(self, request):
        data = PlanSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        inspection = inspections.plan_inspection(actor=request.user, **data.validated_data)
        inspection = _with_counts(_visible(request.user)).get(pk=inspection.pk)
        return Response(
            InspectionDetailSerializer(inspection, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class InspectionDetailView(APIView):
    @extend_schema(
        summary=_("One joint inspection with its cases"),
        tags=["inspections"],
        responses={200: InspectionDetailSerializer, 404: ERRORS[404]},
    )
    def get(self, request, pk):
        inspection = get_object_or_404(_with_counts(_visible(request.user)), pk=pk)
        return Response(InspectionDetailSerializer(inspection, context={"request": request}).data)


class InspectionFoundView(APIView):
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        summary=_("Report a problem found on a joint inspection"),
        description=_(
            "A case with source “joint inspection”, linked to it. With on_the_spot, your department (taking part) "
            "handles it at once: it is accepted and assigned on the plan's authority and handled with the result "
            "and after-photos, every step on its history. 403 for someone not taking part."
        ),
        tags=["inspections"],
        request={"application/json": FoundInputSerializer, "multipart/form-data": FoundInputSerializer},
        responses={201: CaseDetailSerializer, **ERRORS},
    )
    @idempotent
    def post(self, request, pk):
        inspection = get_object_or_404(_visible(request.user), pk=pk)
        data = FoundInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = inspections.report_found(actor=request.user, inspection=inspection, **data.validated_data)
        case = Case.objects.select_related("category", "grid", "handling_department", "handling_area").get(pk=case.pk)
        return Response(CaseDetailSerializer(case, context={"request": request}).data, status=status.HTTP_201_CREATED)
