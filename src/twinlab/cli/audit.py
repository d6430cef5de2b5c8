"""``twinlab audit verify | show | checkpoint | keygen``: the hash-chained audit log.

Thin wrappers of :mod:`twinlab.audit`; errors follow the root group's policy
(:mod:`twinlab.cli.errors`): a log that does not verify exits 1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from twinlab.audit.keys import generate_keypair, load_signer
from twinlab.audit.log import ANCHOR_ENV, AuditLog
from twinlab.audit.verify import verify

__all__ = ["audit"]


@click.group("audit")
def audit() -> None:
    """Inspect, verify and sign the hash-chained audit log."""


@audit.command("verify")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Ed25519 public key (PEM) to check checkpoint signatures with.",
)
@click.option("--expect-count", type=int, help="Entry count recorded elsewhere (detects cuts).")
@click.option("--expect-head", help="Head hash recorded elsewhere (detects cuts and rewrites).")
@click.option(
    "--anchor",
    type=click.Path(dir_okay=False, path_type=Path),
    default=lambda: os.environ.get(ANCHOR_ENV) or None,
    help="Head anchor file kept outside the log (default: $TWINLAB_AUDIT_ANCHOR); "
    "detects entries cut from the end.",
)
@click.option(
    "--chain-only",
    is_flag=True,
    help="Check only the hash chain, not that the head is signed (an edited and "
    "re-chained log passes).",
)
@click.option("--require-signed", is_flag=True, hidden=True, help="The default; kept for scripts.")
def verify_cmd(
    path: Path,
    public_key: Path | None,
    expect_count: int | None,
    expect_head: str | None,
    anchor: Path | None,
    chain_only: bool,
    require_signed: bool,
) -> None:
    """Check the hash chain, sequence and checkpoint signatures of an audit log.

    The head of the log must be a checkpoint signed by the audit key (checked
    with --public-key, $TWINLAB_AUDIT_PUBLIC_KEY_FILE or the configured signing
    key). Exits with status 0 when the log is intact and 1 otherwise, printing
    the first bad entry (line number, seq and reason).
    """
    result = verify(
        path,
        public_key=public_key,
        expected_count=expect_count,
        expected_head=expect_head,
        anchor=anchor,
        require_signed=require_signed or not chain_only,
    )
    click.echo(str(result))
    for note in result.notes:
        click.echo(f"note: {note}")
    if not result.ok:
        if result.bad_line is not None:
            click.echo(f"bad entry: {result.bad_line}")
        sys.exit(1)


@audit.command("show")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tail", "-n", type=int, help="Show only the last N entries.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON lines.")
def show(path: Path, tail: int | None, as_json: bool) -> None:
    """Print the entries of an audit log (unverified; use 'verify' for that)."""
    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    for line in lines:
        if as_json:
            click.echo(line)
            continue
        try:
            e = json.loads(line)
            text = f"{e['seq']:>6} {e['ts']} {e['actor']} {e['action']} {e['target']}"
        except (ValueError, KeyError, TypeError):
            click.echo(f"     ? <unreadable line> {line[:200]}")
            continue
        if e.get("params"):
            text += " " + json.dumps(e["params"], sort_keys=True)
        if e.get("old") is not None or e.get("new") is not None:
            text += f" {json.dumps(e.get('old'))} -> {json.dumps(e.get('new'))}"
        if e.get("reason"):
            text += f" reason: {e['reason']}"
        click.echo(text)


@audit.command("checkpoint")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ed25519 private key (PEM); default: $TWINLAB_AUDIT_KEY or $TWINLAB_AUDIT_KEY_FILE.",
)
def checkpoint(path: Path, key_file: Path | None) -> None:
    """Append a signed checkpoint (entry count and head hash) to an audit log."""
    anchor = os.environ.get(ANCHOR_ENV) or None
    entry = AuditLog(path, anchor=anchor).checkpoint(signer=load_signer(key_file=key_file))
    click.echo(f"checkpoint at seq {entry['seq']}: count {entry['params']['count']}, "
               f"head {entry['params']['head']}")  # fmt: skip


@audit.command("keygen")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder outside the repository for audit_ed25519.pem and audit_ed25519.pub.pem.",
)
def keygen(out: Path) -> None:
    """Write a new Ed25519 keypair for signing audit checkpoints.

    The private key file gets mode 0600 and must stay outside the repository
    (point $TWINLAB_AUDIT_KEY_FILE at it); share the public key with reviewers.
    """
    private, public = generate_keypair(out)
    click.echo(f"private key: {private} (keep secret; export TWINLAB_AUDIT_KEY_FILE={private})")
    click.echo(f"public key:  {public}")
