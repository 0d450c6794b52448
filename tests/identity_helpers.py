"""Identity for tests: no identity, no transaction, so every SOAP request a test sends needs one.

* ``open_access()``: the ``AccessControl`` of an ``ihe``-profile server whose ``XDS_ANONYMOUS_ACTOR`` is set,
  for hand-built ``Services`` in tests about something else (envelopes, queries, the repository);
* ``install_authority(data_dir)``: a dev authority in a server's data dir (made once per session, copied:
  RSA key generation is slow), which a server started after it with ``dev_authority="on"`` trusts;
* ``trusting_app(settings, database)``: the authority installed, then the application built with
  ``dev_authority="on"`` (the server pins the authority present when it starts);
* ``sign(message, authority, identity)``: the SOAP message (plain or MTOM, as bytes) with a
  ``wsse:Security`` header holding a fresh signed VIHF assertion, inserted as text so the rest of the
  bytes stay as written;
* ``SigningClient``: a FastAPI ``TestClient`` that signs every byte body it posts.
"""

from __future__ import annotations

import functools
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from lxml import etree

from xds_server.app import create_app
from xds_server.config import Settings
from xds_server.core.policy import AccessContext, PolicyMode
from xds_server.identity import IdentityError, dev_authority, load_policy
from xds_server.identity.dev_authority import DevAuthority, Identity
from xds_server.storage.database import Database
from xds_server.wiring import AccessControl, anonymous_actor

ANONYMOUS = "tests-anonymous"

_HEADER_OPEN = re.compile(rb"<(?:[\w.-]+:)?Header\b[^>]*?(?<!/)>")
_BODY_OPEN = re.compile(rb"<([\w.-]+:)?Body\b")


def _refuse(_blocks: Sequence[etree._Element]) -> AccessContext:
    raise IdentityError.invalid("this test server admits anonymous requests only")


def open_access() -> AccessControl:
    """IHE mode, unauthenticated requests run as the anonymous actor (a header, if any, is refused)."""
    return AccessControl(
        policy=load_policy(PolicyMode.IHE), verify_header=_refuse, anonymous=anonymous_actor(ANONYMOUS)
    )


@functools.cache
def _template() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="xds-test-authority-"))
    dev_authority.init(folder)
    return folder


def install_authority(data_dir: Path) -> DevAuthority:
    """The session's dev authority, copied into ``data_dir`` (the server trusts it from there)."""
    target = dev_authority.authority_dir(data_dir)
    target.mkdir(parents=True, exist_ok=True)
    for name in (dev_authority.KEY_FILE, dev_authority.CERT_FILE):
        shutil.copyfile(dev_authority.authority_dir(_template()) / name, target / name)
    return dev_authority.load(data_dir)


def trusting_app(settings: Settings, database: Database | None = None) -> tuple[FastAPI, DevAuthority]:
    """The authority installed in ``settings.data_dir``, then the app that trusts it (``--dev``)."""
    authority = install_authority(settings.data_dir)
    app = create_app(settings.model_copy(update={"dev_authority": "on"}), database=database)
    return app, authority


def signing_client(
    settings: Settings, database: Database | None = None, identity: Identity | None = None
) -> SigningClient:
    """A ``SigningClient`` on a ``trusting_app``."""
    return SigningClient(*trusting_app(settings, database), identity)


def security_block(authority: DevAuthority, identity: Identity | None = None, **mint: Any) -> bytes:
    """A serialized ``wsse:Security`` header block with a fresh assertion (``mint``: ttl, now ...)."""
    assertion = dev_authority.mint_assertion(authority, identity or Identity(), **mint)
    return etree.tostring(dev_authority.security_header(assertion))


def insert_block(message: bytes, block: bytes) -> bytes:
    """``block`` as the first header block of the SOAP envelope in ``message`` (text level)."""
    header = _HEADER_OPEN.search(message)
    if header:
        return message[: header.end()] + block + message[header.end() :]
    body = _BODY_OPEN.search(message)
    if body is None:
        return message
    prefix = body.group(1) or b""
    wrapped = b"<" + prefix + b"Header>" + block + b"</" + prefix + b"Header>"
    return message[: body.start()] + wrapped + message[body.start() :]


def sign(message: bytes, authority: DevAuthority, identity: Identity | None = None, **mint: Any) -> bytes:
    return insert_block(message, security_block(authority, identity, **mint))


class SigningClient(TestClient):
    """Signs every ``content=bytes`` POST with a fresh assertion for ``identity``."""

    def __init__(self, app: Any, authority: DevAuthority, identity: Identity | None = None) -> None:
        super().__init__(app)
        self.authority = authority
        self.identity = identity or Identity()

    def post(self, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        content = kwargs.get("content")
        if isinstance(content, bytes):
            kwargs["content"] = sign(content, self.authority, self.identity)
        return super().post(url, *args, **kwargs)


__all__ = [
    "ANONYMOUS",
    "SigningClient",
    "insert_block",
    "install_authority",
    "open_access",
    "security_block",
    "sign",
    "signing_client",
    "trusting_app",
]
