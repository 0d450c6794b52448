"""The Patient Identity Feed face (ITI-8): HL7 v2 ADT over MLLP.

``hl7`` reads a message into a feed request and writes the ACK; ``service.FeedService`` applies a message in
one transaction through the core use cases (``core.patient_feed``) and always answers; ``mllp`` is the asyncio
transport (framing, TLS). ``app.py`` builds the service and starts the listener when ``--mllp-port`` is given.
"""

from xds_server.feed.hl7 import FIELDS, FeedRequest, Header, Hl7Problem, ack, parse_feed
from xds_server.feed.mllp import Frame, FramingError, MllpFramer, MllpServer, frame, server_ssl_context
from xds_server.feed.service import FeedService, FeedTransaction, apply

__all__ = [
    "FIELDS",
    "FeedRequest",
    "FeedService",
    "FeedTransaction",
    "Frame",
    "FramingError",
    "Header",
    "Hl7Problem",
    "MllpFramer",
    "MllpServer",
    "ack",
    "apply",
    "frame",
    "parse_feed",
    "server_ssl_context",
]
