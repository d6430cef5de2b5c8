"""Results service under load: 50 concurrent clients on loopback, rate limiter, a job.

What is measured, against a real ``twinlab api`` server process (uvicorn, HTTPS with its
self-signed certificate, every request audited to a signed log with fsync, as in
production), on the API tests' project (a registered twin, a harmonized cohort of 40 patients
and a simulation run of 60 virtual patients x 2 arms x 2 draws; built in a temporary folder):

1. **Throughput and latency** of each read for ``--duration`` seconds with ``--clients``
   concurrent clients (asyncio + httpx, one connection each, each its own registered client
   and token – modelers, stakeholders for the summary – so no client's rate limit binds):
   requests/s, p50 and p99 latency. Endpoints:
   ``/healthz`` (no data: the floor of HTTP + TLS + audit; sent with the readers' tokens, as
   requests without a valid token share one bucket per address), ``/v1/models`` (registry),
   ``/v1/results/demo/patients?limit=100`` (a page of per-patient rows, DuckDB over Parquet),
   ``/v1/results/demo/summary`` (aggregate with disclosure control, as a stakeholder).
   Baseline in the same run: the same reads as in-process library calls (no HTTP, no token,
   no audit), 200 calls each, median.
2. **Rate limiter**: one client with ``--hammer`` concurrent connections for ``--duration``
   seconds against its bucket (rate R/s, burst B): accepted requests must stay within
   ``B + R * elapsed`` (+1); the rest are ``429`` with ``Retry-After``.
3. **A job during the load**: a small simulation job is submitted when phase 1 starts; its
   state is polled until done (it runs on a local Dask cluster of one worker beside the
   load); reported: its final state and time to completion.

Usage::

    python benchmarks/api_load.py [--clients 50] [--duration 10] [--quick] [--out DIR]

Writes ``api_load.json`` and ``api_load.md``. The machine is shared: the 1-minute load
average at start and end is recorded. Timings are the machine's, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import secrets
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "api"))
sys.path.insert(0, str(ROOT / "tests" / "apps"))

RATE, BURST = 20.0, 20.0
SERVER = """
import sys
from pathlib import Path
from twinlab.api import ApiSettings
from twinlab.api.server import serve
project, home, port, rate, burst = sys.argv[1:6]
settings = ApiSettings.for_project(project, clients_file=Path(home) / "clients.json",
    key_dir=Path(home) / "keys", rate_per_s=float(rate), burst=float(burst), dask_workers=1,
    max_jobs=4)
serve(settings, port=int(port))
"""


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else 0.0


async def _load(url, ctx, tokens, path, params, duration):
    """Each token's client sends requests back to back for ``duration`` seconds."""
    latencies: list[float] = []
    codes: dict[int, int] = {}
    stop = time.perf_counter() + duration

    async def one(token):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(base_url=url, verify=ctx, timeout=60) as http:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = await http.get(path, params=params, headers=headers)
                latencies.append(time.perf_counter() - t0)
                codes[r.status_code] = codes.get(r.status_code, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one(t) for t in tokens))
    elapsed = time.perf_counter() - t0
    return {
        "requests": len(latencies),
        "elapsed_s": elapsed,
        "req_per_s": len(latencies) / elapsed,
        "p50_ms": 1000 * _pct(latencies, 0.5),
        "p99_ms": 1000 * _pct(latencies, 0.99),
        "status": {str(k): v for k, v in sorted(codes.items())},
    }


def _baseline(project: Path) -> dict[str, float]:
    """In-process library calls of the same reads (median ms of 200)."""
    from twinlab.api import registry_views, results

    folder = project / "results" / "demo"
    calls = {
        "/v1/models": lambda: registry_views.models(project / "models"),
        "/v1/results/demo/patients": lambda: results.patients_page(folder, limit=100),
        "/v1/results/demo/summary": lambda: results.population_summary(folder),
    }
    out = {}
    for name, fn in calls.items():
        fn()
        times = []
        for _ in range(200):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        out[name] = 1000 * statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--hammer", type=int, default=10)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="3 s phases")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    duration = 3.0 if args.quick else args.duration
    load_start = os.getloadavg()[0]

    from api_fixtures import free_port, write_api_project

    from twinlab.api.clients import add_client

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {
            **os.environ,
            "TWINLAB_AUDIT_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "TWINLAB_AUDIT_LOG": str(tmp / "audit.jsonl"),
        }
        os.environ.update({k: env[k] for k in ("TWINLAB_AUDIT_KEY", "TWINLAB_AUDIT_LOG")})
        project = write_api_project(tmp / "project")
        home = tmp / "home"
        secrets_ = {f"c{i:02d}": add_client(home / "clients.json", f"c{i:02d}", "modeler")
                    for i in range(args.clients)}  # fmt: skip
        for i in range(args.clients):
            secrets_[f"s{i:02d}"] = add_client(home / "clients.json", f"s{i:02d}", "stakeholder")
        secrets_["hammer"] = add_client(home / "clients.json", "hammer", "modeler")
        baseline = _baseline(project)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(project), str(home), str(port), str(RATE),
             str(BURST)], env=env,
        )  # fmt: skip
        url = f"https://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    ctx = ssl.create_default_context(cafile=str(home / "keys" / "tls-cert.pem"))
                    with httpx.Client(base_url=url, verify=ctx) as http:
                        if http.get("/healthz").status_code == 200:
                            break
                except (httpx.HTTPError, ssl.SSLError, FileNotFoundError):
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start")
                time.sleep(0.5)

            def token(cid):
                with httpx.Client(base_url=url, verify=ctx) as http:
                    r = http.post("/oauth/token", data={"grant_type": "client_credentials",
                                  "client_id": cid, "client_secret": secrets_[cid]})  # fmt: skip
                    r.raise_for_status()
                    return r.json()["access_token"]

            tokens = {cid: token(cid) for cid in secrets_}
            readers = [tokens[f"c{i:02d}"] for i in range(args.clients)]
            stakeholders = [tokens[f"s{i:02d}"] for i in range(args.clients)]
            job_body = {"scenario": "bench", "model": "twin_test", "n_patients": 40,
                        "arms": {"Placebo": {"dose": 0}, "T100": {"dose": 100}},
                        "regimen": {"interval_h": 24, "n_doses": 7, "route": "oral"},
                        "times": {"start": 0, "stop": 168, "step": 4}, "seed": 7}  # fmt: skip
            with httpx.Client(base_url=url, verify=ctx, timeout=60) as http:
                job = http.post(
                    "/v1/jobs",
                    json=job_body,
                    headers={"Authorization": f"Bearer {tokens['hammer']}"},
                ).json()
            job_t0 = time.perf_counter()
            phases = {}
            plan = [
                ("/healthz", None, readers),  # token-less ones share one address bucket
                ("/v1/models", None, readers),
                ("/v1/results/demo/patients", {"limit": 100}, readers),
                ("/v1/results/demo/summary", None, stakeholders),
            ]
            for path, params, toks in plan:
                phases[path] = asyncio.run(_load(url, ctx, toks, path, params, duration))
                print(path, json.dumps(phases[path]), flush=True)
            hammer = asyncio.run(
                _load(url, ctx, [tokens["hammer"]] * args.hammer, "/v1/models", None, duration)
            )
            accepted = hammer["status"].get("200", 0)
            bound = BURST + RATE * hammer["elapsed_s"] + 1
            with httpx.Client(base_url=url, verify=ctx, timeout=60) as http:
                auth = {"Authorization": f"Bearer {token('hammer')}"}
                state = {}
                while time.perf_counter() - job_t0 < 600:
                    state = http.get(f"/v1/jobs/{job['id']}", headers=auth).json()
                    if state.get("state") not in ("queued", "running"):
                        break
                    time.sleep(0.5)
            job_s = time.perf_counter() - job_t0
        finally:
            server.terminate()
            server.wait(timeout=60)
        audit_lines = sum(1 for _ in open(tmp / "audit.jsonl"))
    record = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_1min_start": load_start, "load_1min_end": os.getloadavg()[0]},
        "protocol": {"clients": args.clients, "duration_s": duration, "hammer": args.hammer,
                     "rate_per_s": RATE, "burst": BURST, "tls": True, "audit": "signed, fsync"},
        "throughput": phases,
        "baseline_in_process_ms": baseline,
        "rate_limiter": {**hammer, "accepted": accepted, "bound": bound,
                         "holds": accepted <= bound},
        "job": {"state": state.get("state"), "seconds_to_done": job_s,
                "result": state.get("result")},
        "audit_entries": audit_lines,
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "api_load.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# Results service under load (`benchmarks/api_load.py`)",
        "",
        f"{args.clients} concurrent clients, {duration:g} s per endpoint, HTTPS on loopback, "
        f"every request audited (signed, fsync); {os.cpu_count()} CPUs, load "
        f"{load_start:.1f} at start, {record['machine']['load_1min_end']:.1f} at end.",
        "",
        "| endpoint | req/s | p50 ms | p99 ms | statuses | in-process call, ms |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for path, p in phases.items():
        base = baseline.get(path)
        lines.append(
            f"| `{path}` | {p['req_per_s']:.0f} | {p['p50_ms']:.1f} | {p['p99_ms']:.1f} | "
            f"{p['status']} | {'' if base is None else f'{base:.2f}'} |"
        )
    rl = record["rate_limiter"]
    lines += [
        "",
        f"Rate limiter (one client, {args.hammer} connections, bucket {RATE:g}/s, burst "
        f"{BURST:g}): {rl['accepted']} accepted in {rl['elapsed_s']:.1f} s (bound "
        f"{rl['bound']:.0f}: {'holds' if rl['holds'] else 'EXCEEDED'}), statuses {rl['status']}.",
        "",
        f"Job submitted at the start of the load: {record['job']['state']} after {job_s:.1f} s.",
    ]
    (args.out / "api_load.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
