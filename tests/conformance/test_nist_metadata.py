"""The engine's rewrites of a submission: patient id, uniqueIds, UUIDs."""

from __future__ import annotations

import itertools

from lxml import etree

from conformance.nist.metadata import prepare_submission
from conformance.nist.xmlutil import descendants, parse_xml

DE_PID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SS_PID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_UID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
EXISTING = "urn:uuid:00000000-0000-0000-0000-000000000001"

SUBMISSION = f"""<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
    xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"><rim:RegistryObjectList>
  <rim:ExtrinsicObject id="Document01" lid="Document01">
    <rim:Classification id="cl1" classifiedObject="Document01"
        classificationScheme="s" nodeRepresentation="c"/>
    <rim:ExternalIdentifier id="ei1" registryObject="Document01" identificationScheme="{DE_PID}" value="old"/>
    <rim:ExternalIdentifier id="ei2" registryObject="Document01"
        identificationScheme="{DE_UID}" value="Document01"/>
  </rim:ExtrinsicObject>
  <rim:RegistryPackage id="SubmissionSet01">
    <rim:ExternalIdentifier id="ei3" registryObject="SubmissionSet01"
        identificationScheme="{SS_PID}" value="old"/>
    <rim:ExternalIdentifier id="ei4" registryObject="SubmissionSet01"
        identificationScheme="{SS_UID}" value="1.2.3"/>
  </rim:RegistryPackage>
  <rim:Association id="a1" sourceObject="SubmissionSet01" targetObject="Document01" associationType="x"/>
  <rim:Association id="a2" sourceObject="Document01" targetObject="{EXISTING}" associationType="y"/>
</rim:RegistryObjectList></lcm:SubmitObjectsRequest>"""


def _run(**kw: object) -> tuple[etree._Element, object]:
    root = parse_xml(SUBMISSION.encode())
    uids = (f"9.9.{n}" for n in itertools.count(1))
    uuids = (f"urn:uuid:00000000-0000-0000-0000-1000000000{n:02d}" for n in itertools.count(1))
    args: dict[str, object] = {"patient_id": "P^^^&1.2&ISO", "no_assign_uids": None, "assign_uuids": False}
    args.update(kw)
    out = prepare_submission(root, new_uid=lambda: next(uids), new_uuid=lambda: next(uuids), **args)  # type: ignore[arg-type]
    return root, out


def _values(root: etree._Element, scheme: str) -> list[str]:
    return [
        e.get("value", "")
        for e in descendants(root, "ExternalIdentifier")
        if e.get("identificationScheme") == scheme
    ]


class TestPatientId:
    def test_every_patient_id_takes_the_step_patient(self) -> None:
        root, out = _run()
        assert _values(root, DE_PID) == _values(root, SS_PID) == ["P^^^&1.2&ISO"]
        assert out.pids == {"Document01": "P^^^&1.2&ISO", "SubmissionSet01": "P^^^&1.2&ISO"}  # type: ignore[attr-defined]

    def test_no_patient_id_keeps_the_file_value(self) -> None:
        root, out = _run(patient_id=None)
        assert _values(root, DE_PID) == ["old"]
        assert out.pids["Document01"] == "old"  # type: ignore[attr-defined]


class TestUniqueIds:
    def test_fresh_by_default(self) -> None:
        root, out = _run()
        assert _values(root, DE_UID) == ["9.9.1"] and _values(root, SS_UID) == ["9.9.2"]
        assert out.uids == {"Document01": "9.9.1", "SubmissionSet01": "9.9.2"}  # type: ignore[attr-defined]

    def test_kept_for_the_named_object_only(self) -> None:
        root, _ = _run(no_assign_uids=("Document01",))
        assert _values(root, DE_UID) == ["Document01"] and _values(root, SS_UID) == ["9.9.1"]

    def test_forced_fresh_despite_no_assign(self) -> None:
        root, _ = _run(no_assign_uids=(), force_uids=("SubmissionSet01",))
        assert _values(root, SS_UID) == ["9.9.1"] and _values(root, DE_UID) == ["Document01"]

    def test_all_kept(self) -> None:
        root, _ = _run(no_assign_uids=())
        assert _values(root, SS_UID) == ["1.2.3"]


class TestUuids:
    def test_symbolic_ids_and_references_follow(self) -> None:
        root, out = _run(assign_uuids=True)
        m = out.uuids  # type: ignore[attr-defined]
        assert set(m) == {"Document01", "cl1", "ei1", "ei2", "SubmissionSet01", "ei3", "ei4", "a1", "a2"}
        eo = descendants(root, "ExtrinsicObject")[0]
        assert eo.get("id") == eo.get("lid") == m["Document01"]
        a1, a2 = descendants(root, "Association")
        assert (a1.get("sourceObject"), a1.get("targetObject")) == (m["SubmissionSet01"], m["Document01"])
        assert a2.get("targetObject") == EXISTING  # a real UUID is a reference to an existing object
        assert descendants(root, "Classification")[0].get("classifiedObject") == m["Document01"]
        assert out.uids["Document01"] == out.uids[m["Document01"]]  # type: ignore[attr-defined]

    def test_left_symbolic_without_the_flag(self) -> None:
        root, out = _run(assign_uuids=False)
        assert out.uuids == {}  # type: ignore[attr-defined]
        assert descendants(root, "ExtrinsicObject")[0].get("id") == "Document01"
