"""Transport security of ``xds-server serve``: HTTPS with uvicorn's ssl options, client certificates
required when a client CA is configured (the DMP's structure certificates, the ATNA secure node).

The alternative, a TLS-terminating reverse proxy in front of a plain-HTTP server, is described in the
README ("Transport security").
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from xds_server.config import Settings


def tls_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``: empty without ``tls_cert``; ``ssl.CERT_REQUIRED`` with
    ``tls_client_ca``. A missing or unreadable file is a ValueError naming it (checked before binding)."""
    if settings.tls_cert is None or settings.tls_key is None:
        return {}
    files = {"--tls-cert": settings.tls_cert, "--tls-key": settings.tls_key}
    if settings.tls_client_ca is not None:
        files["--tls-client-ca"] = settings.tls_client_ca
    for option, path in files.items():
        if not Path(path).is_file():
            raise ValueError(f"{option} {path}: no such file")
    try:  # the same check uvicorn makes later, but with a message instead of a traceback
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
        if settings.tls_client_ca is not None:
            context.load_verify_locations(settings.tls_client_ca)
    except (ssl.SSLError, OSError) as error:
        raise ValueError(f"TLS files not usable: {error}") from None
    options: dict[str, Any] = {"ssl_certfile": str(settings.tls_cert), "ssl_keyfile": str(settings.tls_key)}
    if settings.tls_client_ca is not None:
        options |= {"ssl_ca_certs": str(settings.tls_client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return options


__all__ = ["tls_options"]
