"""JSON and XML for GeoReport v2, one document two ways (the specification's Spark convention).

A list is a wrapper element holding one element per item (``services`` → ``service``, ``errors`` →
``error``); a dict is an element per key in order; true/false are lower case; an empty value is an empty
element (null in JSON). XML is written with the standard library, UTF-8, with its declaration.
"""

import json
import re
from xml.etree import ElementTree

from rest_framework.renderers import BaseRenderer

# The element of each item of a list, by the list's name.
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
# Characters XML 1.0 cannot carry at all (C0 controls other than tab, newline and carriage return).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _append(parent, name: str, value) -> None:
    element = ElementTree.SubElement(parent, name)
    _fill(element, name, value)


def _fill(element, name: str, value) -> None:
    if isinstance(value, list):
        for item in value:
            _append(element, ITEM_NAMES.get(name, "item"), item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _append(element, key, item)
    else:
        element.text = _text(value)


def to_xml(root: str, data) -> bytes:
    element = ElementTree.Element(root)
    _fill(element, root, data)
    body = ElementTree.tostring(element, encoding="unicode", short_empty_elements=True)
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode("utf-8")


def document_root(renderer_context) -> str:
    """The root element the view named for this answer (errors name theirs)."""
    response = (renderer_context or {}).get("response")
    return getattr(response, "open311_root", None) or "errors"


class Open311JSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Open311XMLRenderer(BaseRenderer):
    media_type = "text/xml"
    format = "xml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return to_xml(document_root(renderer_context), data)
