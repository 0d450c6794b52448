"""lxml codecs between ebRIM/ebRS 3.0 XML and the core model (ITI-18/41/42/57/62 message bodies).

Everything that parses network bytes goes through ``parse_xml`` (no DOCTYPE, no entities, no network).
This package imports only ``xds_server.core`` and lxml.
"""

from xds_server.ebxml.codec import (
    decode_object,
    decode_object_xml,
    decode_submission,
    encode_object,
    encode_object_xml,
    encode_submission,
)
from xds_server.ebxml.query import AdhocQuery, adhoc_query_response, decode_adhoc_query, decode_remove_objects
from xds_server.ebxml.responses import registry_error_list, registry_response, response_status
from xds_server.xmlparse import XmlRejected, parse_xml

__all__ = [
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
]
