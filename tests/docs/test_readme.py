"""The README's "First document in five minutes" runs as written: every ```sh block of that section, in order,
in one bash process (from a scratch folder that sees the repository's ``examples/``), must succeed. The
servers it starts listen on free ports instead of 8080/8081 (the only change made to the commands), use
SQLite in the scratch folder (no ``XDS_*`` setting is inherited) and are stopped at the end. When the README
drifts from the commands, this fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server_helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## First document in five minutes"
_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def section(text: str, title: str) -> str:
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return text[start : end if end != -1 else len(text)]


def quickstart_script() -> str:
    blocks = _BLOCK.findall(section((ROOT / "README.md").read_text(encoding="utf-8"), SECTION))
    assert len(blocks) >= 5, "the quick start lost its command blocks"
    return "\n".join(blocks)


def test_every_step_has_its_commands() -> None:
    script = quickstart_script()
    needed_commands = ("serve --dev", "patients add", "patients authorize", "send ", "find ", "get ", "ihe")
    for needed in (*needed_commands, "dev token", "/fhir/DocumentReference"):
        assert needed in script, needed


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="the quick start waits for the server with curl")
def test_the_quick_start_runs(tmp_path: Path) -> None:
    script = quickstart_script()
    ports = {"8080": str(free_port()), "8081": str(free_port())}
    for default, port in ports.items():
        script = script.replace(f"127.0.0.1:{default}", f"127.0.0.1:{port}")
        script = script.replace(f"--port {default}", f"--port {port}")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    wrapped = (
        "set -euo pipefail\n"
        "trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT\n" + script
    )
    done = subprocess.run(
        ["bash", "-c", wrapped], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert done.stdout.count("the same document") == 3, done.stdout  # SOAP, FHIR, then SOAP on ihe
    assert "Success: 1.2.250.1.999.1.3.1.20261207.1" in done.stdout
    assert (tmp_path / "retrieved.xml").read_bytes() == (
        ROOT / "examples/cda-compte-rendu-consultation.xml"
    ).read_bytes()
