"""XUA for the NIST run: the server admits no request without an identity, so `--start` signs every request.

`dev_security(data_dir, command, env)` runs `xds-server dev authority init` on the throw-away server's data
dir (which keeps the authority `serve --dev` created and trusts from its start) and returns the runner's
`SecurityHeader` hook: each call mints a fresh signed VIHF assertion (new ID, new validity window) in a
`wsse:Security` block, so no request ever reuses one. The ihe profile does not bind the assertion to a
patient, so the default dev identity (a médecin of a test structure) serves every test.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from lxml import etree

from xds_server.identity import dev_authority

from .soap import SecurityHeader


class AuthorityError(RuntimeError):
    pass


def init_authority(data_dir: Path, command: Sequence[str], env: Mapping[str, str] | None) -> None:
    """`xds-server dev authority init --data-dir DIR` (keys and certificate under DIR/dev-authority)."""
    done = subprocess.run(
        [*command, "dev", "authority", "init", "--data-dir", str(data_dir)],
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0 or not dev_authority.exists(data_dir):
        detail = (done.stderr or done.stdout).strip()[-500:]
        raise AuthorityError(f"xds-server dev authority init failed ({done.returncode}): {detail}")


def dev_security(data_dir: Path, command: Sequence[str], env: Mapping[str, str] | None) -> SecurityHeader:
    init_authority(data_dir, command, env)
    authority = dev_authority.load(data_dir)

    def header(_action: str) -> bytes:
        assertion = dev_authority.mint_assertion(authority)
        return etree.tostring(dev_authority.security_header(assertion))

    return header


__all__ = ["AuthorityError", "dev_security", "init_authority"]
