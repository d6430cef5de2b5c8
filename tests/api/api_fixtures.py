"""The API's test project (the apps' registered twin and harmonized cohort, a small
simulation run over them), a real uvicorn server on loopback with TLS, and token helpers."""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apps"))

from apps_fixtures import write_project

from twinlab.api import ApiSettings, create_app
from twinlab.api.clients import load_clients, registration
from twinlab.api.jobs import JobManager
from twinlab.api.keys import signing_key, tls_files
from twinlab.api.tokens import REGISTRATION_CLAIM

#: client id -> (role, scopes asked at registration; None: all its role may)
CLIENTS: dict[str, tuple[str, list[str] | None]] = {
    "modeler-app": ("modeler", None),
    "narrow-app": ("modeler", ["read_aggregate"]),
    "stakeholder-app": ("stakeholder", None),
    "reviewer-app": ("reviewer", None),
}
#: fields that identify or describe one patient: never in a stakeholder's answer
PATIENT_FIELDS = frozenset(
    {"source", "vpid", "subject", "posterior_draw", "WT", "CRCL", "CYP2C9", "AGE", "SEX",
     "patient_id"}
)  # fmt: skip


def keys_of(obj: Any) -> Iterator[str]:
    """Every mapping key in a JSON document, at any depth."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from keys_of(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from keys_of(v)


def write_api_project(root: Path) -> Path:
    """The apps' project plus a small simulation run ``results/demo`` of its twin."""
    from twinlab.api.jobs import scenario_from_params
    from twinlab.simulate import run

    write_project(root)
    section = {
        "timeline_dir": "data/harmonized/demo",
        "pd_spec": "specs/pd_assumed.yaml",
        "model": "twin_test",
        "n_patients": 60,
        "n_draws": 2,
        "chunk_size": 60,
        "times": {"start": 0, "stop": 168, "step": 12},
        "regimen": {"interval_h": 24, "n_doses": 7, "route": "oral"},
        "arms": {"Placebo": {"dose": 0}, "T100": {"dose": 100}},
        "out": "results/demo",
    }
    scenario = scenario_from_params(section, seed=5, root=root)
    result = run(scenario, out=root / "results" / "demo")
    lineage = result.patients[["vpid", "source"]].drop_duplicates("vpid")
    lineage.to_parquet(root / "results" / "demo" / "lineage.parquet", index=False)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """A running server: its base URL, settings, TLS CA file and a client factory."""

    def __init__(self, url: str, settings: ApiSettings, ca: Path, clients: dict) -> None:
        self.url, self.settings, self.ca, self.secrets = url, settings, ca, clients

    def http(self, **kwargs: Any) -> httpx.Client:
        """An HTTPS client that trusts the server's certificate (and nothing else)."""
        context = ssl.create_default_context(cafile=str(self.ca))
        return httpx.Client(base_url=self.url, verify=context, timeout=60, **kwargs)

    def token(self, client: str, scope: str | None = None) -> str:
        """A token of the client-credentials grant."""
        form = {"grant_type": "client_credentials", "client_id": client,
                "client_secret": self.secrets[client]}  # fmt: skip
        if scope is not None:
            form["scope"] = scope
        with self.http() as http:
            r = http.post("/oauth/token", data=form)
        r.raise_for_status()
        return r.json()["access_token"]

    def forge(self, key: Any = None, kid: str | None = None, **claims: Any) -> str:
        """A token with the given claims over valid defaults, signed by the issuer's key
        (or ``key`` / ``kid``), for a registered client (``sub``) as it is registered now."""
        real_kid, real_key = signing_key(self.settings.key_dir)
        now = int(time.time())
        sub = claims.get("sub", "modeler-app")
        entry = load_clients(self.settings.clients_file).get(sub)
        body = {"iss": self.settings.issuer, "aud": self.settings.audience, "sub": sub,
                "iat": now, "nbf": now, "exp": now + 300, "scope": "read_aggregate",
                "twinlab_role": "modeler",
                REGISTRATION_CLAIM: registration(entry) if entry else None}  # fmt: skip
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or real_key, algorithm="ES256",
                          headers={"kid": kid or real_kid})  # fmt: skip


@contextmanager
def serving(
    settings: ApiSettings, clients: dict[str, str], jobs: Any = None, **options: Any
) -> Iterator[Served]:
    """A real uvicorn server (HTTPS, loopback) in a thread for the block, with the connection
    options ``twinlab.api.server.serve`` sets; ``options`` go to :class:`uvicorn.Config`
    (such as the proxy options ``serve`` sets)."""
    from twinlab.api.server import connection_options

    cert, key = tls_files(settings.key_dir)
    port = free_port()
    proxies = (
        tuple(str(options.get("forwarded_allow_ips") or "").split(","))
        if options.get("proxy_headers")
        else ()
    )
    config = uvicorn.Config(
        create_app(settings, jobs=jobs),
        host="127.0.0.1",
        port=port,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        log_level="warning",
        **{**connection_options(settings, 200, tuple(p for p in proxies if p)), **options},
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    try:
        yield Served(f"https://127.0.0.1:{port}", settings, cert, clients)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def make_jobs(settings: ApiSettings) -> JobManager:
    """Jobs on a real local Dask cluster (TLS, loopback) with one worker process."""
    from twinlab.cluster import dask_client

    return JobManager(settings, client_factory=lambda: dask_client(n_workers=1))
