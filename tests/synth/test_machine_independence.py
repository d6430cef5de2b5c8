"""``generate`` and ``harmonize`` write the same bytes whatever the CPU's vector instructions.

NumPy picks ``exp``/``log``/``pow`` kernels at run time by CPU (AVX-512, AVX2, SSE); they
agree to about one ulp, not bit for bit. Such last-bit differences must stop at the stated
precision of what is written (a measurement's reported decimals, a true parameter's six
significant digits) and never reach a file's bytes. Two tests show it: one moves every random
draw and every transcendental result of the generator by one ulp, the other runs the pipeline's
commands with NumPy's SIMD dispatch (``NPY_DISABLE_CPU_FEATURES``) and glibc's FMA/AVX2 libm
variants (``GLIBC_TUNABLES``) switched off and compares the bytes with a default run.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import twinlab.synth.study as study_module
from twinlab.synth import SynthConfig, generate_study
from twinlab.synth import truth as T
from twinlab.synth.config import rng_streams
from twinlab.synth.observations import simulate_observations
from twinlab.synth.population import round_significant, simulate_subjects
from twinlab.synth.schedule import simulate_schedule

DEID_KEY = b"machine-independence-deid-key-32"
MASTER_KEY = b"machine-independence-master-k-32"
REPO = Path(__file__).resolve().parents[2]
CONFIG = SynthConfig(n_patients=24, screen_fail_fraction=0.1, wearable_fraction=0.25)
#: Generator methods that return floats (integers, permutations and choices stay exact).
FLOAT_DRAWS = frozenset({"random", "normal", "standard_normal", "uniform", "lognormal",
                         "exponential", "standard_exponential", "gamma", "beta"})  # fmt: skip
#: NumPy functions whose SIMD kernels differ in the last bit between CPUs.
#: glibc tunable that makes libm pick its variants for CPUs without FMA and AVX2.
GLIBC_BASELINE = "glibc.cpu.hwcaps=-AVX2,-FMA"
SIMD_MATH = ("exp", "log", "log10", "expm1", "log1p", "sin", "cos", "power")


class UlpNudged:
    """A :class:`numpy.random.Generator` whose float draws come out one ulp off.

    Parameters
    ----------
    rng
        The real generator; integer draws pass through unchanged.
    toward
        ``numpy.inf`` or ``-numpy.inf``: the direction of the nudge.
    """

    def __init__(self, rng: np.random.Generator, toward: float) -> None:
        self._rng = rng
        self._toward = toward

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._rng, name)
        return _nudged(attr, self._toward) if name in FLOAT_DRAWS else attr


def _nudged(func: Callable[..., Any], toward: float) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        return np.nextafter(func(*args, **kwargs), toward)

    return call


def digests(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, by path relative to it."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _differing(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def _true_concentrations(streams: dict[str, Any]) -> np.ndarray:
    subjects = simulate_subjects(CONFIG, streams)
    schedule = simulate_schedule(subjects, streams["schedule"])
    obs = simulate_observations(subjects, schedule, streams["pk_error"], streams["pd_error"])
    return obs.conc_true


@pytest.fixture(scope="module")
def reference_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reference")
    generate_study(root / "raw", root / "truth", CONFIG)
    return root


@pytest.fixture(scope="module")
def reference(reference_root: Path) -> dict[str, str]:
    return digests(reference_root)


def test_round_significant_is_correctly_rounded_decimal():
    values = [1.23456789, 0.000123456789, -98765.4321, 2.5e-7, 0.0, np.nan, np.inf]
    got = round_significant(np.array(values), 6)
    assert got[:5].tolist() == [1.23457, 0.000123457, -98765.4, 2.5e-7, 0.0]
    assert np.isnan(got[5]) and got[6] == np.inf
    assert round_significant(np.ones((2, 3)), 3).shape == (2, 3)
    with pytest.raises(ValueError, match="digits"):
        round_significant([1.0], 0)


def test_true_parameters_are_written_at_their_stated_precision(reference_root: Path) -> None:
    text = pd.read_csv(reference_root / "truth" / "patients.csv", dtype=str)
    for col in ("eta_ka", "eta_cl", "eta_v", "eta_r0", "eta_ic50"):
        decimals = text[col].str.partition(".")[2].str.len()
        assert decimals.max() <= T.ETA_DECIMALS, col
    for col in ("ka", "cl", "v", "r0", "ic50"):
        digits = text[col].str.replace(r"[-.]|e.*$", "", regex=True).str.lstrip("0")
        assert digits.str.len().max() <= T.PARAMETER_DIGITS, col
    table = pd.read_csv(reference_root / "truth" / "patients.csv")
    # the rounded values are the ones that generated the data, to their precision
    np.testing.assert_allclose(table["ka"], T.KA * np.exp(table["eta_ka"]), rtol=6e-6)
    np.testing.assert_allclose(table["kin"], table["r0"] * T.KOUT, rtol=1e-15)


@pytest.mark.parametrize("toward", [np.inf, -np.inf], ids=["up", "down"])
def test_generated_bytes_do_not_move_when_draws_and_math_move_by_one_ulp(
    reference: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toward: float
) -> None:
    real_concentrations = _true_concentrations(rng_streams(CONFIG.seed))

    def nudged_streams(seed: int) -> dict[str, Any]:
        return {name: UlpNudged(g, toward) for name, g in rng_streams(seed).items()}

    monkeypatch.setattr(study_module, "rng_streams", nudged_streams)
    for name in SIMD_MATH:
        monkeypatch.setattr(np, name, _nudged(getattr(np, name), toward))
    # the nudge reaches the simulated values ...
    assert not np.array_equal(_true_concentrations(nudged_streams(CONFIG.seed)),
                              real_concentrations)  # fmt: skip
    # ... but not the bytes written
    generate_study(tmp_path / "raw", tmp_path / "truth", CONFIG)
    got = digests(tmp_path)
    assert got.keys() == reference.keys()
    assert _differing(got, reference) == []


_PIPELINE = """
import hashlib, math, sys
import numpy as np
from twinlab.cli import cli

x = np.linspace(-20.0, 20.0, 200_001)
probe = np.concatenate([np.exp(x), np.log(np.abs(x) + 0.5), (np.abs(x) + 0.5) ** 0.75,
                        [math.exp(v) + math.log(abs(v) + 0.5) for v in x[::7].tolist()]])
print("probe", hashlib.sha256(probe.tobytes()).hexdigest(), flush=True)
root, params = sys.argv[1], sys.argv[2]
for args in (
    ["synth", "--params", params, "--out", f"{root}/raw", "--truth", f"{root}/truth",
     "--n-patients", "16"],
    ["ingest", f"{root}/raw", "--out", f"{root}/harmonized", "--raw-zone", f"{root}/raw_zone",
     "--params", params],
):
    cli.main(args=args, prog_name="twinlab", standalone_mode=False)
"""


def _dispatched_features() -> list[str]:
    """NumPy's run-time dispatch targets this CPU has (what a CPU without them would miss)."""
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # pragma: no cover - NumPy < 2
        from numpy.core import _multiarray_umath as umath  # type: ignore[no-redef]
    found = umath.__cpu_features__
    return [name for name in umath.__cpu_dispatch__ if found.get(name)]


def _run_pipeline(root: Path, disable: list[str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"}
    env |= {
        "TWINLAB_DEID_KEY": DEID_KEY.hex(),
        "TWINLAB_MASTER_KEY": base64.b64encode(MASTER_KEY).decode("ascii"),
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("TWINLAB_DEID_KEY_FILE", None)
    env.pop("TWINLAB_MASTER_KEY_FILE", None)
    if disable:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(disable)
        # glibc's libm (Python's math, NumPy's scalar and random paths) has FMA/AVX2 variants
        env["GLIBC_TUNABLES"] = GLIBC_BASELINE
    proc = subprocess.run(
        [sys.executable, "-c", _PIPELINE, str(root), str(REPO / "params.yaml")],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("probe"))


def test_generate_and_harmonize_bytes_do_not_depend_on_the_simd_path(tmp_path: Path) -> None:
    disable = _dispatched_features()
    if not disable:
        pytest.skip("this CPU runs NumPy's baseline kernels only: nothing to switch off")
    probe_default = _run_pipeline(tmp_path / "default", [])
    probe_baseline = _run_pipeline(tmp_path / "baseline", disable)
    if probe_default == probe_baseline:
        pytest.skip(f"exp/log/pow agree bit for bit without {disable}, FMA, AVX2 on this CPU")
    for folder in ("raw", "truth", "harmonized"):
        default = digests(tmp_path / "default" / folder)
        baseline = digests(tmp_path / "baseline" / folder)
        assert default, folder
        assert _differing(default, baseline) == [], folder
