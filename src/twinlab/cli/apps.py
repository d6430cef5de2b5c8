"""``twinlab serve``: the dashboards with ``panel serve``, behind a login and page roles.

A thin wrapper of :func:`twinlab.apps.serving.serve_command` (the command line and the
environment the server gets) and :func:`twinlab.apps.auth.add_user`.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from twinlab.apps import auth
from twinlab.apps.auth import PAGES
from twinlab.apps.connections import HEAD_TIMEOUT_S, PER_ADDRESS
from twinlab.apps.serving import COOKIE_SECRET_ENV, serve_command
from twinlab.security.access import ROLES

__all__ = ["serve"]


@click.command("serve")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Project root (default: $TWINLAB_ROOT or found from the working directory).",
)
@click.option("--port", type=int, default=5006, show_default=True)
@click.option(
    "--address",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (loopback by default; elsewhere HTTPS: --tls-cert/--tls-key).",
)
@click.option(
    "--auth",
    "credentials",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Credentials file (default: $TWINLAB_CREDENTIALS, else ~/.config/twinlab/users.json).",
)
@click.option(
    "--page",
    "pages",
    multiple=True,
    type=click.Choice(list(PAGES)),
    help="Pages to serve (default: all).",
)
@click.option(
    "--cookie-secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"File holding the cookie secret, >= 32 bytes (else ${COOKIE_SECRET_ENV}, else random).",
)
@click.option(
    "--oauth-provider",
    default=None,
    help="Log in through this OAuth provider instead of passwords.",
)
@click.option("--oauth-redirect-uri", default=None, help="OAuth redirect URI.")
@click.option("--allow-websocket-origin", multiple=True, help="Extra allowed origins.")
@click.option(
    "--min-cell",
    type=int,
    default=5,
    show_default=True,
    help="Smallest count shown to stakeholders (smaller cells suppressed).",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Serve HTTPS with this certificate (PEM; with --tls-key). Cookies are then Secure.",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Private key of --tls-cert (PEM).",
)
@click.option(
    "--insecure-http",
    is_flag=True,
    help="Allow plain HTTP off loopback (only behind a TLS-terminating proxy). Cookies are "
    "then Secure only for requests whose X-Forwarded-Proto is https from a --trusted-proxy "
    "(name the proxy, and make it set that header, or cookies travel without Secure).",
)
@click.option(
    "--head-timeout",
    type=click.FloatRange(min=0, min_open=True, max=3600),
    default=HEAD_TIMEOUT_S,
    show_default=True,
    help="Seconds a connection may take to send its request head (then it is closed).",
)
@click.option(
    "--max-connections-per-address",
    type=click.IntRange(min=0),
    default=PER_ADDRESS,
    show_default=True,
    help="Open connections one client address may hold (0: no cap).",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="ADDRESS",
    help="A reverse proxy (IP or CIDR) exempt from --max-connections-per-address, whose "
    "X-Forwarded-For (client address of the login throttle) and X-Forwarded-Proto (Secure "
    "cookies, HSTS) are believed; from anyone else they are ignored (repeatable).",
)
@click.option(
    "--add-user",
    metavar="NAME",
    default=None,
    help="Add (or replace) user NAME in the credentials file and exit.",
)
@click.option("--role", type=click.Choice(list(ROLES)), default=None, help="Role of --add-user.")
@click.option("--no-password", is_flag=True, help="With --add-user: an OAuth-only user.")
@click.option("--dry-run", is_flag=True, help="Print the panel serve command and exit.")
def serve(
    root: Path | None,
    port: int,
    address: str,
    credentials: Path | None,
    pages: tuple[str, ...],
    cookie_secret_file: Path | None,
    oauth_provider: str | None,
    oauth_redirect_uri: str | None,
    allow_websocket_origin: tuple[str, ...],
    min_cell: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    insecure_http: bool,
    head_timeout: float,
    max_connections_per_address: int,
    trusted_proxies: tuple[str, ...],
    add_user: str | None,
    role: str | None,
    no_password: bool,
    dry_run: bool,
) -> None:
    """Serve the what-if explorer, cohort dashboard and reviewer view (panel serve)."""
    if add_user is not None:
        if role is None:
            raise click.UsageError("--add-user needs --role")
        password = None
        if not no_password:
            password = click.prompt(
                f"password for {add_user}", hide_input=True, confirmation_prompt=True
            )
        try:
            file = auth.add_user(credentials, add_user, role, password)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        click.echo(f"user {add_user!r} ({role}) saved in {file}")
        return
    from twinlab.config import project_root

    try:
        argv, env = serve_command(
            root=root or project_root(),
            port=port,
            address=address,
            credentials=credentials,
            pages=pages or tuple(PAGES),
            cookie_secret_file=cookie_secret_file,
            oauth_provider=oauth_provider,
            oauth_redirect_uri=oauth_redirect_uri,
            allow_websocket_origin=allow_websocket_origin,
            min_cell=min_cell,
            tls_cert=tls_cert,
            tls_key=tls_key,
            insecure_http=insecure_http,
            head_timeout_s=head_timeout,
            max_connections_per_address=max_connections_per_address,
            trusted_proxies=trusted_proxies,
        )
    except (ValueError, OSError) as exc:
        raise click.UsageError(str(exc)) from None
    if dry_run:
        click.echo(" ".join(argv))
        return
    scheme = "https" if tls_cert else "http"
    click.echo(f"serving on {scheme}://{address}:{port}/ (pages: {', '.join(pages or PAGES)})")
    os.execve(argv[0], argv, env)  # panel serve takes over this process (and its signals)
