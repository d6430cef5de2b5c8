"""twinlab: an open workbench for clinical-trial digital twins.

The public API, in one screen::

    import twinlab as tl
    cohort = tl.Cohort.read("data/harmonized/demo")
    cohort.filter("cov_weight_kg > 70").covariates()
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

try:
    __version__ = version("twinlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
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
