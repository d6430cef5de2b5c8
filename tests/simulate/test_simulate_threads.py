"""Chunks in threads in one process (``run(threads=...)``): the same bits as one by one."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from simulate_helpers import LogNormalPopulation

from twinlab.simulate import Arm, Regimen, Scenario, Titration, run
from twinlab.simulate.engine import _threads
from twinlab.virtual import KnownPopulation

TIMES = np.linspace(0.0, 72.0, 25)


def _hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file of a result folder (none of them holds a wall time here)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _scenario(residual: bool = True) -> Scenario:
    titrate = Titration(at_h=48.0, trough_below=1.5, factor=2.0)
    arms = [
        Arm("placebo"),
        Arm("100 mg QD", Regimen(100.0, n_doses=3)),
        Arm("50 mg QD, titrated", Regimen(50.0, n_doses=3, titration=titrate)),
    ]
    pop = LogNormalPopulation(n=61, n_draws=2)
    return Scenario("threads", pop, arms, TIMES, seed=7, chunk_size=8, residual=residual,
                    threshold=1.0)  # fmt: skip


def test_threads_give_the_same_tables_and_profiles_in_memory():
    sc = _scenario()
    one = run(sc, threads=1)
    assert one.patients["titrated"].any() and not one.patients["titrated"].all()
    for threads in (2, 3, 16):
        many = run(sc, threads=threads)
        pd.testing.assert_frame_equal(one.patients, many.patients, check_exact=True)
        pd.testing.assert_frame_equal(one.arms, many.arms, check_exact=True)
        assert one.dataset.identical(many.dataset)
        # the residual-error arrays that the first chunk to finish adds are filled by all
        assert np.isfinite(many.dataset["conc_obs"].values).all()


@pytest.mark.parametrize(
    "layout", [{}, {"parts": True}, {"parts": True, "profiles": False}], ids=str
)
def test_threads_write_the_same_files(tmp_path, layout):
    sc = _scenario()
    run(sc, out=tmp_path / "one", threads=1, profile=False, **layout)
    run(sc, out=tmp_path / "three", threads=3, profile=False, **layout)
    one, three = _hashes(tmp_path / "one"), _hashes(tmp_path / "three")
    assert one == three
    assert any(name.startswith("patients") for name in one)
    assert any(name.startswith("result.zarr") for name in one) == layout.get("profiles", True)


def test_chunks_run_at_once_and_progress_comes_in_chunk_order():
    sc = _scenario(residual=False)
    seen: list[tuple[int, int]] = []
    names: set[str] = set()

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        names.update(t.name for t in threading.enumerate())

    run(sc, threads=2, progress=progress)
    assert seen == [(k, sc.n_chunks) for k in range(1, sc.n_chunks + 1)]
    assert any(name.startswith("twinlab-chunk") for name in names)


def test_an_error_in_a_chunk_thread_is_the_run_error():
    cl = np.full(40, 2.0)
    cl[33] = 10.0  # ka == cl / v for virtual patient 33 (chunk 4 of 5): singular
    pop = KnownPopulation("pk_1cmt_oral", {"ka": 0.5, "cl": cl, "v": 20.0})
    sc = Scenario("bad", pop, [Arm("qd", Regimen(100.0, n_doses=2))], TIMES, seed=0, chunk_size=8)
    with pytest.raises(ValueError, match=r"non-finite concentrations .* virtual patient 33"):
        run(sc, threads=2)
    assert not any(t.name.startswith("twinlab-chunk") for t in threading.enumerate())


def test_threads_default_to_the_usable_cores_and_never_exceed_the_chunks():
    assert _threads(None, 1000) >= 1
    assert _threads(None, 1) == 1
    assert _threads(8, 3) == 3
    assert _threads(np.int64(2), 5) == 2
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads"):
            _threads(bad, 4)
    sc = _scenario()
    with pytest.raises(ValueError, match=r"run\(threads=\.\.\.\) must be an integer >= 1"):
        run(sc, threads=0)


def _threads_in_a_task() -> int:
    return _threads(None, 100)


def test_run_inside_a_dask_task_takes_one_thread():
    from twinlab.cluster import dask_client

    with dask_client(n_workers=1, host="127.0.0.1", memory_limit=None) as client:
        assert client.submit(_threads_in_a_task).result() == 1
    assert _threads_in_a_task() >= 1


def test_concurrent_default_runs_share_the_process_cores(monkeypatch):
    """Two ``run(threads=None)`` at once in one process (two dashboard sessions, say): at most
    the usable cores' chunks run at once across both (counted, not timed), and each gives
    the bits of a run alone."""
    import time

    import twinlab.simulate.budget as budget
    import twinlab.simulate.engine as engine

    cores = 2  # each run alone would take 2 threads: 4 chunks at once without the budget
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr(budget, "_BUDGET", None)  # a budget of these cores
    active, peak, lock = [0], [0], threading.Lock()
    real = engine._simulate_parts

    def counted(*args, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            time.sleep(0.01)  # a chunk that takes a while: the runs' chunks overlap
            return real(*args, **kwargs)
        finally:
            with lock:
                active[0] -= 1

    sc = _scenario()
    alone = run(sc, threads=1)
    monkeypatch.setattr(engine, "_simulate_parts", counted)
    results: dict[int, object] = {}
    runs = [threading.Thread(target=lambda i=i: results.update({i: run(sc)})) for i in range(2)]
    for t in runs:
        t.start()
    for t in runs:
        t.join(timeout=120)
    assert sorted(results) == [0, 1]
    assert 1 <= peak[0] <= cores and budget.process_budget().peak <= cores
    for res in results.values():
        pd.testing.assert_frame_equal(alone.patients, res.patients, check_exact=True)
        pd.testing.assert_frame_equal(alone.arms, res.arms, check_exact=True)
        assert alone.dataset.identical(res.dataset)
