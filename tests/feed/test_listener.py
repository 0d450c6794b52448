"""The MLLP listener of the real application (create_app with mllp_port=0) on the test database: the ACK
matrix over a socket, framing edge cases, TLS, and that a refused message changes nothing."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.cli.test_serve import Pki, client_context, pki  # noqa: F401 (pki is a fixture)
from tests.feed.messages import adt, err, ihe_pid, msa
from xds_server.app import create_app
from xds_server.config import Settings
from xds_server.storage import tables
from xds_server.storage.database import Database
from xds_server.storage.feed import SqlPatientFeed

SB, EB = b"\x0b", b"\x1c\r"


class Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def ack(self) -> bytes:
        while EB not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed before the acknowledgement"
            self.buffer += chunk
        end = self.buffer.index(EB)
        answer, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
        assert answer.startswith(SB)
        return answer[1:]

    def exchange(self, message: bytes) -> bytes:
        self.send(SB + message + EB)
        return self.ack()


@contextmanager
def running(database: Database, tmp_path: Path, **settings: object) -> Iterator[int]:
    app = create_app(Settings(data_dir=tmp_path, profile="ihe", mllp_port=0, **settings), database=database)
    with TestClient(app):
        yield app.state.mllp_port


@pytest.fixture
def port(database: Database, tmp_path: Path) -> Iterator[int]:
    with running(database, tmp_path) as bound:
        yield bound


@pytest.fixture
def conn(port: int) -> Iterator[Connection]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        yield Connection(sock)
    finally:
        sock.close()


def snapshot(database: Database) -> list[tuple[object, ...]]:
    with database.transaction(readonly=True) as connection:
        rows = [
            tuple(r) for r in connection.execute(select(tables.patient).order_by(tables.patient.c.patient_id))
        ]
        rows += [
            tuple(r) for r in connection.execute(select(tables.patient_identifier).order_by("identifier"))
        ]
    return rows


def stored(database: Database, pid: str):
    with database.transaction(readonly=True) as connection:
        return SqlPatientFeed(connection, lambda xml, _: xml).get(pid)


class TestAckMatrix:
    @pytest.mark.parametrize("event", ["A01", "A04", "A05", "A08"])
    @pytest.mark.parametrize("version", ["2.3.1", "2.5"])
    def test_create_then_update(self, conn: Connection, database: Database, event: str, version: str) -> None:
        pid = ihe_pid(f"{event}-{version}")
        answer = conn.exchange(adt(event, f"{pid}~IPP1^^^HOSP^PI", version=version, control_id="C1"))
        assert msa(answer)[1:3] == ["AA", "C1"]
        patient = stored(database, pid)
        assert patient is not None and patient.demographics.family == "APPLESEED"
        assert patient.cross_references == ("IPP1^^^HOSP^PI",)
        answer = conn.exchange(adt("A08", pid, version=version, name="SMITH^ANN", sex="F", control_id="C2"))
        assert msa(answer)[1:3] == ["AA", "C2"]
        patient = stored(database, pid)
        assert patient is not None
        assert (patient.demographics.family, patient.demographics.given) == ("SMITH", ("ANN",))
        assert patient.cross_references == ("IPP1^^^HOSP^PI",)  # kept: an update adds, never drops

    def test_merge(self, conn: Connection, database: Database) -> None:
        old, new = ihe_pid("OLD1"), ihe_pid("NEW1")
        assert msa(conn.exchange(adt("A01", old)))[1] == "AA"
        answer = conn.exchange(adt("A40", new, mrg=old, control_id="M1"))
        assert msa(answer)[1:3] == ["AA", "M1"]
        gone = stored(database, old)
        assert gone is not None and gone.merged_into == new
        # the dead id cannot be fed again
        answer = conn.exchange(adt("A01", old, control_id="M2"))
        assert msa(answer)[1] == "AE" and "204^" in err(answer)

    @pytest.mark.parametrize(
        ("message", "ack_code", "error_code"),
        [
            (adt("A03", ihe_pid("Z1")), "AR", "201"),
            (adt("A01", ihe_pid("Z1"), version="2.8"), "AR", "203"),
            (adt("A01", ihe_pid("Z1"), message_type="ORM"), "AR", "200"),
            (b"this is not HL7", "AR", "100"),
            (adt("A01", ""), "AE", "101"),
            (adt("A01", "LOCAL^^^HOSP"), "AE", "204"),
            (adt("A01", ihe_pid("Z1"), birth="20261345"), "AE", "102"),
            (adt("A40", ihe_pid("Z1"), mrg=ihe_pid("Z1")), "AE", "205"),
            (adt("A40", ihe_pid("Z1")), "AE", "100"),
        ],
    )
    def test_refusals_change_nothing_and_the_connection_stays_usable(
        self, conn: Connection, database: Database, message: bytes, ack_code: str, error_code: str
    ) -> None:
        before = snapshot(database)
        answer = conn.exchange(message)
        assert msa(answer)[1] == ack_code, answer
        assert msa(answer)[3]  # the reason, in MSA-3
        assert f"{error_code}^" in err(answer) or f"^{error_code}&" in err(answer), err(answer)
        assert snapshot(database) == before
        assert msa(conn.exchange(adt("A01", ihe_pid("AFTER"))))[1] == "AA"


class TestFramingOverTheWire:
    def test_two_messages_in_one_write_get_two_acks_in_order(self, conn: Connection) -> None:
        conn.send(
            SB
            + adt("A01", ihe_pid("T1"), control_id="ONE")
            + EB
            + SB
            + adt("A01", ihe_pid("T2"), control_id="TWO")
            + EB
        )
        assert msa(conn.ack())[2] == "ONE"
        assert msa(conn.ack())[2] == "TWO"

    def test_a_slow_sender(self, conn: Connection, database: Database) -> None:
        data = SB + adt("A01", ihe_pid("SLOW"), control_id="SLOW") + EB
        for i in range(0, len(data), 7):
            conn.send(data[i : i + 7])
            time.sleep(0.005)
        assert msa(conn.ack())[1:3] == ["AA", "SLOW"]
        assert stored(database, ihe_pid("SLOW")) is not None

    def test_a_one_megabyte_message(self, conn: Connection, database: Database) -> None:
        big = adt("A01", ihe_pid("BIG"), control_id="BIG", extra="NTE|1||" + "x" * (1 << 20))
        assert len(big) > 1 << 20
        assert msa(conn.exchange(big))[1:3] == ["AA", "BIG"]
        assert stored(database, ihe_pid("BIG")) is not None

    def test_garbage_then_a_message(self, conn: Connection) -> None:
        conn.send(b"GET / HTTP/1.1\r\n\r\n" + SB + adt("A01", ihe_pid("G1"), control_id="G1") + EB)
        first = conn.ack()
        assert msa(first)[1] == "AR" and "100^" in err(first)
        assert msa(conn.ack())[1:3] == ["AA", "G1"]

    def test_a_too_large_message_is_refused_and_named(self, database: Database, tmp_path: Path) -> None:
        with running(database, tmp_path, mllp_max_message_bytes=2000) as bound:
            sock = socket.create_connection(("127.0.0.1", bound), timeout=20)
            try:
                conn = Connection(sock)
                answer = conn.exchange(
                    adt("A01", ihe_pid("HUGE"), control_id="HUGE", extra="NTE|1||" + "y" * 5000)
                )
                assert msa(answer)[1:3] == ["AR", "HUGE"]
                assert stored(database, ihe_pid("HUGE")) is None
                assert msa(conn.exchange(adt("A01", ihe_pid("SMALL"))))[1] == "AA"
            finally:
                sock.close()


class TestTls:
    def test_mllp_over_tls_with_client_certificates(
        self,
        database: Database,
        tmp_path: Path,
        pki: Pki,  # noqa: F811
    ) -> None:
        options = {
            "tls_cert": pki.server.cert,
            "tls_key": pki.server.key,
            "tls_client_ca": pki.client_ca.cert,
        }
        with running(database, tmp_path, **options) as bound:
            context = client_context(pki, pki.client)
            with (
                socket.create_connection(("127.0.0.1", bound), timeout=20) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
            ):
                answer = Connection(sock).exchange(adt("A01", ihe_pid("TLS1"), control_id="TLS1"))
                assert msa(answer)[1:3] == ["AA", "TLS1"]
            # a client without a certificate of the client CA gets no answer
            with (
                socket.create_connection(("127.0.0.1", bound), timeout=20) as raw,
                pytest.raises((ssl.SSLError, ConnectionError, AssertionError)),
                client_context(pki).wrap_socket(raw, server_hostname="127.0.0.1") as sock,
            ):
                Connection(sock).exchange(adt("A01", ihe_pid("TLS2")))
        assert stored(database, ihe_pid("TLS2")) is None
