"""Run parameterized notebooks: validated parameters, Papermill, HTML copies, Dask.

A notebook is a report template with one cell tagged ``parameters``. Before a
notebook runs, the parameters a caller supplies are checked against that cell:
an unknown name (with a "did you mean" hint) or a value of the wrong type is a
:class:`NotebookParameterError` instead of a kernel traceback ten minutes in.
The executed notebook and an HTML copy are written side by side (by default in
``reports/``); volatile timing metadata is dropped so that re-running an
unchanged notebook gives the same file, and the package versions used are
recorded in the notebook's metadata.

Many notebooks (one per scenario, say) run as Dask tasks with
:func:`run_notebooks`; each execution happens in its own Python process with its
own Jupyter runtime folder, and kernel start-up failures – Papermill's known
races over ports and connection files when kernels start concurrently – are
retried with back-off.
"""

from __future__ import annotations

import ast
import difflib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "NotebookError",
    "NotebookExecutionError",
    "NotebookJob",
    "NotebookParameterError",
    "notebook_parameters",
    "run_notebook",
    "run_notebooks",
    "validate_parameters",
]

KERNEL_NAME = "python3"
#: Packages whose versions are recorded in every executed notebook.
RECORDED_PACKAGES = (
    "twinlab", "numpy", "scipy", "pandas", "pyarrow", "xarray", "dask", "distributed",
    "pymc", "arviz", "papermill", "dvc", "panel", "holoviews",
)  # fmt: skip
_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "str": (str,),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
}
_EXIT_CELL_ERROR = 2
_EXIT_KERNEL_START = 3


class NotebookError(RuntimeError):
    """Base class of notebook-running errors."""


class NotebookParameterError(NotebookError, ValueError):
    """Supplied parameters do not match the notebook's ``parameters`` cell."""


class NotebookExecutionError(NotebookError):
    """A cell raised while the notebook ran; the executed copy shows where."""


@dataclass(frozen=True)
class Parameter:
    """One entry of a notebook's ``parameters`` cell."""

    name: str
    default: Any
    types: tuple[type, ...] | None  # ``None``: any type is accepted

    @property
    def type_name(self) -> str:
        """The accepted type(s) as text."""
        if self.types is None:
            return "any"
        return " | ".join(t.__name__ for t in self.types)


def notebook_parameters(path: str | Path) -> dict[str, Parameter]:
    """Read the parameters a notebook declares.

    Types come from annotations (``n: int = 10``) or, without one, from the
    default's literal value; a ``None`` default accepts any type.

    Parameters
    ----------
    path
        The notebook.

    Returns
    -------
    dict of str to Parameter
        The declared parameters, in cell order.

    Raises
    ------
    NotebookParameterError
        If the notebook has no cell tagged ``parameters``.
    """
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise NotebookParameterError(f"{path}: no cell is tagged 'parameters'")
    params: dict[str, Parameter] = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            default = _literal(node.value)
            names = [n.strip() for n in ast.unparse(node.annotation).split("|")]
            types = tuple(t for n in names for t in _TYPES.get(n, ()))
            nullable = "None" in names
            params[node.target.id] = Parameter(
                node.target.id, default, (*types, type(None)) if nullable else types or None
            )
        elif isinstance(node, ast.Assign):
            default = _literal(node.value)
            for target in node.targets:
                if isinstance(target, ast.Name):
                    params[target.id] = Parameter(target.id, default, _inferred(default))
    return params


def _literal(node: ast.expr | None) -> Any:
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        return None


def _inferred(default: Any) -> tuple[type, ...] | None:
    if default is None:
        return None
    return _TYPES.get(type(default).__name__)


def validate_parameters(path: str | Path, parameters: Mapping[str, Any]) -> None:
    """Check supplied parameters against a notebook's ``parameters`` cell.

    Parameters
    ----------
    path
        The notebook.
    parameters
        The values to inject.

    Raises
    ------
    NotebookParameterError
        Naming every unknown parameter (with the closest known name) and every
        value whose type does not match the declared default or annotation.
    """
    declared = notebook_parameters(path)
    problems = []
    for name, value in parameters.items():
        if name not in declared:
            hint = difflib.get_close_matches(name, declared, n=1)
            problems.append(
                f"unknown parameter {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
            )
            continue
        expected = declared[name]
        ok = expected.types is None or (
            isinstance(value, expected.types)
            and not (isinstance(value, bool) and bool not in expected.types)
        )
        if not ok:
            problems.append(
                f"parameter {name!r} expects {expected.type_name}, "
                f"got {type(value).__name__} {value!r}"
            )
    if problems:
        known = ", ".join(f"{p.name}: {p.type_name}" for p in declared.values())
        raise NotebookParameterError(
            f"{path}: " + "; ".join(problems) + f". The notebook declares: {known}"
        )


def run_notebook(
    notebook: str | Path,
    *,
    parameters: Mapping[str, Any] | None = None,
    output_dir: str | Path = "reports",
    name: str | None = None,
    cwd: str | Path | None = None,
    html: bool = True,
    timeout: int | None = None,
) -> Path:
    """Validate parameters, execute a notebook with Papermill, write ipynb + HTML.

    Parameters
    ----------
    notebook
        The parameterized notebook to run.
    parameters
        Values injected after the ``parameters`` cell.
    output_dir
        Where the executed notebook and its HTML copy go.
    name
        File stem of the outputs (default: the notebook's stem).
    cwd
        Working directory of the kernel (default: the current one).
    html
        Also write ``<name>.html``, self-contained (no script from another host).
    timeout
        Per-cell time limit in seconds (none by default).

    Returns
    -------
    Path
        The executed notebook.

    Raises
    ------
    NotebookParameterError
        If the parameters do not match the notebook.
    NotebookExecutionError
        If a cell fails: nothing is published; the partly executed notebook is kept
        under ``failed/`` beside the reports (:func:`failed_path`).
    """
    import papermill as pm

    notebook = Path(notebook)
    if not notebook.is_file():
        raise NotebookError(f"notebook not found: {notebook}")
    parameters = dict(parameters or {})
    validate_parameters(notebook, parameters)
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{name or notebook.stem}.ipynb"
    base = Path(cwd or Path.cwd())
    # executed beside, published in one step once every cell ran: a failed or killed run
    # publishes nothing (a killed run's copy is removed by the next run of the notebook)
    from twinlab.security.filemodes import sweep_stale, temporary_name

    sweep_stale(output)
    folder = temporary_name(output, "partial")
    folder.mkdir(mode=0o700)
    work = folder / output.name
    try:
        _execute(pm, notebook, work, parameters, cwd, timeout)
    except pm.PapermillExecutionError as err:
        kept = _keep_failed(work, output, html, base)
        raise NotebookExecutionError(
            f"{notebook} failed in cell {err.exec_count}: {err.ename}: {err.evalue}; "
            f"no report was published (partly executed copy for debugging: {kept})"
        ) from None
    else:
        _publish(work, output, html, base)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    from twinlab.audit import audit_event

    audit_event(
        "notebook.run", output, params={"notebook": str(notebook), "parameters": parameters}
    )
    return output


def failed_path(output: str | Path) -> Path:
    """Where the partly executed copy of a failed report ``output`` is kept: ``failed/``
    beside the reports, never under a report's own name."""
    output = Path(output)
    return output.parent / "failed" / output.name


def _execute(
    pm: Any, notebook: Path, work: Path, parameters: Mapping[str, Any], cwd: Any, timeout: Any
) -> None:
    """Papermill's run of ``notebook`` into ``work``."""
    pm.execute_notebook(
        str(notebook),
        str(work),
        parameters=parameters,
        kernel_name=KERNEL_NAME,
        cwd=str(cwd) if cwd is not None else None,
        progress_bar=False,
        log_output=False,
        execution_timeout=timeout,
    )


def _keep_failed(work: Path, output: Path, html: bool, base: Path) -> Path:
    """Move a failed run's copy ``work`` to :func:`failed_path` (with its HTML copy)."""
    kept = failed_path(output)
    if work.exists():
        _finish(work, html, base=base, final=output, html_path=kept.with_suffix(".html"))
        kept.parent.mkdir(parents=True, exist_ok=True)
        os.replace(work, kept)
    return kept


def _publish(work: Path, output: Path, html: bool, base: Path) -> None:
    """Publish an executed copy ``work`` as ``output`` (its HTML copy first), each in one
    step; an earlier failure's copy of this report is removed."""
    from twinlab.security.filemodes import write_atomic

    page = _finish(work, html, base=base, final=output, html_path=None)
    if page is not None:
        write_atomic(output.with_suffix(".html"), page)
    os.replace(work, output)
    for stale in (failed_path(output), failed_path(output).with_suffix(".html")):
        stale.unlink(missing_ok=True)


def _finish(
    output: Path, html: bool, *, base: Path, final: Path, html_path: Path | None
) -> str | None:
    """Drop volatile metadata and stderr output, record package versions; the HTML copy.

    Paths in Papermill's metadata are made relative to ``base`` (the kernel's
    working directory), and the output path is the published one (``final``, not the
    temporary copy ``output``), so the executed notebook does not depend on where the
    project was cloned.

    Returns
    -------
    str or None
        The HTML page (``html``), also written to ``html_path`` when given.
    """
    if not output.exists():
        return None
    import nbformat

    nb = nbformat.read(str(output), as_version=4)
    papermill_meta = nb.metadata.get("papermill", {})
    for key in ("start_time", "end_time", "duration", "exception"):
        papermill_meta.pop(key, None)
    if papermill_meta.get("output_path"):
        papermill_meta["output_path"] = str(final)
    for key in ("input_path", "output_path"):
        if papermill_meta.get(key):
            papermill_meta[key] = os.path.relpath(
                Path(papermill_meta[key]).resolve(), base.resolve()
            )
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.get("outputs"):
            # stderr (library warnings, e.g. PyTensor's one-off BLAS check when its compile
            # cache is cold) depends on the machine's caches, not on the inputs: left out so
            # that a re-run reproduces the notebook byte for byte
            cell.outputs = [
                o
                for o in cell.outputs
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.id = "injected-parameters"  # Papermill draws a random id
    from twinlab.audit.records import package_versions

    nb.metadata["twinlab"] = {"package_versions": package_versions(RECORDED_PACKAGES)}
    nbformat.write(nb, str(output))
    if not html:
        return None
    page = _html(nb, final.stem)
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(page, encoding="utf-8")
    return page


#: nbconvert's ``lab`` page without the scripts it loads from cdnjs (require.js, MathJax,
#: Mermaid), which the reports do not need: their plots are images and their tables HTML
_OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def _html(nb: Any, title: str) -> str:
    """The executed notebook as one self-contained HTML page titled ``title``: it opens
    offline and asks no other host for anything while a reviewer reads it."""
    import jinja2
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        extra_loaders=[jinja2.DictLoader({"offline.html.j2": _OFFLINE_TEMPLATE})],
        template_file="offline.html.j2",
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


@dataclass(frozen=True)
class NotebookJob:
    """One notebook execution to run as a Dask task."""

    notebook: str
    name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    output_dir: str = "reports"
    cwd: str | None = None
    html: bool = True


def run_notebooks(
    jobs: Sequence[NotebookJob],
    *,
    client: Any = None,
    address: str | None = None,
    start_retries: int = 3,
) -> list[Path]:
    """Run many notebooks as Dask tasks, each in its own process.

    All jobs' parameters are validated before anything is submitted. Each task
    starts a fresh Python process (``python -m twinlab.notebooks``) with its
    own ``JUPYTER_RUNTIME_DIR``; a kernel that fails to start is retried up to
    ``start_retries`` times with jittered back-off. A failing cell is not
    retried: it is reported.

    Parameters
    ----------
    jobs
        The executions.
    client
        A :class:`distributed.Client`; when omitted one is made with
        :func:`twinlab.cluster.dask_client` (local cluster or ``address``).
    address
        Scheduler address used when no client is given.
    start_retries
        Attempts to start a kernel before giving up.

    Returns
    -------
    list of Path
        The executed notebooks, in job order.

    Raises
    ------
    NotebookParameterError
        Before any submission, if some job's parameters are invalid.
    NotebookExecutionError
        If any notebook failed; the message lists every failure.
    """
    jobs = [_absolute(job) for job in jobs]
    names = [job.name for job in jobs]
    if len(set(names)) != len(names):
        raise NotebookParameterError(f"notebook job names must be unique: {names}")
    for job in jobs:
        validate_parameters(job.notebook, job.parameters)
    if client is None:
        from twinlab.cluster import dask_client

        with dask_client(address, n_workers=min(len(jobs), os.cpu_count() or 1)) as own:
            return run_notebooks(jobs, client=own, start_retries=start_retries)
    run_id = uuid.uuid4().hex[:8]
    futures = [
        client.submit(_run_job_in_process, job, start_retries, key=f"notebook-{job.name}-{run_id}")
        for job in jobs
    ]
    results = client.gather(futures, errors="skip")
    failures = [
        f"{job.name}: {fut.exception()}"
        for job, fut in zip(jobs, futures, strict=True)
        if fut.status == "error"
    ]
    if failures:
        raise NotebookExecutionError("; ".join(failures))
    return [Path(r) for r in results]


def _absolute(job: NotebookJob) -> NotebookJob:
    """Resolve a job's paths here, so workers (sharing the file system) agree."""
    base = Path(job.cwd or Path.cwd()).resolve()
    return replace(
        job,
        notebook=str((base / job.notebook).resolve()),
        output_dir=str((base / job.output_dir).resolve()),
        cwd=str(base),
    )


def _run_job_in_process(job: NotebookJob, start_retries: int) -> str:
    """Execute one job in a child process, retrying kernel start-up failures."""
    spec = json.dumps(job.__dict__)
    for attempt in range(1, start_retries + 1):
        with tempfile.TemporaryDirectory(prefix="twinlab-jupyter-") as runtime:
            env = {**os.environ, "JUPYTER_RUNTIME_DIR": runtime}
            proc = subprocess.run(
                [sys.executable, "-m", "twinlab.notebooks", spec],
                capture_output=True,
                text=True,
                env=env,
                cwd=job.cwd,
                check=False,
            )
        if proc.returncode == 0:
            return proc.stdout.strip().splitlines()[-1]
        message = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        if proc.returncode != _EXIT_KERNEL_START or attempt == start_retries:
            raise NotebookExecutionError(f"{job.notebook} ({job.name}): {message}")
        time.sleep(random.uniform(0.5, 2.0) * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _main(argv: Sequence[str]) -> int:
    """Child-process entry point of :func:`run_notebooks`: one JSON job spec."""
    job = NotebookJob(**json.loads(argv[0]))
    try:
        out = run_notebook(
            job.notebook,
            parameters=job.parameters,
            output_dir=job.output_dir,
            name=job.name,
            cwd=job.cwd,
            html=job.html,
        )
    except NotebookError as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        return _EXIT_CELL_ERROR
    except Exception as err:  # kernel died or never answered: worth another try
        print(f"kernel start-up failed: {type(err).__name__}: {err}", file=sys.stderr)
        return _EXIT_KERNEL_START
    print(Path(out).resolve())
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
