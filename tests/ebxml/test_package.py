"""The package surface: ``__all__`` is the public API, and ebxml depends only on core, lxml and the stdlib."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import xds_server.ebxml as ebxml

PACKAGE = Path(ebxml.__file__).parent
EXPECTED = {
    "AdhocQuery",
    "XmlRejected",
    "adhoc_query_response",
    "decode_adhoc_query",
    "decode_object",
    "decode_object_xml",
    "decode_remove_objects",
    "decode_submission",
    "encode_object",
    "encode_object_xml",
    "encode_submission",
    "parse_xml",
    "registry_error_list",
    "registry_response",
    "response_status",
}


class TestPublicApi:
    def test_all_is_the_public_surface(self) -> None:
        assert set(ebxml.__all__) == EXPECTED
        public = {name for name in vars(ebxml) if not name.startswith("_")}
        assert set(ebxml.__all__) <= public

    def test_every_name_resolves(self) -> None:
        for name in ebxml.__all__:
            assert getattr(ebxml, name) is not None


class TestDependencies:
    def test_imports_only_core_lxml_and_stdlib(self) -> None:
        allowed_roots = {"lxml", "xds_server", "__future__", *sys.stdlib_module_names}
        for source in PACKAGE.glob("*.py"):
            tree = ast.parse(source.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    assert module.split(".")[0] in allowed_roots, f"{source.name} imports {module}"
                    if module.startswith("xds_server."):
                        # the hardened XML parser is shared with the FHIR face (xds_server/xmlparse.py)
                        allowed = ("xds_server.core", "xds_server.ebxml", "xds_server.xmlparse")
                        assert module.startswith(allowed), f"{source.name} imports {module}"
