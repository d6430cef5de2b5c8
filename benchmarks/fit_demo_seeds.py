"""Robustness of the demo fit: the validation gate for several seeds and shuffled subjects.

Issue 13 asks that the demo's gate (R-hat <= 1.01 on the population parameters, unchanged)
pass for at least 5 different seeds and for the subjects in shuffled order. This runs
``twinlab.pkpd.fit.fit(spec, csv, draws=1000, tune=1000, chains=4, seed=s)`` on the demo data
set (built from ``data/harmonized/demo`` by ``twinlab dataset``, as in ``fit_demo.py``) for
seeds 1–5 in the original subject order, and for seeds 1–2 on the same data with the subjects
renumbered by a random permutation and their rows reordered accordingly (same records
otherwise; the ``.meta.json`` id map follows). Every fit runs in its own fresh Python process
(compile caches warm: the shuffled data set compiles once, in its first fit), one after
another, followed by the full gate :func:`twinlab.pkpd.gate.validate` (default bounds:
population R-hat <= 1.01, individual R-hat <= 1.05, bulk ESS >= 100 over every free variable,
0 divergences, VPC 90 % PI coverage in [0.80, 0.99]).

Reported per fit: seed, order, max population R-hat and its parameter, min bulk ESS
(population, and every free variable), divergences, leapfrog steps per draw, wall time of the
fit (from before the import, as ``fit_demo.py``), the 1-minute load average before / after,
gate pass/fail (and what failed), and the typical-value estimates.

Usage::

    python benchmarks/fit_demo_seeds.py [--out benchmarks/results] [--seeds 1 2 3 4 5]
        [--shuffled-seeds 1 2] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_demo import (  # the benchmark folder is not a package: imported by path
    CHILD_TWINLAB,
    build_dataset,
    fit_python,
    load,
    machine,
    truth,
)

#: seed of the subject permutation
PERMUTATION_SEED = 20261202


def shuffled(data: Path, out: Path, seed: int = PERMUTATION_SEED) -> tuple[Path, dict]:
    """``data`` with its subjects renumbered by a random permutation, rows in the new order.

    Returns the new CSV (with its ``.meta.json``) and the map old ID -> new ID.
    """
    frame = pd.read_csv(data, dtype=str, keep_default_na=False)
    ids = sorted({int(x) for x in frame["ID"]})
    perm = np.random.default_rng(seed).permutation(len(ids))
    new_id = {old: int(ids[p]) for old, p in zip(ids, perm, strict=True)}
    frame["_row"] = np.arange(len(frame))
    frame["ID"] = [str(new_id[int(x)]) for x in frame["ID"]]
    frame["_id"] = frame["ID"].astype(int)
    frame = frame.sort_values(["_id", "_row"], kind="stable").drop(columns=["_id", "_row"])
    frame.to_csv(out, index=False)
    meta = json.loads(Path(str(data) + ".meta.json").read_text())
    if "ids" in meta:
        meta["ids"] = {str(new_id[int(k)]): v for k, v in meta["ids"].items()}
    Path(str(out) + ".meta.json").write_text(json.dumps(meta, indent=1))
    return out, new_id


def markdown(result: dict) -> str:
    """The table of fits."""
    s = result["settings"]
    t = result["truth"]
    lines = [
        "# Demo fit for several seeds and shuffled subjects – results",
        "",
        f"Run: `python benchmarks/fit_demo_seeds.py` on {result['machine']['cpus']} cores, "
        f"{result['machine']['date']}, commit `{result['machine']['git']}`; "
        f"{s['chains']} chains x ({s['tune']} tune + {s['draws']} draws) per fit, each in a "
        "fresh process, one after another. Raw numbers: `fit_demo_seeds.json`. Gate: "
        "`twinlab.pkpd.gate.validate` with its default bounds (population R-hat <= 1.01, "
        "individual R-hat <= 1.05, bulk ESS >= 100, 0 divergences, VPC 90 % PI coverage in "
        "[0.80, 0.99]). `load`: 1-minute load average before / after the fit.",
        "",
        "| seed | order | max R-hat pop (parameter) | min ESS pop (all) | div | steps/draw "
        "| wall (compile) | load | gate | ka | CL | V | CrCL exp. |",
        "|---:|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in result["fits"]:
        e = r["estimates"]
        gate = "pass" if r["gate_passed"] else "**FAIL** " + ", ".join(r["gate"]["failures"])
        lines.append(
            f"| {r['seed']} | {r['order']} | {r['max_rhat_population']:.4f} "
            f"({r['max_rhat_population_at']}) | {r['min_ess_bulk_population']:.0f} "
            f"({r['min_ess_bulk_all']:.0f}) | {r['divergences']} | {r['steps_per_draw']:.1f} | "
            f"{r['wall_s']:.1f} s ({r['compile_s']:.0f} s) | "
            f"{r['load_1min_before']:.2f} / {r['load_1min_after']:.2f} | "
            f"{gate} | {e['ka']['mean']:.3f} | {e['cl']['mean']:.3f} | {e['v']['mean']:.2f} | "
            f"{e['beta_cl_crcl']['mean']:.3f} |"
        )
    lines.append(
        f"| truth | | | | | | | | | {t['ka']} | {t['cl']} | {t['v']} | {t['beta_cl_crcl']} |"
    )
    lines += [
        "",
        "The first fit of the shuffled data set compiles its model afresh (the data are "
        "constants of the compiled graph, so PyTensor's numba cache misses); the others "
        "reuse a cached compilation.",
    ]
    n_pass = sum(r["gate_passed"] for r in result["fits"])
    walls = [r["wall_s"] for r in result["fits"]]
    lines += [
        "",
        f"Gate passed: {n_pass} of {len(result['fits'])} fits. Wall time: median "
        f"{float(np.median(walls)):.1f} s, range {min(walls):.1f}–{max(walls):.1f} s.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the fits and write ``fit_demo_seeds.json`` / ``.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--shuffled-seeds", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--quick", action="store_true", help="2 chains x (200 + 200): a smoke run")
    args = parser.parse_args()
    draws, tune, chains = (200, 200, 2) if args.quick else (1000, 1000, 4)
    fits = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        original = build_dataset(tmp)
        mixed, new_id = shuffled(original, tmp / "demo_shuffled.csv")
        data_sha256 = hashlib.sha256(original.read_bytes()).hexdigest()[:16]
        plan = [(s, "original", original) for s in args.seeds]
        plan += [(s, "shuffled", mixed) for s in args.shuffled_seeds]
        for seed, order, data in plan:
            print(f"[seeds] seed {seed}, {order} (load {load()}) ...", file=sys.stderr, flush=True)
            r = fit_python(CHILD_TWINLAB, data, draws=draws, tune=tune, chains=chains, seed=seed)
            fits.append({"seed": seed, "order": order, **r})
            print(
                f"[seeds] seed {seed}, {order}: {r['wall_s']:.1f} s, R-hat "
                f"{r['max_rhat_population']:.4f} ({r['max_rhat_population_at']}), gate "
                f"{'pass' if r['gate_passed'] else 'FAIL'}",
                file=sys.stderr,
                flush=True,
            )
    result = {
        "settings": {"draws": draws, "tune": tune, "chains": chains},
        "data_csv_sha256": data_sha256,
        "permutation_seed": PERMUTATION_SEED,
        "permutation_old_to_new_id": new_id,
        "fits": fits,
        "truth": truth(),
        "machine": machine(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "fit_demo_seeds_quick" if args.quick else "fit_demo_seeds"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2))
    (args.out / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
