"""``twinlab keys``: create, export, import and rotate this workstation's secret keys.

Thin wrappers of :mod:`twinlab.security.keyfiles`, :mod:`twinlab.security.bundle` and
:mod:`twinlab.security.rotation`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = ["keys", "keys_export", "keys_import", "keys_init", "keys_rotate"]

_PASSPHRASE_FILE = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read the passphrase from this private file (first line) instead of asking; "
    "or set TWINLAB_BUNDLE_PASSPHRASE. Never pass it as an argument.",
)


def _dir_option(help_text: str) -> Callable[[Any], Any]:
    return click.option(
        "--dir",
        "folder",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=help_text,
    )


def _passphrase(file: Path | None, *, confirm: bool) -> str:
    from twinlab.security.bundle import passphrase_from

    given = passphrase_from(file)
    if given is not None:
        return given
    return click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm, err=True)


def _short(name: str) -> str:
    return name.removesuffix(".key")


@click.group()
def keys() -> None:
    """Manage this workstation's secret keys (kept outside the repository)."""


@keys.command("init")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Key folder (default ~/.config/twinlab/keys).",
)
def keys_init(folder: Path | None) -> None:
    """Create the de-identification and master keys if missing; print how to use them."""
    from twinlab.security.keyfiles import init_local_keys

    for env, file in init_local_keys(folder).items():
        click.echo(f"export {env}={file}")


@keys.command("export")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The bundle file to write (outside any git work tree; mode 0600).",
)
@click.option(
    "--include-master",
    is_flag=True,
    help="Also export the master key (only for a reviewer who must read the raw zone).",
)
@_dir_option("Read the keys from this folder instead of TWINLAB_*_KEY(_FILE).")
@_PASSPHRASE_FILE
@click.option("--force", is_flag=True, help="Replace an existing bundle file.")
def keys_export(
    out: Path, include_master: bool, folder: Path | None, passphrase_file: Path | None, force: bool
) -> None:
    """Write the study's de-identification key (and master key) to a passphrase-encrypted
    bundle for a reviewer; send the passphrase by another channel."""
    from twinlab.audit import audit_event
    from twinlab.security.bundle import check_passphrase, export_bundle

    passphrase = check_passphrase(_passphrase(passphrase_file, confirm=True))
    prints = export_bundle(
        out, passphrase, include_master=include_master, folder=folder, overwrite=force
    )
    audit_event(
        "keys.export", out, params={"fingerprints": {_short(k): v for k, v in prints.items()}}
    )
    click.echo(f"wrote {out} (mode 0600) holding:")
    for name, fingerprint in prints.items():
        click.echo(f"  {name}  fingerprint {fingerprint}")
    click.echo("the reviewer runs: twinlab keys import " + out.name)


@keys.command("import")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@_dir_option("Key folder to write (default ~/.config/twinlab/keys).")
@_PASSPHRASE_FILE
@click.option(
    "--force",
    is_flag=True,
    help="Replace existing keys that differ (the old ones are kept beside them).",
)
def keys_import(
    bundle: Path, folder: Path | None, passphrase_file: Path | None, force: bool
) -> None:
    """Write the keys of a bundle from 'twinlab keys export' into this workstation's key
    folder; print the variables to export."""
    from twinlab.audit import audit_event
    from twinlab.security.bundle import import_bundle

    result = import_bundle(
        bundle, _passphrase(passphrase_file, confirm=False), folder=folder, force=force
    )
    audit_event(
        "keys.import",
        bundle,
        params={
            "fingerprints": {_short(k): v for k, v in result.fingerprints.items()},
            "status": {_short(k): v for k, v in result.status.items()},
        },
    )
    for name, path in result.files.items():
        click.echo(
            f"{name}: {result.status[name]} {path} (fingerprint {result.fingerprints[name]})",
            err=True,
        )
        if name in result.backups:
            click.echo(f"  the previous key is kept in {result.backups[name]}", err=True)
    for env, path in result.environment().items():
        click.echo(f"export {env}={path}")


@keys.command("rotate")
@click.argument(
    "folders",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--reencrypt",
    is_flag=True,
    help="Re-encrypt every file under a fresh data key (after a suspected key leak) instead "
    "of re-wrapping the data keys (routine rotation).",
)
@click.option("--to", "to", default=None, help="Rotate to this existing key id, not a new key.")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Master key file to update (default: $TWINLAB_MASTER_KEY_FILE, else the key folder's).",
)
@click.option(
    "--retire-old",
    is_flag=True,
    help="Afterwards drop the other keys from the key file (only if FOLDERS hold everything "
    "they encrypted).",
)
def keys_rotate(
    folders: tuple[Path, ...],
    reencrypt: bool,
    to: str | None,
    key_file: Path | None,
    retire_old: bool,
) -> None:
    """Rotate the master key of every encrypted file in FOLDERS (e.g. data/raw_zone/demo).

    By default a new master key is added to the key file and each file's data key is
    re-wrapped under it (fast). With --reencrypt every file is decrypted and encrypted
    again under a fresh data key, so a leaked old master key plus an old copy of a file
    no longer opens the current file. Old copies themselves (backups, DVC cache) stay
    readable with the old key: delete them after a leak.
    """
    import os

    from twinlab.audit import audit_event
    from twinlab.security.crypto import KEY_ID_ENV
    from twinlab.security.rotation import rotate_master_key

    report = rotate_master_key(
        folders, reencrypt_files=reencrypt, to=to, key_file=key_file, retire=retire_old
    )
    audit_event(
        "keys.rotate",
        ",".join(str(f) for f in folders),
        params={
            "mode": report.mode,
            "new_key_id": report.new_key_id,
            "n_files": len(report.files),
            "before": report.before,
            "retired": report.retired,
        },
    )
    verb = "re-encrypted" if reencrypt else "re-wrapped"
    was = ", ".join(f"{k} x{n}" for k, n in sorted(report.before.items())) or "no files"
    click.echo(
        f"{verb} {len(report.files)} file(s) under master key {report.new_key_id} (was: {was})"
    )
    if report.key_file is not None:
        added = "added and made current" if report.added else "current"
        click.echo(f"key file {report.key_file}: {report.new_key_id} {added}")
    if report.retired:
        click.echo(f"retired: {', '.join(report.retired)}")
    pinned = os.environ.get(KEY_ID_ENV)
    if pinned and pinned != report.new_key_id:
        click.echo(
            f"warning: ${KEY_ID_ENV}={pinned} still selects the old key for new files; "
            f"set it to {report.new_key_id} or unset it",
            err=True,
        )
