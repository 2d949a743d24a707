"""What the case API reads and writes.

Input serializers only parse (types, lengths, choices); the rules live in
cases.services, which re-checks everything and answers with field messages.
"""

import copy

from django import forms
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.utils.encoding import smart_str
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from accounts.api import display_name
from grids.api import AreaRefSerializer
from grids.locator import grid_at_point
from grids.models import Area

from .. import extensions, mediation, selectors, steps
from ..models import (
    Attachment,
    Case,
    Category,
    Escalation,
    Mediation,
    MediationKind,
    MediationOutcome,
    ResponseTemplate,
    Status,
)
from ..reference import kept_row


class FieldsBuiltOnce:
    """For a ModelSerializer on the hot path (a report and its answer): its fields are built from the model
    once per class, then copied for each instance, instead of being worked out from the model's fields,
    validators and choices for every instance. Only for serializers whose fields do not depend on the request.

    A plain field is copied shallowly: binding it to the new serializer sets its name, parent, label and source
    on the copy, and what it shares with the built one (choices, validators, queryset, messages) is only read
    while validating or rendering. DRF's deep copy would instead build each field again from its arguments,
    copying its queryset and lazy texts too: ~470 copies a report. A field holding other fields (a nested
    serializer, a list's child) is still copied deeply, as DRF does, so its parts are bound to it alone. The
    serializer's own validators (the model's unique-together and unique-for-date rules) are built once too."""

    def get_fields(self):
        built = self._once_per_class("_fields_built_once", super().get_fields)
        return {name: _copy_field(field) for name, field in built.items()}

    def get_validators(self):
        # DRF works them out from the model's field info on every instance: for the wide case model, more time
        # than building a statement. Its validators take the serializer when called, so one list serves all.
        return list(self._once_per_class("_validators_built_once", super().get_validators))

    def _once_per_class(self, name, build):
        """``build()`` the first time for this very class (not a subclass's), kept on it under ``name``."""
        cls = type(self)
        built = cls.__dict__.get(name)
        if built is None:
            built = build()
            setattr(cls, name, built)
        return built


def _copy_field(field):
    if isinstance(field, (serializers.BaseSerializer, serializers.ListField, serializers.DictField)):
        return copy.deepcopy(field)
    return copy.copy(field)


# --- small nested shapes ------------------------------------------------------
class CategoryRefSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "code", "name"]


class HandlingUnitSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[("department", _("Department")), ("area", _("Area"))])
    id = serializers.IntegerField()
    name = serializers.CharField()
    code = serializers.CharField()


def handling_unit(case):
    if case.handling_department_id:
        unit, kind = case.handling_department, "department"
    elif case.handling_area_id:
        unit, kind = case.handling_area, "area"
    else:
        return None
    return {"kind": kind, "id": unit.pk, "name": unit.name, "code": unit.code}


class ContactSerializer(serializers.Serializer):
    name = serializers.CharField()
    phone = serializers.CharField()
    email = serializers.CharField()
    masked = serializers.BooleanField(help_text=_("True when this user may see only a masked contact."))


class AttachmentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["id", "kind", "url", "created_at"]

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, attachment):
        url = attachment.image.url
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url


class EscalationSerializer(serializers.ModelSerializer):
    level_display = serializers.CharField(source="get_level_display")
    acknowledged_by = serializers.SerializerMethodField()

    class Meta:
        model = Escalation
        fields = [
            "level",
            "level_display",
            "stage",
            "deadline",
            "created_at",
            "notified_names",
            "acknowledged_by",
            "acknowledged_at",
            "instruction",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_acknowledged_by(self, escalation):
        return display_name(escalation.acknowledged_by)


class StageDeadlinesSerializer(serializers.Serializer):
    assess = serializers.DateTimeField(source="assess_deadline", allow_null=True)
    handle = serializers.DateTimeField(source="handle_deadline", allow_null=True)
    verify = serializers.DateTimeField(source="verify_deadline", allow_null=True)
    current = serializers.DateTimeField(
        source="current_deadline", allow_null=True, help_text=_("Deadline of the stage the case is in now.")
    )


class ClockSerializer(serializers.Serializer):
    """The moved clock (cases/extensions.py): a request waiting, the approved extension, the suspension."""

    pending_request = serializers.ChoiceField(
        choices=["", "extension", "suspension"], help_text=_("A request waiting for a decision; empty: none.")
    )
    extended_until = serializers.DateTimeField(
        allow_null=True, help_text=_("The approved extension's deadline, while it is the running one.")
    )
    suspended_until = serializers.DateField(allow_null=True, help_text=_("Review date of a suspended case."))
    note = serializers.SerializerMethodField(help_text=_("The same line the case page shows."))

    def to_representation(self, case):
        data = super().to_representation(case)
        if case.extended_until != case.current_deadline:
            data["extended_until"] = None
        return data

    def get_note(self, case) -> str:
        return extensions.clock_note(case)


# --- cases ----------------------------------------------------------------------
_DATETIME = serializers.DateTimeField()


def _choice_labels():
    """Status labels in the active language, translated once per request rather than once per row."""
    from django.utils.translation import get_language

    language = get_language()
    cached = _LABELS.get(language)
    if cached is None:
        cached = _LABELS[language] = {"status": {value: str(label) for value, label in Status.choices}}
    return cached


_LABELS: dict = {}


class CaseListSerializer(serializers.ModelSerializer):
    """A list row: only what selectors.case_list_queryset loads, so a page is one query."""

    status_display = serializers.CharField(source="get_status_display", read_only=True)
    category = CategoryRefSerializer(read_only=True)
    grid = AreaRefSerializer(read_only=True)
    handling_unit = serializers.SerializerMethodField()
    is_overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = Case
        fields = [
            "id",
            "number",
            "title",
            "status",
            "status_display",
            "category",
            "grid",
            "address",
            "source",
            "priority",
            "handling_unit",
            "reported_at",
            "current_deadline",
            "is_overdue",
            "deadline_state",
            "rework_count",
        ]
        read_only_fields = fields

    @extend_schema_field(HandlingUnitSerializer(allow_null=True))
    def get_handling_unit(self, case):
        return handling_unit(case)

    def to_representation(self, case):
        if type(self) is not CaseListSerializer:
            return super().to_representation(case)
        # A list page renders 50 of these on every request: built directly, with the same output as
        # the declared fields (tests compare both), instead of walking ~16 field objects per row.
        return list_row(case)


def _area_ref(area):
    return None if area is None else {"id": area.pk, "code": area.code, "name": area.name, "tier": area.tier}


def _when(moment):
    return _DATETIME.to_representation(moment) if moment else None


def list_row(case) -> dict:
    """A list row, as CaseListSerializer's declared fields would render it."""
    labels = _choice_labels()
    when = _DATETIME.to_representation
    return {
        "id": case.pk,
        "number": case.number,
        "title": case.title,
        "status": case.status,
        "status_display": labels["status"].get(case.status, case.status),
        "category": {"id": case.category_id, "code": case.category.code, "name": case.category.name},
        "grid": {"id": case.grid_id, "code": case.grid.code, "name": case.grid.name, "tier": case.grid.tier},
        "address": case.address,
        "source": case.source,
        "priority": case.priority,
        "handling_unit": handling_unit(case),
        "reported_at": when(case.reported_at),
        "current_deadline": when(case.current_deadline) if case.current_deadline else None,
        "is_overdue": case.is_overdue,
        "deadline_state": case.deadline_state,
        "rework_count": case.rework_count,
    }


class MediationPartySerializer(serializers.Serializer):
    name = serializers.CharField()
    phone = serializers.CharField(allow_blank=True)


class MediationSessionSerializer(serializers.Serializer):
    date = serializers.DateField()
    place = serializers.CharField()
    agreed = serializers.CharField(allow_blank=True)


class MediationSerializer(serializers.Serializer):
    """A dispute case's mediation record (cases/mediation.py); the parties masked unless this user is one
    of the mediators or the dispatcher."""

    kind = serializers.ChoiceField(choices=[c for c, _label in MediationKind.choices])
    kind_label = serializers.CharField(source="get_kind_display")
    mediators = serializers.ListField(child=serializers.CharField())
    parties = MediationPartySerializer(many=True)
    parties_masked = serializers.BooleanField(help_text=_("True when this user reads the parties masked."))
    sessions = MediationSessionSerializer(many=True)
    outcome = serializers.ChoiceField(
        choices=["", *(c for c, _label in MediationOutcome.choices)],
        help_text=_("Empty until the outcome is recorded (the step record_mediation)."),
    )
    outcome_label = serializers.CharField(allow_blank=True)
    outcome_at = serializers.DateTimeField(allow_null=True)
    has_agreement = serializers.BooleanField()
    follow_up_due = serializers.DateField(allow_null=True)
    followed_up_at = serializers.DateField(allow_null=True)

    @staticmethod
    def build(record, user) -> dict:
        unmasked = mediation.may_see_parties(record, user)
        return {
            "kind": record.kind,
            "get_kind_display": record.get_kind_display(),
            "mediators": [display_name(u) for u in record.mediators.all()],
            "parties": [mediation.party_view(p, unmasked=unmasked) for p in record.parties.all()],
            "parties_masked": not unmasked,
            "sessions": [{"date": s.date, "place": s.place, "agreed": s.agreed} for s in record.sessions.all()],
            "outcome": record.outcome,
            "outcome_label": record.get_outcome_display() if record.outcome else "",
            "outcome_at": record.outcome_at,
            "has_agreement": bool(record.agreement),
            "follow_up_due": record.follow_up_due,
            "followed_up_at": record.followed_up_at,
        }


class CaseDetailSerializer(FieldsBuiltOnce, CaseListSerializer):
    reporter = serializers.SerializerMethodField()
    handler = serializers.SerializerMethodField()
    dispatcher_area = AreaRefSerializer(read_only=True, allow_null=True)
    duplicate_of = serializers.SlugRelatedField(slug_field="number", read_only=True)
    contact = serializers.SerializerMethodField()
    deadlines = StageDeadlinesSerializer(source="*", read_only=True)
    clock = ClockSerializer(source="*", read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)
    escalations = EscalationSerializer(many=True, read_only=True)
    mediation = serializers.SerializerMethodField()

    class Meta(CaseListSerializer.Meta):
        fields = [
            *CaseListSerializer.Meta.fields,
            "tracking_code",
            "description",
            "latitude",
            "longitude",
            "reporter",
            "contact",
            "dispatcher_area",
            "handler",
            "result",
            "dismiss_reason",
            "duplicate_of",
            "rating",
            "rating_comment",
            "rated_by_phone",
            "send_back_count",
            "assign_count",
            "deadlines",
            "clock",
            "stage_started_at",
            "assessed_at",
            "assigned_at",
            "handled_at",
            "fed_back_at",
            "closed_at",
            "updated_at",
            "attachments",
            "escalations",
            "mediation",
        ]
        read_only_fields = fields
        # DRF drops allow_blank from read-only fields, so the schema would not admit the "" of a case
        # that was never dismissed or rated.
        extra_kwargs = {"dismiss_reason": {"allow_blank": True}, "rating": {"allow_blank": True}}

    # The detail's own columns that render the model's value through a plain field (text, choice, number,
    # moment, the duplicate's number): no request, no nesting.
    PLAIN = (
        *("tracking_code", "description", "latitude", "longitude", "result", "dismiss_reason", "duplicate_of"),
        *("rating", "rating_comment", "rated_by_phone", "send_back_count", "assign_count", "stage_started_at"),
        *("assessed_at", "assigned_at", "handled_at", "fed_back_at", "closed_at", "updated_at"),
    )

    DETAIL_ONLY = Meta.fields[len(CaseListSerializer.Meta.fields) :]

    @classmethod
    def _plain_fields(cls) -> dict:
        """PLAIN's field objects, built and bound once per process: rendering a value with them needs no
        request, so every request shares them (their to_representation keeps no state)."""
        plain = cls.__dict__.get("_plain_built")
        if plain is None:
            fields = cls().fields
            plain = cls._plain_built = {name: fields[name] for name in cls.PLAIN}
        return plain

    def to_representation(self, case):
        if type(self) is not CaseDetailSerializer:
            return super().to_representation(case)
        # Every report answers with this, and the detail GET too: built directly, with the same output as
        # the declared fields (tests compare both), instead of copying ~45 field objects and 8 nested
        # serializers for each request.
        row, plain = list_row(case), self._plain_fields()
        for name in self.DETAIL_ONLY:
            if name in plain:
                field = plain[name]
                value = getattr(case, field.source)
                row[name] = None if value is None else field.to_representation(value)
            else:
                row[name] = self._DETAIL_PARTS[name](self, case)
        return row

    def _attachments(self, case):
        rows = case.attachments.all()
        return list(AttachmentSerializer(rows, many=True, context=self.context).data) if rows else []

    def _escalations(self, case):
        rows = case.escalations.all()
        return list(EscalationSerializer(rows, many=True, context=self.context).data) if rows else []

    def _clock(self, case):
        extended = case.extended_until if case.extended_until == case.current_deadline else None
        return {
            "pending_request": case.pending_request,
            "extended_until": _when(extended),
            "suspended_until": case.suspended_until.isoformat() if case.suspended_until else None,
            "note": extensions.clock_note(case),
        }

    _DETAIL_PARTS = {
        "reporter": lambda self, case: self.get_reporter(case),
        "contact": lambda self, case: self.get_contact(case),
        "dispatcher_area": lambda self, case: _area_ref(case.dispatcher_area),
        "handler": lambda self, case: self.get_handler(case),
        "deadlines": lambda self, case: {
            "assess": _when(case.assess_deadline),
            "handle": _when(case.handle_deadline),
            "verify": _when(case.verify_deadline),
            "current": _when(case.current_deadline),
        },
        "clock": lambda self, case: self._clock(case),
        "attachments": lambda self, case: self._attachments(case),
        "escalations": lambda self, case: self._escalations(case),
        "mediation": lambda self, case: self.get_mediation(case),
    }

    @extend_schema_field(serializers.CharField(allow_null=True, help_text=_("Empty for a resident's own report.")))
    def get_reporter(self, case):
        return display_name(case.reporter)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_handler(self, case):
        return display_name(case.handler)

    @extend_schema_field(ContactSerializer)
    def get_contact(self, case):
        return selectors.contact_for(self.context["request"].user, case)

    @extend_schema_field(MediationSerializer(allow_null=True))
    def get_mediation(self, case):
        # Only a dispute case has one: no query for the others.
        if not case.category.requires_mediation:
            return None
        try:
            record = case.mediation  # one query, none when already known (a case just reported has none)
        except Mediation.DoesNotExist:
            return None
        return MediationSerializer(MediationSerializer.build(record, self.context["request"].user)).data


class KeptPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """DRF's field, with the row kept per process (cases.reference): the same answers and messages."""

    def to_internal_value(self, data):
        queryset = self.get_queryset()
        try:
            if isinstance(data, bool):
                raise TypeError
            return kept_row(f"{queryset.model._meta.label}:pk", data, lambda: queryset.get(pk=data))
        except ObjectDoesNotExist:
            self.fail("does_not_exist", pk_value=data)
        except (TypeError, ValueError):
            self.fail("incorrect_type", data_type=type(data).__name__)


class KeptSlugRelatedField(serializers.SlugRelatedField):
    """DRF's field, with the row kept per process (cases.reference): the same answers and messages."""

    def to_internal_value(self, data):
        queryset = self.get_queryset()
        try:
            return kept_row(
                f"{queryset.model._meta.label}:{self.slug_field}",
                data,
                lambda: queryset.get(**{self.slug_field: data}),
            )
        except ObjectDoesNotExist:
            self.fail("does_not_exist", slug_name=self.slug_field, value=smart_str(data))
        except (TypeError, ValueError):
            self.fail("invalid")


class CaseCreateSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    """Parses a report; services.create_case decides whether it may be made."""

    # The category and the grid are kept per process (cases.reference): reading them was a tenth of a report.
    category = KeptPrimaryKeyRelatedField(
        queryset=Category.objects.all(), help_text=_("Id of a leaf of the responsibility list (see categories/).")
    )
    grid = KeptSlugRelatedField(
        slug_field="code",
        # Without its outline (GeoJSON, kilobytes): nothing a report does with its grid reads it.
        queryset=Area.objects.defer("boundary"),
        required=False,
        help_text=_(
            "Code of the grid the case is in (15 digits, see areas/?tier=grid); "
            "may be left out when latitude and longitude are given."
        ),
    )
    photos = serializers.ListField(
        child=serializers.FileField(),
        required=False,
        default=list,
        max_length=settings.CASE_PHOTOS_PER_UPLOAD,
        help_text=format_lazy(
            _("Up to {n} photos (multipart only), repeated as the field “photos”."), n=settings.CASE_PHOTOS_PER_UPLOAD
        ),
    )

    class Meta:
        model = Case
        fields = [
            "title",
            "description",
            "category",
            "grid",
            "address",
            "latitude",
            "longitude",
            "source",
            "priority",
            "contact_name",
            "contact_phone",
            "contact_email",
            "photos",
        ]
        extra_kwargs = {
            # Empty means "decide from the reporter's role / the category" in the service.
            "source": {
                "required": False,
                "help_text": _(
                    "How the case reached you; default from your role. “resident” is refused: "
                    "residents report themselves on the public form."
                ),
            },
            "priority": {"required": False},
        }

    def validate(self, attrs):
        attrs = super().validate(attrs)
        lat, lng = attrs.get("latitude"), attrs.get("longitude")
        if (lat is None) != (lng is None):
            raise serializers.ValidationError({"longitude" if lng is None else "latitude": _("Give both or neither.")})
        if attrs.get("grid") is None:
            if lat is None:
                raise serializers.ValidationError({"grid": _("Give the grid's code, or latitude and longitude.")})
            # The one locator (grids.locator) every way in uses.
            attrs["grid"] = grid_at_point(lat, lng)
            if attrs["grid"] is None:
                raise serializers.ValidationError({"latitude": _("This point is not inside any grid of the district.")})
        return attrs


# --- the responsibility list ---------------------------------------------------------
class StageLimitSerializer(serializers.Serializer):
    limit = serializers.IntegerField()
    unit = serializers.CharField()


class CategorySerializer(serializers.ModelSerializer):
    is_leaf = serializers.BooleanField(read_only=True)
    default_department = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    deadlines = serializers.SerializerMethodField()

    class Meta:
        model = Category
        fields = [
            "id",
            "code",
            "name",
            "parent",
            "is_leaf",
            "priority",
            "default_tier",
            "default_department",
            "deadlines",
        ]
        read_only_fields = fields

    @extend_schema_field(
        inline_serializer(
            "CategoryDeadlines",
            {"assess": StageLimitSerializer(), "handle": StageLimitSerializer(), "verify": StageLimitSerializer()},
            allow_null=True,
        )
    )
    def get_deadlines(self, category):
        # Deadlines belong to leaves; a group has none.
        if not category.is_leaf:
            return None
        return {
            stage: dict(zip(("limit", "unit"), category.stage_limit(stage), strict=True))
            for stage in ("assess", "handle", "verify")
        }


# --- transitions ------------------------------------------------------------------
class ChoiceSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()


class FormFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    required = serializers.BooleanField()
    type = serializers.ChoiceField(
        choices=["string", "text", "choice", "object_id", "files"],
        help_text=_("object_id: send the id of one of the choices; files: multipart, repeated field."),
    )
    help_text = serializers.CharField(allow_blank=True)
    max_length = serializers.IntegerField(allow_null=True)
    choices = ChoiceSerializer(many=True, allow_null=True)


class AvailableTransitionSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    target = serializers.ChoiceField(choices=Status.choices)
    fields = FormFieldSerializer(many=True)


def _field_type(field):
    if isinstance(field, forms.FileField):
        return "files"
    if isinstance(field, forms.ModelChoiceField):
        return "object_id"
    if isinstance(field, forms.ChoiceField):
        return "choice"
    if isinstance(field.widget, forms.Textarea):
        return "text"
    return "string"


def describe_form(form):
    """The fields of a transition form as a mobile client renders them."""
    described = []
    for name, field in form.fields.items():
        choices = None
        if isinstance(field, forms.ModelChoiceField):
            choices = [{"value": str(obj.pk), "label": str(obj)} for obj in field.queryset]
        elif isinstance(field, forms.ChoiceField):
            choices = [{"value": str(value), "label": str(label)} for value, label in field.choices if value != ""]
        described.append(
            {
                "name": name,
                "label": str(field.label or name),
                "required": field.required,
                "type": _field_type(field),
                "help_text": str(field.help_text or ""),
                "max_length": getattr(field, "max_length", None),
                "choices": choices,
            }
        )
    return described


def _schema_field_for(form_field, used_by):
    """A serializer field documenting one transition form field in the OpenAPI schema."""
    help_text = format_lazy("{} ({})", form_field.help_text or form_field.label or "", ", ".join(used_by))
    common = {"required": False, "help_text": help_text}
    if isinstance(form_field, forms.FileField):
        return serializers.ListField(child=serializers.FileField(), **common)
    if isinstance(form_field, forms.ModelChoiceField):
        return serializers.IntegerField(**common)
    if isinstance(form_field, forms.ChoiceField):
        return serializers.ChoiceField(choices=[c for c in form_field.choices if c[0] != ""], **common)
    return serializers.CharField(allow_blank=True, **common)


def _transition_input_serializer():
    # Built from the steps' forms so the documentation cannot drift from the forms that validate.
    fields, used_by = {}, {}
    for name, step in steps.STEPS.items():
        if not step.by_people:
            continue
        for field_name, form_field in step.form.base_fields.items():
            fields.setdefault(field_name, form_field)
            used_by.setdefault(field_name, []).append(name)
    attrs = {name: _schema_field_for(form_field, used_by[name]) for name, form_field in fields.items()}
    # Offered per user and step (GET templates/?step=), so not a declared form field.
    attrs["template"] = serializers.CharField(
        required=False,
        help_text=_("Id of a response template; with the comment left empty it is the comment, filled in."),
    )
    attrs["__doc__"] = (
        "Input of a transition: the fields of its form (see GET transitions/ for which are required). "
        "Photos only in multipart/form-data."
    )
    return type("TransitionInputSerializer", (serializers.Serializer,), attrs)


TransitionInputSerializer = _transition_input_serializer()


# --- history -----------------------------------------------------------------------


class HistoryEntrySerializer(serializers.Serializer):
    """One entry of the case's timeline (cases.timeline): a step, the report, photos, an escalation,
    supervision, a notice or a rating; the same entries as the case page."""

    kind = serializers.ChoiceField(
        choices=["report", "step", "event", "supervision", "photos", "escalation", "notification", "rating"]
    )
    label = serializers.CharField(help_text=_("What happened, translated."))
    transition = serializers.CharField(
        source="name", help_text=_("The step or event name; for other kinds, what they are about.")
    )
    transition_label = serializers.CharField(source="label")
    from_state = serializers.CharField(source="from_state", allow_null=True)
    to_state = serializers.CharField(source="to_state", allow_null=True)
    by = serializers.CharField(allow_null=True)
    unit = serializers.CharField(allow_null=True, help_text=_("The unit(s) of the person who acted."))
    timestamp = serializers.DateTimeField(source="at")
    description = serializers.CharField(source="comment", allow_null=True)
    details = serializers.ListField(child=serializers.CharField())
    photos = serializers.ListField(child=serializers.CharField())

    def get_fields(self):
        # "from" is a Python keyword, so the public names are given here.
        fields = super().get_fields()
        renamed = {"from_state": "from", "to_state": "to"}
        return {renamed.get(name, name): field for name, field in fields.items()}


class ResponseTemplateSerializer(serializers.ModelSerializer):
    audience_display = serializers.CharField(source="get_audience_display", read_only=True)
    area = serializers.CharField(source="area.name", read_only=True)

    class Meta:
        model = ResponseTemplate
        fields = ["id", "step", "audience", "audience_display", "text", "area"]
        read_only_fields = fields
