"""lxml codecs between ebRIM/ebRS 3.0 XML and the core model (ITI-18/41/42/57/62 message bodies).

Everything that parses network bytes goes through ``parse_xml`` (no DOCTYPE, no entities, no network).
This package imports only ``xds_server.core`` and lxml.
"""

from xds_server.ebxml.codec import decode_submission, encode_object, encode_object_xml, encode_submission
from xds_server.ebxml.xmlparse import XmlRejected, parse_xml

__all__ = [
    "XmlRejected",
    "decode_submission",
    "encode_object",
    "encode_object_xml",
    "encode_submission",
    "parse_xml",
]
