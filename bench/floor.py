"""The server exactly as ``xds-server serve`` runs it, plus the benchmarks' floor: trivial endpoints on the
same stack (same uvicorn, same FastAPI application, same number of workers).

    python bench/floor.py serve --host 127.0.0.1 --port 8080 [--workers N]

``POST /bench/floor`` reads the whole request body like the SOAP endpoint does and answers a fixed
RegistryResponse: what a submission costs with no XML, no database and no disk. ``GET /bench/floor`` answers
the same without a body (the floor of a small query). The benchmarks print their figures against these.
Never part of the product: only the benchmarks start this script.

``XDS_BENCH_AUDIT=off`` (bench/audit_http.py only) serves the SOAP face WITHOUT its access trail: the
router's audit hook is replaced here, in this bench-only script, so the cost of tracing can be measured
against the same stack. The server itself has no such switch (every transaction is traced).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fastapi import FastAPI, Request, Response

# XDS_BENCH_SERVER_ROOT: serve another checkout's code (e.g. main, for a before/after comparison)
sys.path.insert(0, os.environ.get("XDS_BENCH_SERVER_ROOT") or str(Path(__file__).resolve().parents[1]))

from xds_server.app import create_app
from xds_server.soap.router import Router


class UntracedRouter(Router):
    """The SOAP router with no audit hook (every route handled as if it were no IHE transaction)."""

    def _audit(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        return None


ANSWER = (
    b'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope">'
    b'<soap:Body><rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" '
    b'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"/></soap:Body></soap:Envelope>'
)


def create() -> FastAPI:
    app = create_app()
    if os.environ.get("XDS_BENCH_AUDIT", "").strip().lower() == "off":
        app.state.soap_router = UntracedRouter(app.state.services)

    @app.post("/bench/floor")
    async def floor(request: Request) -> Response:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return Response(ANSWER, media_type="application/soap+xml")

    @app.get("/bench/floor")
    async def floor_get() -> Response:
        return Response(ANSWER, media_type="application/soap+xml")

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    log_level = os.environ.get("XDS_LOG_LEVEL", "warning").lower()
    if args.workers > 1:  # as serve --workers: migrate once before the workers start
        from xds_server.app import open_database
        from xds_server.config import Settings
        from xds_server.storage.migrate import upgrade

        database = open_database(Settings())
        upgrade(database)
        database.dispose()
    # XDS_BENCH_HTTP / XDS_BENCH_LOOP (bench/pnr.py --before-env): another HTTP parser or event loop than
    # uvicorn's choice ("auto": httptools and uvloop when installed), to measure what they change
    uvicorn.run(
        "floor:create",
        factory=True,
        app_dir=str(Path(__file__).parent),
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=log_level,
        http=os.environ.get("XDS_BENCH_HTTP", "auto"),  # type: ignore[arg-type]
        loop=os.environ.get("XDS_BENCH_LOOP", "auto"),  # type: ignore[arg-type]
    )


if __name__ == "__main__":
    main()
