"""Governance figures in the REST API. Parameters parse through serializers (400 with the parameter named);
the area must lie within the user's scope (403 otherwise); figures come from metrics.selectors."""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.models import Category
from gov_platform.db_router import replica_reads
from grids.api import AreaRefSerializer, DepartmentRefSerializer

from . import coverage, selectors
from .forms import resolve_month, resolve_period
from .kpis import KPIS, Kpis, clock_for
from .models import Colour, SafetyIndexRun

AREA_HELP = _("Area code (district, street, community or grid) within your scope; default: your own area.")


# --- parameters ----------------------------------------------------------------
class KpiQuerySerializer(serializers.Serializer):
    area = serializers.CharField(required=False, max_length=18, help_text=AREA_HELP)
    # "from" is a Python keyword: declared through the class namespace.
    locals()["from"] = serializers.DateField(
        required=False, help_text=_("First day of the period (YYYY-MM-DD); default: the first of this month.")
    )
    to = serializers.DateField(
        required=False, help_text=_("Last day of the period, included (YYYY-MM-DD); default: today.")
    )

    def validate(self, attrs):
        try:
            attrs["period"] = resolve_period(attrs.get("from"), attrs.get("to"))
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from exc
        return attrs


class SafetyQuerySerializer(serializers.Serializer):
    month = serializers.CharField(
        required=False, max_length=7, help_text=_("YYYY-MM; default: the latest recorded month.")
    )
    area = serializers.CharField(required=False, max_length=18, help_text=AREA_HELP)

    def validate_month(self, value):
        try:
            return resolve_month(value)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict["month"]) from exc


# --- answers ---------------------------------------------------------------------
class FigureSerializer(serializers.Serializer):
    label = serializers.CharField()
    unit = serializers.ChoiceField(choices=[("count", "count"), ("percent", "percent"), ("hours", "hours")])
    value = serializers.FloatField(allow_null=True, help_text=_("Percentages are 0–100; times in working hours."))
    previous = serializers.FloatField(allow_null=True, help_text=_("The same figure for the previous period."))
    change = serializers.FloatField(
        allow_null=True, help_text=_("Rates: difference in percentage points; counts and times: relative change in %.")
    )
    change_unit = serializers.ChoiceField(choices=[("points", "points"), ("percent", "percent")])
    numerator = serializers.FloatField(allow_null=True)
    denominator = serializers.IntegerField(allow_null=True)


FiguresSerializer = type(
    "FiguresSerializer",
    (serializers.Serializer,),
    {kpi.key: FigureSerializer(help_text=kpi.definition) for kpi in KPIS},
)


class PeriodSerializer(serializers.Serializer):
    locals()["from"] = serializers.DateField()
    to = serializers.DateField()


class AreaKpisSerializer(serializers.Serializer):
    area = AreaRefSerializer()
    figures = FiguresSerializer()


class AssistingSerializer(serializers.Serializer):
    named = serializers.IntegerField()
    done = serializers.IntegerField()
    on_time = serializers.IntegerField(help_text=_("Done by the task's own sub-deadline."))
    on_time_rate = serializers.FloatField(allow_null=True, help_text=_("on_time / done, 0–100."))
    returned = serializers.IntegerField(help_text=_("Sent back by this department."))
    send_back_rate = serializers.FloatField(allow_null=True, help_text=_("returned / named, 0–100."))
    waived = serializers.IntegerField()


class DepartmentKpisSerializer(serializers.Serializer):
    rank = serializers.IntegerField(allow_null=True, help_text=_("By on-time handling rate, then satisfaction rate."))
    department = DepartmentRefSerializer()
    figures = FiguresSerializer()
    assisting = AssistingSerializer(
        allow_null=True,
        help_text=_("Its assisting tasks (协办) on the period's cases, counted apart from the cases it led."),
    )


class VisitFiguresSerializer(serializers.Serializer):
    """Patrols and household visits (巡查走访) of an area over a period (metrics.coverage)."""

    grids = serializers.IntegerField()
    households = serializers.IntegerField(help_text=_("Registered households of the area's grids."))
    households_visited = serializers.IntegerField(help_text=_("Households visited (户次), summed over visits."))
    by_party_households = serializers.IntegerField(help_text=_("Of those, visited by party-member households."))
    household_visits = serializers.IntegerField(help_text=_("Household-visit records."))
    patrols = serializers.IntegerField()
    cases = serializers.IntegerField(help_text=_("Cases reported from the findings."))
    grids_without_patrol = serializers.IntegerField()
    coverage_rate = serializers.FloatField(
        allow_null=True, source="rate", help_text=_("households_visited / households, 0–100, capped at 100.")
    )


class KpiResponseSerializer(serializers.Serializer):
    area = AreaRefSerializer()
    period = PeriodSerializer()
    previous_period = PeriodSerializer()
    figures = FiguresSerializer()
    children = AreaKpisSerializer(many=True, help_text=_("The area's children (streets of a district, ...)."))
    departments = DepartmentKpisSerializer(many=True, help_text=_("Departments handling the area's cases, ranked."))
    visits = VisitFiguresSerializer(
        help_text=_("Patrols and household visits of the period; per grid and person with quotas: metrics/coverage/.")
    )


class AreaScoreSerializer(serializers.Serializer):
    code = serializers.CharField(source="area_code")
    name = serializers.CharField(source="area_name")
    tier = serializers.CharField()
    population = serializers.IntegerField()
    score = serializers.DecimalField(max_digits=6, decimal_places=2, coerce_to_string=False, allow_null=True)
    colour = serializers.ChoiceField(choices=Colour.choices, allow_blank=True)
    rank = serializers.IntegerField(allow_null=True)
    change = serializers.DecimalField(
        max_digits=6,
        decimal_places=2,
        coerce_to_string=False,
        allow_null=True,
        help_text=_("Points up or down from the previous recorded month."),
    )


class SafetyIndexResponseSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    computed_at = serializers.DateTimeField()
    area = AreaScoreSerializer(allow_null=True)
    children = AreaScoreSerializer(many=True, help_text=_("The area's children, ranked within the district."))


ERRORS = {
    400: OpenApiResponse(description=_("Bad parameters: {parameter: [messages]}.")),
    403: OpenApiResponse(description=_("The area lies outside your scope.")),
}


def _figures(kpis: Kpis) -> dict:
    return {
        key: {
            "label": str(figure.kpi.label),
            "unit": figure.kpi.unit,
            "value": figure.value,
            "previous": figure.previous,
            "change": figure.change,
            "change_unit": figure.change_unit,
            "numerator": figure.numerator,
            "denominator": figure.denominator,
        }
        for key, figure in kpis.figures.items()
    }


def _assisting(assists) -> dict | None:
    if assists is None:
        return None
    counts = assists.counts
    return {
        **{k: counts[k] for k in ("named", "done", "on_time", "returned", "waived")},
        "on_time_rate": assists.on_time_rate,
        "send_back_rate": assists.send_back_rate,
    }


def _period(period) -> dict:
    return {"from": period.start, "to": period.end}


def _area(user, code):
    try:
        return selectors.area_for(user, code or None)
    except selectors.UnknownArea as exc:
        raise ValidationError({"area": [_("No area with this code.")]}) from exc


class KpiView(APIView):
    @extend_schema(
        summary=_("KPIs of an area for a period"),
        description=_(
            "The area's figures for the cases reported in the period, each with the previous period of the "
            "same length, its children's figures and the departments handling its cases, ranked. "
            "Definitions are in each figure's description."
        ),
        tags=["metrics"],
        parameters=[KpiQuerySerializer],
        responses={200: KpiResponseSerializer, **ERRORS},
    )
    def get(self, request):
        # Figures may lag the primary by the replication delay: read from the replica when there is one.
        with replica_reads():
            return self._answer(request)

    def _answer(self, request):
        params = KpiQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        user, period = request.user, params.validated_data["period"]
        area = _area(user, params.validated_data.get("area"))

        def answer():
            return KpiResponseSerializer(self._figures(user=user, area=area, period=period)).data

        # The same for everyone who may read the area (its whole case scope): computed once, like the dashboard.
        key = f"kpis:{area.path}:{period.start}:{period.end}:{timezone.localdate()}:{get_language()}"
        return Response(selectors.shared_cache(key, answer, settings.FIGURES_CACHE_SECONDS))

    def _figures(self, *, user, area, period) -> dict:
        clock = clock_for(period)
        figures = selectors.area_figures(user=user, area=area, period=period, clock=clock)
        return {
            "area": area,
            "period": _period(period),
            "previous_period": _period(period.previous()),
            "figures": _figures(figures.kpis),
            "children": [{"area": row.area, "figures": _figures(row.kpis)} for row in figures.children],
            "departments": [
                {
                    "rank": row.rank,
                    "department": row.department,
                    "figures": _figures(row.kpis),
                    "assisting": _assisting(row.assists),
                }
                for row in selectors.department_kpis(user=user, area=area, period=period, clock=clock)
            ],
            "visits": coverage.period_summary(area=area, period=period),
        }


class SafetyIndexView(APIView):
    @extend_schema(
        summary=_("Recorded safety index of an area for a month"),
        description=_(
            "The area's score and its children's, as recorded for the month (colour, rank within the "
            "district, change from the previous month). 404 when the month has not been recorded."
        ),
        tags=["metrics"],
        parameters=[SafetyQuerySerializer],
        responses={
            200: SafetyIndexResponseSerializer,
            **ERRORS,
            404: OpenApiResponse(description=_("No safety index recorded for that month.")),
        },
    )
    def get(self, request):
        params = SafetyQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        area = _area(request.user, params.validated_data.get("area"))
        month = params.validated_data.get("month")
        run = (
            SafetyIndexRun.objects.filter(month=month).first()
            if month
            else SafetyIndexRun.objects.order_by("-month").first()
        )
        if run is None:
            raise NotFound(_("No safety index has been recorded for this month."))
        ranking = selectors.safety_ranking(user=request.user, area=area, month=run.month)
        data = {
            "month": f"{run.month:%Y-%m}",
            "computed_at": run.computed_at,
            "area": ranking.own,
            "children": ranking.rows,
        }
        return Response(SafetyIndexResponseSerializer(data).data)


class HotspotQuerySerializer(serializers.Serializer):
    area = serializers.CharField(required=False, max_length=18, help_text=AREA_HELP)
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.filter(parent__isnull=False),
        required=False,
        help_text=_("Id of a leaf of the responsibility list; default: every category."),
    )


class HotspotCategorySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()


class HotspotSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    category = HotspotCategorySerializer()
    count = serializers.IntegerField(help_text=_("Cases of the cluster reported in the last HOTSPOT_DAYS days."))
    previous = serializers.IntegerField(help_text=_("Cases of the cluster in the HOTSPOT_DAYS days before."))
    growth = serializers.IntegerField(help_text=_("count − previous."))
    growth_percent = serializers.FloatField(allow_null=True, help_text=_("growth / previous in %; null when 0 before."))
    latitude = serializers.FloatField(help_text=_("The cluster's centre."))
    longitude = serializers.FloatField()
    grid = serializers.SerializerMethodField()

    @extend_schema_field(serializers.CharField(allow_null=True, help_text=_("Code of the grid holding the centre.")))
    def get_grid(self, spot):
        return spot.grid.code if spot.grid is not None else None


class HotspotResponseSerializer(serializers.Serializer):
    area = AreaRefSerializer()
    metres = serializers.IntegerField()
    days = serializers.IntegerField()
    results = HotspotSerializer(many=True)


class HotspotView(APIView):
    @extend_schema(
        summary=_("Hotspots (综合研判) of an area"),
        description=_(
            "Clusters of cases of one category within HOTSPOT_METRES of each other reported in the last "
            "HOTSPOT_DAYS days (at least HOTSPOT_MIN_CASES), in your scope, ranked by count and then by growth "
            "against the HOTSPOT_DAYS days before."
        ),
        tags=["metrics"],
        parameters=[HotspotQuerySerializer],
        responses={200: HotspotResponseSerializer, **ERRORS},
    )
    def get(self, request):
        params = HotspotQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        area = _area(request.user, params.validated_data.get("area"))
        found = selectors.area_hotspots(user=request.user, area=area, category=params.validated_data.get("category"))
        data = {"area": area, "metres": settings.HOTSPOT_METRES, "days": settings.HOTSPOT_DAYS, "results": found}
        return Response(HotspotResponseSerializer(data).data)
