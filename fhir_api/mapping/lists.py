"""SubmissionSet and Folder (core model) -> List (FHIR R4 JSON), as IHE MHD 4.2 (mhd-fhir.md §3) and PDSm.

Choices where MHD leaves room (reported in issue 10):

* ``id``: the entryUUID without ``urn:uuid:``, as for DocumentReference; ``identifier``: the uniqueId and
  entryUUID slices (``urn:ietf:rfc:3986``, MHDIdentifierType).
* ``status``: current for an Approved object, retired for a Deprecated Folder (FHIR list-status has no
  "superseded"; a SubmissionSet is never deprecated); ``mode`` working (MHD fixes it).
* SubmissionSet: ``date`` = submissionTime; ``source`` = the first author (contained PractitionerRole /
  Practitioner as for DocumentReference; an author that is only an institution is a contained Organization
  in the ``ihe-authorOrg`` extension of ``source``, which then has no reference); other authors are not
  representable on a List (``source`` is 0..1) and are left out; intendedRecipient XON/XCN ->
  ``ihe-intendedRecipient`` references to contained Organization / Practitioner; sourceId ->
  ``ihe-sourceId`` (``urn:ietf:rfc:3986``, ``urn:oid:``); contentTypeCode -> ``ihe-designationType``;
  comments -> ``note``.
* Folder: ``date`` = lastUpdateTime (the registry row's, authoritative); codeList -> one
  ``ihe-designationType`` extension per code; no ``source`` (MHD 0..0).
* ``entry.item``: the members the caller passes (HasMember targets), as ``DocumentReference/{id}`` or
  ``List/{id}`` references, in registration order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from fhir_api.mapping.codes import URI_SYSTEM, oid_uri
from fhir_api.mapping.document_reference import (
    ARCHIVED_SLOT,
    HOME_COMMUNITY_EXTENSION,
    IS_ARCHIVED_EXTENSION,
    Contained,
    author_reference,
    concept,
    patient_reference,
    resource_id,
    uri_identifier,
)
from fhir_api.mapping.hl7v2 import dtm_to_fhir, xcn_person, xon_organization
from xds_server.core.metadata import Folder, RegistryObject, SubmissionSet
from xds_server.core.vocabulary import Status

LIST_TYPES: Final = "https://profiles.ihe.net/ITI/MHD/CodeSystem/MHDlistTypes"
SOURCE_ID_EXTENSION: Final = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-sourceId"
DESIGNATION_TYPE_EXTENSION: Final = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-designationType"
INTENDED_RECIPIENT_EXTENSION: Final = (
    "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-intendedRecipient"
)
AUTHOR_ORG_EXTENSION: Final = "https://profiles.ihe.net/ITI/MHD/StructureDefinition/ihe-authorOrg"

SUBMISSION_SET_CODE: Final = "submissionset"
FOLDER_CODE: Final = "folder"


@dataclass(frozen=True, slots=True)
class Member:
    """A HasMember target of a SubmissionSet or Folder: its entryUUID and FHIR type."""

    entry_uuid: str
    resource_type: str  # "DocumentReference" or "List"


def _list_status(status: str | None) -> str:
    return "retired" if status == Status.DEPRECATED.value else "current"


def _archived(obj: RegistryObject) -> bool | None:
    for slot in obj.extra_slots:
        if slot.name == ARCHIVED_SLOT and slot.values:
            return slot.values[0].strip().lower() == "true"
    return None


def _common(
    obj: RegistryObject,
    unique_id: str | None,
    code: str,
    patient_id: str | None,
    status: str | None,
    members: Iterable[Member],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    resource: dict[str, Any] = {"resourceType": "List", "id": resource_id(obj.entry_uuid)}
    extensions: list[dict[str, Any]] = []
    if obj.home:
        extensions.append({"url": HOME_COMMUNITY_EXTENSION, "valueOid": oid_uri(obj.home)})
    archived = _archived(obj)
    if archived is not None:
        extensions.append({"url": IS_ARCHIVED_EXTENSION, "valueBoolean": archived})
    identifiers = []
    if unique_id:
        identifiers.append(uri_identifier(unique_id, "uniqueId"))
    identifiers.append(uri_identifier(obj.entry_uuid, "entryUUID"))
    resource["identifier"] = identifiers
    resource["status"] = _list_status(status or obj.status)
    resource["mode"] = "working"
    if obj.title is not None and obj.title.value:
        resource["title"] = obj.title.value
    resource["code"] = {"coding": [{"system": LIST_TYPES, "code": code}]}
    subject = patient_reference(patient_id)
    if subject:
        resource["subject"] = subject
    items = [
        {"item": {"reference": f"{m.resource_type}/{resource_id(m.entry_uuid)}"}}
        for m in dict.fromkeys(members)
    ]
    if items:
        resource["entry"] = items
    return resource, extensions


def _finish(
    resource: dict[str, Any], extensions: list[dict[str, Any]], contained: Contained
) -> dict[str, Any]:
    head: dict[str, Any] = {"resourceType": "List", "id": resource.pop("id")}
    resource.pop("resourceType")
    if contained.resources:
        head["contained"] = contained.resources
    if extensions:
        head["extension"] = extensions
    return {**head, **resource}


def submission_set_list(
    submission_set: SubmissionSet,
    *,
    status: str | None = None,
    members: Iterable[Member] = (),
) -> dict[str, Any]:
    """The List (code submissionset) of a stored SubmissionSet."""
    resource, extensions = _common(
        submission_set,
        submission_set.unique_id,
        SUBMISSION_SET_CODE,
        submission_set.patient_id,
        status,
        members,
    )
    contained = Contained()
    if submission_set.source_id:
        extensions.append(
            {
                "url": SOURCE_ID_EXTENSION,
                "valueIdentifier": {"system": URI_SYSTEM, "value": oid_uri(submission_set.source_id)},
            }
        )
    designation = concept(submission_set.content_type_code)
    if designation:
        extensions.append({"url": DESIGNATION_TYPE_EXTENSION, "valueCodeableConcept": designation})
    for recipient in submission_set.intended_recipients:
        parts = recipient.split("|")  # XON|XCN|XTN
        organization_part, person_part = parts[0], parts[1] if len(parts) > 1 else ""
        for content, kind, prefix in (
            (
                xon_organization(organization_part) if organization_part.strip() else {},
                "Organization",
                "recipient-org",
            ),
            (xcn_person(person_part) if person_part.strip() else {}, "Practitioner", "recipient"),
        ):
            if content:
                extensions.append(
                    {
                        "url": INTENDED_RECIPIENT_EXTENSION,
                        "valueReference": {"reference": contained.add(kind, content, prefix)},
                    }
                )
    submitted = dtm_to_fhir(submission_set.submission_time)
    if submitted:
        resource["date"] = submitted
    if submission_set.authors:
        author = submission_set.authors[0]
        if author.person or author.telecoms or author.roles or author.specialties:
            source = author_reference(author, contained)
            if source:
                resource["source"] = source
        elif author.institutions:
            organization = contained.add("Organization", xon_organization(author.institutions[0]), "org")
            resource["source"] = {
                "extension": [{"url": AUTHOR_ORG_EXTENSION, "valueReference": {"reference": organization}}]
            }
    if submission_set.comments is not None and submission_set.comments.value:
        resource["note"] = [{"text": submission_set.comments.value}]
    return _finish(resource, extensions, contained)


def folder_list(
    folder: Folder,
    *,
    status: str | None = None,
    last_update_time: str | None = None,
    members: Iterable[Member] = (),
) -> dict[str, Any]:
    """The List (code folder) of a stored Folder; ``last_update_time``: the registry row's."""
    resource, extensions = _common(folder, folder.unique_id, FOLDER_CODE, folder.patient_id, status, members)
    for code in folder.codes:
        designation = concept(code)
        if designation:
            extensions.append({"url": DESIGNATION_TYPE_EXTENSION, "valueCodeableConcept": designation})
    updated = dtm_to_fhir(last_update_time or folder.last_update_time)
    if updated:
        resource["date"] = updated
    if folder.comments is not None and folder.comments.value:
        resource["note"] = [{"text": folder.comments.value}]
    return _finish(resource, extensions, Contained())


__all__ = [
    "AUTHOR_ORG_EXTENSION",
    "DESIGNATION_TYPE_EXTENSION",
    "FOLDER_CODE",
    "INTENDED_RECIPIENT_EXTENSION",
    "LIST_TYPES",
    "SOURCE_ID_EXTENSION",
    "SUBMISSION_SET_CODE",
    "Member",
    "folder_list",
    "submission_set_list",
]
