"""The access-control hook: a DocumentEntry the caller's VisibilityScope hides is never returned, reached
through an Association, Folder or SubmissionSet, nor counted toward XDSTooManyResults / single-patient."""

from __future__ import annotations

from xds_server.core.policy import VisibilityScope
from xds_server.core.query import QuerySettings
from xds_server.core.query.queries import (
    FindDocuments,
    FindFolders,
    GetAll,
    GetAssociations,
    GetDocuments,
    GetDocumentsAndAssociations,
    GetFolderAndContents,
    GetFoldersForDocument,
    GetRelatedDocuments,
    GetSubmissionSetAndContents,
    GetSubmissionSets,
)

from .builders import APPROVED, CONF_SCHEME, DEPRECATED, PATIENT, RPLC, Registry, q, s
from .conftest import World

#: hides de2 (the only entry with confidentiality R)
HIDE_R = VisibilityScope(
    None, record_allowed=True, include_deprecated=True, allowed_type_codes=None,
    hidden_confidentiality_codes=frozenset({f"R^^{CONF_SCHEME}"}),
)  # fmt: skip
#: the record of PATIENT, Approved entries only: hides de1 (Deprecated) and everything of OTHER_PATIENT
APPROVED_OF_PATIENT = VisibilityScope(PATIENT, record_allowed=True, unrestricted=True)
REFUSED = VisibilityScope(PATIENT, record_allowed=False)


def ids(*objects: object) -> set[str]:
    return {o.entry_uuid for o in objects}  # type: ignore[attr-defined]


class TestHiddenDocument:
    def test_find_documents(self, registry: Registry, world: World) -> None:
        params = {
            "$XDSDocumentEntryPatientId": s(PATIENT),
            "$XDSDocumentEntryStatus": q(APPROVED, DEPRECATED),
        }
        assert registry.ids(FindDocuments.query_id, params, scope=HIDE_R) == ids(world.de1, world.de3)
        assert registry.ids(FindDocuments.query_id, params, scope=APPROVED_OF_PATIENT) == ids(
            world.de2, world.de3
        )
        assert registry.ids(FindDocuments.query_id, params, scope=REFUSED) == set()

    def test_get_documents_and_associations(self, registry: Registry, world: World) -> None:
        w = world
        uuids = {"$XDSDocumentEntryEntryUUID": q(w.de1.entry_uuid, w.de2.entry_uuid)}
        assert registry.ids(GetDocuments.query_id, uuids, scope=HIDE_R) == ids(w.de1)
        assert registry.ids(GetDocumentsAndAssociations.query_id, uuids, scope=HIDE_R) == ids(
            w.de1, w.ss1_de1, w.fol1_de1, w.de3_rplc_de1
        )
        # de1 is Deprecated: hidden, and so are the associations reaching it
        assert registry.ids(GetDocumentsAndAssociations.query_id, uuids, scope=APPROVED_OF_PATIENT) == ids(
            w.de2, w.ss1_de2
        )

    def test_associations_with_a_hidden_end(self, registry: Registry, world: World) -> None:
        w = world
        params = {"$uuid": q(w.ss1.entry_uuid, w.de3.entry_uuid)}
        visible = registry.ids(GetAssociations.query_id, params, scope=APPROVED_OF_PATIENT)
        assert ids(w.ss1_de2, w.ss1_fol1, w.ss2_de3, w.fol1_de3) <= visible
        assert not ids(w.ss1_de1, w.de3_rplc_de1) & visible

    def test_submission_set_and_folder_contents(self, registry: Registry, world: World) -> None:
        w = world
        contents = registry.ids(
            GetSubmissionSetAndContents.query_id,
            {"$XDSSubmissionSetEntryUUID": s(w.ss1.entry_uuid)},
            scope=HIDE_R,
        )
        assert w.de2.entry_uuid not in contents and w.ss1_de2.entry_uuid not in contents
        assert ids(w.ss1, w.de1, w.fol1, w.fol1_de1) <= contents
        folder = registry.ids(
            GetFolderAndContents.query_id,
            {"$XDSFolderEntryUUID": s(w.fol1.entry_uuid)},
            scope=APPROVED_OF_PATIENT,
        )
        assert folder == ids(w.fol1, w.de3, w.fol1_de3)

    def test_get_submission_sets_and_folders_for_a_hidden_document(
        self, registry: Registry, world: World
    ) -> None:
        w = world
        assert registry.ids(GetSubmissionSets.query_id, {"$uuid": q(w.de2.entry_uuid)}, scope=HIDE_R) == set()
        assert (
            registry.ids(
                GetFoldersForDocument.query_id,
                {"$XDSDocumentEntryEntryUUID": s(w.de1.entry_uuid)},
                scope=APPROVED_OF_PATIENT,
            )
            == set()
        )

    def test_related_documents(self, registry: Registry, world: World) -> None:
        params = {"$XDSDocumentEntryEntryUUID": s(world.de3.entry_uuid), "$AssociationTypes": q(RPLC)}
        assert registry.ids(GetRelatedDocuments.query_id, params) == ids(
            world.de1, world.de3, world.de3_rplc_de1
        )
        assert registry.ids(GetRelatedDocuments.query_id, params, scope=APPROVED_OF_PATIENT) == set()

    def test_get_all(self, registry: Registry, world: World) -> None:
        w = world
        params = {
            "$patientId": s(PATIENT),
            "$XDSDocumentEntryStatus": q(APPROVED, DEPRECATED),
            "$XDSSubmissionSetStatus": q(APPROVED),
            "$XDSFolderStatus": q(APPROVED),
        }
        everything = registry.ids(GetAll.query_id, params)
        hidden = registry.ids(GetAll.query_id, params, scope=HIDE_R)
        assert everything - hidden == ids(w.de2, w.ss1_de2)

    def test_hidden_entries_do_not_count(self, registry: Registry, world: World) -> None:
        params = {
            "$XDSDocumentEntryPatientId": s(PATIENT),
            "$XDSDocumentEntryStatus": q(APPROVED, DEPRECATED),
        }
        cap = QuerySettings(max_results=2)
        assert registry.error(FindDocuments.query_id, params, settings=cap) == {"XDSTooManyResults"}
        assert len(registry.ids(FindDocuments.query_id, params, settings=cap, scope=HIDE_R)) == 2

    def test_hidden_patient_does_not_make_a_result_multi_patient(
        self, registry: Registry, world: World
    ) -> None:
        params = {"$XDSDocumentEntryEntryUUID": q(world.de2.entry_uuid, world.de5.entry_uuid)}
        result = registry.query(
            GetDocuments.query_id, params, return_type="LeafClass", scope=APPROVED_OF_PATIENT
        )
        assert result.object_refs == (world.de2.entry_uuid,)

    def test_packages_of_another_record(self, registry: Registry, world: World) -> None:
        params = {"$XDSFolderPatientId": s(world.fol2.patient_id or ""), "$XDSFolderStatus": q(APPROVED)}
        assert registry.ids(FindFolders.query_id, params) == ids(world.fol2)
        assert registry.ids(FindFolders.query_id, params, scope=APPROVED_OF_PATIENT) == set()

    def test_associations_of_another_record_or_a_refused_record(
        self, registry: Registry, world: World
    ) -> None:
        w = world
        params = {"$uuid": q(w.ss4.entry_uuid, w.ss1.entry_uuid)}
        assert registry.ids(GetAssociations.query_id, params, scope=APPROVED_OF_PATIENT) == ids(
            w.ss1_de2, w.ss1_fol1
        )  # ss1 -> de1 reaches a Deprecated entry; ss4's associations belong to another record
        assert registry.ids(GetAssociations.query_id, params, scope=REFUSED) == set()
