"""The per-arm summary: NumPy's percentiles to the bit, from the run's arrays or the table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from simulate_helpers import LogNormalPopulation

import twinlab.simulate.metrics as metrics
from twinlab.simulate import Arm, Regimen, Scenario, Titration, run
from twinlab.simulate.engine import _factorize, _labels

Q = [5.0, 50.0, 95.0]


def _arrays(rng: np.random.Generator) -> list[np.ndarray]:
    """Values as the metrics have them (continuous, constant, runs of ties, infinities,
    signed zeros, ordered), at sizes around and above the selection's threshold."""
    out = []
    for n in (1, 2, 3, 7, 100, 4095, 4096, 5000, 20_001, 100_000):
        out += [
            rng.lognormal(0.0, 1.0, n),
            np.zeros(n),
            np.round(rng.normal(0.0, 1.0, n), 1),
            rng.integers(0, 3, n).astype(float),
            np.sort(rng.random(n)),
            np.sort(rng.random(n))[::-1].copy(),
            np.where(rng.random(n) < 0.5, -0.0, 0.0),
            np.where(rng.random(n) < 0.3, 0.0, rng.normal(0.0, 1.0, n)),
        ]
        spiky = rng.normal(0.0, 1.0, n)
        spiky[:: max(n // 10, 1)] = np.inf
        spiky[1 :: max(n // 10, 1)] = -np.inf
        out.append(spiky)
    return out


@pytest.mark.parametrize("select_min", [metrics._SELECT_MIN, 1])
def test_percentiles_are_numpys_bits(monkeypatch, select_min):
    """The order-statistic path gives numpy.percentile's numbers bit for bit (and leaves
    its input as it was); select_min=1 takes it for every size."""
    monkeypatch.setattr(metrics, "_SELECT_MIN", select_min)
    rng = np.random.default_rng(20)
    for x in _arrays(rng):
        before = x.copy()
        with np.errstate(invalid="ignore"):  # inf - inf, as numpy.percentile meets it
            got = metrics._percentiles(x, Q)
            want = np.percentile(x, Q)
        assert got.dtype == want.dtype
        assert np.array_equal(got.view(np.int64), want.view(np.int64)), (x.size, got, want)
        assert np.array_equal(x.view(np.int64), before.view(np.int64))


def _reference(patients: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    """The summary by pandas' groups and numpy.percentile, as it was first written."""
    names = [m for m in (*metrics.EXPOSURE, *metrics.PD) if m in patients.columns]
    rows = []
    for d in sorted(patients["draw"].unique()):
        for arm in arms:
            group = patients[(patients["draw"] == d) & (patients["arm"] == arm)]
            row: dict[str, object] = {"draw": int(d), "arm": arm, "n": len(group)}
            for m in names:
                x = group[m].to_numpy(dtype=float)
                x = x[~np.isnan(x)]
                row[f"{m}_mean"] = float(x.mean()) if x.size else np.nan
                qs = np.percentile(x, Q) if x.size else [np.nan] * 3
                for label, v in zip(("p05", "p50", "p95"), qs, strict=True):
                    row[f"{m}_{label}"] = float(v)
            row["titrated_frac"] = float(group["titrated"].mean())
            rows.append(row)
    return pd.DataFrame(rows)


def _assert_same_bits(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    for col in got.columns:
        a, b = got[col].to_numpy(), want[col].to_numpy()
        if a.dtype.kind == "f":
            assert np.array_equal(a.view(np.int64), b.view(np.int64)), col
        else:
            assert list(a) == list(b), col


def test_the_summary_from_the_arrays_is_the_tables(monkeypatch, tmp_path):
    """``arms`` (from the run's arrays in one file, from the Parquet parts with parts=True)
    equals the groups of the per-patient table summarised directly, bit for bit, with the
    order-statistic path taken (threshold lowered to the small groups here)."""
    monkeypatch.setattr(metrics, "_SELECT_MIN", 16)
    titrate = Titration(at_h=48.0, trough_below=1.5, factor=2.0)
    arms = [
        Arm("placebo"),
        Arm("100 mg QD", Regimen(100.0, n_doses=3)),
        Arm("50 mg QD, titrated", Regimen(50.0, n_doses=3, titration=titrate)),
    ]
    sc = Scenario("summary", LogNormalPopulation(n=150, n_draws=2), arms,
                  np.linspace(0.0, 72.0, 25), seed=3, chunk_size=40, threshold=1.0)  # fmt: skip
    res = run(sc, threads=1)
    names = [a.name for a in arms]
    want = _reference(res.patients, names)
    _assert_same_bits(res.arms, want)
    parts = run(sc, out=tmp_path / "parts", parts=True, profile=False, threads=1)
    _assert_same_bits(parts.arms, want)


def test_uniform_text_columns_are_the_decoded_ones():
    """A column of one repeated label, built without decoding, and the factorization that
    finds it, equal the general path's."""
    for name in ("", "100 mg QD", "ünï"):
        pd.testing.assert_series_equal(
            pd.Series(_labels([name], None, 7)), pd.Series(_labels([name], np.zeros(7, int)))
        )
    same = np.full(5, "P-1", dtype=object)
    assert _factorize(same) == (None, ["P-1"])
    mixed = np.array(["b", None, "b"], dtype=object)
    codes, names = _factorize(mixed)
    want_codes, want_names = pd.factorize(mixed)
    assert np.array_equal(codes, want_codes) and names == list(want_names)
