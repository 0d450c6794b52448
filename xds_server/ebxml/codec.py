"""ebRIM/ebRS 3.0 <-> core model: the public face of the metadata codec.

``decode_submission`` (decoding.py) reads a SubmitObjectsRequest into a ``Submission`` and collects every
structural fault as a ``DecodeProblem``; ``encode_object``/``encode_object_xml``/``encode_submission``
(encoding.py) write canonical ebRIM. decode -> encode -> decode gives an equal model.
"""

from __future__ import annotations

from xds_server.ebxml.decoding import decode_submission
from xds_server.ebxml.encoding import encode_object, encode_object_xml, encode_submission

__all__ = ["decode_submission", "encode_object", "encode_object_xml", "encode_submission"]
