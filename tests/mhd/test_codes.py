"""fhir_api.mapping.codes: code systems, ids and hashes, both ways."""

from __future__ import annotations

import hashlib

import pytest

from fhir_api.mapping.codes import coding_scheme, from_oid_uri, hash_base64, hash_hex, oid_uri, system_uri
from fhir_api.mapping.patient import cx_of_identifier, cx_of_logical_id, patient_logical_id

PAIRS = [
    ("2.16.840.1.113883.6.1", "http://loinc.org"),
    ("2.16.840.1.113883.6.96", "http://snomed.info/sct"),
    ("2.16.840.1.113883.5.25", "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"),
    ("1.3.6.1.4.1.19376.1.2.3", "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"),
    (
        "1.2.250.1.213.1.1.4.1",
        "https://mos.esante.gouv.fr/NOS/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument",
    ),
    (
        "1.2.250.1.213.1.1.4.13",
        "https://mos.esante.gouv.fr/NOS/TRE_A07-StatutVisibiliteDocument/FHIR/TRE-A07-StatutVisibiliteDocument",
    ),
    ("1.2.3.4.5", "urn:oid:1.2.3.4.5"),
]


class TestCodeSystems:
    @pytest.mark.parametrize(("scheme", "uri"), PAIRS)
    def test_both_ways(self, scheme: str, uri: str) -> None:
        assert system_uri(scheme) == uri
        assert coding_scheme(uri) == scheme

    def test_input_spellings(self) -> None:
        assert coding_scheme("urn:oid:2.16.840.1.113883.6.1") == "2.16.840.1.113883.6.1"
        typo = "https://mos.esante.gouv.fr/NOS/TRE_A07-StatusVisibiliteDocument/FHIR/TRE-A07-StatusVisibiliteDocument"
        assert coding_scheme(typo) == "1.2.250.1.213.1.1.4.13"
        ans_format = "https://mos.esante.gouv.fr/NOS/TRE_A11-IheFormatCode/FHIR/TRE-A11-IheFormatCode"
        assert coding_scheme(ans_format) == "1.3.6.1.4.1.19376.1.2.3"

    def test_a_scheme_that_is_no_oid_is_kept(self) -> None:
        assert coding_scheme(system_uri("Connect-a-thon classCodes")) == "Connect-a-thon classCodes"


class TestIdsAndHashes:
    def test_oid_uris(self) -> None:
        assert oid_uri("1.2.3") == "urn:oid:1.2.3"
        assert oid_uri("urn:uuid:0c287d32-01e3-4d87-9953-9fcc9404eb21").startswith("urn:uuid:")
        assert from_oid_uri("urn:oid:1.2.3") == "1.2.3"

    def test_hash(self) -> None:
        digest = hashlib.sha1(b"document").hexdigest()
        assert hash_hex(hash_base64(digest)) == digest
        assert hash_base64("da39a3ee5e6b4b0d3255bfef95601890afd80709") == "2jmj7l5rSw0yVb/vlWAYkK/YBwk="

    @pytest.mark.parametrize("bad", ["not base64!", "AAAA", ""])
    def test_bad_hash(self, bad: str) -> None:
        with pytest.raises(ValueError):
            hash_hex(bad)


class TestPatientIds:
    @pytest.mark.parametrize(
        "cx",
        [
            "279035121518989^^^&1.2.250.1.213.1.4.8&ISO",
            "IHEBLUE-2742^^^&1.3.6.1.4.1.21367.13.20.1000&ISO",
            "a/b_c:d^^^&1.2.3&ISO",
        ],
    )
    def test_logical_id_round_trip(self, cx: str) -> None:
        logical = patient_logical_id(cx)
        assert len(logical) <= 64 or logical.startswith("cx-")
        assert cx_of_logical_id(logical) == cx

    def test_type_is_left_to_canonicalisation(self) -> None:
        assert patient_logical_id("279035121518989^^^&1.2.250.1.213.1.4.8&ISO^NH") == (
            "1.2.250.1.213.1.4.8-279035121518989"
        )

    def test_identifier(self) -> None:
        assert cx_of_identifier("urn:oid:1.2.250.1.213.1.4.8", "279035121518989") == (
            "279035121518989^^^&1.2.250.1.213.1.4.8&ISO"
        )
        with pytest.raises(ValueError):
            cx_of_identifier("http://example.org/ids", "1")
