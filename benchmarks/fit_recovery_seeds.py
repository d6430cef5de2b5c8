"""Parameter recovery of every model family for several seeds: a test's one seed is not enough.

``tests/pkpd/test_pkpd_recovery_families.py`` fits each model family once (seed 8) and asks
for the true typical values within 3 posterior SDs and the demo's gate on the population
parameters (R-hat <= 1.01, no divergences). This script runs the same cases, with the same
fit options, for more sampler seeds and simulated studies, and tabulates the worst
population R-hat (and its parameter), divergences, the largest |z| of a typical value,
leapfrog steps per draw and the time, so a reader sees how much margin each family has.

Protocol: one process; each family's model compiles once (its first fit's time includes
that); then fits for sampler seeds ``--seeds`` on the test's simulated study, and for one
other simulated study (study seed + 100). The machine's load average is recorded.

Usage::

    python benchmarks/fit_recovery_seeds.py [--seeds 8 9 10 11 12] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _row(family: str, study_seed: int, seed: int, result, sim, elapsed: float) -> dict:
    from twinlab.pkpd.diagnostics import convergence, convergence_table

    s = result.summary()
    gate = convergence(result)
    table = convergence_table(result)
    pop = table[table["kind"] == "population"].sort_values("r_hat")
    z = {k: (v["mean"] - sim[k]) / v["sd"] for k, v in s["parameters"].items()}
    worst = max(z, key=lambda k: abs(z[k]))
    # the simulated subjects' own typical value (geometric mean of their individual values):
    # with 24 subjects it strays from the population value by omega/sqrt(24) (SD, log scale)
    ind = sim.get("individual", {})
    sample = float(np.exp(np.mean(np.log(ind[worst])))) if worst in ind else float("nan")
    return {
        "family": family,
        "study_seed": study_seed,
        "seed": seed,
        "max_rhat_population": round(gate["max_rhat_population"], 4),
        "worst_parameter": str(pop["element"].iloc[-1]),
        "max_rhat_individual": round(gate["max_rhat_individual"], 4),
        "divergences": gate["divergences"],
        "max_abs_z": round(abs(z[worst]), 2),
        "max_z_parameter": worst,
        "truth": sim[worst],
        "sample_value": round(sample, 4),
        "estimate": round(s["parameters"][worst]["mean"], 4),
        "steps_per_draw": round(float(result.idata.sample_stats["n_steps"].mean()), 1),
        "seconds": round(elapsed, 1),
        "passed": bool(
            gate["max_rhat_population"] <= 1.01
            and gate["divergences"] == 0
            and all(abs(v) < 3 for v in z.values())
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[8, 9, 10, 11, 12])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    sys.path.insert(0, str(ROOT / "tests" / "pkpd"))
    import test_pkpd_recovery_families as cases

    from twinlab.pkpd.fit import fit

    rows = []
    for family, factory in cases.FAMILIES.items():
        spec, truth, design = factory()
        options = {"draws": 1000, "tune": 1000, "chains": 4, **design.pop("fit", {})}
        spec = replace(spec, centered=True)
        studies = [design["seed"], design["seed"] + 100]
        for study_seed in studies:
            arrays, sim = cases._study(spec, truth, {**design, "seed": study_seed})
            seeds = args.seeds if study_seed == studies[0] else args.seeds[:1]
            for seed in seeds:
                t0 = time.perf_counter()
                result = fit(spec, arrays, seed=seed, progress=False, **options)
                row = _row(family, study_seed, seed, result, sim, time.perf_counter() - t0)
                rows.append(row)
                print(json.dumps(row), flush=True)
    load = os.getloadavg()
    out = {"rows": rows, "load_average": load, "cpus": os.cpu_count()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fit_recovery_seeds.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        "# Recovery of every model family for several seeds – results",
        "",
        f"Run: `python benchmarks/fit_recovery_seeds.py --seeds {' '.join(map(str, args.seeds))}`"
        f" on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}; 4 chains x (1000 "
        "tune + 1000 draws), the test's fit options. z = (posterior mean - population value) "
        "/ posterior SD of the typical value with the largest |z|; beside it that parameter's "
        "population value, the simulated subjects' own typical value (geometric mean) and the "
        "estimate. Pass: population R-hat <= 1.01, no divergences, every |z| < 3.",
        "",
        "| family | study seed | sampler seed | max R-hat (pop.) | at | divergences "
        "| max abs z | truth / sample / estimate | steps/draw | s | pass |",
        "|---|---:|---:|---:|---|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['family']} | {r['study_seed']} | {r['seed']} | {r['max_rhat_population']} "
            f"| {r['worst_parameter']} | {r['divergences']} | {r['max_abs_z']} "
            f"({r['max_z_parameter']}) | {r['truth']:.4g} / {r['sample_value']:.4g} / "
            f"{r['estimate']:.4g} | {r['steps_per_draw']} | {r['seconds']} "
            f"| {'yes' if r['passed'] else '**no**'} |"
        )
    lines.append(f"\nLoad average at the end: {load}; {os.cpu_count()} CPUs.")
    (args.out / "fit_recovery_seeds.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
