"""``/api/v1/metrics/coverage/``: patrol and visit coverage of an area for a month, per grid, per person against
the quotas of their role, and per party-member household (metrics.coverage). Scope as for the KPIs."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import Role
from grids.api import AreaRefSerializer

from . import coverage
from .api import AREA_HELP, ERRORS, VisitFiguresSerializer, _area
from .forms import resolve_month
from .kpis import first_of_month
from .models import MetricsSettings


class CoverageQuerySerializer(serializers.Serializer):
    area = serializers.CharField(required=False, max_length=18, help_text=AREA_HELP)
    month = serializers.CharField(required=False, max_length=7, help_text=_("YYYY-MM; default: this month."))

    def validate_month(self, value):
        try:
            return resolve_month(value)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict["month"]) from exc


class AreaCoverageSerializer(VisitFiguresSerializer):
    area = AreaRefSerializer()
    workers = serializers.IntegerField(help_text=_("People with a field post (grid worker, street leader, community)."))
    workers_behind = serializers.IntegerField(help_text=_("Of those, behind their quota at the month's pace."))


class GridCoverageSerializer(serializers.Serializer):
    area = AreaRefSerializer()
    households = serializers.IntegerField()
    households_visited = serializers.IntegerField()
    by_party_households = serializers.IntegerField()
    household_visits = serializers.IntegerField()
    patrols = serializers.IntegerField()
    cases = serializers.IntegerField()
    coverage_rate = serializers.FloatField(source="rate", allow_null=True)


class WorkerCoverageSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=[r for r in Role.choices if r[0] in coverage.FIELD_ROLES])
    area = serializers.CharField(source="area_name")
    households_visited = serializers.IntegerField(help_text=_("Their own household visits (not a party household's)."))
    household_quota = serializers.IntegerField()
    households_expected = serializers.IntegerField(help_text=_("Quota × pace."))
    patrols = serializers.IntegerField()
    patrol_quota = serializers.IntegerField()
    patrols_expected = serializers.IntegerField()
    behind = serializers.BooleanField()


class PartyHouseholdCoverageSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="party.pk")
    code = serializers.CharField(source="party.code")
    name = serializers.CharField(source="party.name")
    linked_households = serializers.IntegerField(source="linked", help_text=_("Households it looks after."))
    visits = serializers.IntegerField()
    households_visited = serializers.IntegerField()
    coverage_rate = serializers.FloatField(source="rate", allow_null=True)


class QuotaSerializer(serializers.Serializer):
    role = serializers.CharField()
    households = serializers.IntegerField()
    patrols = serializers.IntegerField()


class CoverageResponseSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    pace = serializers.FloatField(help_text=_("Share of the month elapsed (1 for a past month)."))
    quotas = QuotaSerializer(many=True, help_text=_("Monthly quotas per role (metrics settings)."))
    total = AreaCoverageSerializer()
    children = AreaCoverageSerializer(many=True)
    grids = GridCoverageSerializer(many=True)
    workers = WorkerCoverageSerializer(many=True)
    party_households = PartyHouseholdCoverageSerializer(many=True)


class CoverageView(APIView):
    @extend_schema(
        summary=_("Patrol and visit coverage of an area for a month"),
        description=_(
            "Households visited against registered households per grid, grids without a patrol, each person "
            "with a field post against the monthly quotas of their role (pro rata in the running month), and "
            "party-member households against the households they look after."
        ),
        tags=["metrics"],
        parameters=[CoverageQuerySerializer],
        responses={200: CoverageResponseSerializer, **ERRORS},
    )
    def get(self, request):
        params = CoverageQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        area = _area(request.user, params.validated_data.get("area"))
        month = params.validated_data.get("month") or first_of_month(timezone.localdate())
        rules = MetricsSettings.current()
        result = coverage.coverage(area=area, month=month, rules=rules)
        data = {
            "month": f"{result.month:%Y-%m}",
            "pace": round(result.pace, 4),
            "quotas": [
                {
                    "role": role,
                    "households": rules.visit_quota(role, "household"),
                    "patrols": rules.visit_quota(role, "patrol"),
                }
                for role in coverage.FIELD_ROLES
            ],
            "total": result.total,
            "children": result.children,
            "grids": result.grids,
            "workers": result.workers,
            "party_households": result.party_households,
        }
        return Response(CoverageResponseSerializer(data).data)
