"""``run(parts=True)``: the per-patient table written chunk by chunk, by whoever simulates it.

The parts hold the one-file table's rows (in chunk order), the arm summaries computed from
the parts column by column are the one-file run's to the byte, and Dask workers write the
same parts as this process does.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from simulate_helpers import LogNormalPopulation

from twinlab.cluster import dask_client
from twinlab.simulate import Arm, Regimen, Scenario, Titration, open_result, run


def _scenario(n: int = 50, chunk_size: int = 8) -> Scenario:
    arms = [
        Arm("placebo"),
        Arm(
            "100 mg QD",
            Regimen(100.0, n_doses=3, titration=Titration(at_h=24.0, trough_below=0.25)),
        ),
        Arm("loading", Regimen(100.0, interval_h=12.0, n_doses=5, loading_dose=300.0)),
    ]
    return Scenario(
        "parts", LogNormalPopulation(n=n), arms, np.linspace(0, 72, 49), seed=7,
        chunk_size=chunk_size, threshold=1.0, residual=True,
    )  # fmt: skip


def _digest(path) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(path.parent)).encode() + f.read_bytes())
    return h.hexdigest()


def _by_key(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(["draw", "vpid", "arm"], kind="stable").reset_index(drop=True)


def test_parts_hold_the_one_file_table_and_the_same_summaries(tmp_path):
    sc = _scenario()
    whole = run(sc, out=tmp_path / "one")
    res = run(sc, out=tmp_path / "parts", parts=True)
    assert res.patients is None
    parts = sorted((tmp_path / "parts" / "patients").glob("part-*.parquet"))
    assert [p.name for p in parts] == [f"part-{k:06d}.parquet" for k in range(sc.n_chunks)]
    assert not (tmp_path / "parts" / "patients.parquet").exists()
    # same rows and values; the order is chunk-major (draw-major within a chunk)
    table = pd.read_parquet(tmp_path / "parts" / "patients")
    assert table.shape == whole.patients.shape
    pd.testing.assert_frame_equal(_by_key(table), _by_key(whole.patients))
    first = pd.read_parquet(parts[0])
    assert first["vpid"].between(0, sc.chunk_size - 1).all() and set(first["draw"]) == {0, 1}
    # arm summaries from the parts equal the one-file run's, byte for byte
    for name in ("arms.parquet", "result.zarr"):
        assert _digest(tmp_path / "parts" / name) == _digest(tmp_path / "one" / name), name
    assert 0 < res.arms["titrated_frac"].max() < 1  # the titration arm titrated some patients
    record = json.loads((tmp_path / "parts" / "run.json").read_text())
    assert record["patients"] == "patients/"
    assert record["sizes"]["patient_rows"] == len(whole.patients)
    assert record["endpoints"] == whole.run["endpoints"]
    assert "patients" not in whole.run  # a one-file record is unchanged


def test_a_parts_result_reopens_and_answers_queries(tmp_path):
    sc = _scenario(n=20)
    run(sc, out=tmp_path / "r", parts=True)
    res = open_result(tmp_path / "r")
    assert res.patients is None
    got = res.query("SELECT arm, count(*) AS n FROM patients GROUP BY arm ORDER BY arm")
    assert dict(zip(got["arm"], got["n"], strict=True)) == {a.name: 40 for a in sc.arms}
    assert list(res.patients_table(["vpid", "auc"]).columns) == ["vpid", "auc"]
    assert len(res.patients_table()) == 120
    # a one-file run into the same folder replaces the parts
    run(sc, out=tmp_path / "r")
    assert not (tmp_path / "r" / "patients").exists()
    assert open_result(tmp_path / "r").patients is not None


def test_parts_need_a_folder():
    with pytest.raises(ValueError, match="out="):
        run(_scenario(n=4), parts=True)


@pytest.mark.slow
def test_workers_write_the_parts_this_process_would(tmp_path):
    sc = _scenario(n=60, chunk_size=6)
    run(sc, out=tmp_path / "serial", parts=True)
    with dask_client(n_workers=2, host="127.0.0.1", memory_limit=None) as client:
        res = run(sc, client=client, out=tmp_path / "w2", parts=True, profile=False)
        lean = run(sc, client=client, out=tmp_path / "lean", parts=True, profiles=False)
    assert res.patients is None
    for name in ("patients", "arms.parquet", "result.zarr", "run.json"):
        assert _digest(tmp_path / "w2" / name) == _digest(tmp_path / "serial" / name), name
    # without profiles the workers write the same tables and ship no profiles back
    assert lean.dataset is None and not (tmp_path / "lean" / "result.zarr").exists()
    for name in ("patients", "arms.parquet"):
        assert _digest(tmp_path / "lean" / name) == _digest(tmp_path / "serial" / name), name


def test_a_run_without_profiles_has_the_same_tables_and_no_profiles(tmp_path):
    sc = _scenario(n=30)  # placebo, titration and residual error: metrics that read profiles
    full = run(sc)
    lean = run(sc, profiles=False)
    assert lean.dataset is None
    pd.testing.assert_frame_equal(lean.patients, full.patients)
    pd.testing.assert_frame_equal(lean.arms, full.arms)
    with pytest.raises(ValueError, match="no profiles"):
        lean.bands()
    run(sc, out=tmp_path / "r")  # a folder that held profiles ...
    run(sc, out=tmp_path / "r", profiles=False)  # ... holds none after a run without
    assert not (tmp_path / "r" / "result.zarr").exists()
    reopened = open_result(tmp_path / "r")
    assert reopened.dataset is None and reopened.run["profiles"] is False
    pd.testing.assert_frame_equal(reopened.patients, full.patients)
    assert "profiles" not in full.run  # a run with profiles records as it always did


def test_write_parquet_reads_back_the_same_frame_with_only_text_dictionary_encoded(tmp_path):
    import pyarrow.parquet as pq

    from twinlab.simulate.result import write_parquet

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "arm": pd.array(["a", "b"] * 500, dtype="str"),
            "vpid": np.arange(1000, dtype=np.int64),
            "auc": rng.random(1000),
            "titrated": np.zeros(1000, dtype=bool),
        }
    )
    write_parquet(frame, tmp_path / "x.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "x.parquet"), frame)
    meta = pq.ParquetFile(tmp_path / "x.parquet").metadata.row_group(0)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(4)}
    assert any("DICTIONARY" in e for e in encodings["arm"])
    assert not any("DICTIONARY" in e for e in encodings["auc"])
