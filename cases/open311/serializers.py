"""The GeoReport v2 documents described for the OpenAPI schema (the JSON form; the XML form is the same
document by the Spark convention, see renderers). The views build the documents in ``documents``; the
tests check every JSON answer against these."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


class Open311ServiceSerializer(serializers.Serializer):
    service_code = serializers.CharField(help_text=_("Code of the category in the responsibility list."))
    service_name = serializers.CharField()
    description = serializers.CharField()
    metadata = serializers.BooleanField(help_text=_("Always false: no service asks for attributes."))
    type = serializers.ChoiceField(choices=["realtime"])
    keywords = serializers.CharField()
    group = serializers.CharField()


class Open311ServiceDefinitionSerializer(serializers.Serializer):
    service_code = serializers.CharField()
    attributes = serializers.ListField(child=serializers.DictField(), max_length=0)


class Open311ServiceRequestSerializer(serializers.Serializer):
    service_request_id = serializers.CharField(help_text=_("The case number."))
    status = serializers.ChoiceField(
        choices=["open", "closed"], help_text=_("closed: rated, closed without a rating, or not accepted.")
    )
    status_notes = serializers.CharField(
        allow_null=True, help_text=_("The public name of the case's latest public step.")
    )
    service_name = serializers.CharField()
    service_code = serializers.CharField()
    description = serializers.CharField(
        allow_blank=True, help_text=_("As reported, with phone numbers, ID numbers and email addresses masked.")
    )
    agency_responsible = serializers.CharField(allow_null=True)
    service_notice = serializers.CharField(allow_null=True)
    requested_datetime = serializers.DateTimeField()
    updated_datetime = serializers.DateTimeField()
    expected_datetime = serializers.DateTimeField(allow_null=True, help_text=_("The handling deadline."))
    address = serializers.CharField(allow_null=True)
    address_id = serializers.CharField(allow_null=True)
    zipcode = serializers.CharField(allow_null=True)
    lat = serializers.FloatField(allow_null=True)
    long = serializers.FloatField(allow_null=True)


class Open311CreatedRequestSerializer(serializers.Serializer):
    service_request_id = serializers.CharField()
    service_notice = serializers.CharField()
    account_id = serializers.CharField(allow_null=True)


class Open311TokenSerializer(serializers.Serializer):
    service_request_id = serializers.CharField()
    token = serializers.CharField()


class Open311ErrorSerializer(serializers.Serializer):
    code = serializers.IntegerField(help_text=_("The HTTP status."))
    description = serializers.CharField(help_text=_("What went wrong, naming the field."))


class Open311NewRequestSerializer(serializers.Serializer):
    """POST requests.{format} (application/x-www-form-urlencoded), for the schema; the service parses."""

    api_key = serializers.CharField(help_text=_("The external system's key."))
    jurisdiction_id = serializers.CharField(required=False)
    service_code = serializers.CharField()
    lat = serializers.FloatField(required=False, help_text=_("WGS84; with long, or give address_string."))
    long = serializers.FloatField(required=False)
    address_string = serializers.CharField(required=False)
    address_id = serializers.CharField(required=False, help_text=_("Code of a grid or a building."))
    description = serializers.CharField(max_length=4000)
    email = serializers.CharField(required=False)
    first_name = serializers.CharField(required=False)
    last_name = serializers.CharField(required=False)
    phone = serializers.CharField(required=False)
    device_id = serializers.CharField(required=False)
    account_id = serializers.CharField(required=False)
    media_url = serializers.CharField(required=False, help_text=_("Accepted and ignored."))


class Open311EndpointSerializer(serializers.Serializer):
    specification = serializers.CharField()
    url = serializers.CharField()
    changeset = serializers.CharField()
    type = serializers.ChoiceField(choices=["production", "test"])
    formats = serializers.ListField(child=serializers.CharField())


class Open311DiscoverySerializer(serializers.Serializer):
    changeset = serializers.CharField()
    contact = serializers.CharField()
    key_service = serializers.CharField()
    endpoints = Open311EndpointSerializer(many=True)
