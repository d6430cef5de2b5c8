"""Parameter validation and Papermill execution of notebooks."""

from __future__ import annotations

import json
import os
from importlib.metadata import version
from pathlib import Path

import nbformat
import pytest
from repo_helpers import remote_loads, write_notebook

from twinlab.notebooks import (
    NotebookExecutionError,
    NotebookParameterError,
    notebook_parameters,
    run_notebook,
    validate_parameters,
)


def test_declared_parameters_have_types_from_annotations_and_defaults(scenario_notebook):
    declared = notebook_parameters(scenario_notebook)
    assert list(declared) == ["dose", "n", "label", "out"]
    assert declared["dose"].types == (float, int)
    assert declared["n"].types == (int,)
    assert declared["label"].default == "base"


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"dos": 2.0}, "unknown parameter 'dos' (did you mean 'dose'?)"),
        ({"n": "3"}, "parameter 'n' expects int, got str '3'"),
        ({"n": 2.5}, "parameter 'n' expects int, got float 2.5"),
        ({"n": True}, "parameter 'n' expects int, got bool True"),
        ({"label": 7}, "parameter 'label' expects str, got int 7"),
    ],
)
def test_bad_parameters_are_refused_before_running(scenario_notebook, parameters, message):
    with pytest.raises(NotebookParameterError) as err:
        validate_parameters(scenario_notebook, parameters)
    assert message in str(err.value)
    assert "dose: float | int" in str(err.value)


def test_int_is_accepted_for_a_float_parameter(scenario_notebook):
    assert validate_parameters(scenario_notebook, {"dose": 3}) is None  # raises when refused


def test_notebook_without_parameters_cell_is_refused(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    path = tmp_path / "plain.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(NotebookParameterError, match="no cell is tagged 'parameters'"):
        notebook_parameters(path)


def test_run_writes_executed_notebook_html_and_injected_parameters(scenario_notebook, tmp_path):
    out = run_notebook(
        scenario_notebook,
        parameters={"dose": 2.5, "n": 4, "out": str(tmp_path / "r.txt")},
        output_dir=tmp_path / "reports",
    )
    assert (tmp_path / "r.txt").read_text().startswith("base 10.0 ")
    nb = nbformat.read(str(out), as_version=4)
    assert nb.metadata.papermill.parameters == {"dose": 2.5, "n": 4, "out": str(tmp_path / "r.txt")}
    assert nb.metadata.twinlab["package_versions"]["papermill"] == version("papermill")
    assert "start_time" not in nb.metadata.papermill
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "dose = 2.5" in injected[0].source
    html = out.with_suffix(".html").read_text()
    assert "total 10.0" in html
    assert f"<title>{out.stem}</title>" in html
    assert remote_loads(html) == []  # opens offline: no require.js or MathJax from cdnjs


def test_failing_cell_raises_and_keeps_the_executed_copy_apart(tmp_path):
    path = write_notebook(tmp_path / "bad.ipynb", "x = 1", "raise ValueError('boom')")
    with pytest.raises(NotebookExecutionError, match="ValueError: boom"):
        run_notebook(path, output_dir=tmp_path / "reports")
    assert (tmp_path / "reports" / "failed" / "bad.ipynb").exists()  # for debugging
    assert not (tmp_path / "reports" / "bad.ipynb").exists()  # never published as the report


def test_rerun_of_unchanged_notebook_gives_identical_bytes(scenario_notebook, tmp_path):
    params = {"out": str(tmp_path / "r.txt"), "label": "same"}
    out = run_notebook(scenario_notebook, parameters=params, output_dir=tmp_path / "a")
    first = out.read_bytes()
    run_notebook(scenario_notebook, parameters=params, output_dir=tmp_path / "a")
    assert out.read_bytes() == first
    meta = json.loads(first)["metadata"]["papermill"]
    assert meta["output_path"] == os.path.relpath(out, Path.cwd())


def test_stderr_that_depends_on_the_machine_is_left_out_of_the_record(tmp_path):
    # a warning on the first run only (a cold cache, as PyTensor's BLAS check) must not
    # make the executed notebook differ between runs; stdout and results stay
    flag = tmp_path / "warned"
    nb = write_notebook(
        tmp_path / "warn.ipynb",
        f"flag = {str(flag)!r}",
        "import os, sys\n"
        "if not os.path.exists(flag):\n"
        "    open(flag, 'w').close()\n"
        "    print('first run only', file=sys.stderr)\n"
        "print('result 42')",
    )
    out = run_notebook(nb, output_dir=tmp_path / "a")
    first = out.read_bytes()
    run_notebook(nb, output_dir=tmp_path / "a")
    assert out.read_bytes() == first and flag.exists()
    outputs = nbformat.read(out, as_version=4).cells[-1].outputs
    assert [o.get("name") for o in outputs] == ["stdout"] and "result 42" in outputs[0]["text"]
