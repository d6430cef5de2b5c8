"""End-to-end ingest benchmark: a synthetic study through ``harmonize``, records/s per core and
peak memory, beside a baseline code path and a plain-pandas floor measured in the same run.

Each measurement runs in a fresh child process (so that its peak RSS is its own) on the same
``twinlab.synth`` study (FHIR bundles, SDTM XPT, VCF, wearable CSVs):

``twinlab harmonize``
    :func:`twinlab.harmonize.harmonize` of the whole study, in-process (``client=None``): read,
    link, align, map codes and units, per-event checks, de-identify, write, scan for PHI,
    reconcile and publish: what ``twinlab ingest`` does.
``twinlab readers``
    :func:`twinlab.ingest.read_sources` alone (every reader, no harmonizer).
``baseline harmonize``
    The same ``harmonize`` call with the source of ``--baseline-ref`` (default: the commit
    before this benchmark's fault-tolerance work of issue 15), extracted with ``git archive``
    and put first on ``PYTHONPATH``.
``head harmonize``
    The same call with the committed source of ``HEAD`` (``git archive``): the working tree
    without uncommitted changes, to tell them apart when several people share the tree.
``readers@baseline``, ``readers@head``
    The readers alone on those sources (the readers are where issue 15's per-record fault
    handling lives; the harmonizer's cost is mostly de-identification).
``pandas floor``
    Reading every file with the obvious library call and no checks (``orjson.loads`` per
    bundle, ``pyreadstat.read_xport``, ``pandas.read_csv``, a line count for the VCF): what
    merely loading the bytes into tables costs.

Reported per mode: records in (the readers' records, from ``report.json`` or the counts),
wall and CPU seconds (user + system of the child), records/s per core (records / CPU
seconds), peak RSS, the 1-minute load average before and after, and the share of the
machine's CPU that other processes used meanwhile.

Usage::

    python benchmarks/ingest_e2e.py [--patients 2000] [--quick] [--out benchmarks/results]

See ``benchmarks/README.md``. Nothing here is asserted by the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GOAL = 10_000  # records/s per core end to end (issue 15)
BASELINE_REF = "15e6e40^"  # the code before this session's per-record fault handling


# --- child processes ------------------------------------------------------------------------


def _child(mode: str, raw: Path, work: Path) -> dict[str, Any]:
    """Run one measurement in this (fresh) process and return its numbers."""
    t0, c0 = time.perf_counter(), time.process_time()
    if mode in ("harmonize", "baseline", "head"):
        from twinlab.deid import DeidKey
        from twinlab.harmonize import HarmonizeConfig, harmonize
        from twinlab.security.crypto import Keyring

        t0, c0 = time.perf_counter(), time.process_time()  # imports excluded
        result = harmonize(
            [raw], out_dir=work / "out", raw_zone=work / "zone",
            config=HarmonizeConfig(identifier_aliases={"vcf_sample": "usubjid"}),
            key=DeidKey(b"k" * 32), keyring=Keyring({"k1": b"m" * 32}),
        )  # fmt: skip
        totals = result.report["totals"]
        records, events = totals["records_in"], totals["events_in_timeline"]
        quarantined = totals["quarantined"] + totals.get("events_quarantined", 0)
    elif mode.startswith("readers"):
        from twinlab.ingest import read_sources

        t0, c0 = time.perf_counter(), time.process_time()
        results = read_sources([raw])
        records = sum(r.records_in for r in results)
        events = sum(len(r.events) for r in results)
        quarantined = sum(len(r.quarantine) for r in results)
    else:  # pandas floor
        records, events, quarantined = _floor(raw), 0, 0
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"records_in": records, "events": events, "quarantined": quarantined,
            "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "peak_rss_mb": round(peak_kb / 1024, 1)}  # fmt: skip


def _floor(raw: Path) -> int:
    import orjson
    import pandas as pd
    import pyreadstat

    n = 0
    for f in sorted(raw.rglob("*")):
        if f.suffix == ".json" and f.name != "manifest.json":
            n += len(orjson.loads(f.read_bytes()).get("entry") or ())
        elif f.suffix == ".xpt":
            n += len(pyreadstat.read_xport(str(f))[0])
        elif f.suffix == ".csv":
            n += len(pd.read_csv(f, comment="#"))
        elif f.suffix == ".vcf":
            n += sum(1 for ln in f.open() if ln.strip() and not ln.startswith("#"))
    return n


# --- the parent -----------------------------------------------------------------------------


def run_mode(mode: str, raw: Path, tmp: Path, pythonpath: str | None) -> dict[str, Any]:
    """One child process for ``mode``; its numbers plus the machine's load around it
    (:func:`fit_demo.run_child`: wall, CPU, load average, other processes' CPU share)."""
    from fit_demo import run_child  # benchmarks/ is the script's folder: on sys.path

    work = tmp / f"work-{mode}-{len(list(tmp.glob('work-*')))}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath + os.pathsep + env.get("PYTHONPATH", "")
    argv = [sys.executable, __file__, "--child", mode, "--raw", str(raw), "--work", str(work)]
    try:
        numbers, seen = run_child(argv, env=env, timeout=3 * 3600)
    except RuntimeError as err:
        return {"mode": mode, "error": str(err).strip().splitlines()[-1:]}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    numbers["records_per_s_per_core"] = round(numbers["records_in"] / max(numbers["cpu_s"], 1e-9))
    numbers["records_per_s_wall"] = round(numbers["records_in"] / max(numbers["wall_s"], 1e-9))
    return {"mode": mode, **numbers, **seen}


def baseline_source(ref: str, tmp: Path) -> tuple[str, str]:
    """``src`` of git ``ref`` extracted under ``tmp`` (read-only use of the repository)."""
    sha = subprocess.run(["git", "rev-parse", ref], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.strip()  # fmt: skip
    tmp.mkdir(parents=True, exist_ok=True)
    archive = tmp / "src.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "archive", sha, "src"], cwd=REPO, stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp / "baseline", filter="data")
    return str(tmp / "baseline" / "src"), sha


def machine() -> dict[str, Any]:
    """CPU, cores, Python and the git commit of this run."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().split("\n")
                if ln.startswith("model name")), platform.processor())  # fmt: skip

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=False).stdout.strip()  # fmt: skip

    return {
        "cpu": cpu, "cpu_count": os.cpu_count(), "python": sys.version.split()[0],
        "platform": platform.platform(), "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }  # fmt: skip


def markdown(result: dict[str, Any]) -> str:
    """The results as a Markdown table."""
    m = result["machine"]
    lines = [
        "# End-to-end ingest benchmark (`benchmarks/ingest_e2e.py`)",
        "",
        f"{result['patients']} synthetic patients (`twinlab.synth`, seed {result['seed']}): "
        f"{result['files']} files. Machine: {m['cpu']}, {m['cpu_count']} cores, Python "
        f"{m['python']}, commit `{m['git_commit'][:10]}`{' (dirty)' if m['git_dirty'] else ''}, "
        f"{m['date']}. Baseline: `{result['baseline_ref']}` = `{result['baseline_sha'][:10]}`; "
        f"head: `{result.get('head_sha', '')[:10]}`. "
        f"Goal: {GOAL:,} records/s per core end to end.",
        "",
        "| mode | records in | events | wall s | CPU s | records/s/core | peak RSS MB | "
        "load before/after | others' CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in result["modes"]:
        if "error" in r:
            lines.append(f"| {r['mode']} | failed: {r['error']} | | | | | | | |")
            continue
        lines.append(
            f"| {r['mode']} | {r['records_in']:,} | {r['events']:,} | {r['wall_s']} | "
            f"{r['cpu_s']} | {r['records_per_s_per_core']:,} | {r['peak_rss_mb']} | "
            f"{r['load_1min_before']}/{r['load_1min_after']} | "
            f"{100 * r['others_cpu_share']:.0f} % |"
        )
    lines += ["", "records/s/core = records in / CPU seconds of the measured call (imports and "
              "study generation excluded); peak RSS of the whole child process.", ""]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="200 patients")
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    parser.add_argument("--modes", default="harmonize,head,baseline,readers,floor")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--raw", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.raw, args.work)))
        return
    n = 200 if args.quick else args.patients
    from twinlab.synth import SynthConfig, generate_study

    with tempfile.TemporaryDirectory(prefix="twinlab-ingest-e2e-") as scratch:
        tmp = Path(scratch)
        raw = tmp / "raw"
        generate_study(raw, tmp / "truth", SynthConfig(n_patients=n, seed=args.seed))
        base_src, base_sha = baseline_source(args.baseline_ref, tmp / "base")
        head_src, head_sha = baseline_source("HEAD", tmp / "head")
        sources = {"baseline": base_src, "head": head_src}
        modes = []
        for mode in args.modes.split(","):
            # "readers@baseline": the readers of the baseline's source; "head" and "baseline"
            # alone are harmonize on that source
            kind, _, where = mode.partition("@")
            source = sources.get(where or kind)
            print(f"running {mode} ...", file=sys.stderr, flush=True)
            modes.append({**run_mode(kind, raw, tmp, source), "mode": mode})
            print(json.dumps(modes[-1]), file=sys.stderr, flush=True)
        result = {
            "patients": n, "seed": args.seed, "files": sum(1 for f in raw.rglob("*") if
                                                           f.is_file()),
            "baseline_ref": args.baseline_ref, "baseline_sha": base_sha, "head_sha": head_sha,
            "goal": GOAL,
            "machine": machine(), "modes": modes,
        }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "ingest_e2e" + ("_quick" if args.quick else "")
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
