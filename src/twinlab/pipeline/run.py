"""One contract for every stage: ``stage(params, root) -> StageResult``, run by :func:`run_stage`.

A stage (:mod:`twinlab.pipeline.stages`) computes and writes its outputs and says what it
read, wrote and drew its random numbers from; :func:`run_stage` times it and records it the
same way for every stage: a run record beside the active audit log and a ``stage.run``
entry (:func:`twinlab.audit.audit_stage`) carrying the timing. ``twinlab run STAGE`` and
every ``dvc.yaml`` stage go through it, and so can a notebook::

    from twinlab.pipeline import load_pipeline_params, run_stage

    run_stage("simulate", load_pipeline_params("params.yaml"))

Seeds
-----
``params.yaml``'s ``seed`` determines every random draw. A stage that needs several
independent streams takes each from :func:`derive_seed` (the pipeline seed and the stream's
name through :class:`numpy.random.SeedSequence`), never ``seed + 1``: two streams named
differently are independent, and no stream of one stage collides with another stage's.

Private outputs
---------------
What a stage writes is patient-level data: :func:`run_stage` and :func:`run_reports` write
under :func:`twinlab.security.filemodes.private_umask` (files ``0600``, folders ``0700``,
``$TWINLAB_FILE_MODE`` for a group), whoever calls them: the ``twinlab`` group (which sets it
for every command too), a command object called on its own, a notebook, an API job.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from twinlab.config import ConfigError
from twinlab.security.filemodes import private_umask

__all__ = [
    "DVC_STAGES",
    "STAGES",
    "StageResult",
    "derive_seed",
    "record_stage",
    "run_reports",
    "run_stage",
    "stage_names",
]


@dataclass(frozen=True)
class StageResult:
    """What a stage did.

    Attributes
    ----------
    stage : str
        The stage's name.
    value : object
        Its library result (a :class:`~twinlab.simulate.SimulationResult`, a fit, metrics...).
    params : mapping
        The parameters it ran with, as the audit records them (strict JSON).
    inputs, outputs : sequence of Path
        What it read and wrote (hashed in the run record as DVC does).
    seed : int or None
        The seed its random draws came from.
    summary : mapping
        Small results worth keeping in the audit entry.
    message : str
        One line for the terminal.
    audited : bool
        The library call already wrote the stage's ``stage.run`` entry (the harmonizer does).
    failure : str or None
        Why the stage's check failed (the validation gate, identifiers found in the
        harmonizer's outputs): the outputs are what the check says, the pipeline must stop.
    seconds : float
        Wall time, set by :func:`run_stage`.
    """

    stage: str
    value: Any
    params: Mapping[str, Any] = field(default_factory=dict)
    inputs: Sequence[Path] = ()
    outputs: Sequence[Path] = ()
    seed: int | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)
    message: str = ""
    audited: bool = False
    failure: str | None = None
    seconds: float = float("nan")


def derive_seed(seed: int, stream: str) -> int:
    """An independent seed for the named random ``stream`` of a run seeded by ``seed``.

    Examples
    --------
    >>> derive_seed(1, "trial.history") != derive_seed(1, "trial.history_noise")
    True
    >>> derive_seed(1, "trial.history") == derive_seed(1, "trial.history")
    True
    """
    entropy = [int(seed), zlib.crc32(stream.encode("utf-8"))]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint32)[0])


def auditable(value: Any) -> Any:
    """``value`` with non-finite numbers as text (``.inf`` bin edges) and tuples as lists:
    audit entries are strict JSON."""
    if isinstance(value, Mapping):
        return {str(k): auditable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [auditable(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def _stages() -> dict[str, Callable[..., StageResult]]:
    from twinlab.pipeline import stages

    return {
        "generate": stages.generate_stage,
        "harmonize": stages.harmonize_stage,
        "fit": stages.fit_stage,
        "validate": stages.validate_stage,
        "simulate": stages.simulate_stage,
        "sensitivity": stages.sensitivity_stage,
        "surrogate": stages.surrogate_stage,
        "trial": stages.trial_stage,
    }


#: The library stages (:func:`run_stage` runs them by name).
STAGES: tuple[str, ...] = (
    "generate",
    "harmonize",
    "fit",
    "validate",
    "simulate",
    "sensitivity",
    "surrogate",
    "trial",
)

#: Each ``dvc.yaml`` stage: its library stages, then the report notebooks (``params.yaml``
#: sections) it executes.
DVC_STAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "generate": (("generate",), ()),
    "sources_overview": ((), ("sources_overview",)),
    "harmonize": (("harmonize",), ("harmonize_report",)),
    "fit": (("fit",), ("fit_report",)),
    "validate": (("validate",), ()),
    "simulate": (("simulate",), ("simulate_report",)),
    "sensitivity": (("sensitivity", "surrogate"), ("sensitivity_report",)),
    "trial": (("trial",), ("trial_report",)),
}


def stage_names() -> list[str]:
    """Every name ``twinlab run`` accepts: the DVC stages and the library stages."""
    return sorted({*DVC_STAGES, *STAGES})


def run_stage(
    name: str, params: Any, root: str | Path | None = None, **options: Any
) -> StageResult:
    """Run the library stage ``name``: time it, write its run record and audit entry.

    Parameters
    ----------
    name
        One of :data:`STAGES`.
    params
        The checked ``params.yaml`` (:class:`~twinlab.pipeline.PipelineParams`), or its
        path; ``None``: the project's (``generate`` and ``harmonize`` then run with their
        library defaults).
    root
        The project folder paths in the file are relative to (default: the file's folder).
    **options
        Options of the stage function (``progress`` of simulate, paths of ``twinlab synth``
        and ``twinlab ingest``...).

    Returns
    -------
    StageResult
        With ``seconds`` set.
    """
    from twinlab.pipeline.params import PipelineParams, load_pipeline_params

    if params is None and name not in ("generate", "harmonize"):
        params = load_pipeline_params()  # the project's params.yaml
    elif params is not None and not isinstance(params, PipelineParams):
        params = load_pipeline_params(params)
    functions = _stages()
    if name not in functions:
        raise ConfigError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    if root is None and params is not None:
        root = params.root
    # one run at a time in a project (twinlab.pipeline.guard); its outputs and run record:
    # private, whoever calls
    with _locked(root, name), private_umask():
        start = time.perf_counter()
        result = functions[name](params, root, **options)
        return record_stage(result, seconds=time.perf_counter() - start)


def _locked(root: str | Path | None, what: str) -> Any:
    """The project lock of ``root`` (:func:`twinlab.pipeline.guard.project_lock`); none when
    there is no project folder to lock."""
    from contextlib import nullcontext

    from twinlab.pipeline.guard import project_lock

    return nullcontext() if root is None else project_lock(root, what)


def record_stage(result: StageResult, *, seconds: float) -> StageResult:
    """Record a stage that ran for ``seconds``: its run record beside the active audit log
    and its ``stage.run`` entry with the timing (unless the library already audited it).

    :func:`run_stage` calls it for every stage; a command that runs a stage's library call
    with its own arguments (``twinlab fit``) calls it too, so both are recorded alike.

    Returns
    -------
    StageResult
        ``result`` with ``seconds`` set.
    """
    from twinlab.audit import audit_stage

    result = replace(result, seconds=seconds)
    if not result.audited:
        audit_stage(
            result.stage,
            params=auditable(result.params),
            inputs=list(result.inputs),
            outputs=list(result.outputs),
            seed=result.seed,
            summary={**auditable(dict(result.summary)), "seconds": round(seconds, 2)},
        )
    return result


def run_reports(params: Any, names: Sequence[str], root: str | Path | None = None) -> list[Path]:
    """Execute the report notebooks ``names`` (``notebooks/NN_<name>.ipynb``, parameters
    from the ``params.yaml`` section of that name) on Dask; the executed notebooks and their
    HTML copies land in ``reports/``.

    Returns
    -------
    list of Path
        The executed notebooks.
    """
    from twinlab.config import paths
    from twinlab.notebooks import NotebookJob, run_notebooks
    from twinlab.pipeline.params import PipelineParams, load_pipeline_params

    if not isinstance(params, PipelineParams):
        params = load_pipeline_params(params)
    where = paths(Path(root) if root is not None else params.root)
    jobs = []
    for name in names:
        found = sorted(where.notebooks.glob(f"[0-9][0-9]_{name}.ipynb"))
        if len(found) != 1:
            raise ConfigError(
                f"stage {name!r} needs exactly one notebook notebooks/NN_{name}.ipynb, "
                f"found {len(found)}"
            )
        jobs.append(
            NotebookJob(
                notebook=str(found[0]),
                name=found[0].stem,
                parameters=dict(params.section(name) or {}),
                output_dir=str(where.reports),
                cwd=str(where.root),
            )
        )
    if not jobs:
        return []
    dask = params.dask
    with (
        _locked(where.root, ", ".join(names)),
        private_umask(),  # the executed notebooks (and the workers that write them): private
        dask.client(where.root, n_workers=min(len(jobs), dask.n_workers)) as client,
    ):
        return [Path(out) for out in run_notebooks(jobs, client=client)]
