"""``XdsClient``: the three transactions a person without IHE software needs, over HTTP (httpx).

``security`` is called once per request and returns the serialised SAML assertion to put in the
``wsse:Security`` header (a fresh one each time: a OneTimeUse assertion cannot be replayed), or None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx
from lxml import etree

from xds_server.client import messages, responses
from xds_server.client.metadata import ProvideAndRegister
from xds_server.core.metadata import DocumentEntry
from xds_server.core.vocabulary import SoapAction

Security = Callable[[], bytes | None]


def _no_security() -> bytes | None:
    return None


@dataclass
class XdsClient:
    base_url: str = "http://127.0.0.1:8080"
    security: Security = _no_security
    timeout: float = 60.0
    http: httpx.Client | None = field(default=None, repr=False)

    def _post(self, path: str, package: messages.Package) -> tuple[etree._Element, dict[str, bytes]]:
        client = self.http or httpx.Client(timeout=self.timeout)
        try:
            answer = client.post(
                self.base_url.rstrip("/") + path,
                content=package.body,
                headers={"Content-Type": package.content_type},
            )
        finally:
            if self.http is None:
                client.close()
        root, parts = responses.split_parts(answer.headers.get("content-type", ""), answer.content)
        return responses.parse_envelope(root), parts

    def provide_and_register(self, request: ProvideAndRegister, mime_type: str) -> responses.Outcome:
        """ITI-41 to ``/xds/repository`` (MTOM)."""
        package = messages.provide_and_register(
            request.submission, {request.document_id: (mime_type, request.content)}, self.security()
        )
        body, _ = self._post("/xds/repository", package)
        return responses.outcome(body)

    def find_documents(
        self, patient_id: str, **filters: object
    ) -> tuple[responses.Outcome, list[DocumentEntry]]:
        """ITI-18 FindDocuments (LeafClass) to ``/xds/registry``; ``filters``: see
        ``messages.find_documents``."""
        query = messages.find_documents(patient_id, **filters)  # type: ignore[arg-type]
        root = messages.envelope(SoapAction.STORED_QUERY, query, self.security())
        body, _ = self._post("/xds/registry", messages.plain(root, SoapAction.STORED_QUERY))
        return responses.outcome(body), responses.documents_found(body)

    def retrieve(
        self, repository_unique_id: str, unique_ids: Sequence[str]
    ) -> tuple[responses.Outcome, list[responses.RetrievedDocument]]:
        """ITI-43 to ``/xds/repository`` (MTOM answer)."""
        request = messages.retrieve_request(repository_unique_id, unique_ids)
        root = messages.envelope(SoapAction.RETRIEVE, request, self.security())
        body, parts = self._post("/xds/repository", messages.mtom(root, {}, SoapAction.RETRIEVE))
        return responses.outcome(body), responses.retrieved(body, parts)


__all__ = ["Security", "XdsClient"]
