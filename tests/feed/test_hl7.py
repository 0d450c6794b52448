"""Reading ADT messages (hl7apy) into feed requests, and the ACK written back (feed/hl7.py)."""

from __future__ import annotations

from datetime import date

import pytest
from hl7apy.parser import parse_message

from tests.feed.messages import DMP_NIA, DMP_NIR, INS, NIA, NIA_OID, NIR_OID, adt, ihe_pid
from xds_server.core.patient_feed import Sex
from xds_server.core.profile import IHE_DEFAULT
from xds_server.feed.hl7 import Header, Hl7Problem, ack, escape, parse_feed, unescape
from xds_server.terminology import load_profile

DMP = load_profile("dmp")


def refused(raw: bytes, profile=IHE_DEFAULT) -> Hl7Problem:
    with pytest.raises(Hl7Problem) as caught:
        parse_feed(raw, profile)
    return caught.value


class TestEvents:
    @pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5", "2.5.1"])
    @pytest.mark.parametrize("event", ["A01", "A04", "A05", "A08"])
    def test_create_or_update_events(self, version: str, event: str) -> None:
        request = parse_feed(adt(event, ihe_pid("P1"), version=version), IHE_DEFAULT)
        assert request.patient.patient_id == ihe_pid("P1")
        assert request.subsumed_id is None
        assert request.header.event == event and request.header.version == version

    @pytest.mark.parametrize("version", ["2.3.1", "2.5"])
    def test_a40_is_a_merge(self, version: str) -> None:
        request = parse_feed(adt("A40", ihe_pid("NEW"), mrg=ihe_pid("OLD"), version=version), IHE_DEFAULT)
        assert request.patient.patient_id == ihe_pid("NEW")
        assert request.subsumed_id == ihe_pid("OLD")

    def test_the_nist_testkit_a01(self) -> None:
        raw = (
            "MSH|^~\\&|EPICADT|DH|LABADT|DH|201301011226||ADT^A01|HL7MSG00001|P|2.3.1|\r"
            f"PID|||{ihe_pid('X1')}||APPLESEED^JOHN^A^III||19710101|M||C|"
            "1^CATALYZE STREET^^MADISON^WI^53005-1020|GL|(414)379-1212|(414)271-3434||S|"
            "|MRN12345001^2^M10|123456789|987654^NC|\r"
        ).encode()
        request = parse_feed(raw, IHE_DEFAULT)
        assert request.patient.patient_id == ihe_pid("X1")
        assert request.header.control_id == "HL7MSG00001"


class TestFields:
    def test_demographics(self) -> None:
        request = parse_feed(
            adt("A01", ihe_pid("P1"), name="D\\T\\UPONT^JEAN^PIERRE", birth="20100315", sex="F"), IHE_DEFAULT
        )
        d = request.patient.demographics
        assert (d.family, d.given, d.birth_date, d.sex) == (
            "D&UPONT",
            ("JEAN", "PIERRE"),
            date(2010, 3, 15),
            Sex.FEMALE,
        )

    def test_empty_fields_are_not_given(self) -> None:
        d = parse_feed(adt("A08", ihe_pid("P1"), name="", birth="", sex=""), IHE_DEFAULT).patient.demographics
        assert (d.family, d.given, d.birth_date, d.sex) == (None, (), None, None)

    def test_a_year_alone_is_no_birth_date(self) -> None:
        assert (
            parse_feed(adt("A01", ihe_pid("P1"), birth="1971"), IHE_DEFAULT).patient.demographics.birth_date
            is None
        )

    def test_other_identifiers_are_cross_references(self) -> None:
        pid3 = f"IPP123^^^HOSP^PI~{ihe_pid('P1')}~99^^^&1.2.3.4&ISO"
        # ihe: the first repetition with an ISO OID authority is the patient id
        request = parse_feed(adt("A01", pid3), IHE_DEFAULT)
        assert request.patient.patient_id == ihe_pid("P1")
        assert request.patient.cross_references == ("IPP123^^^HOSP^PI", "99^^^&1.2.3.4&ISO")

    def test_dmp_prefers_the_nir_over_the_nia_whatever_the_order(self) -> None:
        pid3 = f"{NIA}^^^&{NIA_OID}&ISO^INS~IPP9^^^HOSP^PI~{INS}^^^&{NIR_OID}&ISO^INS"
        request = parse_feed(adt("A01", pid3), DMP)
        assert request.patient.patient_id == DMP_NIR
        assert f"{NIA}^^^&{NIA_OID}&ISO^INS" in request.patient.cross_references

    def test_dmp_takes_the_nia_when_there_is_no_nir(self) -> None:
        assert parse_feed(adt("A01", f"{NIA}^^^&{NIA_OID}&ISO"), DMP).patient.patient_id == DMP_NIA

    def test_dmp_production_refuses_a_test_authority(self) -> None:
        problem = refused(adt("A01", f"{INS}^^^&1.2.250.1.213.1.4.10&ISO"), DMP)
        assert (problem.ack, problem.code) == ("AE", 204)
        # the dmp-test profile takes it
        assert parse_feed(adt("A01", f"{INS}^^^&1.2.250.1.213.1.4.10&ISO"), load_profile("dmp-test"))

    def test_utf8_and_latin1(self) -> None:
        utf8 = adt("A01", ihe_pid("P1"), name="LÉGER^ANAÏS")
        assert parse_feed(utf8, IHE_DEFAULT).patient.demographics.family == "LÉGER"
        latin1 = utf8.decode("utf-8").encode("iso-8859-1")
        assert parse_feed(latin1, IHE_DEFAULT).patient.demographics.given == ("ANAÏS",)


class TestErrors:
    """Each error class: the ACK code, the HL7 table 0357 code, where."""

    @pytest.mark.parametrize(
        ("raw", "ack_code", "code"),
        [
            (b"hello", "AR", 100),
            (adt("A01", ihe_pid("P1"), version="2.9"), "AR", 203),
            (adt("A01", ihe_pid("P1"), version="2.7"), "AR", 203),
            (adt("A03", ihe_pid("P1")), "AR", 201),
            (adt("A01", ihe_pid("P1"), message_type="ORU"), "AR", 200),
            (adt("A01", ihe_pid("P1"), extra="not a segment"), "AR", 100),
            (adt("A01", ""), "AE", 101),
            (adt("A01", "LOCAL1^^^HOSP"), "AE", 204),
            (adt("A01", ihe_pid("P1"), birth="19711345"), "AE", 102),
            (adt("A01", ihe_pid("P1"), birth="soon"), "AE", 102),
            (adt("A01", ihe_pid("P1"), sex="Q"), "AE", 103),
            (adt("A40", ihe_pid("NEW")), "AE", 100),
            (adt("A40", ihe_pid("NEW"), mrg=""), "AE", 101),
            (adt("A40", ihe_pid("NEW"), mrg="OLD^^^HOSP"), "AE", 204),
        ],
    )
    def test_refusals(self, raw: bytes, ack_code: str, code: int) -> None:
        problem = refused(raw)
        assert (problem.ack, problem.code) == (ack_code, code), problem.message

    def test_a_wrong_ins_key_is_refused_not_skipped(self) -> None:
        bad = f"{INS[:-2]}00^^^&{NIR_OID}&ISO"
        problem = refused(adt("A01", f"{bad}~{NIA}^^^&{NIA_OID}&ISO"), DMP)
        assert (problem.ack, problem.code, problem.location) == ("AE", 102, "PID-3")
        assert "key" in problem.message

    def test_two_merges_in_one_message_are_refused_not_half_done(self) -> None:
        raw = adt(
            "A40", ihe_pid("N1"), mrg=ihe_pid("O1"), extra=f"PID|||{ihe_pid('N2')}\rMRG|{ihe_pid('O2')}"
        )
        problem = refused(raw)
        assert (problem.ack, problem.code) == ("AE", 100)

    def test_missing_pid_segment(self) -> None:
        raw = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5\rEVN|A01|20260101\r"
        assert (refused(raw).ack, refused(raw).code) == ("AE", 100)

    def test_other_delimiters_are_rejected(self) -> None:
        raw = adt("A01", ihe_pid("P1")).replace(b"|^~\\&|", b"|^~\\#|", 1)
        assert refused(raw).ack == "AR"

    def test_the_refusal_keeps_the_header_for_the_ack(self) -> None:
        problem = refused(adt("A03", ihe_pid("P1"), control_id="CTL42"))
        assert problem.header.control_id == "CTL42"


class TestAck:
    header = Header("HIS", "HOSP", "XDS", "DMP", "CTL7", "P", "2.5", "A01")

    def test_aa_parses_and_swaps_the_applications(self) -> None:
        message = parse_message(ack(self.header, "AA", control_id="A1"), find_groups=False)
        assert message.msh.msh_3.to_er7() == "XDS" and message.msh.msh_5.to_er7() == "HIS"
        assert message.msh.msh_9.to_er7() == "ACK^A01^ACK"
        assert message.msa.msa_1.to_er7() == "AA" and message.msa.msa_2.to_er7() == "CTL7"

    def test_ae_has_an_err_segment_with_the_reason(self) -> None:
        problem = Hl7Problem("AE", 204, "no id of the domain in PID-3 (got: X^^^&1.2&ISO)", "PID^1^3")
        text = ack(self.header, "AE", problem)
        message = parse_message(text, find_groups=False)
        err = next(c for c in message.children if c.name == "ERR")
        assert err.err_3.to_er7() == "204^Unknown key identifier^HL70357"
        assert err.err_2.to_er7() == "PID^1^3"
        assert unescape(err.err_8.to_er7()) == problem.message
        assert unescape(message.msa.msa_3.to_er7()) == problem.message

    def test_v231_err_segment(self) -> None:
        header = Header("HIS", "HOSP", "XDS", "DMP", "CTL7", "P", "2.3.1", "A01")
        text = ack(header, "AR", Hl7Problem("AR", 201, "event A03", "MSH^1^9"))
        assert "\rERR|MSH^1^9^201&Unsupported event code&HL70357\r" in text
        assert parse_message(text, find_groups=False).msh.msh_12.to_er7() == "2.3.1"

    def test_escape_round_trip(self) -> None:
        text = "a|b^c&d~e\\f"
        assert unescape(escape(text)) == text
