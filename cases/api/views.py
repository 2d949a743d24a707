"""Case endpoints. Each view loads through a selector, parses and calls one service; the service's
errors become 400/403/409 responses in gov_platform.errors.api_exception_handler."""

from django.core.exceptions import NON_FIELD_ERRORS
from django.db.models import Prefetch, prefetch_related_objects
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from accounts.idempotency import IdempotentPostMixin, idempotent

from .. import response_templates, selectors, services, steps
from ..contact_log import record_contact_view
from ..models import Case, Category, Escalation, ResponseTemplate
from .filters import CaseFilter
from .serializers import (
    AvailableTransitionSerializer,
    CaseCreateSerializer,
    CaseDetailSerializer,
    CaseListSerializer,
    CategorySerializer,
    HistoryEntrySerializer,
    ResponseTemplateSerializer,
    TransitionInputSerializer,
    describe_form,
)

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


# The columns a list row shows (CaseListSerializer), for CaseListCreateView's page.
LIST_COLUMNS = [
    *("number", "title", "status", "address", "source", "priority", "reported_at", "current_deadline", "warn_at"),
    *("rework_count", "category__code", "category__name", "grid__code", "grid__name", "grid__tier"),
    *("handling_department__code", "handling_department__name", "handling_area__code", "handling_area__name"),
]


def form_errors(form) -> dict:
    return {(NON_FIELD if field == NON_FIELD_ERRORS else field): list(msgs) for field, msgs in form.errors.items()}


def detail_queryset():
    """Everything the detail shows, in a fixed number of queries (one for the case, one for its photos)."""
    return Case.objects.select_related(
        "category",
        "grid",
        "dispatcher_area",
        "handling_department",
        "handling_area",
        "handler",
        "reporter",
        "duplicate_of",
    ).prefetch_related("attachments", Prefetch("escalations", Escalation.objects.select_related("acknowledged_by")))


def case_in_scope(user, pk, qs=None):
    """The case if ``user`` may see it; 404 otherwise, so cases outside scope do not reveal that they exist."""
    return get_object_or_404(selectors.cases_for(user, qs), pk=pk)


def detail_after_write(request, pk):
    # Loaded without the scope filter on purpose: the actor has just written this case, and a step such as
    # send_back can take it out of their sight; they still get its new state (contact masked as usual).
    case = detail_queryset().get(pk=pk)
    return CaseDetailSerializer(case, context={"request": request}).data


def known_empty(case, *relations):
    """Record that these reverse relations of ``case`` are empty, as a prefetch would (so reading them reads
    nothing), without a prefetch's work: for a case just made."""
    cache = case.__dict__.setdefault("_prefetched_objects_cache", {})
    for name in relations:
        # An empty queryset of the related model: filtering it further still reads nothing, so it needs
        # no filter on this case (building the relation's filter was most of this function's cost).
        rows = getattr(type(case), name).rel.related_model._base_manager.none()
        rows._result_cache, rows._prefetch_done = [], True
        cache[name] = rows


class CasePagination(CursorPagination):
    # A cursor over the primary key: no COUNT(*) and no deep OFFSET on a large table.
    ordering = "-id"
    page_size = 50


CASE_ERRORS = {
    400: OpenApiResponse(description=_("Bad input: {field: [messages]}.")),
    # Error bodies come from gov_platform.api_schema, the same for every endpoint.
    403: OpenApiResponse(description=_("Not your step on this case.")),
    404: OpenApiResponse(description=_("No such case in your scope.")),
    409: OpenApiResponse(description=_("The case is no longer in a state that allows this step.")),
}


@extend_schema_view(
    get=extend_schema(summary=_("Cases you see"), tags=["cases"], responses=CaseListSerializer(many=True)),
    post=extend_schema(
        summary=_("Report a case"),
        description=_(
            "JSON, or multipart/form-data with up to 3 files in the repeated field `photos`. "
            "`grid` is the grid's area code; `category` the id of a leaf of the responsibility list."
        ),
        tags=["cases"],
        request={"application/json": CaseCreateSerializer, "multipart/form-data": CaseCreateSerializer},
        responses={201: CaseDetailSerializer, 400: CASE_ERRORS[400]},
    ),
)
class CaseListCreateView(IdempotentPostMixin, generics.ListCreateAPIView):
    filter_backends = [DjangoFilterBackend]
    filterset_class = CaseFilter
    pagination_class = CasePagination
    parser_classes = [JSONParser, MultiPartParser]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Case.objects.none()
        qs = selectors.case_list_queryset(self.request.user)
        # A page reads only the columns a list row shows: the case row is wide (descriptions, contacts,
        # a dozen moments), and loading it whole was a third of the list's time at a million cases.
        return qs.only(*LIST_COLUMNS) if self.request.method == "GET" else qs

    def get_serializer_class(self):
        return CaseCreateSerializer if self.request.method == "POST" else CaseListSerializer

    def create(self, request, *args, **kwargs):
        serializer = CaseCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        case = services.create_case(actor=request.user, **serializer.validated_data)
        # The new case is in memory with its category, grid and reporter: serialize it as is
        # instead of reloading it through the many-table detail join (intake is the hot path).
        # What the detail lists of it is known too: no escalation and no mediation yet, and photos
        # only if some were sent.
        if serializer.validated_data.get("photos"):
            prefetch_related_objects([case], "attachments")
        else:
            known_empty(case, "attachments")
        known_empty(case, "escalations")
        Case.mediation.related.set_cached_value(case, None)
        return Response(CaseDetailSerializer(case, context={"request": request}).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(
        summary=_("One case"), tags=["cases"], responses={200: CaseDetailSerializer, 404: CASE_ERRORS[404]}
    )
)
class CaseDetailView(generics.RetrieveAPIView):
    serializer_class = CaseDetailSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Case.objects.none()
        return selectors.cases_for(self.request.user, detail_queryset())

    def retrieve(self, request, *args, **kwargs):
        case = self.get_object()
        data = self.get_serializer(case).data
        record_contact_view(actor=request.user, case=case, via="api")
        return Response(data)


class CaseTransitionListView(APIView):
    @extend_schema(
        summary=_("Steps you may take on this case now"),
        tags=["cases"],
        responses={200: AvailableTransitionSerializer(many=True), 404: CASE_ERRORS[404]},
    )
    def get(self, request, pk):
        user = request.user
        case = case_in_scope(user, pk, Case.objects.select_related("category", "grid"))
        available = [
            {
                "name": transition.name,
                "label": str(steps.STEPS[transition.name].label),
                "target": transition.target,
                "fields": describe_form(steps.STEPS[transition.name].form(case=case, user=user, step=transition.name)),
            }
            for transition in case.get_available_user_status_transitions(user)
            if steps.STEPS[transition.name].by_people
        ]
        return Response(AvailableTransitionSerializer(available, many=True).data)


class CaseTransitionView(APIView):
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        summary=_("Take a step"),
        description=_(
            "The body is the step's form (GET transitions/ lists its fields and which are required). "
            "Answers 404 for an unknown step or a case outside your scope, 409 when the case is no longer "
            "in a state that allows the step (someone moved it meanwhile), 403 when the step is not yours, "
            "400 with field messages for bad input, and 200 with the case in its new state."
        ),
        tags=["cases"],
        parameters=[
            OpenApiParameter(
                "name",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                enum=[name for name, step in steps.STEPS.items() if step.by_people],
            ),
        ],
        request={"application/json": TransitionInputSerializer, "multipart/form-data": TransitionInputSerializer},
        responses={200: CaseDetailSerializer, **CASE_ERRORS},
    )
    @idempotent
    def post(self, request, pk, name):
        if steps.get(name) is None:
            raise NotFound(_("No such step."))
        user = request.user
        case = case_in_scope(user, pk, Case.objects.select_related("category", "grid"))
        services.check_transition(actor=user, case=case, name=name)
        form_class = steps.STEPS[name].form
        if form_class is None:
            # System steps have no form; check_transition refuses them to every user already.
            raise PermissionDenied()
        if not isinstance(request.data, dict):
            raise ValidationError({NON_FIELD: [_("Send an object of fields.")]})
        form = form_class(data=request.data, files=request.FILES, case=case, user=user, step=name)
        if not form.is_valid():
            raise ValidationError(form_errors(form))
        services.transition_case(actor=user, case=case, name=name, **form.service_kwargs())
        return Response(detail_after_write(request, case.pk))


@extend_schema_view(
    get=extend_schema(
        summary=_("The case's history"),
        description=_(
            "The case's timeline, oldest first: the report, every step with who took it, their unit, when and "
            "the comment, photos added, escalations and who was told, supervision, notices sent (addresses "
            "masked unless you may read the contact) and ratings. Read-only."
        ),
        tags=["cases"],
        responses={200: HistoryEntrySerializer(many=True), 404: CASE_ERRORS[404]},
    )
)
class CaseHistoryView(generics.ListAPIView):
    serializer_class = HistoryEntrySerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return []
        return selectors.case_timeline(case_in_scope(self.request.user, self.kwargs["pk"]), self.request.user)


@extend_schema_view(
    get=extend_schema(
        summary=_("The responsibility list"),
        description=_("Groups and their leaves in use; cases are reported under a leaf."),
        tags=["cases"],
    )
)
class CategoryListView(generics.ListAPIView):
    serializer_class = CategorySerializer
    pagination_class = None
    queryset = Category.objects.filter(is_active=True).select_related("default_department").order_by("code")


@extend_schema_view(
    get=extend_schema(
        summary=_("Response templates for a step"),
        description=_(
            "The stock phrases (惯用语) the user may use on a step: their own area's and those of the areas above. "
            "Send one's id as `template` with a step to use it as the comment."
        ),
        tags=["cases"],
        parameters=[
            OpenApiParameter(
                "step",
                OpenApiTypes.STR,
                OpenApiParameter.QUERY,
                required=True,
                enum=[name for name, step in steps.STEPS.items() if step.by_people],
            )
        ],
        responses={200: ResponseTemplateSerializer(many=True), 400: CASE_ERRORS[400]},
    )
)
class ResponseTemplateListView(generics.ListAPIView):
    serializer_class = ResponseTemplateSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ResponseTemplate.objects.none()
        name = self.request.query_params.get("step", "")
        step = steps.get(name)
        if step is None or not step.by_people:
            raise ValidationError({"step": [_("Name a step people take, e.g. assess or handle.")]})
        return response_templates.usable(self.request.user, name)
