"""AuditRecord -> FHIR R4 AuditEvent (JSON), after the IHE BALP patterns (mhd-fhir.md §4).

Built as plain dicts (one per transaction, on the request path: no model validation cost there); the tests
validate every shape with ``fhir.resources.R4B.auditevent.AuditEvent``, whose AuditEvent is R4's (R4B changed
no element of AuditEvent), so what we emit parses as R4.

Agents: the client application (LPS name/version from the credential, the TLS client certificate's subject as
its identifier, the peer address as its network), this server, the user (``requestor``: national id, name,
profession / savoir-faire as roles, ``purposeOfUse`` TREAT or ETREAT with the emergency reason as text) and,
for a professional, his structure (v3-RoleClass PROV). Entities: the patient (Person / Patient), documents
(System Object / Report, with their confidentialityCodes as securityLabel), the submission set (Job), the
query (Query, the raw request base64), the credential's id (Security Resource) and the message id
(BALP XrequestId). Never the credential itself.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from xds_server.core.audit import AuditEntity, AuditRecord, Coding, EntityRole
from xds_server.core.policy import AccessContext, ActorKind

__all__ = ["ACCESS_MODE_SYSTEM", "patient_identifier", "render", "render_json"]

ACT_REASON: Final = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
#: The VIHF access mode as given (normal / break_glass / regulation): no public code system carries it.
ACCESS_MODE_SYSTEM: Final = "urn:xds-server:access-mode"
PS_ID_SYSTEM: Final = "urn:oid:1.2.250.1.71.4.2.1"
STRUCTURE_SYSTEM: Final = "urn:oid:1.2.250.1.71.4.2.2"
PROFESSION_SYSTEM: Final = "urn:oid:1.2.250.1.71.1.2.7"  # TRE_G15
SAVOIR_FAIRE_SYSTEM: Final = "urn:oid:1.2.250.1.71.4.2.5"  # TRE_R38
ENTITY_TYPE: Final = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE: Final = "http://terminology.hl7.org/CodeSystem/object-role"
BALP_ENTITY_TYPE: Final = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
PARTICIPATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
LIFECYCLE: Final = "http://terminology.hl7.org/CodeSystem/dicom-audit-lifecycle"
ROLE_CLASS: Final = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
CONFIDENTIALITY_OIDS: Final = {
    "2.16.840.1.113883.5.25": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
}

#: {entity role: (audit-entity-type, object-role)}
_ENTITY_CODES: Final = {
    EntityRole.PATIENT: (("1", "Person"), ("1", "Patient")),
    EntityRole.DOCUMENT: (("2", "System Object"), ("3", "Report")),
    EntityRole.SUBMISSION_SET: (("2", "System Object"), ("20", "Job")),
    EntityRole.QUERY: (("2", "System Object"), ("24", "Query")),
    EntityRole.TOKEN: (("2", "System Object"), ("13", "Security Resource")),
    EntityRole.SETTING: (("2", "System Object"), ("4", "Domain Resource")),
}


def _coding(coding: Coding) -> dict[str, str]:
    return {"system": coding.system, "code": coding.code, "display": coding.display}


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def patient_identifier(patient_id: str) -> dict[str, str]:
    """``INS^^^&1.2.250.1.213.1.4.8&ISO^NH`` -> ``{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": INS}``;
    an id that is not a CX keeps its spelling as the value."""
    value, _, rest = patient_id.partition("^^^")
    authority = rest.split("^", 1)[0].split("&")
    if len(authority) >= 2 and authority[1]:
        return {"system": f"urn:oid:{authority[1]}", "value": value}
    return {"value": patient_id}


def _purpose(actor: AccessContext) -> dict[str, Any]:
    if actor.access_mode.is_emergency:
        concept = _concept(ACT_REASON, "ETREAT", "Emergency Treatment")
        concept["coding"].append({"system": ACCESS_MODE_SYSTEM, "code": actor.access_mode.value})
        if actor.reason:
            concept["text"] = actor.reason
        return concept
    if actor.actor_kind in (ActorKind.PATIENT, ActorKind.LEGAL_REPRESENTATIVE):
        return _concept(ACT_REASON, "PATRQT", "patient requested")
    return _concept(ACT_REASON, "TREAT", "treatment")


def _user(actor: AccessContext) -> dict[str, Any]:
    system = PS_ID_SYSTEM if actor.actor_kind is ActorKind.PROFESSIONAL else None
    identifier = (
        {"value": actor.national_id} if system is None else {"system": system, "value": actor.national_id}
    )
    user: dict[str, Any] = {
        "type": _concept(PARTICIPATION, "IRCP", "information recipient"),
        "who": {"identifier": identifier, **({"display": actor.name} if actor.name else {})},
        "requestor": True,
        "purposeOfUse": [_purpose(actor)],
    }
    if actor.name:
        user["name"] = actor.name
    roles = [_concept("urn:xds-server:actor-kind", actor.actor_kind.value)]
    if actor.profession:
        roles.append(_concept(PROFESSION_SYSTEM, actor.profession))
    if actor.savoir_faire:
        roles.append(_concept(SAVOIR_FAIRE_SYSTEM, actor.savoir_faire))
    if actor.role:
        roles.append(_concept("urn:oid:1.2.250.1.213.1.1.4.6", actor.role))  # TRE_R85
    user["role"] = roles
    return user


def _structure(actor: AccessContext) -> dict[str, Any] | None:
    if not actor.structure_id:
        return None
    return {
        "type": _concept(ROLE_CLASS, "PROV", "healthcare provider"),
        "who": {"identifier": {"system": STRUCTURE_SYSTEM, "value": actor.structure_id}},
        "requestor": False,
    }


def _client(record: AuditRecord) -> dict[str, Any]:
    client = record.client
    who: dict[str, Any] = {}
    display = " ".join(filter(None, (client.lps_name, client.lps_version)))
    if display:
        who["display"] = display
    if client.tls_subject:
        who["identifier"] = {"system": "urn:ietf:rfc:4514", "value": client.tls_subject}
    agent: dict[str, Any] = {
        "type": {"coding": [_coding(record.kind.client_role)]},
        "who": who or {"display": "unidentified client"},
        "requestor": False,
    }
    if client.address:
        agent["network"] = {"address": client.address, "type": "2"}  # IP address
    return agent


def _server(record: AuditRecord) -> dict[str, Any]:
    return {
        "type": {"coding": [_coding(record.kind.server_role)]},
        "who": {"display": record.observer},
        "requestor": False,
    }


def _security_labels(keys: tuple[str, ...]) -> list[dict[str, str]]:
    labels = []
    for key in keys:
        code, _, scheme = key.partition("^^")
        labels.append({"system": CONFIDENTIALITY_OIDS.get(scheme, f"urn:oid:{scheme}"), "code": code})
    return labels


def _entity(entity: AuditEntity) -> dict[str, Any]:
    if entity.role is EntityRole.REQUEST_ID:
        return {
            "type": {"system": BALP_ENTITY_TYPE, "code": "XrequestId"},
            "what": {"identifier": {"value": entity.identifier}},
        }
    (type_code, type_display), (role_code, role_display) = _ENTITY_CODES[entity.role]
    rendered: dict[str, Any] = {
        "type": {"system": ENTITY_TYPE, "code": type_code, "display": type_display},
        "role": {"system": OBJECT_ROLE, "code": role_code, "display": role_display},
    }
    if entity.role is EntityRole.PATIENT:
        rendered["what"] = {"identifier": patient_identifier(entity.identifier)}
    elif entity.role is EntityRole.QUERY:
        rendered["query"] = entity.query_base64
    else:
        rendered["what"] = {"identifier": {"value": entity.identifier}}
    if entity.lifecycle:
        rendered["lifecycle"] = {"system": LIFECYCLE, "code": entity.lifecycle}
    if entity.security_labels:
        rendered["securityLabel"] = _security_labels(entity.security_labels)
    if entity.description:
        rendered["description"] = entity.description
    return rendered


def render(record: AuditRecord) -> dict[str, Any]:
    """The FHIR R4 AuditEvent of ``record`` (a JSON-ready dict)."""
    kind = record.kind
    agents = [_client(record), _server(record)]
    if record.actor is not None:
        agents.append(_user(record.actor))
        structure = _structure(record.actor)
        if structure is not None:
            agents.append(structure)
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": record.event_id.removeprefix("urn:uuid:"),
        "type": _coding(kind.type),
        "subtype": [_coding(s) for s in kind.subtypes],
        "action": record.event_action.value,
        "recorded": record.recorded.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "outcome": str(int(record.outcome)),
    }
    if record.outcome_description:
        event["outcomeDesc"] = record.outcome_description
    if record.actor is not None:
        event["purposeOfEvent"] = [_purpose(record.actor)]
    event["agent"] = agents
    event["source"] = {
        "observer": {"display": record.observer},
        "type": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                "code": "4",
                "display": "Application Server",
            }
        ],
    }
    entities = [_entity(e) for e in record.entities]
    if entities:
        event["entity"] = entities
    return event


def render_json(record: AuditRecord) -> str:
    """The AuditEvent as compact JSON (orjson: this runs once per request)."""
    return orjson.dumps(render(record)).decode("utf-8")
