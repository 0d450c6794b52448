"""The input mapping (FHIR -> XDS) and the bundle reader's document staging, without a server."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from fhir_api.mapping.from_fhir import Context, code_of, document_entry, fhir_to_dtm, patient_cx, xcn, xon
from fhir_api.provide_bundle import stage_base64


class TestStaging:
    def test_slices_and_line_wrapping(self, tmp_path: Path) -> None:
        content = os.urandom(5 * 1024 * 1024 + 7)  # more than one decoding slice
        encoded = base64.b64encode(content).decode()
        wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
        for data in (encoded, wrapped):
            staged = stage_base64(data, tmp_path)
            assert staged.size == len(content)
            assert staged.sha1 == hashlib.sha1(content).hexdigest()
            assert staged.path.read_bytes() == content
            staged.path.unlink()

    def test_not_base64_leaves_nothing(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError):
            stage_base64("not*base64", tmp_path)
        assert list(tmp_path.iterdir()) == []


class TestDatatypes:
    def test_times_to_utc_dtm(self) -> None:
        assert fhir_to_dtm("2020-02-01T23:50:50-05:00") == "20200202045050"
        assert fhir_to_dtm("2020-02-01T23:50:50Z") == "20200201235050"
        assert fhir_to_dtm("2020-02") == "202002"
        with pytest.raises(ValueError):
            fhir_to_dtm("yesterday")

    def test_codes_take_the_oid_of_the_system(self) -> None:
        loinc = code_of({"coding": [{"system": "http://loinc.org", "code": "60591-5", "display": "PS"}]})
        assert loinc is not None and (loinc.code, loinc.scheme, loinc.display) == (
            "60591-5",
            "2.16.840.1.113883.6.1",
            "PS",
        )
        typo = code_of(
            {
                "system": "https://mos.esante.gouv.fr/NOS/TRE_A07-StatusVisibiliteDocument/FHIR/"
                "TRE-A07-StatusVisibiliteDocument",
                "code": "MASQUE_PS",
            }
        )
        assert typo is not None and typo.scheme == "1.2.250.1.213.1.1.4.13"
        assert code_of({"coding": [{"code": "x"}]}) is None

    def test_people_and_organisations(self) -> None:
        practitioner = {
            "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810000000001"}],
            "name": [{"family": "DOC", "given": ["Test", "Middle"], "prefix": ["Dr"]}],
        }
        assert xcn(practitioner) == "810000000001^DOC^Test^Middle^^Dr^^^&1.2.250.1.71.4.2.1&ISO"
        organisation = {
            "name": "Structure",
            "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "S-AUTHOR"}],
        }
        assert xon(organisation) == "Structure^^^^^&1.2.250.1.71.4.2.2&ISO^^^^S-AUTHOR"
        assert xon({"name": "my Hospital"}) == "my Hospital"


class TestSubject:
    @pytest.mark.parametrize(
        ("reference", "cx"),
        [
            ({"reference": "Patient?identifier=urn:oid:1.2.3|P1"}, "P1^^^&1.2.3&ISO"),
            ({"reference": "Patient/1.2.3-P1"}, "P1^^^&1.2.3&ISO"),
            ({"reference": "http://server/fhir/Patient/1.2.3-P1"}, "P1^^^&1.2.3&ISO"),
            ({"identifier": {"system": "urn:oid:1.2.3", "value": "P1"}}, "P1^^^&1.2.3&ISO"),
        ],
    )
    def test_accepted_forms(self, reference: dict[str, object], cx: str) -> None:
        ctx = Context("here")
        assert patient_cx(ctx, "subject", reference) == cx
        assert ctx.problems == []

    @pytest.mark.parametrize(
        "reference",
        [
            {"reference": "Patient?name=Smith"},
            {"reference": "Patient?identifier=http://example.org|P1"},
            {"reference": "Practitioner/1"},
            {"reference": "urn:uuid:0000"},
        ],
    )
    def test_refused_forms_are_problems(self, reference: dict[str, object]) -> None:
        ctx = Context("here")
        assert patient_cx(ctx, "subject", reference) is None
        assert len(ctx.problems) == 1


def test_two_contents_is_a_problem() -> None:
    ctx = Context("Bundle.entry[1]")
    document_entry(ctx, "Document01", {"content": [{"attachment": {}}, {"attachment": {}}]})
    assert any("exactly one content" in p.message for p in ctx.problems)
