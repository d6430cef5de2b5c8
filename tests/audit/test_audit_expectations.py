"""What ``twinlab reproduce`` holds each output to: bit-identical, Monte Carlo, follows the fit.

A tiny pipeline (harmonize -> fit -> validate -> simulate) is written straight into a DVC
cache and a reproduced work tree, so each rule is checked without running DVC.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from twinlab.audit.expectations import (
    AFTER_FIT,
    EXACT,
    MONTE_CARLO,
    Tolerance,
    classify_outputs,
    compare_posterior_json,
)
from twinlab.pipeline.reproduce import (
    DIFFERS,
    IDENTICAL,
    WITHIN_TOLERANCE,
    ReproduceReport,
    _compare_locks,
    _Comparer,
    _Side,
)

ROOT = Path(__file__).resolve().parents[2]


def _summary(cl: float = 5.0, *, sd: float = 0.2, ess: float = 400.0, **extra: Any) -> dict:
    return {
        "model": "pk_1cmt_oral",
        "parameters": {
            "cl": {"mean": cl, "sd": sd, "ess_bulk": ess, "r_hat": 1.001},
            "v": {"mean": 50.0, "sd": 2.0, "ess_bulk": 500.0, "r_hat": 1.002},
        },
        "omega": {"omega_cl": {"mean": 0.3, "sd": 0.02, "ess_bulk": 300.0, "r_hat": 1.0}},
        "max_rhat": 1.004,
        "divergences": 0,
        "settings": {"draws": 500, "tune": 500, "chains": 4, "seed": 1},
        **extra,
    }


# --------------------------------------------------------------------------- classification


DEMO_LOCK = {
    "stages": {
        "generate": {"outs": [{"path": "data/raw/demo"}, {"path": "data/truth/demo"}]},
        "harmonize": {
            "deps": [{"path": "data/raw/demo"}],
            "outs": [{"path": "data/harmonized/demo"}, {"path": "reports/02_harmonize.html"}],
        },
        "fit": {
            "deps": [{"path": "data/harmonized/demo"}],
            "outs": [
                {"path": "data/nonmem"},
                {"path": "models/twinurostat_pk"},
                {"path": "reports/03_fit_report.ipynb"},
            ],
        },
        "validate": {
            "deps": [{"path": "models/twinurostat_pk"}],
            "outs": [{"path": "reports/validate.json"}],
        },
        "simulate": {
            "deps": [{"path": "reports/validate.json"}, {"path": "data/harmonized/demo"}],
            "outs": [{"path": "results/demo/run.json"}],
        },
        "trial": {
            "deps": [{"path": "results/demo/run.json"}],
            "outs": [{"path": "results/trial"}],
        },
    }
}


def test_data_stages_are_exact_the_posterior_is_monte_carlo_and_later_outputs_follow_it():
    classes = classify_outputs(DEMO_LOCK, posteriors=["models/twinurostat_pk"])
    assert classes == {
        "data/raw/demo": EXACT,
        "data/truth/demo": EXACT,
        "data/harmonized/demo": EXACT,
        "reports/02_harmonize.html": EXACT,
        "data/nonmem": EXACT,  # written by the fit stage before it samples
        "models/twinurostat_pk": MONTE_CARLO,
        "reports/03_fit_report.ipynb": AFTER_FIT,
        "reports/validate.json": AFTER_FIT,
        "results/demo/run.json": AFTER_FIT,
        "results/trial": AFTER_FIT,  # through simulate, two stages away
    }


def test_without_a_sampling_stage_everything_must_be_bit_identical():
    classes = classify_outputs(DEMO_LOCK, tolerance=Tolerance(monte_carlo_stages=()))
    assert set(classes.values()) == {EXACT}
    # a posterior found by content makes its stage a sampling stage whatever its name
    classes = classify_outputs(
        DEMO_LOCK, posteriors=["models/twinurostat_pk"], tolerance=Tolerance(())
    )
    assert classes["models/twinurostat_pk"] == MONTE_CARLO
    assert classes["results/trial"] == AFTER_FIT and classes["data/nonmem"] == EXACT


def test_the_demo_pipeline_in_dvc_lock_is_classified_as_documented():
    lock_file = ROOT / "dvc.lock"
    if not lock_file.is_file():
        pytest.skip("no dvc.lock in this checkout")
    lock = yaml.safe_load(lock_file.read_text())
    classes = classify_outputs(lock, posteriors=["models/twinurostat_pk"])
    stage_of = {o["path"]: s for s, body in lock["stages"].items() for o in body["outs"]}
    for path, cls in classes.items():
        stage = stage_of[path]
        if stage in {"generate", "sources_overview", "harmonize"}:
            assert cls == EXACT, path
        elif stage in {"validate", "simulate", "sensitivity", "trial"}:
            assert cls == AFTER_FIT, path
    assert classes["data/raw/demo"] == classes["data/harmonized/demo"] == EXACT
    assert classes["data/nonmem"] == EXACT
    assert classes["models/twinurostat_pk"] == MONTE_CARLO
    assert classes["reports/validate.json"] == AFTER_FIT


def test_tolerance_must_be_positive():
    with pytest.raises(ValueError, match="k_mcse"):
        Tolerance(k_mcse=0)


# --------------------------------------------------------------------------- posterior JSON


def test_means_within_k_mcse_hold_and_beyond_do_not():
    # mcse = 0.2 / sqrt(400) = 0.01 on each side: bound 4 * sqrt(2) * 0.01 = 0.0566
    checks, fixed, _ = compare_posterior_json(_summary(5.0), _summary(5.05))
    cl = next(c for c in checks if c["quantity"] == "parameters.cl")
    assert cl["held"] and cl["bound"] == pytest.approx(0.04 * 2**0.5)
    assert cl["difference"] == pytest.approx(0.05)
    assert {c["quantity"] for c in checks} == {"parameters.cl", "parameters.v", "omega.omega_cl"}
    assert fixed == []
    checks, _, _ = compare_posterior_json(_summary(5.0), _summary(5.06))
    assert [c["quantity"] for c in checks if not c["held"]] == ["parameters.cl"]
    # a looser k lets it through; the summary's own MCSE wins over sd / sqrt(ess)
    assert all(c["held"] for c in compare_posterior_json(_summary(5.0), _summary(5.06), k=5)[0])
    own = _summary(5.06)
    own["parameters"]["cl"]["mcse_mean"] = 0.05
    assert all(c["held"] for c in compare_posterior_json(_summary(5.0), own)[0])


def test_statistics_of_the_draws_may_move_but_names_specs_and_settings_may_not():
    moved = _summary(5.0, sd=0.25, posterior_sha256="b" * 64)
    moved["parameters"]["v"]["r_hat"] = 1.009
    moved["max_rhat"], moved["divergences"] = 1.009, 1
    checks, fixed, statistics = compare_posterior_json(_summary(posterior_sha256="a" * 64), moved)
    assert fixed == [] and statistics == 5  # sd, r_hat, max_rhat, divergences, draw hash
    assert all(c["held"] for c in checks)
    for key, value in [("model", "pk_2cmt"), ("settings", {"draws": 1000, "tune": 500,
                       "chains": 4, "seed": 1}), ("spec", {"prior_cl": 6.0})]:  # fmt: skip
        checks, fixed, _ = compare_posterior_json(
            _summary(spec={"prior_cl": 5.0}), _summary(spec={"prior_cl": 5.0}) | {key: value}
        )
        assert fixed and fixed[0].startswith(f"key {key}"), (key, fixed)


def test_a_summary_nested_in_a_model_card_is_checked_too():
    card_a = {"name": "m", "data_hash": "x", "summary": _summary(5.0)}
    card_b = {"name": "m", "data_hash": "x", "summary": _summary(5.2)}
    checks, fixed, _ = compare_posterior_json(card_a, card_b)
    assert [c["quantity"] for c in checks if not c["held"]] == ["parameters.cl (summary)"]
    _, fixed, _ = compare_posterior_json(card_a, {**card_b, "data_hash": "y"})
    assert fixed == ['key data_hash: "x" -> "y"']


def test_a_mean_without_its_mcse_cannot_hold():
    b = _summary(5.01)
    del b["parameters"]["cl"]["ess_bulk"]
    cl = next(c for c in compare_posterior_json(_summary(), b)[0] if "cl" in c["quantity"])
    assert cl["bound"] is None and not cl["held"]


# --------------------------------------------------------------------------- _compare_locks


class World:
    """A recorded lock in a DVC cache and a reproduced one in a work tree plus that cache."""

    def __init__(self, root: Path) -> None:
        self.cache = root / "cache"
        self.tree = root / "tree"

    def _object(self, data: bytes) -> str:
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        obj = self.cache / "files" / "md5" / md5[:2] / md5[2:]
        obj.parent.mkdir(parents=True, exist_ok=True)
        obj.write_bytes(data)
        return md5

    def out(self, path: str, content: bytes | dict[str, bytes], *, tree: bool) -> dict:
        if isinstance(content, bytes):
            if tree:
                (self.tree / path).parent.mkdir(parents=True, exist_ok=True)
                (self.tree / path).write_bytes(content)
            return {"path": path, "md5": self._object(content)}
        listing = [{"md5": self._object(d), "relpath": r} for r, d in sorted(content.items())]
        md5 = self._object(json.dumps(listing, sort_keys=True).encode())
        obj = self.cache / "files" / "md5" / md5[:2] / md5[2:]
        obj.rename(obj.with_name(obj.name + ".dir"))
        return {"path": path, "md5": md5 + ".dir"}

    def lock(self, run: dict[str, Any], *, tree: bool) -> dict:
        """``run``: output path -> bytes (a file) or {relpath: bytes} (a folder)."""
        stages = {
            "harmonize": ([], ["data/h"]),
            "fit": (["data/h"], ["data/nonmem", "models/m", "reports/fit.html"]),
            "validate": (["models/m"], ["reports/validate.json"]),
            "simulate": (["reports/validate.json", "models/m"], ["results/run.json"]),
        }
        return {
            "stages": {
                name: {
                    "deps": [{"path": d, "md5": "0"} for d in deps],
                    "outs": [self.out(p, run[p], tree=tree) for p in outs],
                }
                for name, (deps, outs) in stages.items()
            }
        }

    def compare(self, recorded: dict, reproduced: dict, **kw: Any) -> dict[str, Any]:
        comparer = _Comparer(_Side(self.cache), _Side(self.cache, tree=self.tree), None)
        rows, _ = _compare_locks(
            self.lock(recorded, tree=False), self.lock(reproduced, tree=True), comparer,
            Tolerance(**kw),
        )  # fmt: skip
        return {row.path: row for row in rows}


def _run(cl: float = 5.0, *, passed: bool = True, draws: bytes = b"draws-1",
         sim: bytes = b"sim-1", data: bytes = b"harmonized") -> dict[str, Any]:  # fmt: skip
    summary = json.dumps(_summary(cl), indent=2).encode()
    gate = {"max_rhat_population": 1.004, "gates": {"max_rhat": passed}, "passed": passed}
    return {
        "data/h": {"events.parquet": data},
        "data/nonmem": {"demo.csv": b"ID,TIME,DV\n1,0,0\n"},
        "models/m": {
            "fit/posterior.zarr/posterior/cl/c/0/0": draws,
            "fit/posterior.zarr/zarr.json": b"{}",
            "fit/summary.json": summary,
            "fit/spec.yaml": b"model: pk_1cmt_oral\n",
        },
        "reports/fit.html": b"<p>cl " + str(cl).encode() + b"</p>",
        "reports/validate.json": json.dumps(gate).encode(),
        "results/run.json": sim,
    }


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_a_posterior_within_monte_carlo_error_and_a_passed_gate_reproduce(world):
    rows = world.compare(
        _run(5.0), _run(5.03, draws=b"draws-2", sim=b"sim-2") | {"reports/validate.json":
        json.dumps({"max_rhat_population": 1.006, "gates": {}, "passed": True}).encode()},
    )  # fmt: skip
    status = {p: (r.expected, r.status) for p, r in rows.items()}
    assert status == {
        "data/h": (EXACT, IDENTICAL),
        "data/nonmem": (EXACT, IDENTICAL),
        "models/m": (MONTE_CARLO, WITHIN_TOLERANCE),
        "reports/fit.html": (AFTER_FIT, WITHIN_TOLERANCE),
        "reports/validate.json": (AFTER_FIT, WITHIN_TOLERANCE),
        "results/run.json": (AFTER_FIT, WITHIN_TOLERANCE),
    }
    posterior = rows["models/m"]
    assert posterior.ok and "4*sqrt(mcse_a^2 + mcse_b^2)" in posterior.tolerance
    assert {c["quantity"]: c["held"] for c in posterior.diff["checks"]} == {
        "parameters.cl": True, "parameters.v": True, "omega.omega_cl": True
    }  # fmt: skip
    text = "\n".join(posterior.details)
    assert "3 of 3 posterior means within 4 MCSE" in text
    assert "1 file(s) of the draws (posterior.zarr) differ" in text
    assert "gate: reports/validate.json: passed" in text
    assert "posterior.zarr/posterior/cl/c/0/0: content differs" not in text
    assert "moved" in " ".join(rows["results/run.json"].details)


def test_a_mean_beyond_monte_carlo_error_fails_the_posterior_and_what_follows(world):
    rows = world.compare(_run(5.0), _run(5.2, draws=b"draws-2", sim=b"sim-2"))
    assert rows["models/m"].status == DIFFERS and not rows["models/m"].ok
    assert any(
        d.startswith("beyond tolerance: fit/summary.json parameters.cl: 5.0 -> 5.2")
        for d in rows["models/m"].details
    )
    assert rows["results/run.json"].status == DIFFERS
    assert (
        "why: the posterior did not reproduce within its tolerance (models/m)"
        in rows["results/run.json"].details
    )
    # with a looser k the same move is within tolerance (bound 16 * sqrt(2) * 0.01 = 0.226)
    rows = world.compare(_run(5.0), _run(5.2, draws=b"draws-2", sim=b"sim-2"), k_mcse=16.0)
    assert rows["models/m"].status == rows["results/run.json"].status == WITHIN_TOLERANCE


def test_a_failed_gate_in_the_reproduction_fails_the_posterior_and_what_follows(world):
    rows = world.compare(_run(5.0), _run(5.01, passed=False, draws=b"d2", sim=b"s2"))
    assert rows["models/m"].status == DIFFERS
    assert "gate: reports/validate.json: FAILED" in rows["models/m"].details
    assert rows["results/run.json"].status == rows["reports/validate.json"].status == DIFFERS
    assert (
        "why: the reproduction failed the gate (reports/validate.json: FAILED); the posterior "
        "did not reproduce within its tolerance (models/m)" in rows["results/run.json"].details
    )


def test_after_an_identical_posterior_later_outputs_must_be_identical(world):
    rows = world.compare(_run(5.0), _run(5.0, sim=b"sim-2"))
    assert rows["models/m"].status == IDENTICAL
    row = rows["results/run.json"]
    assert (row.expected, row.status, row.tolerance) == (AFTER_FIT, DIFFERS, None)
    assert "expected bit-identical: every posterior reproduced bit for bit" in row.details


def test_data_must_stay_identical_even_when_the_posterior_may_move(world):
    rows = world.compare(_run(5.0), _run(5.01, draws=b"d2", data=b"harmonized, other"))
    assert rows["data/h"].status == DIFFERS and rows["data/h"].tolerance is None
    assert rows["models/m"].status == WITHIN_TOLERANCE  # the checks themselves still held


def test_a_changed_spec_in_the_posterior_is_not_monte_carlo_error(world):
    changed = _run(5.01, draws=b"d2")
    changed["models/m"]["fit/spec.yaml"] = b"model: pk_2cmt\n"
    row = world.compare(_run(5.0), changed)["models/m"]
    assert row.status == DIFFERS
    assert "must not change: fit/spec.yaml: changed" in row.details


def test_the_report_says_what_must_match_which_tolerance_applied_and_whether_it_held(world):
    rows = world.compare(_run(5.0), _run(5.03, draws=b"d2", sim=b"s2"))
    report = ReproduceReport(
        repo="r", rev="HEAD", commit="c" * 40, rows=list(rows.values()),
        code={"tree_matches_working_tree": True, "differing_paths": []},
        packages={}, stage_changes={}, repro={"returncode": 0, "seconds": 1.0},
        keys={"master": False},
    )  # fmt: skip
    text = str(report)
    assert "what must reproduce how:" in text
    assert "bit-identical: harmonize; fit (data/nonmem). Deterministic" in text
    assert "Monte Carlo: fit (models/m). MCMC draws" in text
    assert "follows the fit: fit (reports/fit.html); validate; simulate. Bit-identical" in text
    assert "tolerance: every posterior mean within 4 Monte Carlo standard errors" in text
    assert "-> held" in text
    assert report.ok and "OK: every artifact reproduced (3 identical, 3 within tolerance)" in text
    artifacts = {a["path"]: a for a in report.to_dict()["artifacts"]}
    assert artifacts["models/m"]["expected"] == MONTE_CARLO
    assert artifacts["data/h"]["tolerance"] is None
    assert report.to_dict()["tolerance"] == {"monte_carlo_stages": ["fit"], "k_mcse": 4.0}
