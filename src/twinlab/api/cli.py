"""``twinlab api``: serve the results service; ``add-client``, ``remove-client``, ``rotate-key``.

``twinlab api`` alone serves with the defaults (HTTPS on 127.0.0.1:8443, the project in the
current folder); ``twinlab api serve --help`` lists the options.
"""

from __future__ import annotations

from pathlib import Path

import click

from twinlab.api.settings import DEFAULT_CLIENTS_FILE, DEFAULT_KEY_DIR, ApiSettings
from twinlab.security.access import ACTIONS, ROLES

__all__ = ["api"]


@click.group(invoke_without_command=True)
@click.pass_context
def api(ctx: click.Context) -> None:
    """The results service: an authenticated, rate-limited HTTP API (OpenAPI at /openapi.json)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve_command)


_clients_option = click.option(
    "--clients",
    "clients_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=str(DEFAULT_CLIENTS_FILE),
    show_default=True,
    help="Registered clients (hashed secrets; mode 0600).",
)
_keys_option = click.option(
    "--key-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=str(DEFAULT_KEY_DIR),
    show_default=True,
    help="Signing keys of the embedded token issuer and the self-signed TLS certificate.",
)


@api.command("serve")
@click.option(
    "--project",
    type=click.Path(exists=True, file_okay=False, path_type=Path),  # a typo serves nothing
    default=".",
    show_default=True,
    help="Project folder (results/, models/, params.yaml).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8443, show_default=True)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="HTTPS certificate (PEM; default: a self-signed one in --key-dir).",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Private key of --tls-cert.",
)
@click.option(
    "--insecure-http",
    is_flag=True,
    help="Plain HTTP (loopback only; e.g. behind a local TLS proxy).",
)
@click.option("--issuer", default="twinlab", show_default=True, help="Expected token 'iss'.")
@click.option("--audience", default="twinlab-api", show_default=True, help="Expected token 'aud'.")
@click.option(
    "--jwks-url",
    default=None,
    help="An external identity provider's JWKS URL (then --issuer is its issuer).",
)
@click.option(
    "--role-claim", default="twinlab_role", show_default=True, help="Token claim holding the role."
)
@_clients_option
@_keys_option
@click.option(
    "--rate",
    type=click.FloatRange(min=0.01),
    default=20.0,
    show_default=True,
    help="Requests per second per client (token bucket refill).",
)
@click.option(
    "--burst",
    type=click.FloatRange(min=1),
    default=40.0,
    show_default=True,
    help="Token bucket size per client.",
)
@click.option(
    "--max-jobs",
    type=click.IntRange(1),
    default=8,
    show_default=True,
    help="Jobs queued or running at most (more: 503).",
)
@click.option(
    "--max-jobs-per-client",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="Jobs one client may have queued or running (more: 429).",
)
@click.option(
    "--min-cell",
    type=click.IntRange(2),
    default=5,
    show_default=True,
    help="Smallest group of real patients shown to aggregate-only clients.",
)
@click.option("--dask-address", default=None, help="Dask scheduler (default: a local cluster).")
@click.option(
    "--public-url",
    default=None,
    metavar="URL",
    help="How clients reach the service, e.g. https://twins.example.org (default: "
    "https://HOST:PORT, this machine's name for a wildcard HOST); OpenID discovery names "
    "its endpoints under it, never under a request's Host header.",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="ADDRESS",
    help="A reverse proxy (IP or CIDR) whose X-Forwarded-For gives the client's address "
    "(repeatable; default: none, the TCP peer is the client).",
)
def serve_command(
    project: Path = Path("."),
    host: str = "127.0.0.1",
    port: int = 8443,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    insecure_http: bool = False,
    issuer: str = "twinlab",
    audience: str = "twinlab-api",
    jwks_url: str | None = None,
    role_claim: str = "twinlab_role",
    clients_file: Path = DEFAULT_CLIENTS_FILE,
    key_dir: Path = DEFAULT_KEY_DIR,
    rate: float = 20.0,
    burst: float = 40.0,
    max_jobs: int = 8,
    max_jobs_per_client: int = 2,
    min_cell: int = 5,
    dask_address: str | None = None,
    public_url: str | None = None,
    trusted_proxies: tuple[str, ...] = (),
) -> None:
    """Serve the API (HTTPS by default; every request audited)."""
    from twinlab.api.server import serve

    try:
        settings = ApiSettings.for_project(
            project,
            issuer=issuer,
            audience=audience,
            public_url=public_url,
            jwks_url=jwks_url,
            role_claim=role_claim,
            clients_file=Path(clients_file).expanduser(),
            key_dir=Path(key_dir).expanduser(),
            rate_per_s=rate,
            burst=burst,
            max_jobs=max_jobs,
            max_jobs_per_client=max_jobs_per_client,
            min_cell=min_cell,
            dask_address=dask_address,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    scheme = "http" if insecure_http else "https"
    click.echo(f"twinlab api on {scheme}://{host}:{port} (OpenAPI: /openapi.json)", err=True)
    try:
        serve(
            settings,
            host=host,
            port=port,
            tls_cert=tls_cert,
            tls_key=tls_key,
            insecure_http=insecure_http,
            trusted_proxies=trusted_proxies,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


@api.command("add-client")
@click.argument("client_id")
@click.option("--role", type=click.Choice(ROLES), required=True, help="The client's role.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(ACTIONS),
    help="Actions it may ask for (repeat; default: all its role may).",
)
@_clients_option
def add_client_command(
    client_id: str, role: str, scopes: tuple[str, ...], clients_file: Path
) -> None:
    """Register CLIENT_ID (or give it a new secret); prints the secret once."""
    from twinlab.api.clients import add_client
    from twinlab.audit import audit_event

    try:
        secret = add_client(clients_file, client_id, role, list(scopes) or None)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    audit_event("api.add_client", client_id, params={"role": role, "scopes": list(scopes)})
    click.echo(f"client_id={client_id}")
    click.echo(f"client_secret={secret}")
    click.echo("(the secret is shown once; only its Argon2id hash is stored)", err=True)


@api.command("remove-client")
@click.argument("client_id")
@_clients_option
def remove_client_command(client_id: str, clients_file: Path) -> None:
    """Unregister CLIENT_ID: no new tokens, and the ones it holds stop working at once."""
    from twinlab.api.clients import remove_client
    from twinlab.audit import audit_event

    try:
        removed = remove_client(clients_file, client_id)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if not removed:
        raise click.UsageError(f"no client {client_id!r} in {clients_file}")
    audit_event("api.remove_client", client_id)
    click.echo(f"removed {client_id}; its tokens are refused from now on")


@api.command("rotate-key")
@_keys_option
@click.option(
    "--keep",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="Keys kept published (the new one and the previous: tokens it signed "
    "stay valid until they expire).",
)
def rotate_key_command(key_dir: Path, keep: int) -> None:
    """Start signing tokens with a new key; retire the oldest beyond --keep."""
    from twinlab.api.keys import retire, rotate

    kid = rotate(Path(key_dir).expanduser())
    gone = retire(Path(key_dir).expanduser(), keep=keep)
    click.echo(f"signing with {kid}" + (f"; retired {', '.join(gone)}" if gone else ""))
