"""twinlab: an open workbench for clinical-trial digital twins.

The public API, in one screen::

    import twinlab as tl
    cohort = tl.Cohort.read("data/harmonized/demo")
    cohort.filter("cov_weight_kg > 70").covariates()

    twin = tl.pkpd.load("twinurostat_pk")                       # a registered twin model
    population = tl.from_cohort(cohort, 1000, model=twin, criteria="CRCL >= 30")
    scenario = tl.Scenario("qd", population, [tl.Arm("placebo"),
                           tl.Arm("100 mg", tl.Regimen(100.0, duration_h=672))],
                           times=range(0, 673, 4), seed=1)
    result = tl.simulate.run(scenario, client=tl.dask_client())   # on Dask
    tl.trials.simulate_trials(tl.trials.Design.from_dict(...), result.patients, ...)

The modelling layers (``cohort``, ``simulate``, ``sensitivity``, ``surrogate``, ``trials``,
``pkpd``) are imported on first use, so ``import twinlab`` and the command line stay quick.
"""

from importlib.metadata import PackageNotFoundError, version

from twinlab.cluster import dask_client
from twinlab.config import ConfigError, load_params, paths, project_root
from twinlab.notebooks import (
    NotebookExecutionError,
    NotebookJob,
    NotebookParameterError,
    notebook_parameters,
    run_notebook,
    run_notebooks,
)
from twinlab.synth import SynthConfig, generate_study
from twinlab.timeline import (
    CURRENT_VERSION,
    DOMAINS,
    QUALIFIER_KEYS,
    Cohort,
    SchemaVersionError,
    TimelineValidationError,
    UnknownPatientError,
    add_row_hash,
    coerce_table,
    empty_table,
    event_id,
    migrate,
    migration,
    read_table,
    row_hash,
    table_schema,
    validate,
    validate_cohort,
    write_table,
)

#: Public names of the modelling layers, imported on first use (PEP 562).
_LAZY = {
    "KnownPopulation": "twinlab.cohort",
    "VirtualCohort": "twinlab.cohort",
    "from_cohort": "twinlab.cohort",
    "Arm": "twinlab.simulate",
    "Regimen": "twinlab.simulate",
    "Scenario": "twinlab.simulate",
    "SimulationResult": "twinlab.simulate",
    "Titration": "twinlab.simulate",
    "open_result": "twinlab.simulate",
    "Problem": "twinlab.sensitivity",
    "Surrogate": "twinlab.surrogate",
    "Design": "twinlab.trials",
    "PrognosticModel": "twinlab.trials",
}
_SUBMODULES = ("cohort", "pkpd", "sensitivity", "simulate", "stages", "surrogate", "trials")


def __getattr__(name: str):
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"twinlab.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'twinlab' has no attribute {name!r}")


try:
    __version__ = version("twinlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    *_LAZY,
    *_SUBMODULES,
    "CURRENT_VERSION",
    "DOMAINS",
    "QUALIFIER_KEYS",
    "Cohort",
    "ConfigError",
    "NotebookExecutionError",
    "NotebookJob",
    "NotebookParameterError",
    "SchemaVersionError",
    "SynthConfig",
    "TimelineValidationError",
    "UnknownPatientError",
    "__version__",
    "add_row_hash",
    "coerce_table",
    "dask_client",
    "empty_table",
    "event_id",
    "generate_study",
    "load_params",
    "migrate",
    "migration",
    "notebook_parameters",
    "paths",
    "project_root",
    "read_table",
    "row_hash",
    "run_notebook",
    "run_notebooks",
    "table_schema",
    "validate",
    "validate_cohort",
    "write_table",
]
