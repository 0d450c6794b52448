"""parse_xml: DOCTYPE (and so entity tricks) refused, malformed and empty input refused, XML accepted."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lxml import etree

from xds_server import xmlparse
from xds_server.xmlparse import XmlRejected, parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lolz>&lol9;</lolz>"""


def external_entity(target: Path) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY secret SYSTEM "file://{target}">]><r>&secret;</r>'
    ).encode()


def rejected(data: bytes) -> str:
    with pytest.raises(XmlRejected) as caught:
        parse_xml(data)
    return caught.value.reason


class TestDoctypeRefused:
    def test_billion_laughs(self) -> None:
        assert "DOCTYPE" in rejected(BILLION_LAUGHS)

    def test_external_entity(self, tmp_path: Path) -> None:
        secret = tmp_path / "secret.txt"
        secret.write_text("TOP-SECRET")
        assert "DOCTYPE" in rejected(external_entity(secret))

    def test_doctype_without_subset(self) -> None:
        assert "DOCTYPE" in rejected(b'<!DOCTYPE r SYSTEM "http://example.invalid/r.dtd"><r/>')

    def test_doctype_after_comments_and_processing_instructions(self) -> None:
        data = b'<?xml version="1.0"?>\n<!-- c --><?pi x?>\n  <!DOCTYPE r><r/>'
        assert "DOCTYPE" in rejected(data)

    def test_doctype_in_utf16(self) -> None:
        data = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>'.encode(
            "utf-16"
        )
        assert "DOCTYPE" in rejected(data)

    @pytest.mark.parametrize("cut", [1015, 1020, 1024, 1030])
    def test_doctype_across_the_first_window(self, cut: int) -> None:
        # the skim reads the first KiB, then the whole window when the prolog runs past it
        head = b'<?xml version="1.0"?><!--' + b"x" * (cut - 28) + b"-->"
        data = head + b"<!DOCTYPE r SYSTEM 'file:///etc/passwd'><r/>"
        assert xmlparse._declares_doctype(data)
        assert "DOCTYPE" in rejected(data)

    def test_doctype_behind_a_long_comment(self) -> None:
        # beyond the skim window: the parser-level check still refuses it
        data = b"<!--" + b"x" * 200_000 + b'--><!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>'
        assert "DOCTYPE" in rejected(data)

    def test_parameter_entity_to_the_network(self) -> None:
        data = b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><r/>'
        assert "DOCTYPE" in rejected(data)


class TestParserBackstop:
    """Without the prolog skim, the lxml parser alone expands nothing, loads nothing and refuses."""

    @pytest.fixture(autouse=True)
    def _no_skim(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(xmlparse, "_has_doctype", lambda text: False)

    def test_billion_laughs_is_not_expanded(self) -> None:
        # libxml2 either refuses the amplification itself or parses without expanding; both end rejected.
        started = time.perf_counter()
        reason = rejected(BILLION_LAUGHS)
        assert "DOCTYPE" in reason or "amplification" in reason
        assert time.perf_counter() - started < 1.0

    def test_external_entity_is_not_read(self, tmp_path: Path) -> None:
        secret = tmp_path / "secret.txt"
        secret.write_text("TOP-SECRET")
        parser = xmlparse.hardened_parser()
        tree = etree.fromstring(external_entity(secret), parser)
        assert "TOP-SECRET" not in etree.tostring(tree).decode()
        assert "DOCTYPE" in rejected(external_entity(secret))

    def test_doctype_only(self) -> None:
        assert "DOCTYPE" in rejected(b"<!DOCTYPE r><r/>")


class TestMalformedRefused:
    @pytest.mark.parametrize(
        "data",
        [b"<a>", b"<a></b>", b"not xml", b"<a>&undefined;</a>", b"<a/><b/>", b"<a x='1' x='2'/>"],
        ids=["unclosed", "mismatched", "text", "undefined-entity", "two-roots", "duplicate-attribute"],
    )
    def test_malformed(self, data: bytes) -> None:
        assert rejected(data).startswith("malformed XML: ")

    @pytest.mark.parametrize("data", [b"", b"   \n\t"], ids=["empty", "whitespace"])
    def test_empty(self, data: bytes) -> None:
        assert rejected(data).startswith("empty document")

    def test_doctype_only_document(self) -> None:
        assert "DOCTYPE" in rejected(b"<!DOCTYPE r>")


class TestAccepted:
    def test_plain_document(self) -> None:
        assert parse_xml(b'<?xml version="1.0" encoding="UTF-8"?><!-- hi --><a b="1"><c/></a>').tag == "a"

    def test_latin1_declaration(self) -> None:
        root = parse_xml('<?xml version="1.0" encoding="ISO-8859-1"?><a>é</a>'.encode("latin-1"))
        assert root.text == "é"

    def test_doctype_text_inside_content_is_data(self) -> None:
        root = parse_xml(b"<a><![CDATA[<!DOCTYPE x>]]></a>")
        assert root.text == "<!DOCTYPE x>"

    def test_predefined_and_character_entities(self) -> None:
        assert parse_xml(b"<a>&amp;&lt;&#233;</a>").text == "&<é"
