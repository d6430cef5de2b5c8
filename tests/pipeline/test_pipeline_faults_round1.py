"""The pipeline under faults, each a real one: a stage killed while it writes, a file-size
limit hit mid-write, a bad ``params.yaml``, two runs at once, a report notebook that fails.

Found (measured on ``twinlab run`` with a three-patient project before the fixes):

* ``generate`` wrote ``data/raw/<study>`` and ``data/truth/<study>`` in place: a run killed
  mid-write left half a study under the final names, and every later ``twinlab run
  generate`` refused ("... is not empty; pass overwrite=True to replace": a library
  argument no command takes), so a killed run could not be re-run.
* Staged folders and temporary files of a writer killed outright (``SIGKILL``) stayed
  beside the outputs for ever (``.<name>.<random>.partial`` / ``.tmp``, nothing could tell
  whose they were); ``SIGTERM`` killed the run without its cleanup as well.
* A file-size limit or a file system's largest file (``EFBIG``) ended in "internal error".
* Any path of ``params.yaml`` could leave the project: ``out: ../../etc/x``, an absolute
  path elsewhere, ``generate.study: ../../evil``; they ran and wrote there.
* Nothing kept two runs in one project apart: both wrote the same outputs at once.
* A report notebook that failed in a cell was published under the report's own name
  (ipynb and HTML, replacing the previous report), and Papermill wrote it there cell by
  cell, so a killed run left half a report in place.
* Nothing checked the working tree against ``dvc.lock``: a raw file tampered with or a report
  edited by hand after the run went unnoticed (``reproduce`` re-runs a clean clone).
* The NONMEM data set (and its sidecar), ``lineage.parquet`` and the trial's plot series
  were written in place, outside any staged folder.

Fixed by class: every staged folder and temporary file is named for its owner (process and
machine) and the next write of the same target removes those of dead processes on this
machine, only those (:func:`twinlab.security.filemodes.sweep_stale`); ``generate`` stages
and publishes its folders whole; ``twinlab run`` turns ``SIGTERM`` into a clean stop and
holds a project lock (:mod:`twinlab.pipeline.guard`), refused runs get one line naming the
holder; ``EFBIG`` is an environment error; every path field of ``params.yaml`` (and the
notebooks' ``*_dir``/``*_path`` keys) is held inside the project; a notebook executes beside
its report, is published in one step only when every cell ran, and a failed one is kept
under ``reports/failed/`` for debugging; ``twinlab reproduce --workspace`` hashes every path
``dvc.lock`` pins and names each that changed with its expected and actual md5 (the file
inside a pinned folder when its listing is cached); the files written outside staged folders
go through ``write_atomic``.
"""

from __future__ import annotations

import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml
from click.testing import CliRunner
from repo_helpers import write_notebook

from twinlab.cli import cli
from twinlab.notebooks import NotebookExecutionError, failed_path, run_notebook
from twinlab.pipeline import run_stage
from twinlab.security.filemodes import sweep_stale, temporary_name

ROOT = Path(__file__).resolve().parents[2]


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _outputs(project: Path) -> dict[str, bytes]:
    return _files(project / "data")


def _leftovers(project: Path) -> list[str]:
    return sorted(
        str(p.relative_to(project))
        for p in project.rglob(".*")
        if p.name.endswith((".partial", ".tmp"))
    )


def _twinlab(project: Path, *args: str, **kw) -> subprocess.Popen:
    """``twinlab run ...`` as its own process (the console script's entry point)."""
    code = "import sys; from twinlab.cli import cli; cli(sys.argv[1:])"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=project, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw,
    )  # fmt: skip


def _kill_while_staging(proc: subprocess.Popen, project: Path, sig: int) -> str:
    """Send ``sig`` to ``proc`` as soon as it has a staged folder of the study; its stderr."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if list((project / "data").glob("*/.demo.*.partial")):
            proc.send_signal(sig)
            break
        time.sleep(0.002)
    return proc.communicate(timeout=120)[1]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_stage_killed_while_it_writes_leaves_the_previous_outputs_and_reruns_the_same(
    project, sig, monkeypatch
):
    run_stage("generate", project / "params.yaml")
    before = _outputs(project)
    proc = _twinlab(project, "run", "generate", "--params", "params.yaml")
    err = _kill_while_staging(proc, project, sig)
    assert proc.returncode in (-sig, 128 + sig), err  # killed mid-run, not finished
    assert _outputs(project) == before  # the previous outputs, whole
    stale = _leftovers(project)
    if sig == signal.SIGTERM:  # stopped cleanly: nothing of it left, one line said so
        assert stale == [] and "Traceback" not in err
        assert err.strip().splitlines()[-1].startswith("Error: stopped by SIGTERM")
    else:  # killed outright: its staged folder stays until the next run of the stage
        assert stale and all(".partial" in s for s in stale)
    # another live writer's folder and a folder of the user's beside it are not the run's
    live = temporary_name(project / "data" / "raw" / "demo", "partial")
    live.mkdir()
    mine = project / "data" / "raw" / ".demo.backup"
    mine.mkdir()
    # a re-run (from another working folder) cleans what the dead run left, gives the same
    monkeypatch.chdir(project.parent)
    run_stage("generate", project / "params.yaml")
    assert _outputs(project) == before
    assert _leftovers(project) == [str(live.relative_to(project))] and mine.is_dir()


def test_a_full_disk_while_a_stage_writes_is_one_line_and_publishes_nothing(project):
    run_stage("generate", project / "params.yaml")
    before = _outputs(project)

    def small_files() -> None:  # a real limit: writes past 20 kB fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    proc = _twinlab(project, "run", "generate", "--params", "params.yaml",
                    preexec_fn=small_files)  # fmt: skip
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "Error: a file grew past the size allowed (file size limit or file system): "
        "free space or write elsewhere"
    ]
    assert _outputs(project) == before and _leftovers(project) == []


@pytest.mark.parametrize(
    "edit, where",
    [
        (lambda p: p["harmonize"].update(out="../../etc/twinlab"), "harmonize.out"),
        (lambda p: p["fit"].update(out="/etc/twinlab"), "fit.out"),
        (lambda p: p["harmonize"].update(sources=["data/raw/demo", "../x"]),
         "harmonize.sources[1]"),
        (lambda p: p["sources_overview"].update(raw_dir="data/../../x"),
         "sources_overview.raw_dir"),
        (lambda p: p["generate"].update(study="../../evil"), "generate.study"),
        (lambda p: p["fit"].update(register="a/b"), "fit.register"),
    ],
)  # fmt: skip
def test_a_path_that_leaves_the_project_is_refused_in_one_line_naming_the_key(project, edit, where):
    params = yaml.safe_load((project / "params.yaml").read_text())
    edit(params)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    result = CliRunner().invoke(cli, ["run", "generate", "--params", str(project / "params.yaml")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"Error: {project / 'params.yaml'}: {where}: ")
    assert not (project / "data").exists()  # refused before anything ran


def test_the_clusters_certificates_may_lie_outside_the_project(tmp_path):
    # the private key must lie outside any git work tree (tls_security refuses it inside):
    # the project-path rule would have made an external TLS cluster impossible to configure
    from twinlab.pipeline.params import PipelineParams

    files = {k: f"/etc/twinlab/tls/{k}" for k in ("tls_ca_file", "tls_cert_file", "tls_key_file")}
    params = PipelineParams.from_mapping(
        {"seed": 1, "dask": {"address": "tls://scheduler:8786", **files}},
        file=tmp_path / "params.yaml",
    )
    assert params.dask.tls_key_file == "/etc/twinlab/tls/tls_key_file"


def test_a_second_run_in_the_same_project_is_refused_while_the_first_holds_it(project):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from twinlab.pipeline.guard import project_lock\n"
         "with project_lock(sys.argv[1], 'fit'):\n    print('held', flush=True); time.sleep(120)",
         str(project)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        params = str(project / "params.yaml")
        result = CliRunner().invoke(cli, ["run", "generate", "--params", params])
        assert result.exit_code == 2 and "Traceback" not in result.output
        (line,) = result.output.strip().splitlines()
        assert "another pipeline run is working in" in line
        assert f"'twinlab run fit' (process {holder.pid}, started " in line
        assert not (project / "data").exists()  # it wrote nothing
        with pytest.raises(RuntimeError, match="another pipeline run"):
            run_stage("generate", params)  # the library's entry point is held too
    finally:
        holder.kill()  # killed outright: the kernel releases its lock
        holder.wait()
    result = CliRunner().invoke(cli, ["run", "generate", "--params", params])
    assert result.exit_code == 0, result.output
    assert (project / "data" / "raw" / "demo" / "manifest.json").is_file()


def test_a_notebook_failing_in_a_cell_publishes_nothing_and_keeps_its_copy_apart(tmp_path):
    reports = tmp_path / "reports"
    (tmp_path / "nb").mkdir()
    notebook = write_notebook(
        tmp_path / "nb" / "07_check.ipynb", "fail = False",
        "print('fine')", "if fail: raise ValueError('bad dose unit')",
    )  # fmt: skip
    first = run_notebook(notebook, output_dir=reports)
    published = _files(reports)
    assert set(published) == {"07_check.ipynb", "07_check.html"}
    with pytest.raises(NotebookExecutionError) as err:
        run_notebook(notebook, parameters={"fail": True}, output_dir=reports)
    message = str(err.value)
    assert re.search(rf"^{re.escape(str(notebook))} failed in cell \d+: ", message)
    assert "ValueError: bad dose unit" in message and "no report was published" in message
    kept = failed_path(first)
    assert message.endswith(f"(partly executed copy for debugging: {kept})")
    assert {k: v for k, v in _files(reports).items() if "/" not in k} == published
    executed = nbformat.read(str(kept), as_version=4)
    assert any(o.get("ename") == "ValueError" for c in executed.cells for o in c.get("outputs", []))
    assert kept.with_suffix(".html").is_file() and _leftovers(tmp_path) == []
    # the next good run publishes, and the failure's copy goes with it
    run_notebook(notebook, output_dir=reports)
    assert _files(reports) == published
    assert not kept.exists() and not kept.with_suffix(".html").exists()


def test_sweeping_removes_only_dead_writers_of_the_same_target_on_this_machine(tmp_path):
    target = tmp_path / "out"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(dead.stdout)
    own = temporary_name(target, "partial")
    host = own.name.split(".")[-2].split("-")[1]
    stale_dir = tmp_path / f".out.{pid}-{host}-0123abcd.partial"
    stale_file = tmp_path / f".out.{pid}-{host}-4567abcd.tmp"
    other_host = tmp_path / f".out.{pid}-{'0' * 8 if host != '0' * 8 else '1' * 8}-89abcdef.tmp"
    other_target = tmp_path / f".outer.{pid}-{host}-0123abcd.partial"
    legacy = tmp_path / ".out.x1y2z3.partial"
    stale_dir.mkdir()
    (stale_dir / "half.parquet").write_bytes(b"half")
    for path in (stale_file, other_host):
        path.write_text("half")
    other_target.mkdir()
    legacy.mkdir()
    own.mkdir()
    assert sorted(sweep_stale(target)) == sorted([stale_dir, stale_file])
    assert all(p.exists() for p in (other_host, other_target, legacy, own))


def test_a_pinned_file_changed_after_the_run_is_named_with_both_hashes(tmp_path):
    """A real ``dvc repro`` pins a raw folder (written by one stage, read by the next), a
    report and a result folder; then a raw file is tampered with, the report edited by hand
    and a result file changed."""
    from twinlab.audit.records import file_digests

    scripts = {
        "write_raw.py": "import pathlib\n"
        "r = pathlib.Path('data/raw')\n"
        "r.mkdir(parents=True)\n"
        "(r / 'a.csv').write_text('id,dose\\n1,100\\n')\n"
        "(r / 'b.csv').write_text('id,dose\\n2,200\\n')\n",
        "summarize.py": "import pathlib\n"
        "r = pathlib.Path('results/sum')\n"
        "r.mkdir(parents=True)\n"
        "t = sorted(p.read_text() for p in pathlib.Path('data/raw').iterdir())\n"
        "(r / 'all.txt').write_text(''.join(t))\n"
        "pathlib.Path('reports').mkdir()\n"
        "pathlib.Path('reports/summary.json').write_text('{\"files\": %d}' % len(t))\n",
    }
    for name, code in scripts.items():
        (tmp_path / name).write_text(code)
    stages = {
        "generate": {"cmd": f"{sys.executable} write_raw.py", "outs": ["data/raw"]},
        "summarize": {"cmd": f"{sys.executable} summarize.py", "deps": ["data/raw"],
                      "outs": ["results/sum", "reports/summary.json"]},
    }  # fmt: skip
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    (tmp_path / ".dvc").mkdir()  # what `dvc init --no-scm` writes that repro needs
    (tmp_path / ".dvc" / "config").write_text("[core]\n    no_scm = True\n")
    done = subprocess.run([str(Path(sys.executable).parent / "dvc"), "repro", "-q"],
                          cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    runner = CliRunner()
    clean = runner.invoke(cli, ["reproduce", "--workspace", "--repo", str(tmp_path)])
    assert clean.exit_code == 0 and "is as recorded" in clean.output, clean.output
    digests = {}
    for name, text in [("data/raw/a.csv", "id,dose\n1,1000\n"),
                       ("reports/summary.json", '{"files": 3}'),
                       ("results/sum/all.txt", "edited\n")]:  # fmt: skip
        digests[name] = file_digests(tmp_path / name)["md5"]
        (tmp_path / name).unlink()  # DVC may link the file to its (read-only) cache
        (tmp_path / name).write_text(text)
    result = runner.invoke(cli, ["reproduce", "--workspace", "--repo", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    now = {name: file_digests(tmp_path / name)["md5"] for name in digests}
    roles = {"data/raw/a.csv": "out of generate, dep of summarize",
             "reports/summary.json": "out of summarize",
             "results/sum/all.txt": "out of summarize"}  # fmt: skip
    assert lines[:3] == [
        f"{name}: expected md5 {digests[name]}, found {now[name]} ({roles[name]})"
        for name in sorted(digests)
    ]
    assert lines[3].startswith("Error: 3 pinned path(s) differ from dvc.lock")
