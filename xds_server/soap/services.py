"""What a SOAP transaction handler returns (it receives ``wiring.Services``, shared with the FHIR face).

A handler answers with a ``Reply``: the response body element (the router wraps it in the envelope with the
response action) and, for MTOM answers, the parts its ``xop:Include`` elements point at
(``soap.mtom.OutgoingPart``: streamed from the blob store when the answer is written).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from xds_server.soap.mtom import OutgoingPart


@dataclass(frozen=True, slots=True)
class Reply:
    """A handler's answer: the response body element and the parts it references (MTOM only)."""

    body: etree._Element
    parts: Sequence[OutgoingPart] = ()


__all__ = ["Reply"]
