"""Record and document facts: XCN/XON parsing, minors, DocumentEntry -> DocumentFacts."""

from __future__ import annotations

from datetime import date

from xds_server.core.metadata import Author, Code, DocumentEntry
from xds_server.core.policy import (
    MASQUE_PS,
    RecordSettings,
    WriteOperation,
    author_national_id,
    facts_from_entry,
    is_minor,
    structure_national_id,
)
from xds_server.core.ports import PatientState
from xds_server.core.vocabulary import DMP_VISIBILITY_OID, Status

XCN = "810000000006^MARTIN^Paul^^^Dr^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
XON = "Hôpital^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^3750000001"


class TestAuthorIdentity:
    def test_national_id_needs_the_ps_authority(self) -> None:
        assert author_national_id(XCN) == "810000000006"
        assert author_national_id("810000000006^MARTIN^Paul^^^^^^&1.2.3&ISO") is None
        assert author_national_id("810000000006^MARTIN") is None
        assert author_national_id("^MARTIN^^^^^^^&1.2.250.1.71.4.2.1&ISO") is None

    def test_structure_is_xon_10(self) -> None:
        assert structure_national_id(XON) == "3750000001"
        assert structure_national_id("Hôpital") is None


class TestFactsFromEntry:
    def test_reads_codes_authors_and_status(self) -> None:
        entry = DocumentEntry(
            entry_uuid="urn:uuid:1",
            status=Status.DEPRECATED.value,
            authors=(Author(person=XCN, institutions=(XON,)), Author(person="nobody")),
            type_code=Code("11488-4", "2.16.840.1.113883.6.1"),
            class_code=Code("10", "1.2.250.1.213.1.1.4.1"),
            confidentiality_codes=(
                Code("N", "2.16.840.1.113883.5.25"),
                Code("MASQUE_PS", DMP_VISIBILITY_OID),
            ),
        )
        facts = facts_from_entry(entry)
        assert facts.type_code == "11488-4^^2.16.840.1.113883.6.1"
        assert facts.class_code == "10^^1.2.250.1.213.1.1.4.1"
        assert facts.has(MASQUE_PS)
        assert facts.author_ids == {"810000000006"}
        assert facts.author_structures == {"3750000001"}
        assert facts.is_deprecated

    def test_missing_status_is_approved(self) -> None:
        assert not facts_from_entry(DocumentEntry(entry_uuid="urn:uuid:1")).is_deprecated


class TestMinor:
    def test_under_eighteen(self) -> None:
        assert is_minor(date(2010, 6, 1), date(2026, 11, 27))
        assert is_minor(date(2008, 11, 28), date(2026, 11, 27))  # birthday tomorrow
        assert not is_minor(date(2008, 11, 27), date(2026, 11, 27))
        assert not is_minor(None, date(2026, 11, 27))


class TestRecordSettings:
    def test_administrator_doctors_include_the_medecin_traitant(self) -> None:
        settings = RecordSettings("p", medecin_traitant="t", administrators=frozenset({"a"}))
        assert settings.administrator_doctors == {"a", "t"}
        assert RecordSettings("p").administrator_doctors == frozenset()

    def test_open_states(self) -> None:
        assert RecordSettings("p", PatientState.CREATED).is_open
        assert not RecordSettings("p", PatientState.OPPOSED).is_open


class TestWriteOperation:
    def test_shapes(self) -> None:
        assert not WriteOperation.DEPRECATE.produces_document
        assert not WriteOperation.DEPOSIT.touches_existing
        assert (
            WriteOperation.UPDATE_MASKING.touches_existing and WriteOperation.UPDATE_MASKING.produces_document
        )
