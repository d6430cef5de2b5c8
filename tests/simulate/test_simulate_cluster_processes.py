"""A cluster as on several nodes: separate ``dask scheduler`` / ``dask worker`` processes.

They are joined by address only, over mutual TLS (as :mod:`twinlab.cluster` runs its local
clusters), and the result folder is byte-identical to an in-process run.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from simulate_helpers import LogNormalPopulation, file_hashes

from twinlab.cluster import dask_client
from twinlab.security.tls import make_test_certificates, tls_security
from twinlab.simulate import Arm, Regimen, Scenario, run

pytestmark = pytest.mark.slow


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def test_scheduler_and_workers_as_separate_processes_over_tls(tmp_path):
    files = make_test_certificates(tmp_path / "tls")
    tls = ["--tls-ca-file", str(files.ca_file), "--tls-cert", str(files.cert_file),
           "--tls-key", str(files.key_file)]  # fmt: skip
    dask_cli = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
    port = _port()
    address = f"tls://127.0.0.1:{port}"
    logs = tmp_path / "logs"
    logs.mkdir()
    cmds = [[dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--protocol",
             "tls", "--dashboard-address", ":0", "--no-show", *tls]]  # fmt: skip
    cmds += [
        [dask_cli, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
         "--name", f"w{i}", "--local-directory", str(tmp_path), "--host", "127.0.0.1", *tls]
        for i in range(2)
    ]  # fmt: skip
    procs: list[subprocess.Popen] = []
    try:
        for i, cmd in enumerate(cmds):
            log = (logs / f"{i}.log").open("w")
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
            if i == 0:
                _listening(port)
        arms = [Arm("placebo"), Arm("qd", Regimen(100.0, n_doses=3))]
        sc = Scenario("nodes", LogNormalPopulation(n=40), arms, np.linspace(0, 72, 25),
                      seed=7, chunk_size=6, threshold=1.0, residual=True)  # fmt: skip
        run(sc, out=tmp_path / "in-process")
        security = tls_security(ca_file=files.ca_file, cert_file=files.cert_file,
                                key_file=files.key_file)  # fmt: skip
        with dask_client(address, security=security) as client:
            client.wait_for_workers(2, timeout=120)
            workers = client.scheduler_info()["workers"]
            assert len(workers) == 2 and all(w.startswith("tls://") for w in workers)
            run(sc, client=client, out=tmp_path / "cluster")
        assert file_hashes(tmp_path / "cluster") == file_hashes(tmp_path / "in-process")
    finally:
        for proc in reversed(procs):  # the processes this test started
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
