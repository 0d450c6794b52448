"""ebRIM/ebRS 3.0 <-> core model: the public face of the metadata codec.

``decode_submission`` (decoding.py) reads a SubmitObjectsRequest into a ``Submission`` and collects every
structural fault as a ``DecodeProblem``; ``encode_object``/``encode_object_xml``/``encode_submission``
(encoding.py) write canonical ebRIM. decode -> encode -> decode gives an equal model.
"""

from __future__ import annotations

from lxml import etree

from xds_server.core.errors import ErrorCode, Issue, XdsError
from xds_server.core.metadata import AnyObject
from xds_server.core.vocabulary import IdentificationScheme
from xds_server.ebxml.decoding import decode_objects, decode_submission
from xds_server.ebxml.encoding import encode_object, encode_object_xml, encode_submission
from xds_server.xmlparse import XmlRejected, parse_xml


def decode_object(element: etree._Element) -> AnyObject:
    """Decode one registry object (as ``encode_object`` writes it, e.g. from storage).

    Stored XML is our own output, so any problem means a corrupted row: ``XdsError`` with XDSRegistryError.
    """
    decoded = decode_objects([element])
    objects = decoded.objects()
    if decoded.problems or len(objects) != 1:
        details = "; ".join(f"{p.location}: {p.message}" for p in decoded.problems) or "no registry object"
        raise XdsError([Issue(ErrorCode.REGISTRY_ERROR, f"stored object XML is not usable: {details}")])
    return objects[0]


def decode_object_xml(text: str) -> AnyObject:
    """``decode_object`` over the string ``encode_object_xml`` produced (the storage round trip)."""
    try:
        element = parse_xml(text.encode("utf-8"))
    except XmlRejected as exc:
        raise XdsError([Issue(ErrorCode.REGISTRY_ERROR, f"stored object XML: {exc.reason}")]) from exc
    return decode_object(element)


#: The patientId ExternalIdentifier schemes of DocumentEntry, SubmissionSet and Folder.
_PATIENT_ID_SCHEMES = frozenset(
    {
        IdentificationScheme.DE_PATIENT_ID.value,
        IdentificationScheme.SS_PATIENT_ID.value,
        IdentificationScheme.FOLDER_PATIENT_ID.value,
    }
)


def with_patient_id(text: str, patient_id: str) -> str:
    """Stored XML of a DocumentEntry, SubmissionSet or Folder moved to another patient (patient merge): the
    value of its patientId ExternalIdentifier replaced, nothing else (sourcePatientId, the source's own id
    of the patient, stays). Equal to encoding the decoded object with the new id, at a tenth of the cost
    (a merge rewrites a whole record)."""
    try:
        root = parse_xml(text.encode("utf-8"))
    except XmlRejected as exc:
        raise XdsError([Issue(ErrorCode.REGISTRY_ERROR, f"stored object XML: {exc.reason}")]) from exc
    found = [
        child
        for child in root
        if isinstance(child.tag, str)
        and etree.QName(child).localname == "ExternalIdentifier"
        and child.get("identificationScheme") in _PATIENT_ID_SCHEMES
    ]
    if len(found) != 1:
        raise XdsError(
            [Issue(ErrorCode.REGISTRY_ERROR, f"{root.get('id')}: stored XML without one patientId")]
        )
    found[0].set("value", patient_id)
    return etree.tostring(root, encoding="unicode")


__all__ = [
    "decode_object",
    "decode_object_xml",
    "decode_submission",
    "encode_object",
    "encode_object_xml",
    "encode_submission",
    "with_patient_id",
]
