"""Theophylline population fit benchmark: cold and warm wall time of a full NUTS fit, ESS/s.

The fit: ``theo_sd`` (12 subjects, 132 concentrations), 1-compartment oral model, log-normal
BSV on ka, CL and V (non-centred), additive error, nutpie, 4 chains x (1000 tune + 1000 draws).
Anchor: nlmixr2 SAEM 2–7 s; twinlab goal ≤ 15 s cold on 2 cores (DESIGN.md).

Three timings, each in its own fresh Python process unless said otherwise:

- ``cold_empty_cache``: first-ever run (empty PyTensor/Numba compile caches in a temporary
  folder): import, model build, Numba compilation and sampling;
- ``cold``: a new process with the compile caches warm (what a user sees on the second day);
- ``warm``: a second ``fit`` in the same process (compiled model reused): sampling only.

Wall time counts from before ``import twinlab.pkpd.fit`` (cold) or from the ``fit`` call
(warm). ESS/s is the minimum bulk ESS of ka, CL, V over the warm sampling time.

Usage::

    python benchmarks/fit_theophylline.py [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

#: ../shared/data beside the checkout (twinlab is imported later, inside the timed runs)
DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "pk" / "nlmixr2data" / "theo_sd.csv"
)
SPEC = {
    "model": "pk_1cmt_oral",
    "parameters": {"ka": 1.0, "cl": 3.0, "v": 30.0},
    "errors": "additive",
}

CHILD = r"""
import json, sys, time, warnings
t0 = time.perf_counter()
warnings.simplefilter("ignore")
from twinlab.pkpd.fit import fit
from twinlab.pkpd.population import PopulationSpec
spec = PopulationSpec.from_dict(json.loads(sys.argv[1]))
r1 = fit(spec, sys.argv[2], draws=1000, tune=1000, chains=4, seed=1)
cold = time.perf_counter() - t0
t1 = time.perf_counter()
r2 = fit(spec, sys.argv[2], draws=1000, tune=1000, chains=4, seed=2)
warm = time.perf_counter() - t1
s = r2.summary()
ess = min(s["parameters"][k]["ess_bulk"] for k in ("ka", "cl", "v"))
print(json.dumps({
    "cold_s": cold, "compile_s": r1.timings["compile_s"], "cold_sample_s": r1.timings["sample_s"],
    "warm_s": warm, "warm_sample_s": r2.timings["sample_s"], "min_ess_bulk_typical": ess,
    "ess_per_s_warm": ess / warm, "max_rhat": s["max_rhat"], "divergences": s["divergences"],
    "sampler": r2.sampler,
    "estimates": {k: [v["mean"], v["hdi_low"], v["hdi_high"]] for k, v in s["parameters"].items()},
}))
"""


def _run(env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(SPEC), str(DATA)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if not DATA.is_file():
        sys.exit(f"no data at {DATA}")
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        empty = {
            **env,
            "PYTENSOR_FLAGS": f"compiledir={tmp}/pytensor",
            "NUMBA_CACHE_DIR": f"{tmp}/numba",
        }
        first = _run(empty)
    again = _run(env)  # populates the usual caches if they were empty
    again = _run(env)
    result = {
        "cold_empty_cache_s": first["cold_s"],
        "compile_empty_cache_s": first["compile_s"],
        "cold_s": again["cold_s"],
        "compile_s": again["compile_s"],
        "warm_s": again["warm_s"],
        "ess_per_s_warm": again["ess_per_s_warm"],
        "min_ess_bulk_typical": again["min_ess_bulk_typical"],
        "max_rhat": again["max_rhat"],
        "divergences": again["divergences"],
        "sampler": again["sampler"],
        "estimates": again["estimates"],
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fit_theophylline.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
