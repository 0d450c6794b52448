"""Round trips of the ebRIM codec over the NIST testkit (every rim 3.0 submission file) and generated models."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from .corpus import normal_form, relative, rim3_submissions
from xds_server.ebxml import (
    decode_object_xml,
    decode_submission,
    encode_object_xml,
    encode_submission,
    parse_xml,
)

SUBMISSIONS = rim3_submissions()
COUNT = len(SUBMISSIONS)


def _ids() -> list[str]:
    return [f"{index}/{COUNT}:{relative(path)}" for index, path in enumerate(SUBMISSIONS, 1)]


class TestNistCorpus:
    def test_corpus_is_found(self) -> None:
        # The copied testkit has 37 SubmitObjectsRequest files in rim 3.0 syntax (the other 237 are ebRIM 2.1).
        print(f"\nebxml round trip: {COUNT} NIST testkit rim 3.0 submission files")
        assert COUNT >= 37

    @pytest.mark.parametrize("path", SUBMISSIONS, ids=_ids())
    def test_decodes_without_problems(self, path: Path) -> None:
        submission = decode_submission(parse_xml(path.read_bytes()))
        assert submission.problems == ()
        assert len(submission.submission_sets) == 1
        assert submission.objects()

    @pytest.mark.parametrize("path", SUBMISSIONS, ids=_ids())
    def test_decode_encode_decode_gives_equal_model(self, path: Path) -> None:
        first = decode_submission(parse_xml(path.read_bytes()))
        encoded = etree.tostring(encode_submission(first))
        second = decode_submission(parse_xml(encoded))
        assert second == first
        assert second.problems == ()

    @pytest.mark.parametrize("path", SUBMISSIONS, ids=_ids())
    def test_encoded_xml_means_the_same(self, path: Path) -> None:
        original = parse_xml(path.read_bytes())
        encoded = encode_submission(decode_submission(original))
        assert normal_form(encoded) == normal_form(original)

    @pytest.mark.parametrize("path", SUBMISSIONS, ids=_ids())
    def test_each_object_survives_the_storage_string(self, path: Path) -> None:
        for obj in decode_submission(parse_xml(path.read_bytes())).objects():
            text = encode_object_xml(obj)
            assert decode_object_xml(text) == obj
            assert encode_object_xml(decode_object_xml(text)) == text
