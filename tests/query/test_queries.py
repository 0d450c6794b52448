"""One class per stored query: positive and negative cases on the registry of conftest.py (real write path,
SQL port on the fixture database: SQLite, or PostgreSQL with XDS_DATABASE_URL)."""

from __future__ import annotations

import pytest
from lxml import etree

from xds_server.core.query import QuerySettings, Transaction
from xds_server.core.query.queries import (
    FindDocuments,
    FindDocumentsByReferenceId,
    FindDocumentsForMultiplePatients,
    FindFolders,
    FindFoldersForMultiplePatients,
    FindSubmissionSets,
    GetAll,
    GetAssociations,
    GetDocuments,
    GetDocumentsAndAssociations,
    GetFolderAndContents,
    GetFolders,
    GetFoldersForDocument,
    GetRelatedDocuments,
    GetSubmissionSetAndContents,
    GetSubmissionSets,
)
from xds_server.core.vocabulary import ObjectType

from .builders import APND, APPROVED, DEPRECATED, HAS_MEMBER, OTHER_PATIENT, PATIENT, RPLC, Registry, q, s
from .conftest import World

FD = FindDocuments.query_id
BOTH = q(APPROVED, DEPRECATED)
ON_DEMAND = ObjectType.ON_DEMAND_DOCUMENT.value
STABLE = ObjectType.STABLE_DOCUMENT.value


def fd(**extra: object) -> dict[str, object]:
    return {"$XDSDocumentEntryPatientId": s(PATIENT), "$XDSDocumentEntryStatus": q(APPROVED), **extra}


def ids(*objects: object) -> set[str]:
    return {o.entry_uuid for o in objects}  # type: ignore[attr-defined]


class TestFindDocuments:
    def test_approved_stable_documents_of_the_patient(self, registry: Registry, world: World) -> None:
        assert registry.ids(FD, fd()) == ids(world.de2, world.de3)

    def test_status_list_selects_deprecated_too(self, registry: Registry, world: World) -> None:
        assert registry.ids(FD, fd(**{"$XDSDocumentEntryStatus": BOTH})) == ids(
            world.de1, world.de2, world.de3
        )
        assert registry.ids(FD, fd(**{"$XDSDocumentEntryStatus": q(DEPRECATED)})) == ids(world.de1)

    def test_other_patient_and_unknown_patient(self, registry: Registry, world: World) -> None:
        assert registry.ids(FD, fd(**{"$XDSDocumentEntryPatientId": s(OTHER_PATIENT)})) == ids(world.de5)
        assert registry.ids(FD, fd(**{"$XDSDocumentEntryPatientId": s("nobody^^^&1.2&ISO")})) == set()

    def test_entry_type_defaults_to_stable(self, registry: Registry, world: World) -> None:
        assert world.de4.entry_uuid not in registry.ids(FD, fd())
        assert registry.ids(FD, fd(**{"$XDSDocumentEntryType": q(ON_DEMAND)})) == ids(world.de4)
        both = registry.ids(FD, fd(**{"$XDSDocumentEntryType": q(ON_DEMAND, STABLE)}))
        assert both == ids(world.de2, world.de3, world.de4)

    def test_class_code_or_within_slot(self, registry: Registry, world: World) -> None:
        edu, lab = f"Education^^{SCHEME}", f"Lab^^{SCHEME}"
        assert registry.ids(FD, fd(**{"$XDSDocumentEntryClassCode": q(lab)})) == ids(world.de2)
        assert registry.ids(FD, fd(**{"$XDSDocumentEntryClassCode": q(edu, lab)})) == ids(
            world.de2, world.de3
        )
        # several rim:Value elements in one Slot are one list
        assert registry.ids(FD, fd(**{"$XDSDocumentEntryClassCode": (q(edu), q(lab))})) == ids(
            world.de2, world.de3
        )

    def test_code_scheme_must_match(self, registry: Registry, world: World) -> None:
        assert registry.ids(FD, fd(**{"$XDSDocumentEntryClassCode": q("Lab^^other-scheme")})) == set()

    def test_code_without_scheme_is_an_error(self, registry: Registry, world: World) -> None:
        bad = q(f"Lab^^{SCHEME}", "a^^")
        assert registry.error(FD, fd(**{"$XDSDocumentEntryClassCode": bad})) == {"XDSRegistryMetadataError"}
        assert registry.error(FD, fd(**{"$XDSDocumentEntryPracticeSettingCode": q("Dialysis")})) == {
            "XDSRegistryMetadataError"
        }

    def test_other_single_valued_codes(self, registry: Registry, world: World) -> None:
        for name, value in (
            ("$XDSDocumentEntryTypeCode", "34108-1"),
            ("$XDSDocumentEntryFormatCode", "CDAR2/IHE 1.0"),
            ("$XDSDocumentEntryHealthcareFacilityTypeCode", "Outpatient"),
            ("$XDSDocumentEntryPracticeSettingCode", "General Medicine"),
        ):
            assert registry.ids(FD, fd(**{name: q(f"{value}^^{SCHEME}")})) == ids(world.de2, world.de3), name
            assert registry.ids(FD, fd(**{name: q(f"x{value}^^{SCHEME}")})) == set(), name

    def test_event_codes_or_in_one_slot_and_across_repeated_slots(
        self, registry: Registry, world: World
    ) -> None:
        e1, e2 = f"E1^^{SCHEME}", f"E2^^{SCHEME}"
        everyone = fd(**{"$XDSDocumentEntryStatus": BOTH})
        assert registry.ids(FD, {**everyone, "$XDSDocumentEntryEventCodeList": q(e1)}) == ids(
            world.de1, world.de2
        )
        assert registry.ids(FD, {**everyone, "$XDSDocumentEntryEventCodeList": q(e1, e2)}) == ids(
            world.de1, world.de2
        )
        # 11897/and: two Slots = AND, only the entry carrying both
        assert registry.ids(FD, {**everyone, "$XDSDocumentEntryEventCodeList": [q(e1), q(e2)]}) == ids(
            world.de1
        )

    def test_confidentiality_codes_and_or(self, registry: Registry, world: World) -> None:
        n, r = f"N^^{CONF_SCHEME}", f"R^^{CONF_SCHEME}"
        assert registry.ids(FD, fd(**{"$XDSDocumentEntryConfidentialityCode": q(r)})) == ids(world.de2)
        assert registry.ids(FD, fd(**{"$XDSDocumentEntryConfidentialityCode": [q(n), q(r)]})) == ids(
            world.de2
        )
        assert registry.ids(FD, fd(**{"$XDSDocumentEntryConfidentialityCode": q(n, r)})) == ids(
            world.de2, world.de3
        )

    def test_repeating_a_non_and_or_slot_is_param_number(self, registry: Registry, world: World) -> None:
        edu = f"Education^^{SCHEME}"
        assert registry.error(FD, fd(**{"$XDSDocumentEntryClassCode": [q(edu), q(edu)]})) == {
            "XDSStoredQueryParamNumber"
        }

    def test_author_person_like(self, registry: Registry, world: World) -> None:
        everyone = fd(**{"$XDSDocumentEntryStatus": BOTH})
        assert registry.ids(FD, {**everyone, "$XDSDocumentEntryAuthorPerson": q("%Ford%")}) == ids(world.de1)
        assert registry.ids(FD, {**everyone, "$XDSDocumentEntryAuthorPerson": q("^Sm_th%")}) == ids(
            world.de2, world.de3
        )
        assert registry.ids(
            FD, {**everyone, "$XDSDocumentEntryAuthorPerson": q("%Ford%", "^Smith^Jo")}
        ) == ids(world.de1, world.de2)
        # exact, case-sensitive, no implicit wildcard
        assert registry.ids(FD, {**everyone, "$XDSDocumentEntryAuthorPerson": q("Ford")}) == set()
        assert registry.ids(FD, {**everyone, "$XDSDocumentEntryAuthorPerson": q("%ford%")}) == set()

    def test_author_person_quote_and_sql_characters_are_data(self, registry: Registry, world: World) -> None:
        for pattern in ("%' OR '1'='1", "%\\%", "[%]", "%*%", "%?%", "%;--"):
            assert registry.ids(FD, fd(**{"$XDSDocumentEntryAuthorPerson": q(pattern)})) == set(), pattern

    def test_creation_time_from_inclusive_to_exclusive(self, registry: Registry, world: World) -> None:
        everyone = fd(**{"$XDSDocumentEntryStatus": BOTH})
        ct = "$XDSDocumentEntryCreationTime"
        # de1 20040101, de2 20050601, de3 20060101
        assert registry.ids(FD, {**everyone, ct + "From": "20040101", ct + "To": "20050601"}) == ids(
            world.de1
        )
        assert registry.ids(FD, {**everyone, ct + "From": "2005", ct + "To": "2007"}) == ids(
            world.de2, world.de3
        )
        # left edge: same instant at another precision is still inclusive
        assert registry.ids(FD, {**everyone, ct + "From": "20060101000000"}) == ids(world.de3)
        # right edge: exclusive
        assert registry.ids(FD, {**everyone, ct + "To": "20040101"}) == set()
        assert registry.ids(FD, {**everyone, ct + "To": "200401010000"}) == set()
        assert registry.ids(FD, {**everyone, ct + "To": "20040102"}) == ids(world.de1)

    def test_entries_without_the_attribute_never_match_a_range(
        self, registry: Registry, world: World
    ) -> None:
        everyone = fd(**{"$XDSDocumentEntryStatus": BOTH})
        st = "$XDSDocumentEntryServiceStartTime"
        matched = registry.ids(FD, {**everyone, st + "From": "1900"})
        assert world.de2.entry_uuid not in matched  # de2 has no serviceStartTime
        assert matched == ids(world.de1, world.de3)
        sp = "$XDSDocumentEntryServiceStopTime"
        assert registry.ids(FD, {**everyone, sp + "To": "200401030000"}) == ids(world.de1)

    def test_bad_time_is_an_error(self, registry: Registry, world: World) -> None:
        for bad in ("2004-01-01", "'yesterday'", "200", "20040101x"):
            assert registry.error(FD, fd(**{"$XDSDocumentEntryCreationTimeFrom": bad})) == {
                "XDSRegistryMetadataError"
            }, bad

    def test_status_must_be_a_full_urn(self, registry: Registry, world: World) -> None:
        assert registry.error(FD, fd(**{"$XDSDocumentEntryStatus": q("Approved")})) == {
            "XDSRegistryMetadataError"
        }

    def test_missing_required_parameters(self, registry: Registry, world: World) -> None:
        assert registry.error(FD, {"$XDSDocumentEntryStatus": q(APPROVED)}) == {"XDSStoredQueryMissingParam"}
        assert registry.error(FD, {"$XDSDocumentEntryPatientId": s(PATIENT)}) == {
            "XDSStoredQueryMissingParam"
        }

    def test_single_valued_parameter_with_two_values(self, registry: Registry, world: World) -> None:
        assert registry.error(FD, fd(**{"$XDSDocumentEntryPatientId": q(PATIENT, OTHER_PATIENT)})) == {
            "XDSStoredQueryParamNumber"
        }
        assert registry.error(FD, fd(**{"$XDSDocumentEntryPatientId": [s(PATIENT), s(PATIENT)]})) == {
            "XDSStoredQueryParamNumber"
        }

    def test_unknown_parameters_are_ignored(self, registry: Registry, world: World) -> None:
        # 11897/practicesetting_scheme: a retired parameter next to a valid code
        params = fd(
            **{
                "$XDSDocumentEntryPracticeSettingCodeScheme": q("Connect-a-thon practiceSettingCodes"),
                "$Nonsense": "((",
            }
        )
        assert registry.ids(FD, params) == ids(world.de2, world.de3)

    def test_home_community_and_metadata_level_are_accepted(self, registry: Registry, world: World) -> None:
        params = fd(**{"$homeCommunityId": s("urn:oid:1.2.3"), "$MetadataLevel": "2"})
        assert registry.ids(FD, params) == ids(world.de2, world.de3)
        assert registry.error(FD, fd(**{"$MetadataLevel": "3"})) == {"XDSRegistryMetadataError"}

    def test_leaf_class_returns_stored_xml_with_current_status(
        self, registry: Registry, world: World
    ) -> None:
        result = registry.query(FD, fd(**{"$XDSDocumentEntryStatus": q(DEPRECATED)}), return_type="LeafClass")
        (row,) = result.objects
        assert row.entry_uuid == world.de1.entry_uuid and row.status == DEPRECATED
        element = etree.fromstring(row.xml or "")
        assert (
            etree.QName(element).localname == "ExtrinsicObject" and element.get("id") == world.de1.entry_uuid
        )
        assert result.status_overrides == {world.de1.entry_uuid: DEPRECATED}

    def test_results_are_in_registration_order(self, registry: Registry, world: World) -> None:
        result = registry.query(FD, fd(**{"$XDSDocumentEntryStatus": BOTH}))
        assert result.object_refs == (world.de1.entry_uuid, world.de2.entry_uuid, world.de3.entry_uuid)

    def test_too_many_results(self, registry: Registry, world: World) -> None:
        everyone = fd(**{"$XDSDocumentEntryStatus": BOTH})
        assert registry.error(FD, everyone, settings=QuerySettings(max_results=2)) == {"XDSTooManyResults"}
        assert len(registry.ids(FD, everyone, settings=QuerySettings(max_results=3))) == 3

    def test_unknown_query_and_bad_return_type(self, registry: Registry, world: World) -> None:
        assert registry.error("urn:uuid:00000000-0000-0000-0000-000000000000", fd()) == {
            "XDSUnknownStoredQuery"
        }
        assert registry.error(FD, fd(), return_type="Everything") == {"XDSRegistryMetadataError"}


SCHEME = "1.3.6.1.4.1.21367.100.1"
CONF_SCHEME = "2.16.840.1.113883.5.25"


class TestFindDocumentsByReferenceId:
    QID = FindDocumentsByReferenceId.query_id
    R1 = "R1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:order"
    R2 = "R2^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:order"

    def test_reference_id_or_and(self, registry: Registry, world: World) -> None:
        everyone = fd(**{"$XDSDocumentEntryStatus": BOTH})
        name = "$XDSDocumentEntryReferenceIdList"
        assert registry.ids(self.QID, {**everyone, name: q(self.R1)}) == ids(world.de1)
        assert registry.ids(self.QID, {**everyone, name: q(self.R1, self.R2)}) == ids(world.de1, world.de2)
        assert registry.ids(self.QID, {**everyone, name: [q(self.R1), q(self.R2)]}) == set()
        assert registry.ids(self.QID, {**everyone, name: q("R1")}) == set()

    def test_reference_id_required_and_other_filters_apply(self, registry: Registry, world: World) -> None:
        assert registry.error(self.QID, fd()) == {"XDSStoredQueryMissingParam"}
        # de1 is Deprecated: the status filter still applies
        assert registry.ids(self.QID, fd(**{"$XDSDocumentEntryReferenceIdList": q(self.R1)})) == set()


class TestFindSubmissionSets:
    QID = FindSubmissionSets.query_id

    def params(self, **extra: object) -> dict[str, object]:
        return {"$XDSSubmissionSetPatientId": s(PATIENT), "$XDSSubmissionSetStatus": q(APPROVED), **extra}

    def test_by_patient(self, registry: Registry, world: World) -> None:
        assert registry.ids(self.QID, self.params()) == ids(world.ss1, world.ss2, world.ss3)
        other = self.params(**{"$XDSSubmissionSetPatientId": s(OTHER_PATIENT)})
        assert registry.ids(self.QID, other) == ids(world.ss4)

    def test_filters(self, registry: Registry, world: World) -> None:
        time = "$XDSSubmissionSetSubmissionTime"
        assert registry.ids(
            self.QID, self.params(**{time + "From": "20050101", time + "To": "20050102"})
        ) == ids(world.ss2)
        assert registry.ids(self.QID, self.params(**{"$XDSSubmissionSetAuthorPerson": s("%Dopple%")})) == ids(
            world.ss1, world.ss2, world.ss3
        )
        assert registry.ids(self.QID, self.params(**{"$XDSSubmissionSetAuthorPerson": s("%Ford%")})) == set()
        assert registry.ids(self.QID, self.params(**{"$XDSSubmissionSetSourceId": q("9.9")})) == set()
        content = "$XDSSubmissionSetContentType"
        assert len(registry.ids(self.QID, self.params(**{content: q(f"Communication^^{SCHEME}")}))) == 3
        assert registry.ids(self.QID, self.params(**{content: q(f"Other^^{SCHEME}")})) == set()

    def test_author_person_is_single_valued_and_status_required(
        self, registry: Registry, world: World
    ) -> None:
        two = self.params(**{"$XDSSubmissionSetAuthorPerson": q("%a%", "%b%")})
        assert registry.error(self.QID, two) == {"XDSStoredQueryParamNumber"}
        assert registry.error(self.QID, {"$XDSSubmissionSetPatientId": s(PATIENT)}) == {
            "XDSStoredQueryMissingParam"
        }


class TestFindFolders:
    QID = FindFolders.query_id

    def params(self, **extra: object) -> dict[str, object]:
        return {"$XDSFolderPatientId": s(PATIENT), "$XDSFolderStatus": q(APPROVED), **extra}

    def test_by_patient_and_codes(self, registry: Registry, world: World) -> None:
        assert registry.ids(self.QID, self.params()) == ids(world.fol1)
        assert registry.ids(
            self.QID, self.params(**{"$XDSFolderCodeList": q(f"Referrals^^{SCHEME}")})
        ) == ids(world.fol1)
        both = [q(f"Referrals^^{SCHEME}"), q(f"Other^^{SCHEME}")]
        assert registry.ids(self.QID, self.params(**{"$XDSFolderCodeList": both})) == set()

    def test_last_update_time_is_the_registry_time(self, registry: Registry, world: World) -> None:
        # FixedClock: 2024-01-02 10:30 UTC
        time = "$XDSFolderLastUpdateTime"
        assert registry.ids(self.QID, self.params(**{time + "From": "20240102"})) == ids(world.fol1)
        assert registry.ids(self.QID, self.params(**{time + "To": "202401021030"})) == set()
        result = registry.query(self.QID, self.params(), return_type="LeafClass")
        assert result.folder_last_update == {world.fol1.entry_uuid: "20240102103000"}

    def test_missing_patient(self, registry: Registry, world: World) -> None:
        assert registry.error(self.QID, {"$XDSFolderStatus": q(APPROVED)}) == {"XDSStoredQueryMissingParam"}


class TestGetAll:
    QID = GetAll.query_id

    def params(self, **extra: object) -> dict[str, object]:
        return {
            "$patientId": s(PATIENT),
            "$XDSDocumentEntryStatus": BOTH,
            "$XDSSubmissionSetStatus": q(APPROVED),
            "$XDSFolderStatus": q(APPROVED),
            **extra,
        }

    def test_everything_of_the_patient_and_the_associations_among_it(
        self, registry: Registry, world: World
    ) -> None:
        w = world
        assert registry.ids(self.QID, self.params()) == ids(
            w.ss1, w.ss2, w.ss3, w.de1, w.de2, w.de3, w.fol1,
            w.ss1_de1, w.ss1_de2, w.ss1_fol1, w.fol1_de1, w.ss1_fol1_de1, w.ss2_de3, w.de3_rplc_de1,
            w.fol1_de3, w.ss2_fol1_de3,
        )  # fmt: skip
        # de4 (on-demand) is excluded by the default entry type

    def test_document_filters_drop_entries_and_their_associations(
        self, registry: Registry, world: World
    ) -> None:
        w = world
        approved = registry.ids(self.QID, self.params(**{"$XDSDocumentEntryStatus": q(APPROVED)}))
        assert ids(w.de1, w.ss1_de1, w.fol1_de1, w.ss1_fol1_de1, w.de3_rplc_de1).isdisjoint(approved)
        assert ids(w.de2, w.de3, w.ss1_de2, w.ss2_de3) <= approved
        restricted = registry.ids(
            self.QID, self.params(**{"$XDSDocumentEntryConfidentialityCode": q(f"R^^{CONF_SCHEME}")})
        )
        assert ids(w.de2) <= restricted and not ids(w.de1, w.de3) & restricted

    def test_required_statuses(self, registry: Registry, world: World) -> None:
        params = self.params()
        del params["$XDSFolderStatus"]
        assert registry.error(self.QID, params) == {"XDSStoredQueryMissingParam"}


class TestGetDocuments:
    QID = GetDocuments.query_id

    def test_by_uuid_unique_id_and_logical_id_any_status(self, registry: Registry, world: World) -> None:
        w = world
        uuids = q(w.de1.entry_uuid, w.de2.entry_uuid)
        assert registry.ids(self.QID, {"$XDSDocumentEntryEntryUUID": uuids}) == ids(w.de1, w.de2)
        assert registry.ids(self.QID, {"$XDSDocumentEntryEntryUUID": s(w.de1.entry_uuid)}) == ids(w.de1)
        assert registry.ids(self.QID, {"$XDSDocumentEntryUniqueId": q(w.de3.unique_id or "")}) == ids(w.de3)
        assert registry.ids(self.QID, {"$XDSDocumentEntryLogicalID": q(w.de1.entry_uuid)}) == ids(w.de1)
        assert registry.ids(self.QID, {"$XDSDocumentEntryEntryUUID": q("urn:uuid:nothing")}) == set()

    def test_exactly_one_of_the_selectors(self, registry: Registry, world: World) -> None:
        assert registry.error(self.QID, {}) == {"XDSStoredQueryMissingParam"}
        both = {"$XDSDocumentEntryEntryUUID": q(world.de1.entry_uuid), "$XDSDocumentEntryUniqueId": q("1.2")}
        assert registry.error(self.QID, both) == {"XDSStoredQueryParamNumber"}

    def test_leaf_class_spanning_patients_fails_object_ref_succeeds(
        self, registry: Registry, world: World
    ) -> None:
        # NIST 12368
        params = {"$XDSDocumentEntryEntryUUID": q(world.de2.entry_uuid, world.de5.entry_uuid)}
        assert registry.error(self.QID, params, return_type="LeafClass") == {"XDSResultNotSinglePatient"}
        assert registry.ids(self.QID, params) == ids(world.de2, world.de5)


class TestGetFolders:
    QID = GetFolders.query_id

    def test_by_uuid_unique_id_logical_id(self, registry: Registry, world: World) -> None:
        assert registry.ids(self.QID, {"$XDSFolderEntryUUID": q(world.fol1.entry_uuid)}) == ids(world.fol1)
        assert registry.ids(self.QID, {"$XDSFolderUniqueId": q(world.fol2.unique_id or "")}) == ids(
            world.fol2
        )
        assert registry.ids(self.QID, {"$XDSFolderLogicalID": q(world.fol1.entry_uuid)}) == ids(world.fol1)

    def test_spanning_patients_and_missing_selector(self, registry: Registry, world: World) -> None:
        params = {"$XDSFolderEntryUUID": q(world.fol1.entry_uuid, world.fol2.entry_uuid)}
        assert registry.error(self.QID, params, return_type="LeafClass") == {"XDSResultNotSinglePatient"}
        assert registry.error(self.QID, {}) == {"XDSStoredQueryMissingParam"}


class TestGetAssociations:
    QID = GetAssociations.query_id

    def test_associations_touching_the_ids(self, registry: Registry, world: World) -> None:
        w = world
        assert registry.ids(self.QID, {"$uuid": q(w.de1.entry_uuid)}) == ids(
            w.ss1_de1, w.fol1_de1, w.de3_rplc_de1
        )
        assert registry.ids(self.QID, {"$uuid": q(w.fol1_de1.entry_uuid)}) == ids(w.ss1_fol1_de1)
        result = registry.query(self.QID, {"$uuid": q(w.de3.entry_uuid)}, return_type="LeafClass")
        assert {(r.association_type, r.source, r.target) for r in result.objects} == {
            (HAS_MEMBER, w.ss2.entry_uuid, w.de3.entry_uuid),
            (RPLC, w.de3.entry_uuid, w.de1.entry_uuid),
            (HAS_MEMBER, w.fol1.entry_uuid, w.de3.entry_uuid),
        }

    def test_uuid_required(self, registry: Registry, world: World) -> None:
        assert registry.error(self.QID, {}) == {"XDSStoredQueryMissingParam"}


class TestGetDocumentsAndAssociations:
    QID = GetDocumentsAndAssociations.query_id

    def test_documents_plus_associations(self, registry: Registry, world: World) -> None:
        w = world
        assert registry.ids(self.QID, {"$XDSDocumentEntryEntryUUID": q(w.de3.entry_uuid)}) == ids(
            w.de3, w.ss2_de3, w.de3_rplc_de1, w.fol1_de3
        )
        assert registry.ids(self.QID, {"$XDSDocumentEntryUniqueId": q(w.de2.unique_id or "")}) == ids(
            w.de2, w.ss1_de2
        )
        assert registry.ids(self.QID, {"$XDSDocumentEntryEntryUUID": q("urn:uuid:none")}) == set()

    def test_selectors(self, registry: Registry, world: World) -> None:
        assert registry.error(self.QID, {}) == {"XDSStoredQueryMissingParam"}


class TestGetSubmissionSets:
    QID = GetSubmissionSets.query_id

    def test_submission_sets_holding_the_objects(self, registry: Registry, world: World) -> None:
        w = world
        assert registry.ids(self.QID, {"$uuid": q(w.de1.entry_uuid, w.de3.entry_uuid)}) == ids(
            w.ss1, w.ss2, w.ss1_de1, w.ss2_de3
        )
        assert registry.ids(self.QID, {"$uuid": q(w.fol1.entry_uuid)}) == ids(w.ss1, w.ss1_fol1)
        # a Folder -> document HasMember is not a SubmissionSet's
        assert registry.ids(self.QID, {"$uuid": q(w.fol1.entry_uuid + "x")}) == set()

    def test_spanning_patients(self, registry: Registry, world: World) -> None:
        params = {"$uuid": q(world.de2.entry_uuid, world.de5.entry_uuid)}
        assert registry.error(self.QID, params, return_type="LeafClass") == {"XDSResultNotSinglePatient"}
        assert len(registry.ids(self.QID, params)) == 4


class TestGetSubmissionSetAndContents:
    QID = GetSubmissionSetAndContents.query_id

    def test_contents_and_associations(self, registry: Registry, world: World) -> None:
        w = world
        expected = ids(
            w.ss1, w.de1, w.de2, w.fol1, w.ss1_de1, w.ss1_de2, w.ss1_fol1, w.fol1_de1, w.ss1_fol1_de1
        )
        assert registry.ids(self.QID, {"$XDSSubmissionSetEntryUUID": s(w.ss1.entry_uuid)}) == expected
        assert registry.ids(self.QID, {"$XDSSubmissionSetUniqueId": s(w.ss1.unique_id or "")}) == expected

    def test_filters_drop_documents_and_their_associations(self, registry: Registry, world: World) -> None:
        w = world
        params = {
            "$XDSSubmissionSetEntryUUID": s(w.ss1.entry_uuid),
            "$XDSDocumentEntryConfidentialityCode": q(f"R^^{CONF_SCHEME}"),
        }
        assert registry.ids(self.QID, params) == ids(w.ss1, w.de2, w.fol1, w.ss1_de2, w.ss1_fol1)
        on_demand = {"$XDSSubmissionSetEntryUUID": s(w.ss3.entry_uuid)}
        assert registry.ids(self.QID, on_demand) == ids(w.ss3)
        assert registry.ids(self.QID, {**on_demand, "$XDSDocumentEntryType": q(ON_DEMAND)}) == ids(
            w.ss3, w.de4, w.ss3_de4
        )

    def test_single_valued_selector(self, registry: Registry, world: World) -> None:
        two = {"$XDSSubmissionSetEntryUUID": q(world.ss1.entry_uuid, world.ss2.entry_uuid)}
        assert registry.error(self.QID, two) == {"XDSStoredQueryParamNumber"}
        assert registry.ids(self.QID, {"$XDSSubmissionSetEntryUUID": s("urn:uuid:none")}) == set()


class TestGetFolderAndContents:
    QID = GetFolderAndContents.query_id

    def test_folder_documents_and_has_members(self, registry: Registry, world: World) -> None:
        w = world
        assert registry.ids(self.QID, {"$XDSFolderEntryUUID": s(w.fol1.entry_uuid)}) == ids(
            w.fol1, w.de1, w.de3, w.fol1_de1, w.fol1_de3
        )
        assert registry.ids(self.QID, {"$XDSFolderUniqueId": s(w.fol2.unique_id or "")}) == ids(
            w.fol2, w.de5, w.fol2_de5
        )

    def test_format_filter(self, registry: Registry, world: World) -> None:
        params = {
            "$XDSFolderEntryUUID": s(world.fol1.entry_uuid),
            "$XDSDocumentEntryFormatCode": q(f"x^^{SCHEME}"),
        }
        assert registry.ids(self.QID, params) == ids(world.fol1)

    def test_both_selectors(self, registry: Registry, world: World) -> None:
        both = {"$XDSFolderEntryUUID": s(world.fol1.entry_uuid), "$XDSFolderUniqueId": s("1.2")}
        assert registry.error(self.QID, both) == {"XDSStoredQueryParamNumber"}


class TestGetFoldersForDocument:
    QID = GetFoldersForDocument.query_id

    def test_folders_of_the_document(self, registry: Registry, world: World) -> None:
        assert registry.ids(self.QID, {"$XDSDocumentEntryEntryUUID": s(world.de1.entry_uuid)}) == ids(
            world.fol1
        )
        assert registry.ids(self.QID, {"$XDSDocumentEntryUniqueId": s(world.de5.unique_id or "")}) == ids(
            world.fol2
        )
        assert registry.ids(self.QID, {"$XDSDocumentEntryEntryUUID": s(world.de2.entry_uuid)}) == set()

    def test_missing_selector(self, registry: Registry, world: World) -> None:
        assert registry.error(self.QID, {}) == {"XDSStoredQueryMissingParam"}


class TestGetRelatedDocuments:
    QID = GetRelatedDocuments.query_id

    def test_both_directions(self, registry: Registry, world: World) -> None:
        w = world
        types = {"$AssociationTypes": q(RPLC)}
        assert registry.ids(self.QID, {"$XDSDocumentEntryEntryUUID": s(w.de1.entry_uuid), **types}) == ids(
            w.de1, w.de3, w.de3_rplc_de1
        )
        assert registry.ids(
            self.QID, {"$XDSDocumentEntryUniqueId": s(w.de3.unique_id or ""), **types}
        ) == ids(w.de1, w.de3, w.de3_rplc_de1)

    def test_nothing_related_returns_nothing(self, registry: Registry, world: World) -> None:
        w = world
        assert (
            registry.ids(
                self.QID, {"$XDSDocumentEntryEntryUUID": s(w.de1.entry_uuid), "$AssociationTypes": q(APND)}
            )
            == set()
        )
        # HasMember from a SubmissionSet does not relate documents
        assert (
            registry.ids(
                self.QID,
                {"$XDSDocumentEntryEntryUUID": s(w.de2.entry_uuid), "$AssociationTypes": q(HAS_MEMBER)},
            )
            == set()
        )

    def test_association_types_required(self, registry: Registry, world: World) -> None:
        assert registry.error(self.QID, {"$XDSDocumentEntryEntryUUID": s(world.de1.entry_uuid)}) == {
            "XDSStoredQueryMissingParam"
        }


class TestMultiPatientQueries:
    FDMP = FindDocumentsForMultiplePatients.query_id
    FFMP = FindFoldersForMultiplePatients.query_id
    ON = QuerySettings(multi_patient_enabled=True)
    MPQ = Transaction.MULTI_PATIENT_QUERY

    def test_off_by_default(self, registry: Registry, world: World) -> None:
        params = {
            "$XDSDocumentEntryStatus": q(APPROVED),
            "$XDSDocumentEntryClassCode": q(f"Education^^{SCHEME}"),
        }
        assert registry.error(self.FDMP, params, transaction=self.MPQ) == {"XDSUnknownStoredQuery"}

    def test_not_an_iti18_query(self, registry: Registry, world: World) -> None:
        params = {
            "$XDSDocumentEntryStatus": q(APPROVED),
            "$XDSDocumentEntryClassCode": q(f"Education^^{SCHEME}"),
        }
        assert registry.error(self.FDMP, params, settings=self.ON) == {"XDSUnknownStoredQuery"}
        assert registry.error(FD, fd(), settings=self.ON, transaction=self.MPQ) == {"XDSUnknownStoredQuery"}

    def test_find_documents_across_patients(self, registry: Registry, world: World) -> None:
        w = world
        edu = {
            "$XDSDocumentEntryStatus": q(APPROVED),
            "$XDSDocumentEntryClassCode": q(f"Education^^{SCHEME}"),
        }
        assert registry.ids(self.FDMP, edu, settings=self.ON, transaction=self.MPQ) == ids(w.de3, w.de5)
        some = {**edu, "$XDSDocumentEntryPatientId": q(OTHER_PATIENT, "x^^^&1.2&ISO")}
        assert registry.ids(self.FDMP, some, settings=self.ON, transaction=self.MPQ) == ids(w.de5)
        result = registry.query(
            self.FDMP, edu, settings=self.ON, transaction=self.MPQ, return_type="LeafClass"
        )
        assert len(result.objects) == 2  # no single-patient rule for ITI-51

    def test_one_of_class_event_facility_required(self, registry: Registry, world: World) -> None:
        params = {
            "$XDSDocumentEntryStatus": q(APPROVED),
            "$XDSDocumentEntryTypeCode": q(f"34108-1^^{SCHEME}"),
        }
        assert registry.error(self.FDMP, params, settings=self.ON, transaction=self.MPQ) == {
            "XDSStoredQueryMissingParam"
        }

    def test_find_folders_across_patients(self, registry: Registry, world: World) -> None:
        params = {"$XDSFolderStatus": q(APPROVED)}
        assert registry.ids(self.FFMP, params, settings=self.ON, transaction=self.MPQ) == ids(
            world.fol1, world.fol2
        )


@pytest.mark.parametrize("return_type", ["ObjectRef", "LeafClass"])
def test_empty_result_is_success(registry: Registry, world: World, return_type: str) -> None:
    unknown = "nobody^^^&1.2.3.4.5&ISO"  # a well-formed id no submission named
    result = registry.query(FD, fd(**{"$XDSDocumentEntryPatientId": s(unknown)}), return_type=return_type)
    assert result.objects == ()


def test_malformed_patient_id_is_an_error_not_an_empty_answer(registry: Registry, world: World) -> None:
    """A value that is no patient id at all is reported (it could only ever match nothing)."""
    malformed = fd(**{"$XDSDocumentEntryPatientId": s("nobody")})
    assert registry.error(FD, malformed) == {"XDSRegistryMetadataError"}


class TestLargeIdSets:
    """Id sets beyond the drivers' parameter limits are sent in chunks; the merged answer is the same."""

    def test_many_uuids(self, registry: Registry, world: World) -> None:
        w = world
        fillers = [f"urn:uuid:00000000-0000-4000-8000-{n:012d}" for n in range(2500)]
        params = {
            "$XDSDocumentEntryEntryUUID": q(*fillers, w.de3.entry_uuid, w.de1.entry_uuid, w.de2.entry_uuid)
        }
        result = registry.query(GetDocuments.query_id, params)
        assert result.object_refs == (w.de1.entry_uuid, w.de2.entry_uuid, w.de3.entry_uuid)

    def test_chunked_reads_equal_single_reads(
        self, registry: Registry, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from xds_server.storage import query_sql

        get_all = {
            "$patientId": s(PATIENT),
            "$XDSDocumentEntryStatus": BOTH,
            "$XDSSubmissionSetStatus": q(APPROVED),
            "$XDSFolderStatus": q(APPROVED),
        }
        contents = {"$XDSSubmissionSetEntryUUID": s(world.ss1.entry_uuid)}
        whole = [
            registry.query(GetAll.query_id, get_all),
            registry.query(GetSubmissionSetAndContents.query_id, contents),
        ]
        monkeypatch.setattr(query_sql, "_CHUNK", 2)
        chunked = [
            registry.query(GetAll.query_id, get_all),
            registry.query(GetSubmissionSetAndContents.query_id, contents),
        ]
        assert [r.object_refs for r in chunked] == [r.object_refs for r in whole]
        capped = QuerySettings(max_results=len(whole[0].objects) - 1)
        assert registry.error(GetAll.query_id, get_all, settings=capped) == {"XDSTooManyResults"}
