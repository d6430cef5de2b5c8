"""Where the results service reads and writes, whom it trusts, and its limits."""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_CLIENTS_FILE", "DEFAULT_KEY_DIR", "ApiSettings", "check_public_url"]

#: registered API clients (hashed secrets), outside any repository
DEFAULT_CLIENTS_FILE = Path("~/.config/twinlab/api_clients.json")
#: the embedded token issuer's signing keys (one PEM per key id) and the TLS certificate
DEFAULT_KEY_DIR = Path("~/.config/twinlab/keys/api")


def check_public_url(url: str) -> str:
    """``url`` as the service's public base URL (no trailing ``/``).

    Raises
    ------
    ValueError
        Unless it is ``http(s)://host[:port][/path]``, without user, query or fragment.

    Examples
    --------
    >>> check_public_url("https://twins.example.org:8443/")
    'https://twins.example.org:8443'
    """
    parts = urllib.parse.urlsplit(url.strip())
    try:
        parts.port  # noqa: B018  (a bad port raises)
    except ValueError:
        parts = parts._replace(netloc="")
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            f"public URL {url!r} must be http(s)://host[:port][/path] (how clients reach the "
            "service), without user, query or fragment"
        )
    return parts.geturl().rstrip("/")


@dataclass(frozen=True)
class ApiSettings:
    """Settings of one ``twinlab api`` instance.

    Attributes
    ----------
    project : Path
        The project folder (``params.yaml``'s ``simulate`` section is the base of a job).
    results : Path
        The folder of simulation results (one folder per run, as the ``simulate`` stage
        writes them); jobs write under ``results/api``.
    models : Path
        The model registry root.
    raw_zone : Path
        The encrypted raw zone (pseudonym -> EDC subject key mapping).
    timeline_dir : Path
        The harmonized (de-identified) cohort, for baseline data of prognostic scores.
    issuer, audience : str
        ``iss`` and ``aud`` every token must carry.
    public_url : str or None
        How clients reach the service (``https://host[:port]``): OpenID discovery names the
        token endpoint and the JWKS under it, never under a request's ``Host`` header (which
        a client chooses). ``None``: no discovery (``twinlab api serve`` always sets one).
    jwks_url : str or None
        An external identity provider's JWKS (Keycloak, Entra ID); ``None``: the embedded
        token endpoint's own keys.
    jwks_cooldown_s : float
        Least time between two fetches of the external JWKS for an unknown ``kid`` (a
        rotation is seen after at most this; random key ids cannot make the service
        hammer the provider).
    role_claim : str
        The claim naming a token's role (:data:`twinlab.security.access.ROLES`).
    clients_file, key_dir : Path
        Registered clients and the embedded issuer's keys.
    token_ttl_s : int
        Lifetime of an issued token.
    rate_per_s, burst : float
        Each client's token bucket: refill rate and size; also each peer address's, for
        the requests without a valid token (:mod:`twinlab.api.throttle`).
    throttle_audit_window_s : float
        Of one client's or address's throttled (``429``) answers, the first in each such
        window is audited in full, the others counted.
    max_body_bytes : int
        Largest request body.
    timeout_s : float
        Longest a request may take before ``504``. A sync handler past it cannot be
        stopped in its thread: it runs to its end, holding its thread (see ``max_threads``).
    head_timeout_s : float
        Longest wait for a request's line and headers, from the connection or its previous
        answer: a connection that sends none in time is closed (:mod:`twinlab.api.connections`).
    max_connections_per_address : int or None
        Connections one peer address may hold at once (trusted proxies excepted; ``None``:
        no cap), so no one address takes every connection of the server.
    max_threads : int
        Worker threads of the sync handlers at most; requests wait for one (and are
        answered ``504`` if none frees in time). Jobs run apart, in the job manager's
        thread and on the Dask cluster.
    max_jobs : int
        Jobs queued or running at most; more are answered ``503``.
    max_jobs_per_client : int
        Jobs one client may have queued or running; more are answered ``429`` (one client
        cannot fill the queue for everyone).
    min_cell : int
        Smallest group of real patients an aggregate-only client may see.
    dask_address : str or None
        The Dask scheduler of jobs (default: a local TLS cluster, :mod:`twinlab.cluster`).
    dask_workers : int
        Worker processes of that local cluster.
    """

    project: Path = Path(".")
    results: Path = Path("results")
    models: Path = Path("models")
    raw_zone: Path = Path("data/raw_zone")
    timeline_dir: Path = Path("data/harmonized/demo")
    issuer: str = "twinlab"
    audience: str = "twinlab-api"
    public_url: str | None = None
    jwks_url: str | None = None
    jwks_cooldown_s: float = 30.0
    role_claim: str = "twinlab_role"
    clients_file: Path = field(default_factory=lambda: DEFAULT_CLIENTS_FILE.expanduser())
    key_dir: Path = field(default_factory=lambda: DEFAULT_KEY_DIR.expanduser())
    token_ttl_s: int = 900
    rate_per_s: float = 20.0
    burst: float = 40.0
    throttle_audit_window_s: float = 60.0
    max_body_bytes: int = 1 << 20
    timeout_s: float = 60.0
    head_timeout_s: float = 10.0
    max_connections_per_address: int | None = 64
    max_threads: int = 40
    max_jobs: int = 8
    max_jobs_per_client: int = 2
    min_cell: int = 5
    dask_address: str | None = None
    dask_workers: int = 2

    def __post_init__(self) -> None:
        """Check (and normalize) ``public_url``."""
        if self.public_url is not None:
            object.__setattr__(self, "public_url", check_public_url(self.public_url))

    @property
    def jobs_dir(self) -> Path:
        """Where jobs keep their state (SQLite) and results."""
        return self.results / "api"

    def with_(self, **changes: Any) -> ApiSettings:
        """A copy with ``changes``."""
        return replace(self, **changes)

    @classmethod
    def for_project(cls, project: str | os.PathLike[str], **changes: Any) -> ApiSettings:
        """Settings of a project folder: its ``results``, ``models`` and data folders."""
        root = Path(project).resolve()
        base = {
            "project": root,
            "results": root / "results",
            "models": root / "models",
            "raw_zone": root / "data" / "raw_zone",
            "timeline_dir": root / "data" / "harmonized" / "demo",
        }
        return cls(**{**base, **changes})
