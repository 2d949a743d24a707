"""Patrols and household visits in the REST API: list (scoped like cases) with filters, record, read, change
one's own, and turn a finding into a case. Input serializers only parse; cases.visits decides and answers
with field messages (400), 403 for a grid or record that is not the user's to write, 404 outside scope."""

import datetime as dt

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import display_name
from accounts.idempotency import IdempotentPostMixin, idempotent
from accounts.models import User
from grids.api import AreaRefSerializer
from grids.models import Area, PartyOrganization, PartyOrgKind, Tier

from .. import visits
from ..models import Case, Category, Priority, Visit, VisitKind
from .serializers import CaseDetailSerializer
from .views import detail_after_write

ERRORS = {
    400: OpenApiResponse(description=_("Bad input: {field: [messages]}.")),
    403: OpenApiResponse(description=_("Not your grid, or not your record.")),
    404: OpenApiResponse(description=_("No such patrol or visit in your scope.")),
}


# --- shapes -----------------------------------------------------------------------------
class PartyHouseholdRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = PartyOrganization
        fields = ["id", "code", "name"]
        read_only_fields = fields


class CaseRefSerializer(serializers.ModelSerializer):
    status_display = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Case
        fields = ["id", "number", "title", "status", "status_display"]
        read_only_fields = fields


class VisitListSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    grid = AreaRefSerializer(read_only=True)
    building = AreaRefSerializer(read_only=True, allow_null=True)
    party_household = PartyHouseholdRefSerializer(read_only=True, allow_null=True)
    recorded_by = serializers.SerializerMethodField()
    case_count = serializers.IntegerField(read_only=True, help_text=_("Cases reported from its findings."))

    class Meta:
        model = Visit
        fields = [
            "id",
            "kind",
            "kind_display",
            "grid",
            "building",
            "address",
            "party_household",
            "recorded_by",
            "started_at",
            "ended_at",
            "start_latitude",
            "start_longitude",
            "end_latitude",
            "end_longitude",
            "households",
            "people_met",
            "findings",
            "case_count",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField())
    def get_recorded_by(self, visit):
        return display_name(visit.recorded_by)


class VisitDetailSerializer(VisitListSerializer):
    photos = serializers.SerializerMethodField()
    cases = CaseRefSerializer(many=True, read_only=True)
    may_change = serializers.SerializerMethodField(help_text=_("Whether you may change this record."))

    class Meta(VisitListSerializer.Meta):
        fields = [*VisitListSerializer.Meta.fields, "photos", "cases", "may_change", "created_at", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.URLField()))
    def get_photos(self, visit):
        request = self.context.get("request")
        urls = [photo.image.url for photo in visit.photos.all()]
        return [request.build_absolute_uri(url) for url in urls] if request else urls

    def get_may_change(self, visit) -> bool:
        return visits.may_change(self.context["request"].user, visit)


def _photos_field():
    return serializers.ListField(
        child=serializers.FileField(),
        required=False,
        default=list,
        help_text=_("Up to 3 photos (multipart only), repeated as the field “photos”."),
    )


class VisitInputSerializer(serializers.Serializer):
    """Parses a record; cases.visits.record_visit decides whether it may be made."""

    kind = serializers.ChoiceField(choices=VisitKind.choices)
    grid = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Area.objects.filter(tier=Tier.GRID),
        required=False,
        help_text=_("Code of the grid; may be left out when the start point is given (the grid holding it)."),
    )
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    start_latitude = serializers.DecimalField(max_digits=9, decimal_places=6, required=False, allow_null=True)
    start_longitude = serializers.DecimalField(max_digits=9, decimal_places=6, required=False, allow_null=True)
    end_latitude = serializers.DecimalField(max_digits=9, decimal_places=6, required=False, allow_null=True)
    end_longitude = serializers.DecimalField(max_digits=9, decimal_places=6, required=False, allow_null=True)
    building = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Area.objects.filter(tier=Tier.BUILDING),
        required=False,
        allow_null=True,
        help_text=_("Code of a building or alley of the grid."),
    )
    address = serializers.CharField(required=False, allow_blank=True, max_length=200)
    households = serializers.IntegerField(
        required=False, default=0, min_value=0, help_text=_("Household visit: households visited; patrol: places.")
    )
    people_met = serializers.IntegerField(required=False, default=0, min_value=0, help_text=_("A count, no names."))
    findings = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    party_household = serializers.SlugRelatedField(
        slug_field="code",
        queryset=PartyOrganization.objects.filter(kind=PartyOrgKind.MEMBER_HOUSEHOLD),
        required=False,
        allow_null=True,
        help_text=_("Code of the party-member household that made the visit, if one did."),
    )
    photos = _photos_field()


class VisitChangeSerializer(serializers.Serializer):
    """The fields the recorder may change afterwards (PATCH: send only those changed)."""

    started_at = serializers.DateTimeField(required=False)
    ended_at = serializers.DateTimeField(required=False)
    building = serializers.SlugRelatedField(
        slug_field="code", queryset=Area.objects.filter(tier=Tier.BUILDING), required=False, allow_null=True
    )
    address = serializers.CharField(required=False, allow_blank=True, max_length=200)
    households = serializers.IntegerField(required=False, min_value=0)
    people_met = serializers.IntegerField(required=False, min_value=0)
    findings = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    party_household = serializers.SlugRelatedField(
        slug_field="code",
        queryset=PartyOrganization.objects.filter(kind=PartyOrgKind.MEMBER_HOUSEHOLD),
        required=False,
        allow_null=True,
    )


class FindingSerializer(serializers.Serializer):
    """A finding to report as a case: the case's grid is the visit's, its source "grid patrol"."""

    title = serializers.CharField(max_length=100)
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=5000, help_text=_("Default: the visit's findings.")
    )
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(), help_text=_("Id of a leaf of the responsibility list (see categories/).")
    )
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    address = serializers.CharField(required=False, allow_blank=True, max_length=200)
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6, required=False, allow_null=True)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6, required=False, allow_null=True)
    photos = _photos_field()


# --- filters -------------------------------------------------------------------------------
def _areas_in_scope(request):
    return request.user.scope.areas() if request is not None else Area.objects.none()


def _month(value: str) -> dt.date:
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError as exc:
        raise serializers.ValidationError({"month": [_("Give the month as YYYY-MM.")]}) from exc


class VisitFilter(filters.FilterSet):
    kind = filters.ChoiceFilter(choices=VisitKind.choices, method="by_kind")
    area = extend_schema_field({"type": "string", "description": str(_("Area code within your scope."))})(
        filters.ModelChoiceFilter(queryset=_areas_in_scope, to_field_name="code", method="by_area")
    )
    worker = extend_schema_field({"type": "integer", "description": "Id of the person who recorded it."})(
        filters.ModelChoiceFilter(queryset=User.objects.all(), method="by_worker")
    )
    month = filters.CharFilter(method="by_month", max_length=7, help_text=_("YYYY-MM: started in this month."))
    party_household = extend_schema_field({"type": "string", "description": "Code of a party-member household."})(
        filters.ModelChoiceFilter(
            queryset=PartyOrganization.objects.filter(kind=PartyOrgKind.MEMBER_HOUSEHOLD),
            to_field_name="code",
            method="by_party_household",
        )
    )

    def by_kind(self, qs, name, value):
        return visits.filter_visits(qs, kind=value)

    def by_area(self, qs, name, value):
        return visits.filter_visits(qs, area=value)

    def by_worker(self, qs, name, value):
        return visits.filter_visits(qs, worker=value)

    def by_month(self, qs, name, value):
        return visits.filter_visits(qs, month=_month(value))

    def by_party_household(self, qs, name, value):
        return visits.filter_visits(qs, party_household=value)


class VisitPagination(CursorPagination):
    ordering = "-id"
    page_size = 50


# --- views -------------------------------------------------------------------------------------
def detail_queryset():
    return Visit.objects.select_related("grid", "recorded_by", "party_household", "building").prefetch_related(
        "photos", "cases"
    )


def _detail(request, pk):
    visit = detail_queryset().get(pk=pk)
    visit.case_count = len(visit.cases.all())
    return VisitDetailSerializer(visit, context={"request": request}).data


@extend_schema_view(
    get=extend_schema(
        summary=_("Patrols and visits you see"),
        tags=["visits"],
        responses=VisitListSerializer(many=True),
    ),
    post=extend_schema(
        summary=_("Record a patrol or household visit"),
        description=_(
            "JSON, or multipart/form-data with up to 3 files in the repeated field `photos`. `grid` is the grid's "
            "code, or left out to take the grid holding the start point. Points outside the district, an end "
            "before the start and a household visit without households answer 400 naming the field; a grid "
            "outside your own answers 403."
        ),
        tags=["visits"],
        request={"application/json": VisitInputSerializer, "multipart/form-data": VisitInputSerializer},
        responses={201: VisitDetailSerializer, 400: ERRORS[400], 403: ERRORS[403]},
    ),
)
class VisitListCreateView(IdempotentPostMixin, generics.ListCreateAPIView):
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = VisitFilter
    pagination_class = VisitPagination
    parser_classes = [JSONParser, MultiPartParser]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Visit.objects.none()
        return visits.list_queryset(self.request.user)

    def get_serializer_class(self):
        return VisitInputSerializer if self.request.method == "POST" else VisitListSerializer

    def create(self, request, *args, **kwargs):
        serializer = VisitInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        visit = visits.record_visit(actor=request.user, **serializer.validated_data)
        return Response(_detail(request, visit.pk), status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        summary=_("One patrol or visit"), tags=["visits"], responses={200: VisitDetailSerializer, 404: ERRORS[404]}
    ),
    patch=extend_schema(
        summary=_("Change your own patrol or visit"),
        tags=["visits"],
        request=VisitChangeSerializer,
        responses={200: VisitDetailSerializer, **ERRORS},
    ),
)
class VisitDetailView(APIView):
    parser_classes = [JSONParser]

    def get(self, request, pk):
        visit = get_object_or_404(visits.visits_for(request.user), pk=pk)
        return Response(_detail(request, visit.pk))

    def patch(self, request, pk):
        visit = get_object_or_404(visits.visits_for(request.user).select_related("grid"), pk=pk)
        serializer = VisitChangeSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        visits.update_visit(actor=request.user, visit=visit, **serializer.validated_data)
        return Response(_detail(request, visit.pk))


class VisitCaseView(APIView):
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        summary=_("Report a finding of this patrol or visit as a case"),
        description=_(
            "One step: the case is filed in the visit's grid with source “grid patrol” and linked to the visit. "
            "Description, address and point default to the visit's."
        ),
        tags=["visits"],
        request={"application/json": FindingSerializer, "multipart/form-data": FindingSerializer},
        responses={201: CaseDetailSerializer, **ERRORS},
    )
    @idempotent
    def post(self, request, pk):
        visit = get_object_or_404(visits.visits_for(request.user).select_related("grid", "building"), pk=pk)
        serializer = FindingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        case = visits.report_finding(actor=request.user, visit=visit, **serializer.validated_data)
        return Response(detail_after_write(request, case.pk), status=status.HTTP_201_CREATED)
