"""``simulate.parts``: the pipeline's simulate stage with its per-patient table written by the
workers in parts (``run(parts=True)``), as a cluster run of 10^6 patients and more needs, and
everything downstream reading it as the one-file table.

Before, the stage could not write parts at all (the client assembled ``patients.parquet``,
~460 bytes a patient and arm held on it), and every reader of a run (the trial stage, the
surrogate's check, a virtual patient's lineage, the results API, the EDC export, the
prognostic scores) named ``patients.parquet``. The parts are chunk-major (draw-major within
a chunk): with several draws and chunks, a reader that took them in file order would have
seen the rows in another order than a one-file run's, and order-dependent results (a
trial's resampling, float sums) would have moved.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from twinlab.api import results
from twinlab.pipeline.params import PipelineParams
from twinlab.pipeline.stages import _patients_file, simulate_stage
from twinlab.simulate import open_result, patients_path, read_patients
from twinlab.simulate.lineage import trace_virtual_patient
from twinlab.simulate.patients import scenario_patients

HERE = Path(__file__).resolve().parents[1]
SIMULATE = {
    "model": "twin_test", "models_root": "models", "timeline_dir": "data/harmonized/demo",
    "pd_spec": "specs/pd_assumed.yaml", "n_patients": 12, "n_draws": 2, "chunk_size": 5,
    "times": {"start": 0, "stop": 96, "step": 8}, "regimen": {"interval_h": 24, "duration_h": 96},
    "arms": {"P": {"dose": 0}, "T": {"dose": 100}},
}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PipelineParams, PipelineParams]:
    """The simulate stage run twice on one Dask worker: one file, then in parts."""
    spec = importlib.util.spec_from_file_location(
        "apps_fixtures", HERE / "apps" / "apps_fixtures.py"
    )
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    tmp = tmp_path_factory.mktemp("parts")
    root = fixtures.write_project(tmp / "study")
    mp = pytest.MonkeyPatch()
    mp.setenv("TWINLAB_AUDIT_LOG", str(tmp / "audit.jsonl"))
    made = []
    for name, parts in (("one", False), ("parts", True)):
        section = {**SIMULATE, "out": f"results/{name}", "parts": parts}
        params = PipelineParams.from_mapping(
            {"seed": 5, "dask": {"n_workers": 1}, "simulate": section}, file=root / "params.yaml"
        )
        stage = simulate_stage(params, root)
        assert (stage.value.patients is None) == parts
        made.append(params)
    yield root, made[0], made[1]
    mp.undo()


def test_the_stage_writes_parts_that_read_back_as_the_one_file_table(runs) -> None:
    root, _, _ = runs
    one, parts = root / "results" / "one", root / "results" / "parts"
    assert patients_path(one) == one / "patients.parquet"
    assert patients_path(parts) == parts / "patients" and not (parts / "patients.parquet").exists()
    raw = pd.read_parquet(parts / "patients")  # file order: chunk-major, not the table's
    whole = pd.read_parquet(one / "patients.parquet")
    assert not raw[["draw", "vpid", "arm"]].equals(whole[["draw", "vpid", "arm"]])
    pd.testing.assert_frame_equal(read_patients(parts), whole)
    pd.testing.assert_frame_equal(read_patients(parts / "patients"), whole)
    pd.testing.assert_frame_equal(open_result(parts).patients_table(), whole)
    cols = ["source", "auc"]
    pd.testing.assert_frame_equal(read_patients(parts, cols), whole[cols])
    for name in ("lineage.parquet", "arms.parquet"):
        assert (parts / name).read_bytes() == (one / name).read_bytes(), name


def test_what_reads_a_run_reads_the_parts_as_the_one_file(runs) -> None:
    root, one_params, parts_params = runs
    one, parts = root / "results" / "one", root / "results" / "parts"
    # the trial stage's `patients: results/x/patients.parquet` finds the parts in its place
    assert _patients_file(parts / "patients.parquet") == parts / "patients"
    assert _patients_file(one / "patients.parquet") == one / "patients.parquet"
    # the surrogate's check that a result is the scenario's
    from twinlab.pipeline.scenario import scenario_from_params

    for params, folder in ((one_params, one), (parts_params, parts)):
        scenario = scenario_from_params(params.section("simulate"), seed=5, root=root)
        assert len(scenario_patients(scenario, 6, result=folder)) == 6
    # a virtual patient's lineage
    assert trace_virtual_patient(7, parts) == trace_virtual_patient(7, one)
    # the results API: columns, pages, population summaries
    assert results._is_run(parts) and results._columns(parts) == results._columns(one)
    page = results.patients_page(parts, arm="T", limit=7, offset=3)
    assert page.table.equals(results.patients_page(one, arm="T", limit=7, offset=3).table)
    assert page.total == 12 * 2
    summary = results.population_summary(parts, aggregate_only=False)
    assert summary == results.population_summary(one, aggregate_only=False)
