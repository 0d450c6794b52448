"""FHIR wire formats: JSON (``application/fhir+json``) and XML (``application/fhir+xml``), both ways.

Reading: the request's Content-Type picks the parser (JSON, the default for an absent type, or XML); the
resource is then validated by its ``fhir.resources`` R4B model (structure, cardinalities, primitive types:
R4B and R4 are the same for every resource this server reads or writes: Bundle, DocumentReference, List,
Binary, Patient, Parameters, OperationOutcome, AuditEvent, Consent, CapabilityStatement) and handed on as
plain JSON-shaped data. XML goes through the server's hardened parser first (no DTD, no entities, no network).

Writing: ``_format`` (FHIR's override of content negotiation), else the ``Accept`` header, else JSON. JSON is
serialised with orjson straight from the mapped data (the hot path: searches); XML goes through the model,
which also validates what we send.
"""

from __future__ import annotations

import enum
from typing import Any, Final

import orjson
from fastapi import Request, Response
from fhir.resources.R4B import get_fhir_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from pydantic import ValidationError

from fhir_api.outcome import FhirError, OutcomeIssue
from xds_server.xmlparse import XmlRejected, hardened_parser, parse_xml

FHIR_NS: Final = "http://hl7.org/fhir"


class Format(enum.Enum):
    JSON = "application/fhir+json"
    XML = "application/fhir+xml"

    @property
    def media_type(self) -> str:
        return f"{self.value}; charset=utf-8"


#: ``_format`` values and media types (RFC 6838 names) accepted for each format.
_NAMES: Final[dict[str, Format]] = {
    "json": Format.JSON,
    "application/fhir+json": Format.JSON,
    "application/json": Format.JSON,
    "application/json+fhir": Format.JSON,  # DSTU2 spelling, still sent by some clients
    "xml": Format.XML,
    "application/fhir+xml": Format.XML,
    "application/xml": Format.XML,
    "application/xml+fhir": Format.XML,
    "text/xml": Format.XML,
}


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def response_format(request: Request) -> Format:
    """The format of the answer: ``_format``, else the first acceptable ``Accept`` entry, else JSON.
    An unknown ``_format`` is a 406; an ``Accept`` naming nothing we serve falls back to JSON (browsers,
    ``*/*``)."""
    explicit = request.query_params.get("_format")
    if explicit:
        found = _NAMES.get(_media(explicit).replace(" ", "+"))  # '+' arrives as ' ' when not escaped
        if found is None:
            raise FhirError.single(406, "not-supported", f"_format {explicit!r} is not served: json or xml")
        return found
    ranked: list[tuple[float, int, Format]] = []
    for position, (media, quality) in enumerate(accept_entries(request.headers.get("accept"))):
        found = _NAMES.get(media)
        if found is not None:
            ranked.append((-quality, position, found))
    return min(ranked)[2] if ranked else Format.JSON


def accept_entries(accept: str | None) -> list[tuple[str, float]]:
    """The media ranges of an Accept header with their quality, in order, ``q=0`` ones left out (a
    quality that is not a number counts as 0)."""
    entries: list[tuple[str, float]] = []
    for item in (accept or "").split(","):
        media, _, params = item.partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and media.strip():
            entries.append((_media(media), quality))
    return entries


def request_format(request: Request) -> Format:
    """The format of the request body, from its Content-Type (absent: JSON). Others: 415."""
    content_type = request.headers.get("content-type")
    if not content_type:
        return Format.JSON
    found = _NAMES.get(_media(content_type))
    if found is None:
        raise FhirError.single(
            415,
            "not-supported",
            f"Content-Type {_media(content_type)!r} is not accepted: "
            "application/fhir+json or application/fhir+xml",
        )
    return found


def _issues_of(error: ValidationError, resource_type: str) -> list[OutcomeIssue]:
    issues = []
    for detail in error.errors()[:20]:
        where = ".".join(str(p) for p in detail.get("loc", ()) if not str(p).startswith("function-"))
        path = f"{resource_type}.{where}" if where else resource_type
        issues.append(OutcomeIssue("structure", f"{path}: {detail.get('msg', 'invalid')}", expression=path))
    return issues


def model_class(resource_type: str) -> type[FHIRAbstractModel]:
    try:
        cls: type[FHIRAbstractModel] = get_fhir_model_class(resource_type)
    except (KeyError, ValueError):
        raise FhirError.invalid(f"unknown resource type {resource_type!r}") from None
    return cls


def parse_resource(body: bytes, fmt: Format) -> dict[str, Any]:
    """The resource in ``body`` as validated JSON-shaped data (``resourceType`` included); 400 when it is
    not a well-formed FHIR resource."""
    if not body.strip():
        raise FhirError.invalid("the request has no body: a FHIR resource is expected")
    if fmt is Format.JSON:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise FhirError.invalid(f"the body is not JSON: {error}") from None
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            raise FhirError.invalid("the body is not a FHIR resource (no resourceType)")
        resource_type: str = data["resourceType"]
        cls = model_class(resource_type)
        try:
            model = cls.model_validate(data)
        except ValidationError as error:
            raise FhirError(400, _issues_of(error, resource_type)) from None
        except (ValueError, TypeError) as error:
            raise FhirError.invalid(f"{resource_type}: {error}") from None
    else:
        try:
            root = parse_xml(body)
        except XmlRejected as error:
            raise FhirError.invalid(f"the body is not acceptable XML: {error.reason}") from None
        namespace, _, resource_type = root.tag.rpartition("}")
        if namespace != "{" + FHIR_NS:
            raise FhirError.invalid(f"the XML root is not a FHIR resource in the {FHIR_NS} namespace")
        cls = model_class(resource_type)
        try:
            model = cls.model_validate_xml(body, xmlparser=hardened_parser())
        except ValidationError as error:
            raise FhirError(400, _issues_of(error, resource_type)) from None
        except (ValueError, TypeError, SyntaxError) as error:
            raise FhirError.invalid(f"{resource_type}: {error}") from None
    parsed: dict[str, Any] = orjson.loads(model.model_dump_json(exclude_none=True))
    return parsed


def serialise(resource: dict[str, Any], fmt: Format) -> bytes:
    """``resource`` (JSON-shaped) in ``fmt``."""
    if fmt is Format.JSON:
        return orjson.dumps(resource)
    cls = model_class(str(resource["resourceType"]))
    xml = cls.model_validate(resource).model_dump_xml()
    return xml if isinstance(xml, bytes) else xml.encode("utf-8")


def fhir_response(
    resource: dict[str, Any],
    fmt: Format,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(serialise(resource, fmt), status_code=status, media_type=fmt.media_type, headers=headers)


__all__ = [
    "FHIR_NS",
    "Format",
    "accept_entries",
    "fhir_response",
    "model_class",
    "parse_resource",
    "request_format",
    "response_format",
    "serialise",
]
