"""Parameter recovery of every model family for several seeds: a test's one seed is not enough.

``tests/pkpd/test_pkpd_recovery_families.py`` fits each model family once (seed 8) and asks
for the true typical values within 3 posterior SDs and the demo's gate on the population
parameters (R-hat <= 1.01, no divergences). This script runs the same cases, with the same
fit options, for more sampler seeds and simulated studies, and tabulates the worst
population R-hat (and its parameter), divergences, the largest |z| of a typical value,
leapfrog steps per draw and the time, so a reader sees how much margin each family has.

Protocol: one process; each family's model compiles once (its first fit's time includes
that); then fits for sampler seeds ``--seeds`` on the test's simulated study, and for one
other simulated study (study seed + 100). Each family's spec says which BSV is centred (the
``centered`` column). The machine's load average is recorded with each run.

``--families`` re-runs some families only: their rows in ``fit_recovery_seeds.json``
are replaced, the other families' rows are kept as they were (each row says when it ran, and
from which commit), and the markdown table is written again from all rows, keeping the
hand-written ``## Reading`` section of the existing file.

Usage::

    python benchmarks/fit_recovery_seeds.py [--seeds 8 9 10 11 12] [--families NAME ...]
        [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _row(family: str, study_seed: int, seed: int, result, sim, elapsed: float, run: str) -> dict:
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
        "centered": _centered(result.spec),
        "run": run,
        "passed": bool(
            gate["max_rhat_population"] <= 1.01
            and gate["divergences"] == 0
            and all(abs(v) < 3 for v in z.values())
        ),
    }


def _centered(spec) -> str:
    """The spec's centring in words: ``all``, ``none`` or the centred parameters."""
    if spec.centered is True:
        return "all"
    return ", ".join(spec.centered_parameters) or "none"


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "?"
    return out.stdout.strip() or "?"


def _merge(path: Path, rows: list[dict], run: dict, order: list[str]) -> dict:
    """The rows of ``path`` (if any) with those of the families of ``run`` replaced by
    ``rows``, in the families' ``order``; ``run`` is added to the file's list of runs."""
    families = set(run["families"])
    old = json.loads(path.read_text()) if path.exists() else {"rows": []}
    kept = [r for r in old["rows"] if r["family"] not in families]
    runs = old.get("runs", [])
    if "runs" not in old and kept:  # a file written before runs were recorded
        runs = [{"families": list(order), "run": "an earlier run"}]
        runs[0] |= {k: old[k] for k in ("load_average", "cpus") if k in old}
    earlier = []
    for r in runs:  # an earlier run keeps only the families that were not re-run
        left = [
            f for f in r["families"] if f not in families and any(k["family"] == f for k in kept)
        ]
        if left:
            earlier.append({**r, "families": left})
    rank = {name: i for i, name in enumerate(order)}
    merged = sorted(kept + rows, key=lambda r: rank.get(r["family"], len(rank)))
    return {"rows": merged, "runs": [*earlier, run]}


def _cell(r: dict, key: str, fmt: str = "") -> str:
    return format(r[key], fmt) if key in r else "–"


def _markdown(out: dict, reading: str) -> str:
    lines = [
        "# Recovery of every model family for several seeds – results",
        "",
        "Run: `python benchmarks/fit_recovery_seeds.py` (`--families` re-runs some families; "
        "the runs are listed below the table). 4 chains x (1000 tune + 1000 draws), the "
        "test's fit options and centring (centred BSV: the `centered` column). z = (posterior "
        "mean - population value) / posterior SD of the typical value with the largest |z|; "
        "beside it that parameter's population value, the simulated subjects' own typical "
        "value (geometric mean) and the estimate. Pass: population R-hat <= 1.01, no "
        "divergences, every |z| < 3. Raw rows: `fit_recovery_seeds.json`.",
        "",
        "| family | centred | study seed | sampler seed | max R-hat (pop.) | at | divergences "
        "| max abs z | truth / sample / estimate | steps/draw | s | pass | run |",
        "|---|---|---:|---:|---:|---|---:|---:|---|---:|---:|---|---|",
    ]
    for r in out["rows"]:
        tse = "–"
        if "truth" in r:
            tse = f"{r['truth']:.4g} / {r['sample_value']:.4g} / {r['estimate']:.4g}"
        lines.append(
            f"| {r['family']} | {r.get('centered', 'all')} | {r['study_seed']} | {r['seed']} "
            f"| {r['max_rhat_population']} | {r['worst_parameter']} | {r['divergences']} "
            f"| {r['max_abs_z']} ({r['max_z_parameter']}) | {tse} | {r['steps_per_draw']} "
            f"| {r['seconds']} | {'yes' if r['passed'] else '**no**'} | {_cell(r, 'run')} |"
        )
    lines += ["", "Runs:", ""]
    for run in out["runs"]:
        what = ", ".join(f"{k} {v}" for k, v in run.items() if k != "families")
        lines.append(f"- {', '.join(run['families'])}: {what}")
    text = "\n".join(lines) + "\n"
    return text + ("\n" + reading if reading else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[8, 9, 10, 11, 12])
    parser.add_argument("--families", nargs="+", help="re-run only these (default: all)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    sys.path.insert(0, str(ROOT / "tests" / "pkpd"))
    import test_pkpd_recovery_families as cases

    from twinlab.pkpd.fit import fit

    families = args.families or list(cases.FAMILIES)
    unknown = sorted(set(families) - set(cases.FAMILIES))
    if unknown:
        parser.error(f"unknown families {unknown}; known: {list(cases.FAMILIES)}")
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    label = f"{stamp}, {_commit()}"
    rows = []
    for family in families:
        spec, truth, design = cases.FAMILIES[family]()
        options = {"draws": 1000, "tune": 1000, "chains": 4, **design.pop("fit", {})}
        studies = [design["seed"], design["seed"] + 100]
        for study_seed in studies:
            arrays, sim = cases._study(spec, truth, {**design, "seed": study_seed})
            seeds = args.seeds if study_seed == studies[0] else args.seeds[:1]
            for seed in seeds:
                t0 = time.perf_counter()
                result = fit(spec, arrays, seed=seed, progress=False, **options)
                elapsed = time.perf_counter() - t0
                row = _row(family, study_seed, seed, result, sim, elapsed, label)
                rows.append(row)
                print(json.dumps(row), flush=True)
    run = {
        "families": families,
        "run": label,
        "seeds": args.seeds,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = args.out / "fit_recovery_seeds.json", args.out / "fit_recovery_seeds.md"
    out = _merge(json_path, rows, run, list(cases.FAMILIES))
    json_path.write_text(json.dumps(out, indent=2) + "\n")
    old = md_path.read_text() if md_path.exists() else ""
    reading = old[old.index("## Reading") :] if "## Reading" in old else ""
    md_path.write_text(_markdown(out, reading))
    print(_markdown(out, ""))


if __name__ == "__main__":
    main()
