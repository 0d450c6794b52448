"""Registry content for the FHIR read tests, fed through the SOAP face (ITI-42 Register with each document's
bytes put in the blob store, or ITI-41 Provide and Register), so every FHIR answer reads what an XDS source
wrote."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections.abc import Sequence
from typing import Any

from lxml import etree

from tests.core import builders
from tests.identity_helpers import sign
from tests.mhd.conftest import FhirServer
from tests.repository.messages import PNR, Doc, envelope, mtom, provide_request
from xds_server.core.metadata import Association, DocumentEntry, Folder, Submission, SubmissionSet
from xds_server.core.vocabulary import SoapAction
from xds_server.ebxml.encoding import encode_submission
from xds_server.identity.dev_authority import Identity

_UUID = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"


def new_uuid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def content_of(entry: DocumentEntry) -> bytes:
    return f"document {entry.unique_id}".encode()


def with_content(entry: DocumentEntry, content: bytes | None = None) -> DocumentEntry:
    data = content if content is not None else content_of(entry)
    return dataclasses.replace(entry, hash=hashlib.sha1(data).hexdigest(), size=str(len(data)))


def register(
    server: FhirServer,
    *docs: DocumentEntry,
    ss: SubmissionSet | None = None,
    folders: Sequence[Folder] = (),
    associations: Sequence[Association] = (),
    identity: Identity | None = None,
    contents: dict[str, bytes] | None = None,
) -> Submission:
    """ITI-42 Register (signed by ``identity``), asserting success; each document's bytes go to the blob
    store under its hash, as ITI-41 would have put them."""
    repository = server.settings.repository_unique_id
    docs = tuple(
        with_content(
            dataclasses.replace(d, repository_unique_id=repository), (contents or {}).get(d.entry_uuid)
        )
        for d in docs
    )
    package = ss or builders.submission_set(new_uuid(), patient_id=docs[0].patient_id if docs else None)
    submission = builders.submission(
        *docs, ss=package, folders=tuple(folders), associations=tuple(associations)
    )
    submission = dataclasses.replace(
        submission,
        associations=tuple(
            a if _UUID.match(a.entry_uuid) else dataclasses.replace(a, entry_uuid=new_uuid())
            for a in submission.associations
        ),
    )
    body = etree.tostring(encode_submission(submission)).decode()
    message = (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{SoapAction.REGISTER.value}</wsa:Action>'
        f"<wsa:MessageID>{new_uuid()}</wsa:MessageID></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()
    response = server.client.post(
        "/xds/registry",
        content=sign(message, server.authority, identity),
        headers={"Content-Type": "application/soap+xml"},
    )
    root = etree.fromstring(response.content)
    answer = root.find(f".//{{{RS}}}RegistryResponse")
    assert answer is not None and answer.get("status") == SUCCESS, response.content[:3000]
    blobs = server.client.app.state.services.blobs  # type: ignore[attr-defined]
    for doc in docs:
        data = (contents or {}).get(doc.entry_uuid, content_of(doc))
        path = server.settings.data_dir / "content.bin"
        path.write_bytes(data)
        blobs.put_file(hashlib.sha1(data).hexdigest(), path)
    return submission


def remove(server: FhirServer, submission: Submission, identity: Identity | None = None) -> None:
    """ITI-62 Delete Document Set of everything ``submission`` registered, asserting success."""
    refs = "".join(f'<rim:ObjectRef id="{o.entry_uuid}"/>' for o in submission.objects())
    body = (
        '<lcm:RemoveObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0" '
        f'xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"><rim:ObjectRefList>{refs}'
        "</rim:ObjectRefList></lcm:RemoveObjectsRequest>"
    )
    message = (
        '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsa="http://www.w3.org/2005/08/addressing"><env:Header>'
        f'<wsa:Action env:mustUnderstand="true">{SoapAction.DELETE.value}</wsa:Action>'
        f"<wsa:MessageID>{new_uuid()}</wsa:MessageID></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    ).encode()
    response = server.client.post(
        "/xds/registry",
        content=sign(message, server.authority, identity),
        headers={"Content-Type": "application/soap+xml"},
    )
    answer = etree.fromstring(response.content).find(f".//{{{RS}}}RegistryResponse")
    assert answer is not None and answer.get("status") == SUCCESS, response.content[:3000]


def provide(
    server: FhirServer, docs: list[Doc], patient: str, identity: Identity | None = None
) -> etree._Element:
    """ITI-41 Provide and Register (MTOM), asserting success; the response root."""
    root = sign(envelope(PNR, provide_request(docs, patient=patient)), server.authority, identity)
    body, content_type = mtom(root, [(d.content_id, d.mime_type, d.content) for d in docs])
    response = server.client.post("/xds/repository", content=body, headers={"Content-Type": content_type})
    parsed = soap_part(response.content)
    answer = parsed.find(f".//{{{RS}}}RegistryResponse")
    assert answer is not None and answer.get("status") == SUCCESS, response.content[:3000]
    return parsed


def soap_part(content: bytes) -> etree._Element:
    """The SOAP envelope of a plain or MTOM answer."""
    start = content.index(b"<env:Envelope") if b"<env:Envelope" in content else content.index(b"<?xml")
    end = content.rindex(b"Envelope>") + len(b"Envelope>")
    return etree.fromstring(content[start:end])


def entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]


def ids(bundle: dict[str, Any]) -> list[str]:
    return [r["id"] for r in entries(bundle)]


__all__ = [
    "content_of",
    "entries",
    "ids",
    "new_uuid",
    "provide",
    "register",
    "remove",
    "soap_part",
    "with_content",
]
