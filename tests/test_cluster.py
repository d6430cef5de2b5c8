"""Notebooks as Dask tasks: a local cluster and a real scheduler with two workers."""

from __future__ import annotations

import logging
import os
import sys
import time

import pytest

from twinlab.cluster import (
    ADDRESS_ENV,
    WORKER_RECURSION_LIMIT,
    dask_client,
    performance_report,
    scheduler_address,
)
from twinlab.notebooks import (
    NotebookExecutionError,
    NotebookJob,
    NotebookParameterError,
    run_notebooks,
)

pytestmark = pytest.mark.slow


def test_address_comes_from_argument_then_environment(monkeypatch):
    monkeypatch.setenv(ADDRESS_ENV, "tcp://10.0.0.1:8786")
    assert scheduler_address() == "tcp://10.0.0.1:8786"
    assert scheduler_address("tcp://127.0.0.1:1") == "tcp://127.0.0.1:1"
    monkeypatch.delenv(ADDRESS_ENV)
    assert scheduler_address() is None


def test_local_cluster_has_single_threaded_worker_processes():
    with dask_client(n_workers=2) as client:
        info = client.scheduler_info()
        workers = info["workers"].values()
        assert len(workers) == 2
        assert all(w["nthreads"] == 1 for w in workers)
        pids = set(client.run(__import__("os").getpid).values())
        assert len(pids) == 2


def _scratch(dask_worker) -> str:
    return dask_worker.local_directory


def test_local_workers_spill_into_a_private_folder_removed_with_the_cluster():
    """Dask's default scratch (/tmp/dask-scratch-space) is made with the umask and shared by
    every user: spilled records would be readable by others."""
    import stat
    import tempfile
    from pathlib import Path

    with dask_client(n_workers=1) as client:
        (scratch,) = client.run(_scratch).values()
        folder = Path(scratch)
        assert folder.is_dir()
        # some folder between the system's temporary folder and the scratch is private
        chain = [p for p in folder.parents if p != Path(tempfile.gettempdir()) and
                 Path(tempfile.gettempdir()) in p.parents]  # fmt: skip
        assert any(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in chain), chain
    assert not any(p.exists() for p in chain)


def _rss_drop_after_free_mb() -> float:
    """How much resident memory freeing a touched 16 MiB array gives back (MiB)."""
    import numpy as np

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    x = np.ones(2 << 20)  # 16 MiB, every page touched
    before = rss()
    del x
    return (before - rss()) / 2**20


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's mallopt and /proc: Linux only")
def test_workers_reuse_freed_memory_instead_of_unmapping_it():
    """With Dask's MALLOC_TRIM_THRESHOLD_ alone a freed array is unmapped (and the next one
    page-faults in again); a twinlab worker keeps it for its next task."""
    import inspect
    import subprocess

    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}  # what Dask's nanny sets
    code = (
        f"import os\n{inspect.getsource(_rss_drop_after_free_mb)}\nprint(_rss_drop_after_free_mb())"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert float(proc.stdout.split()[-1]) > 15  # the baseline: unmapped when freed
    with dask_client(n_workers=1) as client:
        [applied] = client.run(
            lambda dask_worker: dask_worker.plugins["twinlab-heap-reuse"].applied
        ).values()
        assert applied == {"M_MMAP_THRESHOLD": 1, "M_TRIM_THRESHOLD": 1}
        drops = [client.submit(_rss_drop_after_free_mb, pure=False).result() for _ in range(3)]
    assert max(drops) < 1, drops


def _exit_slowly() -> None:
    """In a worker: make its interpreter's finalization take 10 s, as tearing down PyMC,
    PyTensor, numba and pandas does on a loaded machine (the nanny waits 4 s, then kills)."""
    import atexit
    import time

    atexit.register(time.sleep, 10)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_local_cluster_closes_its_workers_without_killing_them(monkeypatch):
    records = _Records()
    nanny = logging.getLogger("distributed.nanny")
    nanny.addHandler(records)
    try:
        with dask_client(n_workers=1) as client:
            client.run(_exit_slowly)
    finally:
        nanny.removeHandler(records)
    assert not [m for m in records.messages if "still alive" in m], records.messages
    # forked workers still see this process's environment of now, as spawned ones would
    monkeypatch.setenv("TWINLAB_CLUSTER_TEST", "set after the forkserver started")
    with dask_client(n_workers=1) as client:
        seen = client.run(os.environ.get, "TWINLAB_CLUSTER_TEST")
    assert list(seen.values()) == ["set after the forkserver started"]


def _deep(depth: int, seconds: float) -> int:
    """In a worker: hold a stack ``depth`` frames deep for ``seconds`` (Dask's statistical
    profiler samples it every 10 ms), as a task's first import of zarr does (94 frames)."""
    if depth:
        return _deep(depth - 1, seconds) + 1
    time.sleep(seconds)
    return 0


_SIZEOF_RECORDS = _Records()


def _listen_to_sizeof() -> None:
    """In a worker: keep what the logger of distributed.sizeof warns."""
    logging.getLogger("distributed.sizeof").addHandler(_SIZEOF_RECORDS)


def _sizeof_warnings() -> list[str]:
    return _SIZEOF_RECORDS.messages


def test_a_deep_task_is_profiled_into_the_report_without_a_sizeof_warning(tmp_path):
    """The performance report asks each worker for its profile, nested dicts two per stack
    frame; sizing it ran past the default recursion limit for a stack deeper than ~80 frames
    and the worker logged "Sizeof calculation for object of type 'dict' failed"."""
    report = tmp_path / "dask-report.html"
    with dask_client(n_workers=1) as client:
        assert list(client.run(sys.getrecursionlimit).values()) == [WORKER_RECURSION_LIMIT]
        client.run(_listen_to_sizeof)
        with performance_report(filename=str(report)):
            # 1.5 s: the worker keeps its profile in cycles of 1 s
            assert client.submit(_deep, 120, 1.5, pure=False).result() == 120
        heard = client.run(_sizeof_warnings)
    assert "Dask Performance Report" in report.read_text()
    assert list(heard.values()) == [[]], heard


def _jobs(notebook, tmp_path, n):
    return [
        NotebookJob(
            notebook=str(notebook),
            name=f"scenario-{i}",
            parameters={"dose": float(i), "label": f"s{i}", "out": str(tmp_path / f"out{i}.txt")},
            output_dir=str(tmp_path / "reports"),
        )
        for i in range(n)
    ]


def test_notebooks_run_on_a_real_scheduler_and_two_worker_processes(
    dask_scheduler, scenario_notebook, tmp_path, monkeypatch
):
    monkeypatch.setenv(ADDRESS_ENV, dask_scheduler["address"])
    with dask_client() as client:
        client.wait_for_workers(2, timeout=60)
        outputs = run_notebooks(_jobs(scenario_notebook, tmp_path, 4), client=client)
        worker_pids = set(client.run(__import__("os").getpid).values())
    assert [p.name for p in outputs] == [f"scenario-{i}.ipynb" for i in range(4)]
    results = [(tmp_path / f"out{i}.txt").read_text().split() for i in range(4)]
    assert [r[:2] for r in results] == [[f"s{i}", str(float(i) * 2)] for i in range(4)]
    # every notebook ran in a process of its own, not in a worker process
    kernel_pids = {int(r[2]) for r in results}
    assert len(kernel_pids) == 4 and not kernel_pids & worker_pids
    assert all(p.with_suffix(".html").exists() for p in outputs)


def test_invalid_job_is_refused_before_anything_runs(scenario_notebook, tmp_path):
    jobs = _jobs(scenario_notebook, tmp_path, 2)
    jobs.append(NotebookJob(notebook=str(scenario_notebook), name="bad", parameters={"nn": 1}))
    with pytest.raises(NotebookParameterError, match="unknown parameter 'nn'"):
        run_notebooks(jobs, client=object())  # never used: validation comes first
    assert not (tmp_path / "reports").exists()


def test_failing_notebook_is_reported_by_name_and_others_finish(tmp_path):
    from repo_helpers import write_notebook

    nb = write_notebook(
        tmp_path / "maybe.ipynb", "fail = False\nout = 'x.txt'",
        "import pathlib\nif fail: raise RuntimeError('scenario failed')\n"
        "pathlib.Path(out).write_text('ok')",
    )  # fmt: skip
    jobs = [
        NotebookJob(str(nb), "good", {"out": str(tmp_path / "good.txt")}, str(tmp_path / "r")),
        NotebookJob(str(nb), "bad", {"fail": True}, str(tmp_path / "r")),
    ]
    with pytest.raises(NotebookExecutionError, match=r"bad: .*RuntimeError: scenario failed"):
        run_notebooks(jobs, address=None)
    assert (tmp_path / "good.txt").read_text() == "ok"


def test_dask_client_with_security_runs_a_tls_only_local_cluster(tmp_path):
    from twinlab.security.tls import make_test_certificates, tls_security

    files = make_test_certificates(tmp_path)
    security = tls_security(
        ca_file=files.ca_file, cert_file=files.cert_file, key_file=files.key_file
    )
    with dask_client(n_workers=1, security=security, host="127.0.0.1") as client:
        assert client.scheduler.address.startswith("tls://")
        assert client.submit(sum, [1, 2, 3]).result(timeout=60) == 6
        assert all(w.startswith("tls://") for w in client.scheduler_info()["workers"])
