"""A Document Source / Consumer for people without IHE software (``xds-server send | find | get``), and the
one home of the request builders that tests, benchmarks and ``examples/`` share.

* ``cda``: the facts an ITI-41 needs, read from a CDA R2 header;
* ``metadata``: ``DocumentFacts`` -> the ITI-41 Submission (DocumentEntry, SubmissionSet, HasMember);
* ``messages``: SOAP envelopes, ITI-41/42/18/43 bodies, MTOM packages (no I/O);
* ``responses``: RegistryResponse, AdhocQueryResponse and RetrieveDocumentSetResponse readers;
* ``session``: ``XdsClient`` over httpx.

A client: it uses the ebXML codec and the core model, never the server's SOAP face (import-linter).
"""

from xds_server.client.metadata import DocumentFacts, Professional, ProvideAndRegister, submission_for
from xds_server.client.session import XdsClient

__all__ = ["DocumentFacts", "Professional", "ProvideAndRegister", "XdsClient", "submission_for"]
