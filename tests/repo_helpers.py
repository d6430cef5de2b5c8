"""Repository test plumbing: tiny seeded cohorts, equality assertions, hypothesis strategies,
project copies, the shared data folder and a browser for the dashboards' tests.

Not part of the installed package: the tests (``pythonpath = ["tests"]`` in pyproject.toml)
and the benchmarks (``tests/`` put on ``sys.path``) import it as ``repo_helpers``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from twinlab.timeline import Cohort, coerce_table, event_id, row_hash

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = [
    "assert_cohort_equal",
    "copy_project",
    "events_strategy",
    "make_cohort",
    "prior_fit",
    "remote_loads",
    "shared_data",
    "small_pipeline_params",
    "write_notebook",
]

#: Codes used by :func:`make_cohort`.
LOCAL_SYSTEM = "urn:twinlab:synthetic"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
CREATININE = "2160-0"  # LOINC: Creatinine [Mass/volume] in Serum or Plasma
DIABETES = "44054006"  # SNOMED CT: Diabetes mellitus type 2
DRUG = "DRUGX"
DRUG_CONC = "DRUGX-PLASMA"

_SOURCE = "synthetic/make_cohort.json"


def make_cohort(n_patients: int = 5, seed: int = 0) -> Cohort:
    """Return a tiny, valid, seeded cohort.

    Each patient has three oral doses of 100 mg (at 0, 24 and 48 h from the index date), three
    plasma concentrations after each dose (1, 4 and 12 h later, from a one-compartment model,
    each linked to its dose), two creatinine labs (-24 h and 72 h) and, for every other
    patient, a type 2 diabetes condition a year before the index date. Patients carry
    ``cov_weight_kg`` (float) and ``cov_smoker`` (str).

    Parameters
    ----------
    n_patients : int
    seed : int
        Seeds every random draw; the same seed gives the same cohort.

    Returns
    -------
    Cohort

    Examples
    --------
    >>> cohort = make_cohort(n_patients=3, seed=1)
    >>> len(cohort)
    3
    """
    rng = np.random.default_rng(seed)
    ids = [f"P{i + 1:03d}" for i in range(n_patients)]
    base = pd.Timestamp("2024-01-01T08:00", tz="UTC")
    index_dates = [base + pd.Timedelta(days=int(d)) for d in rng.integers(0, 30, n_patients)]
    patients = pd.DataFrame(
        {
            "patient_id": ids,
            "sex": rng.choice(["F", "M"], n_patients),
            "birth_year": [str(y) for y in rng.integers(1950, 1995, n_patients)],
            "site": rng.choice(["S01", "S02"], n_patients),
            "index_date": pd.Series(index_dates, dtype="datetime64[us, UTC]"),
            "sources": _SOURCE,
            "cov_weight_kg": np.round(rng.normal(75, 12, n_patients), 1),
            "cov_smoker": rng.choice(["yes", "no"], n_patients),
        }
    )
    rows: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []

    def add(pid: str, t0: pd.Timestamp, hours: float, **fields: Any) -> str:
        record = f"{pid}/{len(rows)}"
        eid = event_id(_SOURCE, record)
        rows.append(
            {
                "event_id": eid,
                "patient_id": pid,
                "time": t0 + pd.Timedelta(hours=hours),
                "hours_from_index": float(hours),
                "source_file": _SOURCE,
                "source_record": record,
                **fields,
            }
        )
        return eid

    for i, (pid, t0) in enumerate(zip(ids, index_dates, strict=True)):
        ke, v = rng.lognormal(np.log(0.1), 0.2), rng.lognormal(np.log(50.0), 0.2)
        for h in (-24.0, 72.0):
            value = round(float(rng.normal(0.9, 0.15)), 2)
            add(
                pid, t0, h, domain="lab", code_system=LOINC, code=CREATININE,
                display="Creatinine [Mass/volume] in Serum or Plasma", value_num=value,
                unit="mg/dL", orig_value=str(value), orig_unit="mg/dL",
                qualifiers=json.dumps({"matrix": "serum"}),
            )  # fmt: skip
        if i % 2 == 0:
            add(
                pid, t0, -24.0 * 365, domain="condition", code_system=SNOMED, code=DIABETES,
                display="Diabetes mellitus type 2",
            )  # fmt: skip
        for k, dose_h in enumerate((0.0, 24.0, 48.0)):
            dose_id = add(
                pid, t0, dose_h, domain="dose", code_system=LOCAL_SYSTEM, code=DRUG,
                display="Drug X", value_num=100.0, unit="mg", orig_value="100", orig_unit="mg",
                qualifiers=json.dumps({"route": "oral", "dose_number": k + 1}),
            )  # fmt: skip
            for lag in (1.0, 4.0, 12.0):
                t = dose_h + lag
                conc = sum(100.0 / v * np.exp(-ke * (t - d)) for d in (0.0, 24.0, 48.0) if d <= t)
                conc = round(float(conc * 1000 * rng.lognormal(0, 0.1)), 3)  # mg/L -> ng/mL
                obs_id = add(
                    pid, t0, t, domain="concentration", code_system=LOCAL_SYSTEM, code=DRUG_CONC,
                    display="Drug X, plasma", value_num=conc, unit="ng/mL",
                    qualifiers=json.dumps({"matrix": "plasma", "lloq": 0.5, "blq": False}),
                )  # fmt: skip
                links.append(
                    {
                        "from_event_id": dose_id,
                        "to_event_id": obs_id,
                        "relation": "dose_to_observation",
                        "lag_hours": lag,
                    }
                )
    events = coerce_table("events", pd.DataFrame(rows))
    events["row_hash"] = row_hash(events)
    return Cohort(patients, events, pd.DataFrame(links))


def assert_cohort_equal(a: Cohort, b: Cohort, *, check_row_order: bool = True) -> None:
    """Assert that two cohorts hold the same tables (columns, dtypes, values, nulls).

    Parameters
    ----------
    a, b : Cohort
    check_row_order : bool
        When false, rows are compared after sorting by their keys.

    Raises
    ------
    AssertionError
        Naming the table that differs.
    """
    keys = {
        "patients": ["patient_id"],
        "events": ["event_id"],
        "links": ["from_event_id", "to_event_id", "relation"],
    }
    for name, key in keys.items():
        left, right = getattr(a, name), getattr(b, name)
        if not check_row_order:
            left = left.sort_values(key, kind="stable").reset_index(drop=True)
            right = right.sort_values(key, kind="stable").reset_index(drop=True)
        try:
            pd.testing.assert_frame_equal(left, right)
        except AssertionError as err:
            raise AssertionError(f"cohort table {name!r} differs: {err}") from None


_STRATEGY_COLUMNS = [
    "patient_id", "time", "end_time", "hours_from_index", "domain", "code_system", "code",
    "display", "value_num", "value_text", "unit", "orig_value", "orig_unit", "qualifiers",
    "source_file", "status",
]  # fmt: skip


def events_strategy(
    patient_ids: tuple[str, ...] = ("P001", "P002"), *, max_size: int = 20
) -> SearchStrategy[pd.DataFrame]:
    """A hypothesis strategy of valid, coerced ``events`` tables for ``patient_ids``.

    Covers every domain and status, nulls in every nullable column, arbitrary text, any finite
    float, microsecond UTC times from 1900 to 2100 and qualifiers with known keys.

    Parameters
    ----------
    patient_ids : tuple of str
    max_size : int
        Most rows in a table.

    Returns
    -------
    hypothesis.strategies.SearchStrategy
    """
    import datetime as dt

    from hypothesis import strategies as st

    from twinlab.timeline import DOMAINS, EVENT_STATUSES

    text = st.none() | st.text(max_size=12)
    utc = st.datetimes(
        min_value=dt.datetime(1900, 1, 1),
        max_value=dt.datetime(2100, 1, 1),
        timezones=st.just(dt.UTC),
    )
    qualifiers = st.none() | st.fixed_dictionaries(
        {},
        optional={
            "route": st.sampled_from(["oral", "iv"]),
            "lloq": st.floats(0, 1e3),
            "blq": st.booleans(),
            "dose_number": st.integers(1, 50),
        },
    ).map(lambda d: json.dumps(d, sort_keys=True))

    @st.composite
    def row(draw: Any) -> dict[str, Any]:
        time = draw(utc)
        value = draw(st.none() | st.floats(allow_nan=False, allow_infinity=False))
        end = draw(st.none() | st.timedeltas(dt.timedelta(0), dt.timedelta(days=30)))
        return {
            "patient_id": draw(st.sampled_from(patient_ids)),
            "time": time,
            "end_time": None if end is None else time + end,
            "hours_from_index": draw(st.none() | st.floats(-1e5, 1e5)),
            "domain": draw(st.sampled_from(DOMAINS)),
            "code_system": draw(text),
            "code": draw(st.text(min_size=1, max_size=12)),
            "display": draw(text),
            "value_num": value,
            "value_text": draw(text),
            "unit": None if value is None else draw(text),
            "orig_value": draw(text),
            "orig_unit": draw(text),
            "qualifiers": draw(qualifiers),
            "source_file": draw(st.text(min_size=1, max_size=12)),
            "status": draw(st.sampled_from(EVENT_STATUSES)),
        }

    def to_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
        df = pd.DataFrame(rows, columns=_STRATEGY_COLUMNS)
        df["source_record"] = [f"rec-{i}" for i in range(len(df))]
        df["event_id"] = [
            event_id(f, r) for f, r in zip(df["source_file"], df["source_record"], strict=True)
        ]
        for col in ("time", "end_time"):
            df[col] = pd.to_datetime(df[col], utc=True).astype("datetime64[us, UTC]")
        df = coerce_table("events", df)
        return coerce_table("events", df.assign(row_hash=row_hash(df)))

    return st.lists(row(), max_size=max_size).map(to_table)


#: A tag that makes a browser load something from another host (``//host`` included)
_REMOTE_LOAD = re.compile(
    r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//[^"' >]*""",
    re.IGNORECASE,
)


def remote_loads(html: str) -> list[str]:
    """The tags of an HTML page that load from another host (a page that opens offline and
    tells no one it is being read has none)."""
    return _REMOTE_LOAD.findall(html)


def write_notebook(path: str | Path, parameters: str, *body: str) -> Path:
    """Write a notebook with a ``parameters``-tagged cell followed by ``body`` cells."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test notebook"), cell]
    nb.cells += [nbformat.v4.new_code_cell(src) for src in body]
    nbformat.write(nb, str(path))
    return Path(path)


def small_pipeline_params(params: dict[str, Any]) -> dict[str, Any]:
    """Shrink a ``params.yaml`` mapping so the whole pipeline runs in about a minute.

    Twelve patients, one Dask worker, a short two-chain fit and a validation gate
    loosened to what so few draws can reach, twenty virtual patients on a daily grid (sixty in
    each held-out cohort), a handful of sensitivity and surrogate runs and a hundred trial
    replicates: for tests of
    the pipeline's mechanics (stages, hashes, audit, reproduce); the real sizes run in the
    demo.
    """
    out = json.loads(json.dumps(params))
    out["generate"]["n_patients"] = 12
    out["dask"]["n_workers"] = 1
    if "fit" in out:
        out["fit"].update(draws=150, tune=400, chains=2)
    if "simulate" in out:
        out["simulate"].update(
            n_patients=20, n_draws=2, chunk_size=10, times={"start": 0, "stop": 672, "step": 24}
        )
        for cohort in (out["simulate"].get("held_out") or {}).values():
            cohort["n_patients"] = 60
    if "sensitivity" in out:
        out["sensitivity"].update(n=8, times={"start": 0, "stop": 672, "step": 24})
    if "surrogate" in out:
        out["surrogate"].update(
            n_patients=6, doses=[50, 200], intervals_h=[24], max_train=12, kind="gp",
            times={"start": 0, "stop": 672, "step": 24},
        )  # fmt: skip
    if "trial" in out:
        out["trial"].update(n_replicates=100, n_values=[15, 30])
    if "validate" in out:
        out["validate"].update(
            max_rhat=1.5,
            max_rhat_individual=1.5,
            min_ess=5,
            max_divergences=50,
            pi_coverage_low=0.3,
            pi_coverage_high=1.0,
        )
    return out


def copy_project(root: str | Path, dest: str | Path) -> Path:
    """Copy a twinlab project's working tree (git-tracked and untracked, not ignored files)
    into ``dest`` with :func:`small_pipeline_params`, leaving out generated data and reports.

    The copy is not a git repository yet: callers ``git init`` and commit as their test needs.
    """
    import shutil
    import subprocess

    import yaml

    root, dest = Path(root), Path(dest)
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, listed):
        src = root / name
        if src.is_file() and not name.startswith(("data/", "reports/")):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    (dest / "params.yaml").write_text(
        yaml.safe_dump(small_pipeline_params(params), sort_keys=False)
    )
    return dest


def shared_data() -> Path:
    """The team's real public data: ``../shared/data`` beside the project checkout.

    ``$TWINLAB_SHARED_DATA`` overrides it. Tests that need it skip cleanly when it is
    absent (e.g. on a user's fresh clone).
    """
    env = os.environ.get("TWINLAB_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


#: Debian's Chromium, driven by Playwright in the browser tests and the dashboard benchmark.
CHROMIUM = os.environ.get("TWINLAB_CHROMIUM", "/usr/bin/chromium")
#: Headless flags that keep Chromium off the (closed) network at start-up.
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def prior_fit(
    spec: Any = None,
    *,
    n_subjects: int = 4,
    chains: int = 2,
    draws: int = 25,
    seed: int = 31,
    truth: dict[str, float] | None = None,
) -> Any:
    """A tiny seeded :class:`~twinlab.pkpd.fit.FitResult` whose "posterior" is prior draws.

    No compilation and no sampling: the model of ``spec`` (default: ``pk_1cmt_oral`` with
    ka 1, CL 3, V 30) is built on a study simulated from ``truth`` (default: those typical
    values) and ``chains * draws`` prior draws are shaped as chains. For tests of what reads
    a fit (registry, gate, tables), not of what a fit recovers.

    Parameters
    ----------
    spec : PopulationSpec or dict, optional
        The population model.
    n_subjects, chains, draws, seed : int
        Sizes and seed.
    truth : dict, optional
        True parameters of the simulated study.

    Returns
    -------
    FitResult
    """
    import arviz as az
    import pymc as pm
    import xarray as xr

    from twinlab.pkpd.fit import FitResult
    from twinlab.pkpd.population import PopulationSpec, build_model, simulated_study

    if spec is None:
        spec = {"model": "pk_1cmt_oral", "parameters": {"ka": 1.0, "cl": 3.0, "v": 30.0}}
    if not isinstance(spec, PopulationSpec):
        spec = PopulationSpec.from_dict(spec)
    truth = truth or {p.name: p.guess for p in spec.parameters}
    arrays, _ = simulated_study(spec, truth, n_subjects=n_subjects, seed=seed)
    model, _ = build_model(spec, arrays)
    with model:
        prior = pm.sample_prior_predictive(draws=chains * draws, random_seed=seed).prior
    post = xr.Dataset(
        {
            k: (("chain", "draw", *v.dims[2:]), v.values.reshape(chains, draws, *v.shape[2:]))
            for k, v in prior.data_vars.items()
        }
    )
    post = post.assign_coords(
        {d: prior.coords[d] for d in prior.dims if d not in ("chain", "draw")}
    )
    stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((chains, draws), bool))})
    idata = az.InferenceData(posterior=post, sample_stats=stats)
    settings = {"draws": draws, "tune": 0, "chains": chains, "seed": seed}
    return FitResult(spec, arrays, idata, "nutpie", {"total_s": 0.0}, settings)


def tls_handshake(port: int, ciphers: str, version: Any) -> str | None:
    """The suite a TLS handshake with a loopback server at ``port``, offering ``ciphers`` at
    ``version`` (an :class:`ssl.TLSVersion`), agrees on (``None``: refused)."""
    import socket
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.minimum_version = context.maximum_version = version
    context.set_ciphers(ciphers + ":@SECLEVEL=0")
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
            context.wrap_socket(sock) as tls,
        ):
            return tls.cipher()[0]
    except (ssl.SSLError, ConnectionError):
        return None
