"""App nodes are stateless: two server processes on one PostgreSQL database and one blob store, with nothing
else in common (separate data dirs, separate ports), serve a load spread across both exactly as one server
would.

The load: 24 ITI-41 submissions (one 2 KB document each) sent alternately to node A and node B, four at a
time. Then every document is retrieved (ITI-43) from the
node that did NOT store it, and FindDocuments asked of both nodes must give the same answer, which must also
be what a single server gives for the same submissions (the same load replayed on one node, in another
schema). PostgreSQL only (SQLite is one file on one machine): skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from lxml import etree

from tests.e2e.test_e2e_server import xds_server_command
from tests.pg_helpers import scratch_schema
from tests.query.builders import adhoc
from tests.repository.messages import (
    RETRIEVE,
    Doc,
    envelope,
    pnr_message,
    retrieve_request,
)
from tests.server_helpers import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PATIENT = "TWO-NODES^^^&1.3.6.1.4.1.21367.2005.13.20.1000&ISO"
REPOSITORY = "1.3.6.1.4.1.21367.2010.1.2.1125"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
SUBMISSIONS = 24


@dataclass
class Node:
    url: str
    process: subprocess.Popen[bytes]

    def post(self, body: bytes, content_type: str) -> bytes:
        response = httpx.post(
            f"{self.url}/xds/repository", content=body, headers={"Content-Type": content_type}, timeout=60
        )
        assert response.status_code == 200, response.text[:500]
        return response.content


def _env(schema_env: dict[str, str], data_dir: Path, blobs: Path) -> dict[str, str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("XDS_")}
    return {
        **base,
        **schema_env,
        "XDS_DATA_DIR": str(data_dir),
        "XDS_BLOB_STORE": f"file:{blobs}",
        "XDS_PROFILE": "ihe",
        "XDS_ANONYMOUS_ACTOR": "two-nodes-test",
        "XDS_REPOSITORY_UNIQUE_ID": REPOSITORY,
        "XDS_DEV_AUTHORITY": "off",
    }


@contextmanager
def _nodes(tmp_path: Path, schema_env: dict[str, str], count: int) -> Iterator[list[Node]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    blobs = tmp_path / "shared-blobs"
    envs = [_env(schema_env, tmp_path / f"node-{i}", blobs) for i in range(count)]
    subprocess.run(
        [*xds_server_command(), "patients", "add", PATIENT, "--state", "activated"],
        env=envs[0],
        check=True,
        capture_output=True,
        timeout=120,
    )
    nodes = []
    try:
        for index, env in enumerate(envs):
            port = free_port()
            log = (tmp_path / f"node-{index}.log").open("wb")
            process = subprocess.Popen(
                [*xds_server_command(), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
            )
            nodes.append(Node(f"http://127.0.0.1:{port}", process))
        for node in nodes:
            _wait(node)
        yield nodes
    finally:
        for node in nodes:
            node.process.send_signal(signal.SIGINT)
        for node in nodes:
            try:
                node.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()


def _wait(node: Node) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            pytest.fail(f"server {node.url} exited with {node.process.returncode}")
        try:
            if httpx.get(f"{node.url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"server {node.url} did not become healthy")


def _documents() -> list[Doc]:
    return [Doc(f"document {i} ".encode() * 200, "text/plain") for i in range(SUBMISSIONS)]


def _load(nodes: list[Node], docs: list[Doc]) -> dict[str, int]:
    """Submit every document, spreading them over the nodes, 4 at a time; {uniqueId: node index}."""

    def submit(index: int) -> tuple[str, int]:
        node = index % len(nodes)
        body, content_type = pnr_message([docs[index]], patient=PATIENT)
        answer = nodes[node].post(body, content_type)
        assert SUCCESS.encode() in answer, answer.decode(errors="replace")[-1500:]
        return docs[index].unique_id, node

    with ThreadPoolExecutor(4) as pool:
        return dict(pool.map(submit, range(len(docs))))


def _find(node: Node) -> list[str]:
    """uniqueIds of the Approved DocumentEntries of the patient (LeafClass), sorted."""
    query = envelope(
        STORED_QUERY,
        etree.fromstring(
            adhoc(
                FIND_DOCUMENTS,
                {
                    "$XDSDocumentEntryPatientId": f"'{PATIENT}'",
                    "$XDSDocumentEntryStatus": "('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')",
                },
                return_type="LeafClass",
            )
        ),
    )
    response = httpx.post(
        f"{node.url}/xds/registry",
        content=query,
        headers={"Content-Type": "application/soap+xml"},
        timeout=60,
    )
    assert response.status_code == 200 and SUCCESS in response.text, response.text[:800]
    root = etree.fromstring(response.content)
    return sorted(
        e.get("value", "")
        for e in root.iter(f"{{{RIM}}}ExternalIdentifier")
        if e.get("identificationScheme") == "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
    )


def _retrieve(node: Node, doc: Doc) -> bytes:
    request = envelope(RETRIEVE, retrieve_request(REPOSITORY, doc.unique_id))
    response = httpx.post(
        f"{node.url}/xds/repository",
        content=request,
        headers={"Content-Type": "application/soap+xml"},
        timeout=60,
    )
    assert response.status_code == 200 and SUCCESS.encode() in response.content, response.content[:800]
    return response.content


class TestTwoStatelessNodes:
    def test_a_load_spread_over_two_nodes_gives_the_results_of_one(self, tmp_path: Path) -> None:
        docs = _documents()
        with scratch_schema("xds_two_nodes") as schema:
            assert schema is not None
            with _nodes(tmp_path / "two", schema.env, 2) as nodes:
                stored_by = _load(nodes, docs)
                assert len(stored_by) == SUBMISSIONS and set(stored_by.values()) == {0, 1}
                for doc in docs:  # every document from the node that did not store it
                    other = nodes[1 - stored_by[doc.unique_id]]
                    assert doc.content in _retrieve(other, doc)
                on_a, on_b = _find(nodes[0]), _find(nodes[1])
        assert on_a == on_b == sorted(stored_by)

        with scratch_schema("xds_one_node") as schema:
            assert schema is not None
            with _nodes(tmp_path / "one", schema.env, 1) as (single,):
                _load([single], docs)  # the same documents (same uniqueIds) in a fresh registry
                alone = _find(single)
        assert alone == on_a
