"""Patient identity feed figures: ITI-8 messages per second over one MLLP connection, and the time a merge
takes as the subsumed record grows (it rewrites every row and stored ebRIM of that record).

    .venv/bin/python bench/feed_bench.py [--messages 500] [--sizes 10,100,1000]
                                         [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

A fresh database (temporary SQLite file, or a throw-away PostgreSQL schema dropped at the end), the real
FeedService behind the real asyncio MLLP listener in this process; documents are registered through the core
register use case with the real ebRIM encoder (bench/query_bench.record).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.query_bench import Clock, Ids, record  # noqa: E402
from xds_server.app import feed_service, mllp_listener  # noqa: E402
from xds_server.config import Settings  # noqa: E402
from xds_server.core.profile import IHE_DEFAULT  # noqa: E402
from xds_server.core.usecases.register import register  # noqa: E402
from xds_server.ebxml.encoding import encode_object_xml  # noqa: E402
from xds_server.storage.database import Database, url_with_schema  # noqa: E402
from xds_server.storage.migrate import upgrade  # noqa: E402
from xds_server.storage.registry import SqlRegistryStore  # noqa: E402

AUTHORITY = "1.3.6.1.4.1.21367.13.20.1000"


def pid(name: str) -> str:
    return f"{name}^^^&{AUTHORITY}&ISO"


def adt(event: str, patient: str, control: int, mrg: str | None = None) -> bytes:
    segments = [
        f"MSH|^~\\&|BENCH|HOSP|XDS|REG|20261207000000||ADT^{event}|{control}|P|2.5",
        f"EVN|{event}|20261207000000",
        f"PID|||{patient}~IPP{control}^^^HOSP^PI||DOE^JANE||19800101|F",
    ]
    if mrg:
        segments.append(f"MRG|{mrg}")
    return ("\r".join(segments) + "\r").encode()


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buffer = b""

    def exchange(self, message: bytes) -> bytes:
        self.sock.sendall(b"\x0b" + message + b"\x1c\r")
        while b"\x1c\r" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        end = self.buffer.index(b"\x1c\r")
        answer, self.buffer = self.buffer[1:end], self.buffer[end + 2 :]
        if b"MSA|AA" not in answer:
            raise SystemExit(f"not accepted: {answer!r}")
        return answer


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--sizes", default="10,100,1000", help="documents in the subsumed record, per merge")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    schema = None
    if args.database_url:
        schema = f"feed_bench_{secrets.token_hex(4)}"
        database = Database(url_with_schema(args.database_url, schema), schema=schema)
    else:
        database = Database(f"sqlite:///{tempfile.mkdtemp(prefix='feed-bench-')}/registry.sqlite3")
    upgrade(database)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    listener = mllp_listener(Settings(profile="ihe"), feed_service(database, IHE_DEFAULT))
    port = asyncio.run_coroutine_threadsafe(listener.start("127.0.0.1", 0), loop).result()
    try:
        client = Client(port)
        started = time.perf_counter()
        for n in range(args.messages):
            client.exchange(adt("A01" if n % 2 == 0 else "A08", pid(f"B{n // 2}"), n))
        elapsed = time.perf_counter() - started
        print(
            f"{database.dialect_name}: {args.messages} ADT A01/A08 over one MLLP connection "
            f"in {elapsed:.2f} s "
            f"= {args.messages / elapsed:,.0f} messages/s ({1000 * elapsed / args.messages:.2f} ms each)"
        )
        rng, ids, base = random.Random(8), Ids(random.Random(8)), None
        for size in (int(s) for s in args.sizes.split(",")):
            old, new = pid(f"OLD{size}"), pid(f"NEW{size}")
            client.exchange(adt("A01", old, 10_000 + size))
            client.exchange(adt("A01", new, 20_000 + size))
            with database.transaction() as connection:
                store = SqlRegistryStore(connection, encode_object_xml)
                sub = record(rng, ids, old, size, 30_000 + size)
                register(sub, store=store, profile=IHE_DEFAULT, clock=Clock(), ids=ids)
            started = time.perf_counter()
            client.exchange(adt("A40", new, 40_000 + size, mrg=old))
            ms = 1000 * (time.perf_counter() - started)
            base = base or (ms, size)
            print(
                f"  merge of a record of {size:>5} documents ({size + 1} objects rewritten): {ms:8.1f} ms "
                f"(x{ms / base[0]:.1f} the {base[1]}-document merge)"
            )
        client.sock.close()
    finally:
        asyncio.run_coroutine_threadsafe(listener.close(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        if schema:
            with database.engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        database.dispose()


if __name__ == "__main__":
    main()
