"""Chunks as Dask tasks: bit-identical files on 1 or 3 workers, and after a worker dies."""

from __future__ import annotations

import os
import signal

import numpy as np
import pandas as pd
import pytest
from repo_helpers import remote_loads
from simulate_helpers import LogNormalPopulation, file_hashes

from twinlab.cluster import ADDRESS_ENV, dask_client
from twinlab.simulate import Arm, Regimen, Scenario, open_result, run
from twinlab.virtual import KnownPopulation

pytestmark = pytest.mark.slow


def _scenario(n: int = 60, chunk_size: int = 8) -> Scenario:
    arms = [
        Arm("placebo"),
        Arm("100 mg QD", Regimen(100.0, n_doses=3)),
        Arm("loading", Regimen(100.0, interval_h=12.0, n_doses=5, loading_dose=300.0)),
    ]
    return Scenario(
        "dist", LogNormalPopulation(n=n), arms, np.linspace(0, 72, 49), seed=2026,
        chunk_size=chunk_size, threshold=1.0, residual=True,
    )  # fmt: skip


def test_one_and_three_workers_write_bit_identical_results(tmp_path):
    sc = _scenario()
    run(sc, out=tmp_path / "serial")
    expected = file_hashes(tmp_path / "serial")
    for n_workers in (1, 3):
        with dask_client(n_workers=n_workers, host="127.0.0.1", memory_limit=None) as client:
            assert len(client.scheduler_info()["workers"]) == n_workers
            res = run(sc, client=client, out=tmp_path / f"w{n_workers}")
        assert file_hashes(tmp_path / f"w{n_workers}") == expected
        report = (tmp_path / f"w{n_workers}" / "dask-report.html").read_text()
        assert "Dask Performance Report" in report
        assert remote_loads(report) == []  # Bokeh inline, no icon from docs.dask.org
        assert res.patients.equals(open_result(tmp_path / "serial").patients)


def test_a_killed_worker_is_survived_with_identical_results(dask_scheduler, tmp_path, monkeypatch):
    sc = _scenario(n=96, chunk_size=4)
    reference = run(sc)
    monkeypatch.setenv(ADDRESS_ENV, dask_scheduler["address"])
    with dask_client() as client:
        client.wait_for_workers(2, timeout=60)
        pids = client.run(os.getpid)
        victim = sorted(pids.values())[0]
        killed = []

        def kill_after_first_chunk(done: int, total: int) -> None:
            if not killed:
                os.kill(victim, signal.SIGKILL)  # a worker process this test's fixture started
                killed.append(done)

        res = run(sc, client=client, out=tmp_path / "r", progress=kill_after_first_chunk)
        client.wait_for_workers(1, timeout=60)
        after = set(client.run(os.getpid).values())
    assert killed == [1] and victim not in after
    log = (tmp_path / "dask-logs" / "scheduler.log").read_text()
    assert "Remove worker" in log  # the scheduler saw the worker die and rescheduled its work
    assert res.dataset.load().drop_encoding().identical(reference.dataset)
    assert res.patients.equals(reference.patients)
    run(sc, out=tmp_path / "serial")
    assert file_hashes(tmp_path / "r") == file_hashes(tmp_path / "serial")


def _known(n: int = 50) -> KnownPopulation:
    rng = np.random.default_rng(7)
    params = {"ka": 1.0, "cl": 4.0 * rng.lognormal(0, 0.3, n), "v": 40.0 * rng.lognormal(0, 0.2, n)}
    covariates = pd.DataFrame({"weight_kg": rng.normal(75, 10, n)}, index=range(100, 100 + n))
    return KnownPopulation("pk_1cmt_oral", params, covariates=covariates)


def test_a_known_population_travels_as_each_tasks_window(tmp_path, monkeypatch):
    """Per-patient values go with the task that simulates them, nothing is broadcast, and
    the files are those of the serial run, byte for byte."""
    arms = [Arm("100 mg QD", Regimen(100.0, n_doses=3))]
    sc = Scenario("known", _known(), arms, np.linspace(0, 72, 25), seed=3, chunk_size=6,
                  threshold=1.0)  # fmt: skip
    run(sc, out=tmp_path / "serial")
    expected = file_hashes(tmp_path / "serial")

    def no_scatter(*args, **kwargs):
        raise AssertionError("a windowed population is not scattered")

    with dask_client(n_workers=2, host="127.0.0.1", memory_limit=None) as client:
        monkeypatch.setattr(type(client), "scatter", no_scatter)
        run(sc, client=client, out=tmp_path / "w2")
    assert file_hashes(tmp_path / "w2") == expected
