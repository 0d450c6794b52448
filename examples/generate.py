"""Write the example messages of this folder from the client's builders (``xds_server.client``), with fixed
ids and times so the files do not change from one run to the next.

    python examples/generate.py           # rewrite the files
    python examples/generate.py --check   # exit 1 when a file differs from what the builders write

tests/examples/test_examples.py runs ``--check`` (an example never drifts from the code) and sends every
message to a server on the ``dmp-test`` and on the ``ihe`` profile.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from lxml import etree

from xds_server.client import messages
from xds_server.client.cda import read_header
from xds_server.client.metadata import DocumentFacts, facts_from_cda, submission_for
from xds_server.config import Settings
from xds_server.core.vocabulary import SoapAction

HERE = Path(__file__).resolve().parent
CDA = HERE / "cda-compte-rendu-consultation.xml"
#: The test patient of every example (INS-NIR de test: NIR 2800175123456, key 97 - (NIR mod 97) = 10).
PATIENT = "280017512345610^^^&1.2.250.1.213.1.4.10&ISO^NH"
REPOSITORY = Settings.model_fields["repository_unique_id"].default
TIME = "20261207081500"
#: The document of iti42-register.xml: registered, never sent (ITI-42 carries metadata only).
REGISTERED_ONLY = b"%PDF-1.4 registered by ITI-42 only\n"


def _uid(n: int) -> str:
    return f"1.2.250.1.999.1.3.1.20261207.{n}"


def _message(n: int) -> str:
    return f"urn:uuid:00000000-0000-4000-8000-0000000000{n:02d}"


def _xml(envelope: bytes) -> bytes:
    """Pretty-printed, with a comment saying where the WS-Security header goes."""
    root = etree.fromstring(envelope)
    header = root[0]
    header.append(
        etree.Comment(
            " wsse:Security: a signed VIHF assertion goes here (xds-server dev assertion, option header); "
            "the ihe profile admits a request without it when XDS_ANONYMOUS_ACTOR is set "
        )
    )
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8") + b"\n"


def provide_and_register() -> bytes:
    """ITI-41: the CDA of this folder, inline (base64): a plain application/soap+xml request."""
    content = CDA.read_bytes()
    facts = facts_from_cda(read_header(content), DocumentFacts(patient_id=PATIENT))
    facts = replace(facts, patient_id=PATIENT)
    request = submission_for(
        facts, content, repository_unique_id=REPOSITORY, submission_unique_id=_uid(101), submission_time=TIME
    )
    body = messages.provide_and_register_inline(request.submission, {request.document_id: content})
    return messages.envelope(SoapAction.PROVIDE_AND_REGISTER, body, message=_message(41))


def register() -> bytes:
    """ITI-42: metadata of a PDF document (its bytes stay with the source)."""
    facts = DocumentFacts(patient_id=PATIENT, title="Ordonnance", unique_id=_uid(2), creation_time=TIME)
    request = submission_for(
        facts,
        REGISTERED_ONLY,
        repository_unique_id=REPOSITORY,
        submission_unique_id=_uid(102),
        submission_time=TIME,
    )
    return messages.envelope(
        SoapAction.REGISTER, messages.register_request(request.submission), message=_message(42)
    )


def find_documents() -> bytes:
    """ITI-18 FindDocuments: the patient's Approved documents, full metadata (LeafClass)."""
    return messages.envelope(SoapAction.STORED_QUERY, messages.find_documents(PATIENT), message=_message(18))


def retrieve() -> bytes:
    """ITI-43: the CDA sent by the ITI-41 example."""
    unique_id = read_header(CDA.read_bytes()).unique_id or ""
    return messages.envelope(
        SoapAction.RETRIEVE, messages.retrieve_request(REPOSITORY, [unique_id]), message=_message(43)
    )


FILES = {
    "iti41-provide-and-register.xml": provide_and_register,
    "iti42-register.xml": register,
    "iti18-find-documents.xml": find_documents,
    "iti43-retrieve.xml": retrieve,
}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, build in FILES.items():
        data = _xml(build())
        path = HERE / name
        if check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(name)
        else:
            path.write_bytes(data)
    for name in stale:
        print(f"examples/{name} differs from what the builders write: run python examples/generate.py")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
