"""FHIR ingestion benchmark: resources per second per core, and scaling across Dask workers.

Measures, in one run and side by side:

1. per-core throughput of what harmonize reads: :func:`twinlab.ingest.run.read_files` (files
   in batches) followed by :func:`twinlab.harmonize.sources.collect` (one table each for
   events, persons, quarantine; each batch table sliced once per run of files), against the
   previous path on the same files (every file's frames cut from its batch, then
   concatenated back by ``collect``), against :func:`twinlab.ingest.fhir.read_fhir` file by
   file, and against two baselines: ``fhir.resources`` R4B pydantic models
   (``Bundle.model_validate_json``, the obvious alternative) and bare JSON parsing
   (``json.loads`` and ``orjson.loads``, a floor: the cost of only parsing the text);
2. :func:`twinlab.ingest.read_sources` followed by ``collect`` with 1 and 2 Dask worker
   processes (batches of files), against the same calls in this process, checking the results
   are identical.

Usage::

    python benchmarks/ingest_fhir.py [--quick] [--out benchmarks/results]

See ``benchmarks/README.md`` for the protocol. Nothing here is asserted by the test suite.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
from fhir.resources.R4B.bundle import Bundle

from twinlab.cluster import dask_client
from twinlab.harmonize.sources import collect
from twinlab.ingest import ReadResult, read_sources
from twinlab.ingest.fhir import read_fhir, read_fhir_batch
from twinlab.ingest.run import read_files
from twinlab.synth import SynthConfig, generate_study

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # repository helpers
from repo_helpers import shared_data

SYNTHEA = shared_data() / "fhir" / "synthea_smart"
GOAL = 20_000  # resources/s per core, DESIGN.md "Numbers to reach"
REPO = Path(__file__).resolve().parents[1]


def _entries(doc: dict) -> int:
    return len(doc.get("entry") or ())


def own_frames(result: ReadResult) -> ReadResult:
    """``result`` with frames and tally of its own: a batch's per-file cut, as before lazy
    cutting (the baseline)."""
    return ReadResult(
        result.source_file, result.format, result.records_in, result.records_accepted,
        events=result.events, persons=result.persons, quarantine=result.quarantine,
        series=dict(result.series), duplicates=result.duplicates, digest=result.digest,
    )  # fmt: skip


def harmonize_input(files: list[Path], *, cut: bool = False) -> tuple[Any, ...]:
    """``read_files`` then ``collect`` (identity file ids): the results and the three tables.

    ``cut``: cut every file's frames from its batch first (the baseline: the path before
    ``collect`` sliced batch tables), with the cyclic GC paused as the batch reader did.
    """
    results = read_files([(f, f.name) for f in files])
    if cut:
        paused = gc.isenabled()
        gc.disable()
        try:
            results = [own_frames(r) for r in results]
        finally:
            if paused:
                gc.enable()
    return results, *collect(results, {r.source_file: r.source_file for r in results})


def _harmonized(cut: bool) -> Callable[[list[Path]], int]:
    return lambda files: sum(r.records_in for r in harmonize_input(files, cut=cut)[0])


def _per_file(read: Callable[[Path], int]) -> Callable[[list[Path]], int]:
    return lambda files: sum(read(f) for f in files)


#: Readers of a corpus; each reads every file's bytes and returns the resources they hold.
METHODS: dict[str, Callable[[list[Path]], int]] = {
    "twinlab read_files + collect": _harmonized(cut=False),
    "twinlab read_files + per-file cut + collect (baseline)": _harmonized(cut=True),
    "twinlab read_fhir": _per_file(lambda f: read_fhir(f).records_in),
    "fhir.resources R4B Bundle.model_validate_json": _per_file(
        lambda f: len(Bundle.model_validate_json(f.read_bytes()).entry or ())
    ),
    "json.loads (floor)": _per_file(lambda f: _entries(json.loads(f.read_bytes()))),
    "orjson.loads (floor)": _per_file(lambda f: _entries(orjson.loads(f.read_bytes()))),
}
#: The method whose numbers are held against the goal: what harmonize reads and builds.
TWINLAB = "twinlab read_files + collect"
BASELINE = "twinlab read_files + per-file cut + collect (baseline)"


def make_corpora(tmp: Path, quick: bool) -> dict[str, Path]:
    """Build the benchmark's folders of FHIR bundles under ``tmp``.

    Parameters
    ----------
    tmp
        Scratch folder, deleted by the caller.
    quick
        Smaller corpora for a smoke run.

    Returns
    -------
    dict of str to Path
        Corpus name to a folder holding only its ``.json`` bundles.
    """
    synthea = tmp / "synthea"
    synthea.mkdir()
    for f in sorted(SYNTHEA.glob("*.json")):
        shutil.copyfile(f, synthea / f.name)
    copies = 2 if quick else 8
    replicated = tmp / f"synthea_x{copies}"
    replicated.mkdir()
    for i in range(copies):
        for f in sorted(synthea.iterdir()):
            shutil.copyfile(f, replicated / f"{i}_{f.name}")
    n_patients = 300 if quick else 2000
    config = SynthConfig(n_patients=n_patients, wearable_fraction=0.0)
    generate_study(tmp / "study", tmp / "truth", config)
    return {
        "synthea": synthea,
        f"synthea_x{copies}": replicated,
        f"synthetic_{n_patients}": tmp / "study" / "fhir",
    }


def _summary(n: int, walls: list[float], cpus: list[float]) -> dict[str, Any]:
    best, median = min(walls), statistics.median(walls)
    return {
        "resources": n,
        "repeats": len(walls),
        "wall_s": walls,
        "cpu_s": cpus,
        "wall_best_s": best,
        "wall_median_s": median,
        "cpu_median_s": statistics.median(cpus),
        "rps_best": n / best,
        "rps_median": n / median,
        "rps_cpu_median": n / statistics.median(cpus),
    }


def time_method(
    method: Callable[[list[Path]], int], files: list[Path], repeats: int
) -> dict[str, Any]:
    """Time ``method`` over ``files``: one untimed warm-up pass, then ``repeats`` timed passes.

    Parameters
    ----------
    method
        Reads the files, returns their resource count.
    files
        The corpus; each pass reads every file (from the page cache after the warm-up).
    repeats
        Timed passes.

    Returns
    -------
    dict
        Resources per pass, wall and CPU seconds per pass, best/median resources per second.
    """
    n = method(files)  # warm-up: imports, caches, page cache
    walls, cpus = [], []
    for _ in range(repeats):
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        got = method(files)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        if got != n:
            raise RuntimeError(f"resource count changed between passes: {got} != {n}")
    return _summary(n, walls, cpus)


def fingerprint(results: list[ReadResult]) -> dict[str, Any]:
    """Per-file counts and a sha256 of all events sorted by ``source_file``/``source_record``."""
    counts = [r.counts for r in results]
    events = pd.concat(
        [r.events.assign(source_file=r.source_file) for r in results], ignore_index=True
    ).sort_values(["source_file", "source_record"], kind="stable", ignore_index=True)
    text = events.to_json(orient="records", date_format="iso", date_unit="ns", default_handler=str)
    return {
        "resources": sum(r.records_in for r in results),
        "events": len(events),
        "counts_sha256": hashlib.sha256(json.dumps(counts, sort_keys=True).encode()).hexdigest(),
        "events_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }


def _sources_collected(folder: Path, client: Any) -> list[ReadResult]:
    """``read_sources`` then ``collect`` (identity file ids), as harmonize reads a folder."""
    results = read_sources([folder], client=client)
    collect(results, {r.source_file: r.source_file for r in results})
    return results


def same_tables(got: tuple[pd.DataFrame, ...], want: tuple[pd.DataFrame, ...]) -> bool:
    """Whether the tables are equal: values, dtypes, columns, index (exact)."""
    try:
        for a, b in zip(got, want, strict=True):
            pd.testing.assert_frame_equal(a, b, check_exact=True, check_index_type=True)
    except AssertionError:
        return False
    return True


def time_sources(folder: Path, client: Any, repeats: int) -> tuple[dict[str, Any], dict]:
    """Time ``read_sources([folder], client=client)`` and ``collect`` (warm-up pass untimed);
    fingerprint the results."""
    results = _sources_collected(folder, client)
    walls, cpus = [], []
    for _ in range(repeats):
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        results = _sources_collected(folder, client)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    stats = _summary(sum(r.records_in for r in results), walls, cpus)
    stats["files"] = len(results)
    return stats, fingerprint(results)


def scaling(folder: Path, workers: list[int], repeats: int) -> dict[str, Any]:
    """In-process ``read_sources`` + ``collect`` against local Dask clusters of ``workers``
    processes."""
    rows = {}
    rows["in-process"], reference = time_sources(folder, None, repeats)
    rows["in-process"]["fingerprint"] = reference
    for n in workers:
        t0 = time.perf_counter()
        with dask_client(n_workers=n) as client:
            startup = time.perf_counter() - t0
            stats, fp = time_sources(folder, client, repeats)
        stats.update(cluster_startup_s=startup, fingerprint=fp, identical=fp == reference)
        rows[f"{n} worker{'s' * (n > 1)}"] = stats
    base_1 = rows.get("1 worker", rows["in-process"])["wall_median_s"]
    for stats in rows.values():
        stats["speedup_vs_in_process"] = (
            rows["in-process"]["wall_median_s"] / stats["wall_median_s"]
        )
        stats["speedup_vs_1_worker"] = base_1 / stats["wall_median_s"]
    return rows


def machine() -> dict[str, Any]:
    """CPU, core count, library versions and git commit of this run."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return run.stdout.strip()

    packages = ["numpy", "pandas", "orjson", "pydantic", "fhir.resources", "dask", "distributed"]
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": {p: version(p) for p in packages},
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def markdown(report: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    m = report["machine"]
    out = [
        "# FHIR ingestion benchmark",
        "",
        f"{m['date']} · {m['cpu']} · {m['cpu_count']} cores · Python {m['python']} · "
        f"commit `{m['git_commit'][:12]}`{' (dirty tree)' if m['git_dirty'] else ''} · "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        "",
        f"Goal: >= {GOAL:,} resources/s per core. Generated by `benchmarks/ingest_fhir.py"
        f"{' --quick' if report['quick'] else ''}`; protocol in `benchmarks/README.md`.",
        "",
        "## Per-core throughput (one process, file reading included)",
        "",
        "| corpus | files | resources | method | res/s (best) | res/s (median) "
        "| res/s (CPU, median) | median wall s | goal met |",
        "|---|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for corpus, methods in report["per_core"].items():
        info = report["corpora"][corpus]
        for name, s in methods.items():
            met = ("yes" if s["rps_median"] >= GOAL else "**no**") if name == TWINLAB else ""
            out.append(
                f"| {corpus} | {info['files']:,} | {s['resources']:,} | {name} "
                f"| {s['rps_best']:,.0f} | {s['rps_median']:,.0f} | {s['rps_cpu_median']:,.0f} "
                f"| {s['wall_median_s']:.3f} | {met} |"
            )
    out += [
        "",
        "## Scaling across Dask workers (`read_sources` + `collect`, batches of files as tasks)",
        "",
        f"Machine: {m['cpu_count']} cores. Cluster start-up is not timed.",
        "",
        "| corpus | run | wall s (median) | res/s (median) | vs in-process | vs 1 worker "
        "| identical to in-process |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for corpus, rows in report["scaling"].items():
        for run, s in rows.items():
            same = {True: "yes", False: "**NO**"}.get(s.get("identical"), "(reference)")
            out.append(
                f"| {corpus} | {run} | {s['wall_median_s']:.3f} | {s['rps_median']:,.0f} "
                f"| {s['speedup_vs_in_process']:.2f}x | {s['speedup_vs_1_worker']:.2f}x | {same} |"
            )
    out += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    return "\n".join(out) + "\n"


def notes(report: dict[str, Any]) -> list[str]:
    """Plain statements of the goal's status, computed from the numbers."""
    said = []
    for corpus, methods in report["per_core"].items():
        s, alone = methods[TWINLAB], methods["twinlab read_fhir"]
        cut = methods[BASELINE]
        info = report["corpora"][corpus]
        verdict = "meets" if s["rps_median"] >= GOAL else "does NOT meet"
        same = "identical to" if info["batch_identical_to_per_file"] else "DIFFERENT from"
        tables = "identical to" if info["collect_identical_to_baseline"] else "DIFFERENT from"
        said.append(
            f"{corpus}: twinlab {s['rps_median']:,.0f} resources/s per core (median, read "
            f"in batches and collected; {cut['rps_median']:,.0f} with per-file cuts, "
            f"{s['rps_median'] / cut['rps_median']:.2f}x; {alone['rps_median']:,.0f} file "
            f"by file) {verdict} the {GOAL:,} goal; {info['resources'] / info['files']:,.1f} "
            f"resources and {info['bytes'] / info['files'] / 1024:,.0f} KiB per file; the "
            f"batched results are {same} the per-file ones (counts and events fingerprint) "
            f"and the collected tables {tables} the per-file-cut ones."
        )
    for corpus, rows in report["scaling"].items():
        if not all(s.get("identical", True) for s in rows.values()):
            said.append(f"{corpus}: results DIFFER between worker counts.")
    return said


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and write ``ingest_fhir.json`` and ``ingest_fhir.md`` to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small corpora, few repeats")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument(
        "--note", action="append", default=[], help="a note on the run's conditions (repeatable)"
    )
    args = parser.parse_args(argv)
    repeats, slow_repeats = (2, 1) if args.quick else (5, 3)
    report: dict[str, Any] = {"quick": args.quick, "machine": machine(), "corpora": {}}
    report["per_core"], report["scaling"] = {}, {}
    with tempfile.TemporaryDirectory(prefix="twinlab-bench-") as tmp:
        folders = make_corpora(Path(tmp), args.quick)
        for corpus, folder in folders.items():
            files = sorted(folder.glob("*.json"))
            size = sum(f.stat().st_size for f in files)
            report["corpora"][corpus] = {"files": len(files), "bytes": size}
            report["per_core"][corpus] = {}
            for name, method in METHODS.items():
                if corpus.startswith("synthea_x") and "twinlab" not in name:
                    continue  # copies of "synthea": the baselines would only repeat themselves
                k = slow_repeats if "R4B" in name else repeats
                print(f"per-core  {corpus:<16} {name} ...", flush=True)
                report["per_core"][corpus][name] = time_method(method, files, k)
            report["corpora"][corpus]["resources"] = report["per_core"][corpus][TWINLAB][
                "resources"
            ]
            batched = [r for r in read_fhir_batch(files) if isinstance(r, ReadResult)]
            report["corpora"][corpus]["batch_identical_to_per_file"] = len(batched) == len(
                files
            ) and fingerprint(batched) == fingerprint([read_fhir(f) for f in files])
            report["corpora"][corpus]["collect_identical_to_baseline"] = same_tables(
                harmonize_input(files)[1:], harmonize_input(files, cut=True)[1:]
            )
        for corpus, folder in folders.items():
            if corpus == "synthea":
                continue  # 28 files, ~0.25 s: too small for scaling to mean much
            print(f"scaling   {corpus} ...", flush=True)
            report["scaling"][corpus] = scaling(folder, [1, 2], 3 if not args.quick else 1)
    report["notes"] = notes(report) + args.note
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest_fhir.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "ingest_fhir.md").write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
