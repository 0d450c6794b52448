"""Round trips of the ebRIM codec: every rim 3.0 submission file of the NIST testkit, and generated models."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from xds_server.core.metadata import AnyObject, Submission
from xds_server.ebxml import (
    decode_object_xml,
    decode_submission,
    encode_object,
    encode_object_xml,
    encode_submission,
    parse_xml,
)

from .corpus import normal_form, relative, rim3_submissions
from .strategies import any_object, associations, document_entries, folders, submission_sets

SUBMISSIONS = rim3_submissions()
COUNT = len(SUBMISSIONS)
IDS = [f"{index}/{COUNT}:{relative(path)}" for index, path in enumerate(SUBMISSIONS, 1)]


class TestNistCorpus:
    def test_corpus_is_found(self) -> None:
        # The copied testkit holds 37 SubmitObjectsRequest files in rim 3.0 syntax (237 more are ebRIM 2.1).
        print(f"\nebxml round trip: {COUNT} NIST testkit rim 3.0 submission files")
        assert COUNT >= 37

    @pytest.mark.parametrize("path", SUBMISSIONS, ids=IDS)
    def test_decodes_without_problems(self, path: Path) -> None:
        submission = decode_submission(parse_xml(path.read_bytes()))
        assert submission.problems == ()
        assert len(submission.submission_sets) == 1
        assert submission.documents

    @pytest.mark.parametrize("path", SUBMISSIONS, ids=IDS)
    def test_decode_encode_decode_gives_equal_model(self, path: Path) -> None:
        first = decode_submission(parse_xml(path.read_bytes()))
        second = decode_submission(parse_xml(etree.tostring(encode_submission(first))))
        assert second == first
        assert second.problems == ()

    @pytest.mark.parametrize("path", SUBMISSIONS, ids=IDS)
    def test_encoded_xml_means_the_same(self, path: Path) -> None:
        original = parse_xml(path.read_bytes())
        encoded = encode_submission(decode_submission(original))
        assert normal_form(encoded) == normal_form(original)

    @pytest.mark.parametrize("path", SUBMISSIONS, ids=IDS)
    def test_each_object_survives_the_storage_string(self, path: Path) -> None:
        for obj in decode_submission(parse_xml(path.read_bytes())).objects():
            text = encode_object_xml(obj)
            assert decode_object_xml(text) == obj
            assert encode_object_xml(decode_object_xml(text)) == text


class TestNormalForm:
    """The comparison used above can fail: a changed value or a lost classification shows."""

    def _encoded(self) -> etree._Element:
        return encode_submission(decode_submission(parse_xml(SUBMISSIONS[0].read_bytes())))

    def test_sees_a_changed_slot_value(self) -> None:
        original = parse_xml(SUBMISSIONS[0].read_bytes())
        changed = self._encoded()
        value = changed.find(".//{*}Slot[@name='creationTime']/{*}ValueList/{*}Value")
        assert value is not None
        value.text = "19700101"
        assert normal_form(changed) != normal_form(original)

    def test_sees_a_lost_classification(self) -> None:
        original = parse_xml(SUBMISSIONS[0].read_bytes())
        changed = self._encoded()
        classification = changed.find(".//{*}ExtrinsicObject/{*}Classification")
        assert classification is not None
        classification.getparent().remove(classification)  # type: ignore[union-attr]  # has a parent
        assert normal_form(changed) != normal_form(original)


def _unique_ids(objects: list[AnyObject]) -> bool:
    return len({o.entry_uuid for o in objects}) == len(objects)


class TestGeneratedModels:
    @settings(max_examples=50, deadline=None)
    @given(any_object)
    def test_object_round_trips_through_element(self, obj: AnyObject) -> None:
        decoded = decode_submission(_as_list(obj))
        assert decoded.objects() == (obj,)
        assert decoded.problems == ()

    @settings(max_examples=50, deadline=None)
    @given(any_object)
    def test_object_round_trips_through_storage_string(self, obj: AnyObject) -> None:
        text = encode_object_xml(obj)
        assert decode_object_xml(text) == obj
        assert encode_object_xml(obj) == text  # pure function: same model, same bytes

    @settings(max_examples=30, deadline=None)
    @given(
        st.lists(submission_sets, max_size=2),
        st.lists(document_entries, max_size=3),
        st.lists(folders, max_size=2),
        st.lists(associations, max_size=3),
    )
    def test_submission_round_trips(
        self, sets: list, documents: list, folder_list: list, links: list
    ) -> None:
        submission = Submission(tuple(sets), tuple(documents), tuple(folder_list), tuple(links))
        assume(_unique_ids(list(submission.objects())))
        decoded = decode_submission(parse_xml(etree.tostring(encode_submission(submission))))
        assert decoded == submission
        assert decoded.problems == ()


def _as_list(obj: AnyObject) -> etree._Element:
    object_list = etree.Element("{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}RegistryObjectList")
    object_list.append(encode_object(obj))
    return object_list
