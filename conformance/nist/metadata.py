"""What the NIST engine does to a submission before sending it (Register, PnR, Metadata Update).

In this order, on the rim 3.0 tree:
1. patient id: unless `NoPatientId`, every DocumentEntry / SubmissionSet / Folder patientId
   ExternalIdentifier takes the step's patient id;
2. uniqueIds: every DE / SS / Folder uniqueId gets a fresh OID, except with `NoAssignUids` (all kept) or
   `NoAssignUids id=X` (X kept) - the value written in the file may itself be a substituted symbol;
3. `AssignUuids`: every symbolic id (anything not `urn:uuid:`) becomes a fresh UUID and every reference
   to it (classifiedObject, registryObject, sourceObject, targetObject, lid, ObjectRef) follows.
The resulting maps are recorded under the symbolic ids written in the file (AssignedPatientId,
AssignedUids, AssignedUuids), which is what later `UseId`s name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from .xmlutil import descendants, local

PATIENT_ID_SCHEMES = frozenset(
    {
        "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",  # DocumentEntry.patientId
        "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",  # SubmissionSet.patientId
        "urn:uuid:f64ffdf0-4b97-4e06-b79f-a52b38ec2f8a",  # Folder.patientId
    }
)
UNIQUE_ID_SCHEMES = frozenset(
    {
        "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",  # DocumentEntry.uniqueId
        "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",  # SubmissionSet.uniqueId
        "urn:uuid:75df8f67-9973-4fbe-a900-df66cefecc5a",  # Folder.uniqueId
    }
)
_REFERENCE_ATTRS = ("classifiedObject", "registryObject", "sourceObject", "targetObject", "lid")
_IDENTIFIABLE = frozenset(
    {"ExtrinsicObject", "RegistryPackage", "Association", "Classification", "ExternalIdentifier", "ObjectRef"}
)


@dataclass
class Assigned:
    uuids: dict[str, str] = field(default_factory=dict)
    uids: dict[str, str] = field(default_factory=dict)
    pids: dict[str, str] = field(default_factory=dict)


def _owner(ei: etree._Element) -> str:
    parent = ei.getparent()
    if parent is not None and local(parent) != "RegistryObjectList" and parent.get("id"):
        return parent.get("id", "")
    return ei.get("registryObject", "")


def prepare_submission(
    root: etree._Element,
    *,
    patient_id: str | None,
    no_assign_uids: tuple[str, ...] | None,
    assign_uuids: bool,
    new_uid: Callable[[], str],
    new_uuid: Callable[[], str],
    force_uids: tuple[str, ...] = (),
) -> Assigned:
    """Apply the three engine rewrites in place; `patient_id=None` means NoPatientId; `force_uids` names
    objects that get a fresh uniqueId even under NoAssignUids (a known-deviation fix, see scope.py)."""
    out = Assigned()
    for ei in descendants(root, "ExternalIdentifier"):
        scheme = ei.get("identificationScheme", "")
        owner = _owner(ei)
        if scheme in PATIENT_ID_SCHEMES:
            if patient_id is not None:
                ei.set("value", patient_id)
            out.pids[owner] = ei.get("value", "")
        elif scheme in UNIQUE_ID_SCHEMES:
            keep = no_assign_uids is not None and (len(no_assign_uids) == 0 or owner in no_assign_uids)
            keep = keep and owner not in force_uids
            if not keep:
                ei.set("value", new_uid())
            out.uids[owner] = ei.get("value", "")
    if assign_uuids:
        for el in root.iter():
            if not isinstance(el.tag, str) or local(el) not in _IDENTIFIABLE or local(el) == "ObjectRef":
                continue
            sid = el.get("id")
            if sid and not sid.startswith("urn:uuid:") and sid not in out.uuids:
                out.uuids[sid] = new_uuid()
        for el in root.iter():
            if not isinstance(el.tag, str):
                continue
            if local(el) in _IDENTIFIABLE and el.get("id") in out.uuids:
                el.set("id", out.uuids[el.get("id", "")])
            for attr in _REFERENCE_ATTRS:
                if el.get(attr) in out.uuids:
                    el.set(attr, out.uuids[el.get(attr, "")])
        # the maps stay keyed by the symbolic ids the plans name
        out.pids = {**out.pids, **{out.uuids.get(k, k): v for k, v in out.pids.items()}}
        out.uids = {**out.uids, **{out.uuids.get(k, k): v for k, v in out.uids.items()}}
    return out
