"""core.submission: the registration plan against a registry (InMemoryRegistryStore)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.fakes import InMemoryRegistryStore, SequentialIds
from xds_server.core.absent import unknown_association_end
from xds_server.core.errors import ErrorCode, XdsError
from xds_server.core.metadata import Association, DocumentEntry, Folder, Submission, SubmissionSet
from xds_server.core.ports import PatientState
from xds_server.core.profile import IHE_DEFAULT, DomainProfile
from xds_server.core.submission import RegistrationPlan, plan_registration

from .builders import (
    APND,
    APPROVED,
    DEPRECATED,
    DMP_PATIENT,
    HAS_MEMBER,
    HASH,
    INS,
    NIR_OID,
    OTHER_PATIENT,
    PATIENT,
    RPLC,
    SIGNS,
    XFRM,
    XFRM_RPLC,
    association,
    dmp_profile,
    dmp_submission,
    document,
    filed,
    folder,
    member,
    stored,
    submission,
    submission_set,
)

NOW = "20260102030405"
D0 = "urn:uuid:d0000000-0000-4000-8000-000000000000"
F0 = "urn:uuid:f0000000-0000-4000-8000-000000000000"
SS0 = "urn:uuid:50000000-0000-4000-8000-000000000000"


def registry(*patients: str) -> InMemoryRegistryStore:
    return InMemoryRegistryStore((p, PatientState.ACTIVATED) for p in (patients or (PATIENT,)))


def plan(
    sub: Submission, store: InMemoryRegistryStore, profile: DomainProfile = IHE_DEFAULT
) -> RegistrationPlan:
    return plan_registration(sub, profile=profile, reader=store, ids=SequentialIds(), now=NOW)


def refused(sub: Submission, store: InMemoryRegistryStore, profile: DomainProfile = IHE_DEFAULT) -> XdsError:
    with pytest.raises(XdsError) as exc:
        plan(sub, store, profile)
    return exc.value


def codes(error: XdsError) -> list[ErrorCode]:
    return [i.code for i in error.issues]


def seed_document(
    store: InMemoryRegistryStore, entry_uuid: str = D0, status: str = APPROVED, **changes: object
) -> DocumentEntry:
    doc = stored(document(**changes), entry_uuid, status=status)
    assert isinstance(doc, DocumentEntry)
    store.put(doc)
    return doc


def seed_folder_with(store: InMemoryRegistryStore, document_uuid: str, folder_uuid: str = F0) -> Folder:
    fol = stored(folder(), folder_uuid)
    assert isinstance(fol, Folder)
    ss = stored(submission_set(), SS0)
    link = stored(association(SS0, folder_uuid), f"urn:uuid:a{folder_uuid[10:]}")
    membership = stored(association(folder_uuid, document_uuid), f"urn:uuid:b{folder_uuid[10:]}")
    store.put(fol, ss, link, membership)
    return fol


def by_id(p: RegistrationPlan) -> dict[str, object]:
    return {o.entry_uuid: o for o in p.objects}


class TestIdAssignment:
    def test_symbolic_ids_replaced_and_references_rewritten(self) -> None:
        p = plan(submission(folders=(folder(),), associations=filed("Folder01", "Document01")), registry())
        ids = dict(p.id_map)
        assert set(ids) == {
            "SubmissionSet01",
            "Document01",
            "Folder01",
            "SubmissionSet01->Document01",
            "SubmissionSet01->Folder01",
            "FolderLink01",
            "SubmissionSet01->FolderLink01",
        }
        assert all(v.startswith("urn:uuid:") for v in ids.values()) and len(set(ids.values())) == len(ids)
        link = by_id(p)[ids["FolderLink01"]]
        assert isinstance(link, Association)
        assert (link.source, link.target) == (ids["Folder01"], ids["Document01"])
        filing = by_id(p)[ids["SubmissionSet01->FolderLink01"]]
        assert isinstance(filing, Association) and filing.target == ids["FolderLink01"]

    def test_supplied_uuid_kept(self) -> None:
        uuid = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
        p = plan(submission(document(uuid)), registry())
        assert uuid in by_id(p) and p.final_id(uuid) == uuid

    def test_anonymous_association_gets_an_id(self) -> None:
        sub = submission()
        sub = dataclasses.replace(
            sub, associations=(dataclasses.replace(sub.associations[0], entry_uuid=""),)
        )
        p = plan(sub, registry())
        (assoc,) = [o for o in p.objects if isinstance(o, Association)]
        assert assoc.entry_uuid.startswith("urn:uuid:") and assoc.source == p.final_id("SubmissionSet01")

    def test_supplied_uuid_already_in_registry_refused(self) -> None:
        # NIST 15806: a resubmission with the same pre-assigned UUIDs.
        store = registry()
        seed_document(store)
        error = refused(submission(document(D0)), store)
        assert codes(error) == [ErrorCode.REGISTRY_METADATA_ERROR] and D0 in error.issues[0].message


class TestStatuses:
    def test_everything_approved_first_version(self) -> None:
        p = plan(submission(folders=(folder(),)), registry())
        for obj in p.objects:
            assert (obj.status, obj.logical_id, obj.version) == (APPROVED, obj.entry_uuid, "1")

    def test_folder_last_update_time_overwritten(self) -> None:
        # NIST 12323 has_time: the submitter's value is replaced by the registry's time.
        p = plan(submission(folders=(folder(last_update_time="20000101"),)), registry())
        (fol,) = [o for o in p.objects if isinstance(o, Folder)]
        assert fol.last_update_time == NOW

    def test_patient_ids_stored_in_canonical_form(self) -> None:
        bare = f"{INS}^^^&{NIR_OID}&ISO"
        sub = dmp_submission(ss=submission_set(patient_id=bare))
        p = plan(sub, registry(DMP_PATIENT), dmp_profile())
        patients = {o.patient_id for o in p.objects if isinstance(o, SubmissionSet | DocumentEntry)}
        assert patients == {DMP_PATIENT}


class TestPatientKnown:
    def test_unknown_patient(self) -> None:
        # NIST 11996
        error = refused(submission(), registry(OTHER_PATIENT))
        assert codes(error) == [ErrorCode.UNKNOWN_PATIENT_ID]
        assert PATIENT in error.issues[0].message and error.issues[0].location == "SubmissionSet01/patientId"

    @pytest.mark.parametrize("state", list(PatientState))
    def test_known_in_any_state(self, state: PatientState) -> None:
        store = InMemoryRegistryStore([(PATIENT, state)])
        assert plan(submission(), store).objects

    def test_lookup_uses_the_canonical_form(self) -> None:
        sub = dmp_submission(ss=submission_set(patient_id=INS))
        assert plan(sub, registry(DMP_PATIENT), dmp_profile()).objects


class TestUniqueIdsInRegistry:
    def test_submission_set_unique_id_reused(self) -> None:
        store = registry()
        store.put(stored(submission_set(unique_id="1.2.3.4"), SS0))
        error = refused(submission(ss=submission_set(unique_id="1.2.3.4")), store)
        assert codes(error) == [ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY]
        assert error.issues[0].location == "SubmissionSet01/uniqueId"

    def test_folder_unique_id_reused(self) -> None:
        store = registry()
        store.put(stored(folder(unique_id="1.2.3.5"), F0))
        error = refused(submission(folders=(folder(unique_id="1.2.3.5"),)), store)
        assert codes(error) == [ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY]

    def test_document_unique_id_of_a_folder(self) -> None:
        store = registry()
        store.put(stored(folder(unique_id="1.2.3.6"), F0))
        error = refused(submission(document(unique_id="1.2.3.6")), store)
        assert codes(error) == [ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY]

    def test_folder_unique_id_of_a_document(self) -> None:
        store = registry()
        seed_document(store, unique_id="1.2.3.7")
        error = refused(submission(folders=(folder(unique_id="1.2.3.7"),)), store)
        assert codes(error) == [ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY]

    def test_identical_document_resubmitted(self) -> None:
        # NIST 12004 resubmit_doc: accepted, stored as another entry.
        store = registry()
        seed_document(store, unique_id="1.2.3.8")
        p = plan(submission(document(unique_id="1.2.3.8", hash=HASH.upper())), store)
        assert next(o for o in p.objects if isinstance(o, DocumentEntry)).unique_id == "1.2.3.8"

    def test_different_hash(self) -> None:
        # NIST 12004 resubmit_doc_diff_hash
        store = registry()
        seed_document(store, unique_id="1.2.3.9")
        error = refused(submission(document(unique_id="1.2.3.9", hash="0" * 40)), store)
        assert codes(error) == [ErrorCode.NON_IDENTICAL_HASH]

    def test_different_size(self) -> None:
        store = registry()
        seed_document(store, unique_id="1.2.3.10")
        error = refused(submission(document(unique_id="1.2.3.10", size="999")), store)
        assert codes(error) == [ErrorCode.NON_IDENTICAL_SIZE]


class TestRelationshipTargets:
    @pytest.mark.parametrize("kind", [RPLC, APND, XFRM, XFRM_RPLC, SIGNS])
    def test_unknown_target(self, kind: str) -> None:
        relation = association("Document01", D0, kind, "r")
        error = refused(submission(associations=(relation,)), registry())
        assert (
            codes(error) == [ErrorCode.REGISTRY_METADATA_ERROR]
            and error.issues[0].location == "r/targetObject"
        )
        # the very issue the DMP rules give for a hidden target (soap.access answers it as absent)
        assert error.issues == (unknown_association_end(relation, "targetObject"),)

    def test_unknown_end_of_an_unnamed_association(self) -> None:
        relation = association(D0, "Document01", RPLC)
        error = refused(submission(associations=(relation,)), registry())
        assert error.issues == (unknown_association_end(relation, "sourceObject"),)
        assert error.issues[0].location == f"{D0}->Document01/sourceObject"

    def test_target_is_not_a_document(self) -> None:
        store = registry()
        store.put(stored(folder(), F0))
        error = refused(submission(associations=(association("Document01", F0, RPLC, "r"),)), store)
        assert codes(error) == [ErrorCode.REGISTRY_METADATA_ERROR] and "Folder" in error.issues[0].message

    def test_target_of_another_patient(self) -> None:
        # NIST 11998
        store = registry()
        seed_document(store, patient_id=OTHER_PATIENT)
        error = refused(submission(associations=(association("Document01", D0, RPLC, "r"),)), store)
        assert codes(error) == [ErrorCode.PATIENT_ID_DOES_NOT_MATCH]

    @pytest.mark.parametrize("kind", [RPLC, APND, XFRM, XFRM_RPLC])
    def test_deprecated_target(self, kind: str) -> None:
        # NIST 11993 apnd_rplc / 11994 xfrm_rplc: the target was replaced before.
        store = registry()
        seed_document(store, status=DEPRECATED)
        error = refused(submission(associations=(association("Document01", D0, kind, "r"),)), store)
        assert codes(error) == [ErrorCode.REGISTRY_DEPRECATED_DOCUMENT_ERROR]

    @pytest.mark.parametrize("kind", [APND, XFRM, SIGNS])
    def test_non_replacing_relationships_keep_the_target(self, kind: str) -> None:
        store = registry()
        seed_document(store)
        p = plan(submission(associations=(association("Document01", D0, kind, "r"),)), store)
        assert p.deprecate == () and p.touch_folders == ()

    @pytest.mark.parametrize("kind", [RPLC, XFRM_RPLC])
    def test_replacement_deprecates_the_target(self, kind: str) -> None:
        store = registry()
        seed_document(store)
        p = plan(submission(associations=(association("Document01", D0, kind, "r"),)), store)
        assert p.deprecate == (D0,)


class TestDeprecationCascade:
    def test_addenda_and_transforms_follow_the_replaced_entry(self) -> None:
        # NIST 12022 / 11993 / 11994: APND and XFRM of a replaced entry are deprecated too, recursively.
        store = registry()
        seed_document(store)
        a1, x1, a2, s1 = (f"urn:uuid:{c}0000000-0000-4000-8000-000000000001" for c in "abce")
        for doc_uuid in (a1, x1, a2, s1):
            seed_document(store, doc_uuid)
        for n, (source, target, kind) in enumerate(
            [(a1, D0, APND), (x1, D0, XFRM), (a2, a1, APND), (s1, D0, SIGNS)]
        ):
            store.put(
                stored(association(source, target, kind), f"urn:uuid:99999999-0000-4000-8000-00000000000{n}")
            )
        p = plan(submission(associations=(association("Document01", D0, RPLC, "r"),)), store)
        assert set(p.deprecate) == {D0, a1, x1, a2}

    def test_already_deprecated_followers_left_alone(self) -> None:
        store = registry()
        seed_document(store)
        a1 = "urn:uuid:a0000000-0000-4000-8000-000000000001"
        seed_document(store, a1, status=DEPRECATED)
        store.put(stored(association(a1, D0, APND), "urn:uuid:99999999-0000-4000-8000-000000000000"))
        p = plan(submission(associations=(association("Document01", D0, RPLC, "r"),)), store)
        assert p.deprecate == (D0,)


class TestReplacementJoinsFolders:
    def test_replacement_filed_in_the_folders_of_the_target(self) -> None:
        # NIST 12327: GetFolderAndContents then returns both entries and both memberships.
        store = registry()
        seed_document(store)
        seed_folder_with(store, D0)
        p = plan(submission(associations=(association("Document01", D0, RPLC, "r"),)), store)
        new_doc = p.final_id("Document01")
        created = [
            o for o in p.objects if isinstance(o, Association) and o.entry_uuid not in dict(p.id_map).values()
        ]
        membership = [a for a in created if (a.source, a.target) == (F0, new_doc)]
        assert len(membership) == 1 and membership[0].association_type == HAS_MEMBER
        filing = [a for a in created if a.target == membership[0].entry_uuid]
        assert len(filing) == 1 and filing[0].source == p.final_id("SubmissionSet01")
        assert all(a.status == APPROVED for a in created)
        assert p.touch_folders == (F0,)

    def test_no_duplicate_when_the_submitter_filed_it(self) -> None:
        store = registry()
        seed_document(store)
        seed_folder_with(store, D0)
        sub = submission(associations=(association("Document01", D0, RPLC, "r"), *filed(F0, "Document01")))
        p = plan(sub, store)
        links = [o for o in p.objects if isinstance(o, Association) and o.source == F0]
        assert len(links) == 1

    def test_addendum_does_not_join_folders(self) -> None:
        store = registry()
        seed_document(store)
        seed_folder_with(store, D0)
        p = plan(submission(associations=(association("Document01", D0, APND, "r"),)), store)
        assert not [o for o in p.objects if isinstance(o, Association) and o.source == F0]

    def test_deprecated_folder_not_joined(self) -> None:
        store = registry()
        seed_document(store)
        seed_folder_with(store, D0)
        store.set_status([F0], DEPRECATED)
        p = plan(submission(associations=(association("Document01", D0, RPLC, "r"),)), store)
        assert p.touch_folders == ()


class TestFolderMembershipWithRegistry:
    def test_new_document_added_to_existing_folder(self) -> None:
        # NIST 12001 / 12323 add_to_folder: the folder's lastUpdateTime moves.
        store = registry()
        store.put(stored(folder(), F0))
        p = plan(submission(associations=filed(F0, "Document01")), store)
        assert p.touch_folders == (F0,)

    def test_existing_document_added_to_existing_folder(self) -> None:
        # NIST 12326
        store = registry()
        seed_document(store)
        store.put(stored(folder(), F0))
        p = plan(submission(associations=filed(F0, D0)), store)
        assert p.touch_folders == (F0,)

    def test_existing_folder_of_another_patient(self) -> None:
        # NIST 12002
        store = registry(PATIENT, OTHER_PATIENT)
        store.put(stored(folder(patient_id=OTHER_PATIENT), F0))
        error = refused(submission(associations=filed(F0, "Document01")), store)
        assert codes(error) == [ErrorCode.PATIENT_ID_DOES_NOT_MATCH]

    def test_existing_document_of_another_patient(self) -> None:
        store = registry()
        seed_document(store, patient_id=OTHER_PATIENT)
        error = refused(submission(folders=(folder(),), associations=filed("Folder01", D0)), store)
        assert codes(error) == [ErrorCode.PATIENT_ID_DOES_NOT_MATCH]

    def test_deprecated_document_cannot_join(self) -> None:
        store = registry()
        seed_document(store, status=DEPRECATED)
        error = refused(submission(folders=(folder(),), associations=filed("Folder01", D0)), store)
        assert codes(error) == [ErrorCode.REGISTRY_DEPRECATED_DOCUMENT_ERROR]

    def test_source_is_not_a_folder(self) -> None:
        store = registry()
        seed_document(store)
        error = refused(submission(associations=filed(D0, "Document01")), store)
        assert (
            codes(error) == [ErrorCode.REGISTRY_METADATA_ERROR] and "not a Folder" in error.issues[0].message
        )

    def test_unknown_folder(self) -> None:
        error = refused(submission(associations=filed(F0, "Document01")), registry())
        assert codes(error) == [ErrorCode.REGISTRY_METADATA_ERROR]


class TestSubmissionSetReference:
    def test_reference_to_existing_document(self) -> None:
        store = registry()
        seed_document(store)
        p = plan(submission(associations=(member("SubmissionSet01", D0, "Reference", "ref"),)), store)
        assert p.deprecate == () and p.touch_folders == ()

    def test_reference_may_name_another_patient(self) -> None:
        store = registry()
        seed_document(store, patient_id=OTHER_PATIENT)
        assert plan(
            submission(associations=(member("SubmissionSet01", D0, "Reference", "ref"),)), store
        ).objects

    def test_reference_to_deprecated_document(self) -> None:
        store = registry()
        seed_document(store, status=DEPRECATED)
        error = refused(submission(associations=(member("SubmissionSet01", D0, "Reference", "ref"),)), store)
        assert codes(error) == [ErrorCode.REGISTRY_DEPRECATED_DOCUMENT_ERROR]

    def test_reference_to_existing_folder_refused(self) -> None:
        store = registry()
        store.put(stored(folder(), F0))
        error = refused(submission(associations=(member("SubmissionSet01", F0, "Reference", "ref"),)), store)
        assert codes(error) == [ErrorCode.REGISTRY_METADATA_ERROR]


class TestAllIssuesCollected:
    def test_several_registry_problems_reported_together(self) -> None:
        store = registry(OTHER_PATIENT)
        store.put(stored(submission_set(unique_id="1.2.3.4"), SS0))
        sub = submission(
            ss=submission_set(unique_id="1.2.3.4"), associations=(association("Document01", D0, RPLC, "r"),)
        )
        assert set(codes(refused(sub, store))) == {
            ErrorCode.UNKNOWN_PATIENT_ID,
            ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY,
            ErrorCode.REGISTRY_METADATA_ERROR,
        }

    def test_needs_one_submission_set(self) -> None:
        with pytest.raises(ValueError):
            plan(Submission(documents=(document(),)), registry())

    def test_dmp_profile_plans(self) -> None:
        assert plan(dmp_submission(), registry(DMP_PATIENT), dmp_profile()).objects
