"""The patient's record settings over FHIR, with a patient (or a minor's representative's) token.

Consent (one resource per setting, its id says which):

* ``authorised-IDNPS`` (provision permit): consent declared for that professional;
* ``blocked-IDNPS`` (provision deny): the professional is blocked (no read, no write, in any mode);
* ``administrator-IDNPS`` (provision permit): an administrator doctor (sees MASQUE_PS documents);
* ``samu`` / ``break-glass`` (provision permit or deny, purpose ETREAT): the emergency preferences;
* ``opposition`` (provision deny: the patient opposes his record; permit: he does not): an opposed record
  does not exist for professionals (dmp-rules.md: no consultation in any mode, no deposit, answered like an
  absent record) while the patient keeps his trail and settings; ``DELETE`` (or ``permit``) withdraws the
  opposition and the record is activated again, as it was.

``GET /fhir/Consent[?patient.identifier=SYSTEM|VALUE]`` lists them, ``PUT /fhir/Consent/{id}`` sets one
(the body names the patient in ``Consent.patient``), ``DELETE /fhir/Consent/{id}?patient.identifier=...``
removes one (revoke, unblock; an emergency preference returns to "allowed"). ``PATCH /fhir/Patient/{id}``
(JSON Patch) sets the contact e-mail (``/telecom``) and activates or closes the record (``/active``).

Who may do what is ``wiring.record_settings``; a record outside the caller's reach answers 404 like an
unknown one. Every request is traced (subtype PATIENT-API) by the face's audit hook, each change in its own
transaction (the setting it touched noted as an entity ``Consent/<id>``). A professional is found by name
and commune or postal code with ``GET /fhir/Practitioner`` (routes/practitioner.py), then blocked here by
his IDNPS. Not here: masking (the DocumentReference PATCH of the MHD routes).
"""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import Response
from starlette.concurrency import run_in_threadpool

from fhir_api.bundles import search_url, searchset
from fhir_api.formats import Format, fhir_response, parse_resource
from fhir_api.mapping.patient import cx_of_identifier, cx_of_logical_id, identifier_of, patient_resource
from fhir_api.outcome import FhirError
from fhir_api.router import Fhir, FhirInteraction, FhirRequest, SearchParam, fhir_api_router
from fhir_api.search import Token
from xds_server.core.identifiers import IdentifierError
from xds_server.core.policy import ActorKind, RecordSettings
from xds_server.core.ports import PatientState
from xds_server.wiring.record_settings import (
    SettingsChange,
    apply_change,
    checked_email,
    record_in_reach,
    set_contact,
    set_opposition,
    set_record_state,
)

router = fhir_api_router()

PS_SYSTEM: Final = "urn:oid:1.2.250.1.71.4.2.1"
POLICY_SYSTEM: Final = "urn:xds-server:dmp-record-setting"
_RELATIONS: Final = ("authorised", "blocked", "administrator")
_EMERGENCY: Final = {"samu": "samu", "break-glass": "break_glass"}
OPPOSITION: Final = "opposition"


def _consent(
    record: RecordSettings, consent_id: str, permit: bool, professional: str | None
) -> dict[str, Any]:
    provision: dict[str, Any] = {"type": "permit" if permit else "deny"}
    if professional is not None:
        provision["actor"] = [
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "PRCP",
                        }
                    ]
                },
                "reference": {"identifier": {"system": PS_SYSTEM, "value": professional}},
            }
        ]
    elif consent_id != OPPOSITION:
        provision["purpose"] = [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT"}
        ]
    rule = consent_id.split("-", 1)[0] if professional is not None else consent_id
    return {
        "resourceType": "Consent",
        "id": consent_id,
        "status": "active",
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
            ]
        },
        "category": [
            {"coding": [{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}]}
        ],
        "patient": {"identifier": identifier_of(record.patient_id)},
        "policyRule": {"coding": [{"system": POLICY_SYSTEM, "code": rule}]},
        "provision": provision,
    }


def consents(record: RecordSettings) -> list[dict[str, Any]]:
    found = [_consent(record, f"authorised-{p}", True, p) for p in sorted(record.authorised)]
    found += [_consent(record, f"blocked-{p}", False, p) for p in sorted(record.blocked)]
    found += [_consent(record, f"administrator-{p}", True, p) for p in sorted(record.administrators)]
    found.append(_consent(record, "samu", record.samu_allowed, None))
    found.append(_consent(record, "break-glass", record.break_glass_allowed, None))
    found.append(_consent(record, OPPOSITION, record.state is not PatientState.OPPOSED, None))
    return found


def _patient_of(fhir: FhirRequest, value: str | None) -> str:
    """The patient a request names (``SYSTEM|VALUE``), else the patient's own INS (patient tokens)."""
    actor = fhir.authenticated
    if actor.actor_kind not in (ActorKind.PATIENT, ActorKind.LEGAL_REPRESENTATIVE):
        raise FhirError.single(
            403, "forbidden", "only the patient or his legal representative manages his record"
        )
    if value:
        token = Token.parse(value)
        try:
            return cx_of_identifier(token.system or "", token.code)
        except IdentifierError:
            raise FhirError.not_found("no such patient record") from None
    if actor.patient_ins:
        return actor.patient_ins
    raise FhirError.invalid("name the patient: patient.identifier=SYSTEM|VALUE")


def _in_reach(fhir: FhirRequest, work: Any, patient: str) -> RecordSettings:
    record = record_in_reach(fhir.services, fhir.authenticated, work, patient)
    if record is None:
        raise FhirError.not_found("no such patient record")
    return record


def _change_of(consent_id: str, permit: bool | None) -> SettingsChange:
    if consent_id in _EMERGENCY:
        return SettingsChange(_EMERGENCY[consent_id], allow=True if permit is None else permit)
    relation, sep, professional = consent_id.partition("-")
    if not sep or relation not in _RELATIONS or not professional:
        raise FhirError.not_found(f"Consent/{consent_id} is not a setting of this server")
    if permit is not None and permit != (relation != "blocked"):
        raise FhirError.invalid(
            f"Consent/{consent_id}: provision.type must be {'deny' if relation == 'blocked' else 'permit'}"
        )
    return SettingsChange(relation, professional, add=permit is not None)


_SEARCH = FhirInteraction(
    "Consent",
    "search-type",
    search=(SearchParam("patient.identifier", "token", "the patient (default: the token's patient)"),),
    audit="PATIENT-API",
)


@router.get("/Consent", summary="The patient's record settings", openapi_extra=_SEARCH.extra())
async def search_consents(fhir: Fhir) -> Response:
    patient = _patient_of(fhir, fhir.request.query_params.get("patient.identifier"))

    def run() -> list[dict[str, Any]]:
        with fhir.services.for_reading().transaction() as work:
            record = record_in_reach(fhir.services, fhir.authenticated, work, patient)
            return consents(record) if record is not None else []

    found = await run_in_threadpool(run)
    self_link = search_url(fhir.base, "Consent", list(fhir.request.query_params.multi_items()))
    return fhir_response(searchset(fhir.base, found, self_link=self_link, total=len(found)), fhir.format)


@router.put(
    "/Consent/{consent_id}",
    summary="Set one record setting",
    openapi_extra=FhirInteraction("Consent", "update", audit="PATIENT-API").extra(),
)
async def put_consent(consent_id: str, fhir: Fhir) -> Response:
    body = await fhir.request.body()
    resource = parse_resource(body, Format.JSON if b"{" in body[:64] else Format.XML)
    if resource.get("resourceType") != "Consent" or resource.get("id") not in (None, consent_id):
        raise FhirError.invalid(f"the body must be Consent/{consent_id}")
    provision = resource.get("provision") or {}
    if provision.get("type") not in ("permit", "deny"):
        raise FhirError.invalid("Consent.provision.type must be permit or deny")
    permit = provision["type"] == "permit"
    change = _change_of(consent_id, permit) if consent_id != OPPOSITION else None
    identifier = (resource.get("patient") or {}).get("identifier") or {}
    named = f"{identifier.get('system', '')}|{identifier.get('value', '')}" if identifier else None
    patient = _patient_of(fhir, named)

    def run() -> list[dict[str, Any]]:
        with fhir.services.transaction() as work:
            record = _in_reach(fhir, work, patient)
            if change is None:
                set_opposition(work, record, opposed=not permit)
            else:
                apply_change(work, record, change)
        with fhir.services.for_reading().transaction() as work:
            return consents(_in_reach(fhir, work, patient))

    now = await run_in_threadpool(run)
    shown = next((c for c in now if c["id"] == consent_id), None)
    return fhir_response(shown or {"resourceType": "Consent", "id": consent_id}, fhir.format)


@router.delete(
    "/Consent/{consent_id}",
    summary="Remove one record setting",
    openapi_extra=FhirInteraction("Consent", "delete", audit="PATIENT-API").extra(),
)
async def delete_consent(consent_id: str, fhir: Fhir) -> Response:
    change = _change_of(consent_id, None) if consent_id != OPPOSITION else None
    patient = _patient_of(fhir, fhir.request.query_params.get("patient.identifier"))

    def run() -> None:
        with fhir.services.transaction() as work:
            record = _in_reach(fhir, work, patient)
            if change is None:
                set_opposition(work, record, opposed=False)
            else:
                apply_change(work, record, change)

    await run_in_threadpool(run)
    return Response(status_code=204)


def _apply_patch(operations: Any) -> tuple[str | None, bool | None, bool]:
    """(email, active, email given) from a JSON Patch on Patient: only /telecom and /active."""
    if not isinstance(operations, list) or not operations:
        raise FhirError.invalid("the body must be a JSON Patch array")
    email: str | None = None
    active: bool | None = None
    email_given = False
    for op in operations:
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
            raise FhirError.invalid("only add, replace and remove operations are accepted")
        path = op.get("path")
        if path == "/active" and op["op"] != "remove" and isinstance(op.get("value"), bool):
            active = op["value"]
        elif path == "/telecom":
            email_given = True
            values = op.get("value") if op["op"] != "remove" else []
            telecom = [t for t in values or [] if isinstance(t, dict) and t.get("system") == "email"]
            mails = [str(t["value"]) for t in telecom if isinstance(t.get("value"), str)]
            if len(mails) != len(telecom) or len(mails) > 1:
                raise FhirError.invalid("/telecom: at most one e-mail address (system email)")
            try:
                email = checked_email(mails[0] if mails else None)
            except ValueError as error:
                raise FhirError.invalid(f"/telecom: {error}") from None
        else:
            raise FhirError.single(
                405 if path not in ("/active", "/telecom") else 400,
                "not-supported",
                f"{path!r}: only /active (true: activate, false: close) and /telecom (e-mail) can change",
            )
    return email, active, email_given


@router.patch(
    "/Patient/{logical_id}",
    summary="The patient's contact e-mail and record state",
    openapi_extra=FhirInteraction("Patient", "patch", audit="PATIENT-API").extra(),
)
async def patch_patient(logical_id: str, fhir: Fhir) -> Response:
    if fhir.request.headers.get("content-type", "").split(";")[0].strip() != "application/json-patch+json":
        raise FhirError.single(415, "not-supported", "PATCH takes application/json-patch+json")
    try:
        operations = json.loads(await fhir.request.body())
    except ValueError:
        raise FhirError.invalid("the body is not JSON") from None
    email, active, email_given = _apply_patch(operations)
    try:
        cx = cx_of_logical_id(logical_id)
    except IdentifierError:
        raise FhirError.not_found(f"Patient/{logical_id} is not known") from None
    _patient_of(fhir, None)  # a patient or representative token

    def run() -> dict[str, Any]:
        with fhir.services.transaction() as work:
            record = _in_reach(fhir, work, cx)
            if active is not None:
                set_record_state(work, record, PatientState.ACTIVATED if active else PatientState.CLOSED)
            if email_given:
                set_contact(work, record, email)
            stored = work.patients.stored(record.patient_id)
            if stored is None:  # in reach a moment ago, in this very transaction
                raise FhirError.not_found(f"Patient/{logical_id} is not known")
            resource = patient_resource(stored)
            if email_given and email:
                resource["telecom"] = [{"system": "email", "value": email}]
            return resource

    return fhir_response(await run_in_threadpool(run), fhir.format)


__all__ = ["consents", "router"]
