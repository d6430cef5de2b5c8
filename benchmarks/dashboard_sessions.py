"""How many concurrent stakeholder what-if sessions one dashboard server holds.

Each session is what ``twinlab serve`` builds for a stakeholder's ``/whatif`` page: a
:class:`twinlab.apps.whatif.WhatIf` on the project's registered twin and harmonized cohort,
with the disclosure control on (``min_cell=5``), here at the issue's worst case of 20,000
virtual patients x 84 days of treatment, every answer the page shows computed (concentration
and response bands, attainment overall and by genotype, exposures, power, provenance), then a
dose move (a second set of answers). Sessions are opened one after another in one process
and all kept alive, as a server keeps its open sessions; the process's resident memory (RSS,
``/proc/self/statm``) is read after each.

Two configurations, each in a fresh process:

- ``per_kind_counts`` (the baseline: the previous bound): a few entries per kind, no byte
  budgets (``TWINLAB_WHATIF_SESSION_MB`` and ``TWINLAB_WHATIF_SERVER_MB`` set out of reach);
- ``server_budget_400``: 512 MB per session (the default) and a 400 MB server budget (the
  default is 4096 MB), small enough to bind within the run: least recently used entries of
  any session go first.

Then the same with a real ``twinlab serve`` (``--served-sessions``, default 6): a stakeholder
logs in and opens sessions of the ``/whatif`` page (its document, built with
``TWINLAB_WHATIF_PATIENTS`` = ``--patients`` and the page's default 28 days, and an open
websocket each), all held at once; the server process's RSS is read after each. Baseline:
no byte budgets; ``server_budget_256``: a 256 MB server budget, small enough to bind
within the run. The result is the memory per session (the slope of RSS over sessions after
the first) and how many sessions fit in a server of ``--memory-gb`` (default 16) at that
slope.

Usage::

    python benchmarks/dashboard_sessions.py [--root .] [--sessions 6] [--patients 20000]
        [--days 84] [--memory-gb 16] [--out benchmarks/results]

Writes ``dashboard_sessions.json`` (RSS after each session, machine facts, the load average).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = {
    "per_kind_counts": {"TWINLAB_WHATIF_SESSION_MB": "1e9", "TWINLAB_WHATIF_SERVER_MB": "1e9"},
    "server_budget_400": {"TWINLAB_WHATIF_SESSION_MB": "512", "TWINLAB_WHATIF_SERVER_MB": "400"},
}
#: the served measurement: the baseline, and a server budget small enough to bind
SERVED = {
    "per_kind_counts": CONFIGS["per_kind_counts"],
    "server_budget_256": {"TWINLAB_WHATIF_SESSION_MB": "512", "TWINLAB_WHATIF_SERVER_MB": "256"},
}


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _answers(w) -> None:
    w.bands("conc")
    w.bands("effect")
    w.attainment()
    w.attainment(by="CYP2C9")
    w.exposures()
    w.power()
    w.provenance()


def child(root: Path, sessions: int, patients: int, days: int) -> dict:
    """Open ``sessions`` sessions in this process; RSS after each."""
    import gc

    from twinlab.apps.memory import LEDGER
    from twinlab.apps.whatif import WhatIf

    held, rows = [], []
    start = _rss_mb()
    for i in range(sessions):
        t = time.perf_counter()
        w = WhatIf(root=str(root), n_patients=patients, duration_days=days, min_cell=5, seed=i)
        _answers(w)
        w.dose = w.dose + 10.0
        _answers(w)
        held.append(w)
        gc.collect()
        rows.append(
            {
                "session": i + 1,
                "rss_mb": round(_rss_mb(), 1),
                "cache_mb": round(LEDGER.total() / 2**20, 1),
                "this_session_cache_mb": round(w._cache.bytes / 2**20, 1),
                "open_s": round(time.perf_counter() - t, 2),
            }
        )
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"rss_start_mb": round(start, 1), "sessions": rows}


def _proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def served(root: Path, sessions: int, patients: int, env_extra: dict[str, str]) -> dict:
    """A real ``twinlab serve``; ``sessions`` stakeholder sessions (page document + open
    websocket each) held at once; the server's RSS after each."""
    import asyncio
    import re
    import secrets
    import tempfile

    tests = Path(__file__).resolve().parents[1] / "tests"
    sys.path[:0] = [str(tests / "apps"), str(tests)]  # the apps' fixtures, repository helpers
    from apps_server import fetch, http_login, serving
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    from twinlab.apps.auth import add_user

    tmp = Path(tempfile.mkdtemp(prefix="twinlab-sessions-"))
    cred = tmp / "home" / "users.json"
    password = secrets.token_urlsafe(12)
    add_user(cred, "stakeholder1", "stakeholder", password)
    saved = {k: os.environ.get(k) for k in (*env_extra, "TWINLAB_AUDIT_UNSIGNED")}
    os.environ.update({**env_extra, "TWINLAB_AUDIT_UNSIGNED": "1"})
    rows = []
    try:
        with serving(root, cred, tmp, patients=patients) as srv:
            pid = srv["pid"]
            cookies, _ = http_login(srv["url"], "stakeholder1", password)
            base = _proc_rss_mb(pid)
            conns = []

            async def open_one() -> object:
                path = "/whatif/autoload.js?bokeh-autoload-element=x&bokeh-app-path=/whatif"
                code, _, body = await asyncio.to_thread(fetch, srv["url"] + path, cookies)
                assert code == 200, code
                token = re.search(r'"token":"([^"]+)"', body).group(1)
                req = HTTPRequest(
                    f"ws://127.0.0.1:{srv['port']}/whatif/ws",
                    headers={"Cookie": cookies, "Origin": srv["url"]},
                )
                conn = await websocket_connect(req, subprotocols=["bokeh", token])
                await conn.read_message()  # the ACK: the session is open
                return conn

            async def run() -> None:
                for i in range(sessions):
                    t = time.perf_counter()
                    conns.append(await open_one())
                    rows.append(
                        {
                            "session": i + 1,
                            "server_rss_mb": round(_proc_rss_mb(pid), 1),
                            "open_s": round(time.perf_counter() - t, 2),
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
                for c in conns:
                    c.close()

            asyncio.run(run())
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    rss = [r["server_rss_mb"] for r in rows]
    return {
        "server_rss_before_mb": round(base, 1),
        "sessions": rows,
        "per_session_mb": round((rss[-1] - rss[0]) / max(1, len(rss) - 1), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=Path("."))
    ap.add_argument("--sessions", type=int, default=6)
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=84)
    ap.add_argument("--memory-gb", type=float, default=16.0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--served-sessions", type=int, default=6)
    ap.add_argument("--child", choices=list(CONFIGS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.root.resolve(), args.sessions, args.patients, args.days)))
        return
    load = os.getloadavg()[0]
    results = {}
    for name, env in CONFIGS.items():
        cmd = [sys.executable, __file__, "--child", name, "--root", str(args.root),
               "--sessions", str(args.sessions), "--patients", str(args.patients),
               "--days", str(args.days)]  # fmt: skip
        print(f"{name}: {args.sessions} sessions of {args.patients} x {args.days} d", flush=True)
        out = subprocess.run(
            cmd, env={**os.environ, **env}, capture_output=True, text=True, check=True
        )
        run = json.loads(out.stdout.strip().splitlines()[-1])
        rss = [r["rss_mb"] for r in run["sessions"]]
        per_session = (rss[-1] - rss[0]) / max(1, len(rss) - 1)
        run["per_session_mb"] = round(per_session, 1)
        results[name] = run
        print(f"  {per_session:.0f} MB per session", flush=True)
    served_results = {}
    for name, env in SERVED.items():
        print(f"served, {name}: {args.served_sessions} sessions of {args.patients}", flush=True)
        served_results[name] = served(args.root.resolve(), args.served_sessions, args.patients, env)
        got = served_results[name]
        first = got["sessions"][0]["server_rss_mb"]
        got["sessions_in_memory"] = (
            int((args.memory_gb * 1024 - first) // max(got["per_session_mb"], 1.0)) + 1
        )
        print(
            f"  {got['per_session_mb']:.0f} MB per session: {got['sessions_in_memory']} sessions",
            flush=True,
        )
    doc = {
        "benchmark": "dashboard_sessions",
        "protocol": __doc__,
        "settings": {
            "patients": args.patients,
            "days": args.days,
            "sessions": args.sessions,
            "memory_gb": args.memory_gb,
            "root": str(args.root.resolve()),
        },
        "results": results,
        "served": served_results,
        "machine": {
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_1min_at_start": round(load, 2),
        },
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dashboard_sessions.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out / 'dashboard_sessions.json'}")


if __name__ == "__main__":
    main()
