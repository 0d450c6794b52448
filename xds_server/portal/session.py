"""The portal's session: a signed cookie (itsdangerous), HttpOnly, SameSite=Lax, Secure under HTTPS.

The cookie holds the whole session (no server-side table): who logged in (his INS), the record he is
looking at, his CSRF token and, during an OpenID Connect login, the state, nonce and PKCE verifier. It is
signed with the portal secret (``XDS_PORTAL_SECRET``, else one generated at first start and kept in
``data_dir/portal-secret``, mode 0600) and expires after ``XDS_PORTAL_SESSION_HOURS``; a cookie whose
signature or age does not verify is an empty session. Logging out clears it; a stolen cookie stays valid
until it expires (no server-side revocation list: a short session length is the bound).

CSRF (synchroniser token): every form carries ``csrf_token``, compared in constant time with the session's;
a POST whose token is missing or wrong is refused (403) before anything runs, and so is one whose
``Origin`` header names another site.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from xds_server.config import Settings

COOKIE: Final = "espace_sante"
CSRF_FIELD: Final = "csrf_token"
_SALT: Final = "mon-espace-sante-session"


def portal_secret(settings: Settings) -> str:
    """The signing secret: the setting, else the data dir's (created once, readable by the owner only).

    Several server processes (``serve --workers``) start together: the secret is written whole to a
    private temporary file, then linked into place, which fails for all but the first; the others read
    the winner's."""
    if settings.portal_secret:
        return settings.portal_secret
    path = Path(settings.data_dir) / "portal-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".portal-secret-")
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(48))
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    return path.read_text(encoding="ascii").strip()


@dataclass(slots=True)
class Session:
    """The decoded cookie; ``changed`` when it must be written back."""

    data: dict[str, Any] = field(default_factory=dict)
    changed: bool = False

    @property
    def person(self) -> str | None:
        value = self.data.get("person")
        return value if isinstance(value, str) else None

    @property
    def record(self) -> str | None:
        value = self.data.get("record")
        return value if isinstance(value, str) else None

    @property
    def csrf(self) -> str:
        token = self.data.get("csrf")
        if not isinstance(token, str) or len(token) < 32:
            token = secrets.token_urlsafe(32)
            self.data["csrf"] = token
            self.changed = True
        return token

    def set(self, **values: Any) -> None:
        for key, value in values.items():
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value
        self.changed = True

    def login(self, person: str, record: str, name: str | None, via: str) -> None:
        """A fresh session for ``person`` (a new CSRF token: none from before the login survives)."""
        self.data = {"person": person, "record": record, "name": name, "via": via}
        self.changed = True
        _ = self.csrf

    def clear(self) -> None:
        self.data = {}
        self.changed = True

    def flash(self, message: str, *, error: bool = False) -> None:
        """A message the next page shows once (the confirmation of an action after its 303)."""
        self.set(flash={"text": message, "error": error})

    def pop_flash(self) -> dict[str, Any] | None:
        flash = self.data.pop("flash", None)
        if flash is not None:
            self.changed = True
        return flash if isinstance(flash, dict) else None


class SessionCodec:
    """Reads and writes the session cookie."""

    def __init__(self, secret: str, max_age_seconds: float) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self.max_age = int(max_age_seconds)

    def load(self, request: Request) -> Session:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return Session()
        try:
            data = self._serializer.loads(raw, max_age=self.max_age)
        except BadSignature:  # tampered, another secret's, or expired (SignatureExpired is one)
            return Session(changed=True)
        return Session(data if isinstance(data, dict) else {})

    def save(self, request: Request, response: Response, session: Session) -> None:
        if not session.changed:
            return
        secure = request.url.scheme == "https"
        if not session.data:
            response.delete_cookie(COOKIE, path="/espace-sante", httponly=True, samesite="lax", secure=secure)
            return
        response.set_cookie(
            COOKIE,
            self._serializer.dumps(session.data),
            max_age=self.max_age,
            path="/espace-sante",
            httponly=True,
            samesite="lax",
            secure=secure,
        )


def csrf_valid(request: Request, session: Session, submitted: Any) -> bool:
    """The form's token matches the session's, and the request comes from this site when it says."""
    origin = request.headers.get("origin")
    # the host only: behind a proxy terminating TLS the scheme the server sees may differ
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        return False
    token = session.data.get("csrf")
    if not isinstance(token, str) or not isinstance(submitted, str) or not submitted:
        return False
    return hmac.compare_digest(token.encode(), submitted.encode())


__all__ = ["COOKIE", "CSRF_FIELD", "Session", "SessionCodec", "csrf_valid", "portal_secret"]
