"""twinlab: an open workbench for clinical-trial digital twins.

The public API, in one screen (run from anywhere inside a project: relative paths are
read from :func:`project_root`, the folder holding ``dvc.yaml``)::

    import twinlab as tl
    cohort = tl.Cohort.read("data/harmonized/demo")
    cohort.filter("cov_weight_kg > 70").covariates()

    twin = tl.pkpd.load("twinurostat_pk")                       # a registered twin model
    population = tl.from_cohort(cohort, 1000, model=twin, criteria="CRCL >= 30")
    scenario = tl.Scenario("qd", population, [tl.Arm("placebo"),
                           tl.Arm("100 mg", tl.Regimen(100.0, duration_h=672))],
                           times=range(0, 673, 4), seed=1)
    with tl.dask_client(n_workers=2) as client:                 # a local cluster, closed after
        result = tl.simulate.run(scenario, client=client)
    result.patients.groupby("arm")["cmax"].median()

Every name is imported on first use (PEP 562), so ``import twinlab`` and the command line
stay quick; ``dir(twinlab)`` lists them all.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

#: Every public name but the subpackages, and the module that defines it.
_LAZY: dict[str, str] = {
    "dask_client": "twinlab.cluster",
    **dict.fromkeys(["ConfigError", "load_params", "paths", "project_root"], "twinlab.config"),
    **dict.fromkeys(
        [
            "NotebookExecutionError",
            "NotebookJob",
            "NotebookParameterError",
            "notebook_parameters",
            "run_notebook",
            "run_notebooks",
        ],
        "twinlab.notebooks",
    ),
    **dict.fromkeys(["SynthConfig", "generate_study"], "twinlab.synth"),
    **dict.fromkeys(
        [
            "CURRENT_VERSION",
            "DOMAINS",
            "QUALIFIER_KEYS",
            "Cohort",
            "SchemaVersionError",
            "TimelineValidationError",
            "UnknownPatientError",
            "add_row_hash",
            "coerce_table",
            "empty_table",
            "event_id",
            "migrate",
            "migration",
            "read_table",
            "row_hash",
            "table_schema",
            "validate",
            "validate_cohort",
            "write_table",
        ],
        "twinlab.timeline",
    ),
    **dict.fromkeys(["KnownPopulation", "VirtualCohort", "from_cohort"], "twinlab.virtual"),
    **dict.fromkeys(
        ["Arm", "Regimen", "Scenario", "SimulationResult", "Titration", "open_result"],
        "twinlab.simulate",
    ),
    "Problem": "twinlab.sensitivity",
    "Surrogate": "twinlab.surrogate",
    "Design": "twinlab.trials",
    "PrognosticModel": "twinlab.trials",
}
#: Subpackages reachable as attributes (``tl.pkpd.load``) without importing them first.
_SUBMODULES = ("pipeline", "pkpd", "sensitivity", "simulate", "surrogate", "trials", "virtual")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"twinlab.{name}")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # once imported, a plain attribute
        return value
    raise AttributeError(f"module 'twinlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


try:
    __version__ = version("twinlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])
