"""Every answer of ``/api/v1/`` checked against the OpenAPI schema the API publishes.

The schema is generated once per process by drf-spectacular, converted from OpenAPI 3.0 to JSON Schema
(``nullable``, boolean ``exclusiveMinimum``/``exclusiveMaximum``) and each response is validated with
jsonschema against the operation found by path template, method, status code and content type. A status
the schema does not document, a body it does not describe or a value it does not allow fails the test
with the request, the status and the JSON path of each mismatch.
"""

import functools
import json
import re

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

API_PREFIX = "/api/v1/"
SCHEMA_URI = "urn:gov-platform:openapi"


class SchemaMismatch(AssertionError):
    """A response the published schema does not describe."""


def openapi_to_json_schema(node):
    """The OpenAPI 3.0 dialect of drf-spectacular's output as JSON Schema 2020-12."""
    if isinstance(node, list):
        return [openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: openapi_to_json_schema(value) for key, value in node.items()}
    for bound, exclusive in (("maximum", "exclusiveMaximum"), ("minimum", "exclusiveMinimum")):
        if node.get(exclusive) is True:
            node[exclusive] = node.pop(bound)
        elif node.get(exclusive) is False:
            del node[exclusive]
    if node.get("nullable") is True:
        del node["nullable"]
        # Around the whole schema, so an enum or a $ref'd object also admits null.
        return {"anyOf": [node, {"type": "null"}]}
    return node


def generate_schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    schema = SchemaGenerator().get_schema(request=None, public=True)
    # Rendering resolves lazy translations; the validator needs plain JSON.
    return json.loads(OpenApiJsonRenderer().render(schema, renderer_context={}))


class Contract:
    def __init__(self, openapi: dict):
        self.openapi = openapi
        self.document = openapi_to_json_schema(openapi)
        self.registry = Registry().with_resource(SCHEMA_URI, DRAFT202012.create_resource(self.document))
        # Literal paths before templated ones, as the URL configuration resolves them: cases/nearby/ is not cases/{id}/.
        self.routes = [
            (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"), template)
            for template in sorted(openapi["paths"], key=lambda t: "{" in t)
        ]
        self.validators = {}

    def _validator(self, pointer: str) -> Draft202012Validator:
        if pointer not in self.validators:
            self.validators[pointer] = Draft202012Validator(
                {"$ref": f"{SCHEMA_URI}#{pointer}"},
                registry=self.registry,
                format_checker=Draft202012Validator.FORMAT_CHECKER,
            )
        return self.validators[pointer]

    def check(self, method: str, path: str, status: int, content_type: str, body: bytes) -> None:
        method = method.lower()
        where = f"{method.upper()} {path} → {status}"
        template = next((template for regex, template in self.routes if regex.match(path)), None)
        if template is None:
            raise SchemaMismatch(f"{where}: the path is not in the schema")
        operation = self.openapi["paths"][template].get(method)
        if operation is None:
            if status != 405:
                raise SchemaMismatch(f"{where}: {method.upper()} is not documented for {template}")
            # OpenAPI has no place for the methods a path lacks; DRF refuses them with its usual error body.
            errors = self.errors("/components/schemas/Detail", json.loads(body))
            if errors:
                raise SchemaMismatch(f"{where}: the error body is not a Detail:\n" + "\n".join(errors))
            return
        responses = operation["responses"]
        code = next((c for c in (str(status), f"{str(status)[0]}XX", "default") if c in responses), None)
        if code is None:
            raise SchemaMismatch(
                f"{where}: status {status} is not documented for {template} (documented: {', '.join(responses)})"
            )
        content = responses[code].get("content")
        if not content:
            if body:
                raise SchemaMismatch(f"{where}: the schema documents no body, the response has one")
            return
        media_type = content_type.split(";")[0].strip()
        if media_type not in content:
            raise SchemaMismatch(
                f"{where}: content type {media_type!r} is not documented (documented: {', '.join(content)})"
            )
        pointer = f"/paths/{_escape(template)}/{method}/responses/{code}/content/{_escape(media_type)}/schema"
        errors = self.errors(pointer, json.loads(body))
        if errors:
            raise SchemaMismatch(f"{where}: the body does not match the schema of {template}:\n" + "\n".join(errors))

    def errors(self, pointer: str, instance) -> list[str]:
        """``json path: message`` for each place ``instance`` breaks the schema at ``pointer``."""
        found = []
        for error in sorted(self._validator(pointer).iter_errors(instance), key=lambda e: e.json_path):
            # Of an anyOf/oneOf, the alternative that came closest says best what is wrong.
            deepest = best_match([error])
            found.append(f"  {deepest.json_path}: {deepest.message}")
        return found

    def errors_for(self, component: str, instance) -> list[str]:
        return self.errors(f"/components/schemas/{_escape(component)}", instance)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@functools.cache
def contract() -> Contract:
    return Contract(generate_schema())


def check_response(request: dict, response) -> None:
    """Validate a test client's response to an ``/api/v1/`` request; other paths pass untouched."""
    path = request.get("PATH_INFO", "")
    if not path.startswith(API_PREFIX):
        return
    contract().check(
        request["REQUEST_METHOD"],
        path,
        response.status_code,
        response.get("Content-Type", ""),
        b"" if response.streaming else response.content,
    )
