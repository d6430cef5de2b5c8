"""Demo population PK fit benchmark: twinlab beside a hand-written PyMC model and R's nlme.

The fit: the demo study's NONMEM-style data set (190 subjects, 2,280 concentrations of which
34 % are below the LLOQ, 28 daily oral doses per dosed subject; built from
``data/harmonized/demo`` by ``twinlab dataset`` at start), spec
``pipelines/specs/twinurostat_pk.yaml``: 1-compartment oral, allometric weight (fixed 0.75 /
1), estimated power CrCL exponent and one factor per non-reference CYP2C9 level on CL,
log-normal BSV on ka, CL, V (centred), combined error, M3 likelihood for the BLQ rows; nutpie,
4 chains x (1000 tune + 1000 draws), seed 1.

Goal (issue 13): <= 60 s cold with warm compile caches, <= 90 s first-ever.

Side by side in one run, each fit in its own fresh Python process, run one after another:

- ``twinlab``: ``twinlab.pkpd.fit.fit(spec, csv, draws=1000, tune=1000, chains=4, seed=1)``,
  wall time from before ``import twinlab.pkpd.fit`` until ``fit`` returns;

  - ``first_ever``: PyTensor's ``base_compiledir`` (which holds PyTensor's numba cache) and
    ``NUMBA_CACHE_DIR`` (twinlab's own ``cache=True`` kernels) in a new temporary folder;
  - ``cold``: the usual caches, warm (a first process fills them, a second one is timed;
    both are recorded);

  the validation gate (:func:`twinlab.pkpd.gate.validate`, VPC included) runs after the timed
  part and is reported, not timed in the fit;
- ``pymc_floor``: a hand-written PyMC model of the same likelihood (same priors, centred,
  the same structural solution through :func:`twinlab.pkpd.events.decayed_sums_op`, the same
  M3 ``log Phi`` expression :func:`twinlab.pkpd.population.log_ndtr`, no deterministics,
  the same start: prior medians + ``uniform(-0.1, 0.1)`` on the unconstrained scale), compiled
  as twinlab compiles (``nutpie.compile_pymc_model`` with the lean wrappers of
  :mod:`twinlab.pkpd.nutpie_compile`) and sampled with ``nutpie.sample`` the same way: the floor
  of what twinlab's framework (spec, model builder, deterministics, result object) costs;
  first-ever and cold as above;
- ``nlme``: R's ``nlme`` (``benchmarks/fit_demo_nlme.R``) on the same CSV, multiple-dose
  superposition, the same fixed effects (allometric weight fixed in the model function),
  diagonal random effects on ka, CL, V; combined (``varConstPower``, power 1) and
  proportional (``varPower``) error. nlme has no M3: BLQ rows are dropped (M1), and with them
  the placebo subjects (all BLQ). Wall time of the ``Rscript`` process, and of ``nlme()``.

Reported per fit: wall time (and compile / sampling split), CPU time of the child process,
the 1-minute load average before and after (2-core machine shared with other work: a load
above ~0.5 before a run means it shared the CPUs), leapfrog steps per draw, min bulk ESS of
the population parameters and of every free variable, ESS/s (min population bulk ESS over
the sampling time), max R-hat, divergences, estimates against the synthetic truth
(``data/truth/demo/parameters.json``).

Usage::

    python benchmarks/fit_demo.py [--out benchmarks/results] [--skip-first-ever] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "pipelines" / "specs" / "twinurostat_pk.yaml"
TIMELINE = ROOT / "data" / "harmonized" / "demo"
TRUTH = ROOT / "data" / "truth" / "demo" / "parameters.json"
NLME = Path(__file__).resolve().parent / "fit_demo_nlme.R"
COVARIATES = ("WT=cov_weight_kg", "CRCL=cov_crcl_ml_min", "CYP2C9=cov_cyp2c9")

#: twinlab's fit, then its gate (untimed); one JSON line on stdout
CHILD_TWINLAB = r"""
import json, sys, time, warnings
t0 = time.perf_counter()
warnings.simplefilter("ignore")
from twinlab.pkpd.fit import fit
spec, data = sys.argv[1], sys.argv[2]
draws, tune, chains, seed = (int(x) for x in sys.argv[3:7])
import resource
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
r = fit(spec, data, draws=draws, tune=tune, chains=chains, seed=seed, progress=False)
wall = time.perf_counter() - t0
cpu_fit = cpu()
import numpy as np
from twinlab.pkpd.diagnostics import convergence_table
from twinlab.pkpd.gate import validate
tg = time.perf_counter()
gate = validate(r)
gate_s = time.perf_counter() - tg
table = convergence_table(r)
pop = table[table["kind"] == "population"]
worst = pop.loc[pop["r_hat"].idxmax()]
s = r.summary()
post = r.idata.posterior
def stats(name):
    x = np.asarray(post[name].values, dtype=float).ravel()
    return {"mean": float(x.mean()), "q03": float(np.quantile(x, 0.03)),
            "q97": float(np.quantile(x, 0.97))}
names = [v for v in post.data_vars
         if str(v).startswith(("beta_", "omega_", "sigma_")) and not str(v).endswith("__")]
est = {str(k): stats(k) for k in ["ka", "cl", "v", *names]}
print(json.dumps({
    "wall_s": wall, "compile_s": r.timings["compile_s"], "sample_s": r.timings["sample_s"],
    "fit_total_s": r.timings["total_s"], "sampler": r.sampler, "cpu_s": cpu_fit,
    "steps_per_draw": float(r.idata.sample_stats["n_steps"].mean()),
    "steps_per_draw_max": int(r.idata.sample_stats["n_steps"].max()),
    "max_rhat_population": float(worst["r_hat"]), "max_rhat_population_at": str(worst["element"]),
    "max_rhat_all": float(table["r_hat"].max()),
    "min_ess_bulk_population": float(pop["ess_bulk"].min()),
    "min_ess_bulk_all": float(table["ess_bulk"].min()),
    "divergences": int(r.idata.sample_stats["diverging"].sum()),
    "gate_passed": bool(gate.passed), "gate": gate.to_metrics(), "gate_s": gate_s,
    "estimates": est,
}))
"""

#: the same likelihood written by hand in PyMC: ``build(csv) -> (model, levels)``
BUILD_PYMC = r"""
import math
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from twinlab.pkpd.events import decayed_sums_op, event_table
from twinlab.pkpd.population import log_ndtr

def build(data):
    df = pd.read_csv(data, na_values=".")
    ids = np.sort(df["ID"].unique())
    n = ids.size
    first = df.groupby("ID").first().loc[ids]
    obs = df[(df["EVID"] == 0) & (df["MDV"] == 0)]
    dose = df[(df["EVID"] == 1) & (df["AMT"] > 0)]
    subj = np.searchsorted(ids, obs["ID"].to_numpy())
    n_dose = np.bincount(np.searchsorted(ids, dose["ID"].to_numpy()), minlength=n)
    d_time = np.zeros((n, max(1, n_dose.max())))
    d_amt = np.zeros_like(d_time)
    for k, (i, g) in enumerate(dose.groupby("ID")):
        r = np.searchsorted(ids, i)
        d_time[r, : len(g)] = g["TIME"].to_numpy()
        d_amt[r, : len(g)] = g["AMT"].to_numpy()
    table = event_table(d_time, d_amt, True, subj, obs["TIME"].to_numpy(dtype=float))
    cens = obs["CENS"].to_numpy() == 1
    dv = obs["DV"].to_numpy(dtype=float)
    lloq = obs["LLOQ"].to_numpy(dtype=float)
    lwt = np.log(first["WT"].to_numpy() / 70.0)
    lcrcl = np.log(first["CRCL"].to_numpy() / 100.0)
    cyp = first["CYP2C9"].to_numpy()
    levels = [x for x in np.unique(cyp) if x != 0]
    X = np.stack([(cyp == lev).astype(float) for lev in levels], axis=1)

    with pm.Model() as model:
        log_ka = pm.Normal("log_ka", math.log(1.0), 1.0)
        log_cl = pm.Normal("log_cl", math.log(4.0), 1.0)
        log_v = pm.Normal("log_v", math.log(40.0), 1.0)
        beta_crcl = pm.Normal("beta_cl_crcl", 0.5, 0.5)
        beta_cyp = pm.Normal("beta_cl_cyp2c9", 0.0, 0.5, shape=len(levels))
        om = {p: pm.HalfNormal(f"omega_{p}", 0.5) for p in ("ka", "cl", "v")}
        lka_i = pm.Normal("log_ka_i", log_ka, om["ka"], shape=n)
        mu_cl = log_cl + 0.75 * lwt + beta_crcl * lcrcl + pt.dot(X, beta_cyp)
        lcl_i = pm.Normal("log_cl_i", mu_cl, om["cl"], shape=n)
        lv_i = pm.Normal("log_v_i", log_v + lwt, om["v"], shape=n)
        ka, v = pt.exp(lka_i), pt.exp(lv_i)
        k = pt.exp(lcl_i - lv_i)
        s = decayed_sums_op(pt.stack([k, ka], axis=1), pt.zeros(n), table)[0]
        pred = (ka / (v * (ka - k)))[subj] * (s[:, 0] - s[:, 1])
        add = pm.HalfNormal("sigma_add_conc", 1.0)
        prop = pm.HalfNormal("sigma_prop_conc", 0.5)
        sd = pt.sqrt(1e-6 + add**2 + (prop * pred) ** 2)
        ok = np.flatnonzero(~cens)
        bl = np.flatnonzero(cens)
        pm.Normal("y", pred[ok], sd[ok], observed=dv[ok])
        pm.Potential("y_blq", log_ndtr((lloq[bl] - pred[bl]) / sd[bl]).sum())
    return model, levels
"""

#: the hand-written model sampled with nutpie the same way
CHILD_PYMC = (
    "import time\nt0 = time.perf_counter()\n"
    + BUILD_PYMC
    + r"""
import json, os, sys, warnings
warnings.simplefilter("ignore")
import dataclasses
import nutpie
data = sys.argv[2]
draws, tune, chains, seed = (int(x) for x in sys.argv[3:7])
model, levels = build(data)
tc = time.perf_counter()
from twinlab.pkpd.nutpie_compile import compile_pymc_model
compiled = compile_pymc_model(model, jitter_rvs=set())
compile_s = time.perf_counter() - tc
base = compiled.initial_point_func
def initial_point(chain_seed):
    x = np.asarray(base(chain_seed), dtype=float)
    rng = np.random.default_rng(int(chain_seed) % 2**63)
    return x + rng.uniform(-0.1, 0.1, size=x.shape)
compiled = dataclasses.replace(compiled, initial_point_func=initial_point)
ts = time.perf_counter()
import resource
idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, seed=seed,
                      target_accept=0.8,
                      cores=min(chains, os.cpu_count() or 1),
                      progress_bar=False)
sample_s = time.perf_counter() - ts
wall = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu_fit = usage.ru_utime + usage.ru_stime

import arviz as az
post = idata.posterior
pop_vars = ["log_ka", "log_cl", "log_v", "beta_cl_crcl", "beta_cl_cyp2c9", "omega_ka",
            "omega_cl", "omega_v", "sigma_add_conc", "sigma_prop_conc"]
ind_vars = ["log_ka_i", "log_cl_i", "log_v_i"]
rhat = az.rhat(post[pop_vars + ind_vars])
ess = az.ess(post[pop_vars + ind_vars], method="bulk")
worst, worst_at = -1.0, None
for name in pop_vars:
    values = np.atleast_1d(rhat[name].values)
    i = int(np.argmax(values))
    if values[i] > worst:
        worst, worst_at = float(values[i]), name + (f"[{i}]" if rhat[name].ndim else "")
def stats(x):
    x = np.asarray(x, dtype=float).ravel()
    return {"mean": float(x.mean()), "q03": float(np.quantile(x, 0.03)),
            "q97": float(np.quantile(x, 0.97))}
est = {p: stats(np.exp(post[f"log_{p}"].values)) for p in ("ka", "cl", "v")}
est["beta_cl_crcl"] = stats(post["beta_cl_crcl"].values)
for j, lev in enumerate(levels):
    est[f"beta_cl_cyp2c9_{int(lev)}"] = stats(post["beta_cl_cyp2c9"].values[..., j])
for name in ("omega_ka", "omega_cl", "omega_v", "sigma_add_conc", "sigma_prop_conc"):
    est[name] = stats(post[name].values)
print(json.dumps({
    "wall_s": wall, "compile_s": compile_s, "sample_s": sample_s, "cpu_s": cpu_fit,
    "steps_per_draw": float(idata.sample_stats["n_steps"].mean()),
    "steps_per_draw_max": int(idata.sample_stats["n_steps"].max()),
    "max_rhat_population": worst, "max_rhat_population_at": worst_at,
    "max_rhat_all": float(max(float(rhat[v].max()) for v in pop_vars + ind_vars)),
    "min_ess_bulk_population": float(min(float(ess[v].min()) for v in pop_vars)),
    "min_ess_bulk_all": float(min(float(ess[v].min()) for v in pop_vars + ind_vars)),
    "divergences": int(idata.sample_stats["diverging"].sum()),
    "estimates": est,
}))
"""
)


#: identity check (untimed): the hand-written model's log density and gradient equal
#: twinlab's at random points of the unconstrained space
CHILD_CHECK = (
    BUILD_PYMC
    + r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from twinlab.pkpd.fit import load_data
from twinlab.pkpd.population import PopulationSpec, build_model
hand, levels = build(sys.argv[2])
tw, _ = build_model(PopulationSpec.from_yaml(sys.argv[1]), load_data(sys.argv[2]))
fast = {"mode": "FAST_COMPILE"}  # untimed and small: no C compilation needed
f_hand = hand.compile_logp(jacobian=True, **fast)
g_hand = hand.compile_dlogp(jacobian=True, **fast)
f_tw = tw.compile_logp(jacobian=True, **fast)
g_tw = tw.compile_dlogp(jacobian=True, **fast)
rng = np.random.default_rng(0)
start = tw.initial_point()
worst_logp, worst_grad, logps = 0.0, 0.0, []
for k in range(5):
    p_tw = {n: v + (0 if k == 0 else rng.uniform(-0.3, 0.3, np.shape(v)))
            for n, v in start.items()}
    p_hand = {n: p_tw[n] for n in hand.initial_point() if n in p_tw}
    p_hand["beta_cl_cyp2c9"] = np.array([p_tw[f"beta_cl_cyp2c9_{int(x)}"] for x in levels])
    a, b = float(f_tw(p_tw)), float(f_hand(p_hand))
    logps.append([a, b])
    worst_logp = max(worst_logp, abs(a - b) / max(1.0, abs(a)))
    # gradients by variable name (value variables in each model's own order)
    ga = dict(zip([v.name for v in tw.value_vars], np.split(
        g_tw(p_tw), np.cumsum([np.size(p_tw[v.name]) for v in tw.value_vars])[:-1])))
    gb = dict(zip([v.name for v in hand.value_vars], np.split(
        g_hand(p_hand), np.cumsum([np.size(p_hand[v.name]) for v in hand.value_vars])[:-1])))
    gb.update({f"beta_cl_cyp2c9_{int(x)}": gb["beta_cl_cyp2c9"][j] for j, x in enumerate(levels)})
    for name, g in ga.items():
        d = np.max(np.abs(np.asarray(g) - np.asarray(gb[name])))
        worst_grad = max(worst_grad, float(d / max(1.0, np.max(np.abs(g)))))
print(json.dumps({"max_rel_logp_diff": worst_logp, "max_rel_grad_diff": worst_grad,
                  "logp_twinlab_hand": logps}))
"""
)


def load() -> float:
    """The 1-minute load average."""
    return round(os.getloadavg()[0], 2)


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has been busy since boot (``/proc/stat``; 0 elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_child(
    argv: list[str], env: dict[str, str] | None = None, timeout: float = 1800
) -> tuple[dict, dict]:
    """Run ``argv`` in a fresh process; its last stdout line (JSON) and what the parent saw:
    wall time, CPU time of the child, the load average before and after, and the share of
    the machine's CPU that other processes used meanwhile (the contention: the load average
    also counts this benchmark's own threads)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = load()
    busy_before = busy_cpu_s()
    t0 = time.perf_counter()
    out = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    wall = time.perf_counter() - t0
    busy = busy_cpu_s() - busy_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        raise RuntimeError(f"{argv[:3]} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    own = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    seen = {
        "process_wall_s": round(wall, 2),
        "process_cpu_s": round(own, 2),
        "load_1min_before": load_before,
        "load_1min_after": load(),
        "others_cpu_share": round(max(busy - own, 0.0) / (wall * (os.cpu_count() or 1)), 3),
    }
    return json.loads(out.stdout.strip().splitlines()[-1]), seen


def fit_python(
    child: str,
    data: Path,
    *,
    draws: int,
    tune: int,
    chains: int,
    seed: int,
    env: dict[str, str] | None = None,
) -> dict:
    """One fit in a fresh Python process (``child`` is CHILD_TWINLAB or CHILD_PYMC)."""
    argv = [
        sys.executable,
        "-c",
        child,
        str(SPEC),
        str(data),
        str(draws),
        str(tune),
        str(chains),
        str(seed),
    ]
    source = source_fingerprint()
    result, seen = run_child(argv, env)
    if source_fingerprint() != source:
        print("[fit_demo] warning: src/twinlab/pkpd changed during the run", file=sys.stderr)
    return {**result, **seen, "pkpd_source_and_spec_sha256": source}


def empty_cache_env(tmp: Path) -> dict[str, str]:
    """Environment with PyTensor's and Numba's compile caches in an empty folder ``tmp``.

    ``base_compiledir`` (not ``compiledir``) is what moves PyTensor's numba cache
    (``<base_compiledir>/numba``); ``NUMBA_CACHE_DIR`` moves twinlab's ``cache=True`` kernels.
    """
    return {
        **os.environ,
        "PYTENSOR_FLAGS": f"base_compiledir={tmp}/pytensor",
        "NUMBA_CACHE_DIR": f"{tmp}/numba",
    }


def build_dataset(folder: Path) -> Path:
    """The demo's NONMEM-style CSV (and its ``.meta.json``), built by ``twinlab dataset``."""
    out = folder / "demo.csv"
    cli = Path(sys.executable).with_name("twinlab")
    argv = [str(cli), "dataset", "--timeline", str(TIMELINE), "--conc-code", "TWINURO"]
    for c in COVARIATES:
        argv += ["-c", c]
    subprocess.run([*argv, "--out", str(out)], check=True, capture_output=True, text=True)
    return out


def truth() -> dict:
    """Synthetic truth of the PK parameters, in the spec's terms (by CYP2C9 level code)."""
    pk = json.loads(TRUTH.read_text())["pk"]
    lof = pk["cyp2c9_lof_factor"]
    return {
        "ka": pk["ka_per_h"],
        "cl": pk["cl_l_per_h"],
        "v": pk["v_l"],
        "beta_cl_crcl": pk["cl_crcl_exp"],
        # factor exp(beta) by number of loss-of-function alleles (*2, *3)
        "cyp2c9_factor_by_lof": lof,
        "omega_ka": pk["omega_ka"],
        "omega_cl": pk["omega_cl"],
        "omega_v": pk["omega_v"],
        "corr_cl_v": pk["corr_cl_v"],
        "sigma_add_conc": pk["add_sd_mg_l"],
        "sigma_prop_conc": pk["prop_sd"],
        "lloq": pk["lloq_mg_l"],
    }


def cyp_codes(data: Path) -> dict[str, str]:
    """CYP2C9 code -> diplotype, from the data set's ``.meta.json``."""
    meta = json.loads(Path(str(data) + ".meta.json").read_text())
    return {str(v): k for k, v in meta["codes"]["CYP2C9"].items()}


def run_nlme(data: Path, error: str) -> dict:
    """R's nlme on the same CSV (see ``fit_demo_nlme.R``)."""
    result, seen = run_child(["Rscript", str(NLME), str(data), error])
    return {**result, **seen}


def nlme_estimates(r: dict) -> dict:
    """nlme's fixed effects in the spec's terms (natural-scale typical values, betas)."""
    if not r.get("ok"):
        return {}
    fe, se = r["fixef"], r["se"]

    def ci(name: str, transform=lambda x: x) -> dict:
        m, s = fe[name], se[name]
        low, high = transform(m - 1.88 * s), transform(m + 1.88 * s)
        return {"mean": transform(m), "q03": low, "q97": high}

    out = {
        "ka": ci("lKa", math.exp),
        "cl": ci("lCl.(Intercept)", math.exp),
        "v": ci("lV", math.exp),
        "beta_cl_crcl": ci("lCl.lcrcl"),
    }
    for lev in r["cyp_levels"]:
        out[f"beta_cl_cyp2c9_{lev}"] = ci(f"lCl.cyp{lev}")
    for k, v in r["omega"].items():
        out[k] = {"mean": v}
    out["sigma_prop_conc"] = {"mean": r["residual"]["sigma_prop"]}
    if "sigma_add" in r["residual"]:
        # varConstPower: sd = sigma (c + pred), an additive SD of sigma c at pred = 0
        out["sigma_add_conc"] = {"mean": r["residual"]["sigma_add"]}
    return out


def source_fingerprint() -> str:
    """sha256 (16 hex digits) of ``src/twinlab/pkpd/*.py`` and the spec as they are now: the
    working tree may hold uncommitted changes, and may change between two runs."""
    h = hashlib.sha256()
    for path in [*sorted((ROOT / "src" / "twinlab" / "pkpd").glob("*.py")), SPEC]:
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def machine() -> dict:
    """Machine and software facts."""
    import importlib.metadata as md

    def version(p: str) -> str | None:
        try:
            return md.version(p)
        except md.PackageNotFoundError:
            return None

    git = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git": git,
        "pkpd_source_and_spec_sha256": source_fingerprint(),
        **{p: version(p) for p in ("pymc", "pytensor", "nutpie", "numba", "numpy")},
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def others(r: dict) -> str:
    """`` (others 23 %)``: the CPU share other processes took during the run, if measured."""
    share = r.get("others_cpu_share")
    return "" if share is None else f" (others {100 * share:.0f} %)"


def idle_estimate(r: dict) -> float | None:
    """Wall time the fit would take with both cores free: its serial part (imports, model
    build, compilation: wall time outside sampling, at most one core) as measured, plus the
    sampling's CPU time (the rest of the fit's CPU time) spread over 2 cores. An estimate for
    runs that shared the machine, never a measurement."""
    if r.get("cpu_s") is None:
        return None
    serial = r["wall_s"] - r["sample_s"]
    return serial + max(r["cpu_s"] - serial, 0.0) / 2


def seconds(x: float | None) -> str:
    """``12.3 s`` or ``–``."""
    return "–" if x is None else f"{x:.1f} s"


def fmt(x: float | None, digits: int = 3) -> str:
    """A number for the markdown tables."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}g}"


def markdown(result: dict) -> str:
    """The results as markdown tables."""
    s = result["settings"]
    lines = [
        "# Demo population PK fit – results",
        "",
        f"Run: `python benchmarks/fit_demo.py` on {result['machine']['cpus']} cores, "
        f"{result['machine']['date']}, commit `{result['machine']['git']}`; "
        f"{s['chains']} chains x ({s['tune']} tune + {s['draws']} draws), seed {s['seed']}. "
        "Raw numbers: `fit_demo.json`. Each row is one fresh process, run one after another; "
        "`load` is the 1-minute load average before / after the run (it counts this "
        "benchmark's own threads too: a fit's 2 sampling threads alone give ~2) and, in "
        "brackets, the share of the 2 cores that other processes used during the run "
        "(`/proc/stat`); `cpu` is the fit's CPU time (from the start of "
        "the process to the end of sampling); `2 free cores (est.)` = the serial part (wall "
        "time outside sampling) + the sampling's CPU time / 2, an estimate of the wall time on "
        "an idle machine, not a measurement.",
        "",
        "| fit | wall | compile | sampling | cpu | 2 free cores (est.) | load | steps/draw "
        "| min ESS pop (all) | ESS/s | max R-hat pop | div |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in result["runs"].items():
        if "wall_s" not in r:
            continue
        ess_s = r["min_ess_bulk_population"] / r["sample_s"]
        cpu, idle = r.get("cpu_s"), idle_estimate(r)
        lines.append(
            f"| {name} | **{r['wall_s']:.1f} s** | {r['compile_s']:.1f} s | {r['sample_s']:.1f} s "
            f"| {seconds(cpu)} | {seconds(idle)} | {r['load_1min_before']:.2f} / "
            f"{r['load_1min_after']:.2f}{others(r)} | {r['steps_per_draw']:.1f} | "
            f"{r['min_ess_bulk_population']:.0f} ({r['min_ess_bulk_all']:.0f}) | {ess_s:.0f} | "
            f"{r['max_rhat_population']:.4f} ({r['max_rhat_population_at']}) | "
            f"{r['divergences']} |"
        )
    for name, r in result["nlme"].items():
        if r.get("ok"):
            lines.append(
                f"| nlme ({name}, M1) | **{r['process_wall_s']:.1f} s** | – | nlme() "
                f"{r['fit_s']:.1f} s | {r['process_cpu_s']:.1f} s | – | "
                f"{r['load_1min_before']:.2f} / "
                f"{r['load_1min_after']:.2f} | {r['iterations']} iter. | – | – | – | – |"
            )
        else:
            lines.append(f"| nlme ({name}) | failed: {r.get('message', '')[:80]} |")
    gates = [
        f"{name}: {'pass' if r['gate_passed'] else 'FAIL ' + ', '.join(r['gate']['failures'])}"
        for name, r in result["runs"].items()
        if "gate_passed" in r
    ]
    lines += ["", "Gate (`twinlab.pkpd.gate.validate`, VPC included): " + ", ".join(gates) + "."]
    sources = {r.get("pkpd_source_and_spec_sha256") for r in result["runs"].values()}
    if len(sources) > 1:
        lines += [
            "",
            "**Warning:** `src/twinlab/pkpd` or the spec changed between the rows (source "
            "fingerprints "
            + ", ".join(
                f"{n}: {r.get('pkpd_source_and_spec_sha256')}" for n, r in result["runs"].items()
            )
            + ").",
        ]
    # estimates
    t = result["truth"]
    codes = result["cyp2c9_codes"]
    lof = t["cyp2c9_factor_by_lof"]

    def truth_of(key: str) -> str:
        if key in t:
            return fmt(t[key])
        if key.startswith("beta_cl_cyp2c9_"):
            name = codes.get(key.rsplit("_", 1)[1], "?")
            if "unknown" in name:
                return "mix"
            n_lof = sum(a != "*1" for a in name.split("/"))
            return fmt(math.log(lof[n_lof]))
        return "–"

    tw = result["runs"].get("twinlab_cold") or result["runs"].get("twinlab_first_ever") or {}
    fl = result["runs"].get("pymc_floor_cold") or result["runs"].get("pymc_floor_first_ever") or {}
    nl = result["nlme_estimates"].get("combined") or {}
    keys = list(tw.get("estimates", {}))
    lines += [
        "",
        "## Estimates",
        "",
        "Posterior mean (94 % interval: 3rd–97th percentile) for the Bayesian fits; nlme: "
        "estimate (± 1.88 SE, the same coverage) with combined error, BLQ rows dropped (M1). "
        "Typical values for 70 kg, CrCL 100 mL/min, CYP2C9 *1/*1; betas on log CL; "
        "CYP2C9 levels: " + ", ".join(f"{k} = {v}" for k, v in sorted(codes.items())) + ".",
        "",
        "| parameter | truth | twinlab | PyMC by hand | nlme (M1) |",
        "|---|---:|---:|---:|---:|",
    ]

    def cell(e: dict, key: str) -> str:
        v = e.get(key)
        if not v:
            return "–"
        if "q03" in v:
            return f"{fmt(v['mean'])} ({fmt(v['q03'])}–{fmt(v['q97'])})"
        return fmt(v["mean"])

    for key in keys:
        lines.append(
            f"| {key} | {truth_of(key)} | {cell(tw.get('estimates', {}), key)} | "
            f"{cell(fl.get('estimates', {}), key)} | {cell(nl, key)} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the benchmark and write ``fit_demo.json`` and ``fit_demo.md``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--skip-first-ever", action="store_true", help="no empty-cache runs")
    parser.add_argument("--quick", action="store_true", help="2 chains x (200 + 200): a smoke run")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    draws, tune, chains = (200, 200, 2) if args.quick else (1000, 1000, 4)
    settings = {"draws": draws, "tune": tune, "chains": chains, "seed": args.seed}
    runs: dict[str, dict] = {}
    nlme: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = build_dataset(tmp)
        check, _ = run_child([sys.executable, "-c", CHILD_CHECK, str(SPEC), str(data)])
        print(f"[fit_demo] same log density: {check}", file=sys.stderr, flush=True)
        kw = {"draws": draws, "tune": tune, "chains": chains, "seed": args.seed}
        plan = []
        for name, child in (("twinlab", CHILD_TWINLAB), ("pymc_floor", CHILD_PYMC)):
            if not args.skip_first_ever:
                plan.append((f"{name}_first_ever", child, True))
            plan.append((f"{name}_fill_caches", child, False))
            plan.append((f"{name}_cold", child, False))
        for name, child, empty in plan:
            env = None
            if empty:
                cache = tmp / f"cache_{name}"
                env = empty_cache_env(cache)
            print(f"[fit_demo] {name} (load {load()}) ...", file=sys.stderr, flush=True)
            runs[name] = fit_python(child, data, env=env, **kw)
            if empty:
                shutil.rmtree(cache, ignore_errors=True)
            r = runs[name]
            print(
                f"[fit_demo] {name}: {r['wall_s']:.1f} s (compile {r['compile_s']:.1f} s, "
                f"sampling {r['sample_s']:.1f} s), R-hat {r['max_rhat_population']:.4f}, "
                f"load {r['load_1min_before']} -> {r['load_1min_after']}",
                file=sys.stderr,
                flush=True,
            )
        for error in ("combined", "proportional"):
            nlme[error] = run_nlme(data, error)
        codes = cyp_codes(data)
        csv_bytes = data.read_bytes()
    result = {
        "settings": settings,
        "goal": {"cold_s": 60, "first_ever_s": 90},
        "data": {
            "csv_sha256": hashlib.sha256(csv_bytes).hexdigest()[:16],
            "built_by": "twinlab dataset --timeline data/harmonized/demo --conc-code TWINURO "
            + " ".join(f"-c {c}" for c in COVARIATES),
        },
        "identity_check": check,
        "runs": runs,
        "nlme": nlme,
        "nlme_estimates": {k: nlme_estimates(v) for k, v in nlme.items()},
        "truth": truth(),
        "cyp2c9_codes": codes,
        "machine": machine(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "fit_demo_quick" if args.quick else "fit_demo"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2))
    (args.out / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
