"""Shared fixtures: tiny parameterized notebooks and a real Dask cluster on loopback."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import write_notebook

BIN = Path(sys.executable).parent


_AUDIT_SEED = base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture(autouse=True, scope="session")
def _audit_signing_key() -> Iterator[None]:
    """Every test (and process it starts) signs audit logs with one throwaway Ed25519 key.

    Audit logs are signed by default and refused without a key; tests whose subject is
    the key itself remove ``TWINLAB_AUDIT_KEY`` again (``monkeypatch.delenv``). Session
    scope: module-scoped fixtures that start servers (the browser tests' ``twinlab serve``)
    copy the environment before any function-scoped fixture runs.
    """
    before = os.environ.get("TWINLAB_AUDIT_KEY")
    os.environ["TWINLAB_AUDIT_KEY"] = _AUDIT_SEED
    yield
    if before is None:
        os.environ.pop("TWINLAB_AUDIT_KEY", None)
    else:
        os.environ["TWINLAB_AUDIT_KEY"] = before


@pytest.fixture
def scenario_notebook(tmp_path: Path) -> Path:
    """A notebook that writes ``dose * n`` and its process id to ``out``."""
    return write_notebook(
        tmp_path / "scenario.ipynb",
        "dose: float = 1.0\nn = 2\nlabel = 'base'\nout = 'result.txt'",
        "import os, pathlib\n"
        "pathlib.Path(out).write_text(f'{label} {dose * n} {os.getpid()}')\n"
        "print('total', dose * n)",
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture
def dask_scheduler(tmp_path: Path) -> Iterator[dict]:
    """A real ``dask scheduler`` and two ``dask worker`` processes on loopback."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask_cli = shutil.which("dask", path=str(BIN)) or "dask"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs = [
        subprocess.Popen(
            [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--dashboard-address", ":0", "--no-show"],
            stdout=(logs / "scheduler.log").open("w"), stderr=subprocess.STDOUT, env=env,
        )
    ]  # fmt: skip
    try:
        _wait_for_port(port)
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [dask_cli, "worker", address, "--nthreads", "1", "--nworkers", "1",
                     "--no-dashboard", "--name", f"w{i}", "--local-directory", str(tmp_path)],
                    stdout=(logs / f"worker{i}.log").open("w"), stderr=subprocess.STDOUT, env=env,
                )
            )  # fmt: skip
        yield {"address": address, "procs": procs}
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
