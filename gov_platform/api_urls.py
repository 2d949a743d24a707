"""``/api/v1/``: the REST API used by the mobile client (token auth)."""

from django.urls import path

from accounts.api import MeView, TokenView
from cases.api import inspections as joint_inspections
from cases.api import intake
from cases.api import views as cases
from cases.api.nearby import NearbyCasesView
from cases.api.visits import VisitCaseView, VisitDetailView, VisitListCreateView
from grids.api import AreaListView
from metrics import api as metrics
from metrics.coverage_api import CoverageView

app_name = "api"

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="token"),
    path("me/", MeView.as_view(), name="me"),
    path("areas/", AreaListView.as_view(), name="areas"),
    path("categories/", cases.CategoryListView.as_view(), name="categories"),
    path("cases/", cases.CaseListCreateView.as_view(), name="cases"),
    path("cases/nearby/", NearbyCasesView.as_view(), name="cases-nearby"),
    path("cases/<int:pk>/", cases.CaseDetailView.as_view(), name="case"),
    path("cases/<int:pk>/transitions/", cases.CaseTransitionListView.as_view(), name="case-transitions"),
    path("cases/<int:pk>/transitions/<str:name>/", cases.CaseTransitionView.as_view(), name="case-transition"),
    path("cases/<int:pk>/history/", cases.CaseHistoryView.as_view(), name="case-history"),
    path("templates/", cases.ResponseTemplateListView.as_view(), name="response-templates"),
    path("inspections/", joint_inspections.InspectionListView.as_view(), name="inspections"),
    path("inspections/<int:pk>/", joint_inspections.InspectionDetailView.as_view(), name="inspection"),
    path("inspections/<int:pk>/cases/", joint_inspections.InspectionFoundView.as_view(), name="inspection-cases"),
    path("intake/", intake.IntakeEventView.as_view(), name="intake"),
    path("intake/<str:external_id>/", intake.IntakeCaseView.as_view(), name="intake-case"),
    path("intake/<str:external_id>/rating/", intake.IntakeRatingView.as_view(), name="intake-rating"),
    path("visits/", VisitListCreateView.as_view(), name="visits"),
    path("visits/<int:pk>/", VisitDetailView.as_view(), name="visit"),
    path("visits/<int:pk>/cases/", VisitCaseView.as_view(), name="visit-cases"),
    path("metrics/kpis/", metrics.KpiView.as_view(), name="metrics-kpis"),
    path("metrics/hotspots/", metrics.HotspotView.as_view(), name="metrics-hotspots"),
    path("metrics/safety-index/", metrics.SafetyIndexView.as_view(), name="metrics-safety-index"),
    path("metrics/coverage/", CoverageView.as_view(), name="metrics-coverage"),
]
