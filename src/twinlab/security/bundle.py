"""Key bundles: a study's secret keys, encrypted with a passphrase, to hand to a reviewer.

A reviewer on another workstation needs the study's de-identification key to reproduce
the harmonized outputs (pseudonyms and date shifts are keyed), and the master key only to
read the study's encrypted raw zone (lineage back to identified sources). Neither may go
into the repository. ``twinlab keys export`` writes them to a *bundle* file encrypted with a
passphrase; the passphrase travels by another channel (a call, a password manager), the
bundle by any; ``twinlab keys import`` writes the keys into the reviewer's key folder.

Format (all integers big-endian)::

    magic "TWKB" | header length (4) | header (UTF-8 JSON) | AES-256-GCM ciphertext + tag (16)

The header names the format version, the KDF and its parameters (scrypt ``n``, ``r``,
``p`` and a random 16-byte salt), the 12-byte nonce, the creation time and the names of the
keys inside; it is not secret, and the whole prefix – magic, length and header – is the
associated data of the AES-GCM encryption, so changing any of it (a cheaper KDF, another
key list) fails authentication like a wrong passphrase does. The plaintext is JSON
``{"keys": {file name: key text}}``.

The passphrase is stretched with scrypt (memory-hard: ``128 * n * r`` bytes, 128 MiB at
the default ``n = 2**17, r = 8``), so guessing costs an attacker who holds the bundle
memory as well as time; a passphrase shorter than :data:`MIN_PASSPHRASE` characters or made
of few distinct characters is refused. When reading a bundle, KDF parameters outside
sane bounds are refused before any work is done (a crafted header cannot make the import
allocate gigabytes). Bundles are written ``0600`` and never inside a git work tree.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import os
import secrets
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from twinlab.config import ConfigError
from twinlab.security.keyfiles import (
    DEFAULT_KEY_DIR,
    KeyLocationError,
    MissingKeyError,
    check_key_file,
    git_work_tree,
    write_private_file,
)

__all__ = [
    "BUNDLE_KEYS",
    "MIN_PASSPHRASE",
    "PASSPHRASE_ENV",
    "BundleError",
    "ImportResult",
    "check_passphrase",
    "export_bundle",
    "import_bundle",
    "key_fingerprint",
    "passphrase_from",
    "read_bundle",
    "read_local_keys",
    "write_bundle",
]

MAGIC = b"TWKB"
FORMAT = "twinlab-key-bundle"
VERSION = 1
#: Environment variable a script may set instead of typing the passphrase.
PASSPHRASE_ENV = "TWINLAB_BUNDLE_PASSPHRASE"
#: Fewest characters a passphrase may have.
MIN_PASSPHRASE = 12
#: Fewest distinct characters a passphrase may have.
MIN_DISTINCT = 6
#: Key file name -> (key variable, key file variable) for the keys a bundle may carry (the
#: audit signing key never travels: a reviewer verifies the log, they do not sign it).
BUNDLE_KEYS: dict[str, tuple[str, str]] = {
    "deid.key": ("TWINLAB_DEID_KEY", "TWINLAB_DEID_KEY_FILE"),
    "master.key": ("TWINLAB_MASTER_KEY", "TWINLAB_MASTER_KEY_FILE"),
}
_DEFAULT_KDF = {"name": "scrypt", "n": 2**17, "r": 8, "p": 1}
_MIN_N, _MAX_N, _MAX_R, _MAX_P = 2**14, 2**20, 16, 4
_MAX_MEMORY = 1 << 30  # bytes scrypt may use when reading a bundle (128 * n * r)
_MAX_HEADER = 4096
_SALT, _NONCE = 16, 12
_COMMON = ("password", "passphrase", "twinlab", "123456", "qwerty", "letmein", "secret")


class BundleError(ConfigError):
    """A key bundle cannot be written or read (wrong passphrase, altered, not a bundle)."""


def check_passphrase(passphrase: str) -> str:
    """Refuse a passphrase that is short or obviously guessable.

    Parameters
    ----------
    passphrase
        The passphrase.

    Returns
    -------
    str
        ``passphrase``, unchanged.

    Raises
    ------
    BundleError
        If it has fewer than :data:`MIN_PASSPHRASE` characters, fewer than
        :data:`MIN_DISTINCT` distinct ones, or is mostly a well-known word or sequence.

    Examples
    --------
    >>> check_passphrase("correct horse battery staple")
    'correct horse battery staple'
    >>> check_passphrase("aaaaaaaaaaaaaaaa")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    twinlab.security.bundle.BundleError: passphrase too weak: it has only 1 distinct ...
    """
    how = f"use at least {MIN_PASSPHRASE} characters, e.g. four or more random words"
    if len(passphrase) < MIN_PASSPHRASE:
        raise BundleError(f"passphrase too short ({len(passphrase)} characters): {how}")
    distinct = len(set(passphrase))
    if distinct < MIN_DISTINCT:
        raise BundleError(f"passphrase too weak: it has only {distinct} distinct characters; {how}")
    letters = "".join(c for c in passphrase.lower() if c.isalnum())
    for word in _COMMON:
        if word in letters and len(letters) - len(word) < MIN_PASSPHRASE:
            raise BundleError(f"passphrase too weak: it is mostly {word!r}; {how}")
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(passphrase)}
    if passphrase.isdigit() or steps <= {-1, 1}:
        raise BundleError(f"passphrase too weak: only digits or a sequence; {how}")
    return passphrase


def passphrase_from(
    file: str | Path | None = None, *, environ: Mapping[str, str] | None = None
) -> str | None:
    """The passphrase from a file or ``$TWINLAB_BUNDLE_PASSPHRASE``, for scripts.

    Never from a command-line argument: those show in ``ps`` and in shell history.

    Parameters
    ----------
    file
        A file whose first line is the passphrase; like a key file it must be private
        (0600) and lie outside any git work tree.
    environ
        The environment (``os.environ`` by default).

    Returns
    -------
    str or None
        The passphrase; ``None`` when neither is given (then ask for it).
    """
    if file is not None:
        path = check_key_file(file, what="passphrase file")
        lines = path.read_text(encoding="utf-8").splitlines()
        if not lines or not lines[0]:
            raise BundleError(f"the passphrase file {path} is empty")
        return lines[0]
    env = os.environ if environ is None else environ
    return env.get(PASSPHRASE_ENV) or None


def key_fingerprint(name: str, text: str) -> str:
    """A short, non-secret fingerprint of a key, to compare over the phone.

    Parameters
    ----------
    name
        The key's file name (``deid.key``).
    text
        The key file's text.

    Returns
    -------
    str
        16 hex digits of a SHA-256 of name and key (keys are 256-bit random: the hash
        reveals nothing usable about them).
    """
    digest = hashlib.sha256(b"twinlab-key-fingerprint\0" + name.encode() + b"\0")
    digest.update(text.strip().encode())
    return digest.hexdigest()[:16]


def read_local_keys(
    names: tuple[str, ...] = ("deid.key",),
    *,
    folder: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Read this workstation's keys as text, from where twinlab would use them.

    For each key: its variable (``TWINLAB_DEID_KEY``), else the file its file variable
    names (``TWINLAB_DEID_KEY_FILE``), else ``folder`` (``~/.config/twinlab/keys``). With
    ``folder`` given, only the folder is read.

    Parameters
    ----------
    names
        Key file names, from ``deid.key`` and ``master.key``.
    folder
        A key folder to read instead of the environment.
    environ
        The environment (``os.environ`` by default).

    Returns
    -------
    dict
        File name -> key text (stripped).

    Raises
    ------
    MissingKeyError
        If a key is not configured anywhere.
    KeyLocationError
        If a key file lies inside a git work tree or is readable by others.
    """
    env = os.environ if environ is None else environ
    out: dict[str, str] = {}
    for name in names:
        if name not in BUNDLE_KEYS:
            raise BundleError(f"unknown key {name!r}; known: {sorted(BUNDLE_KEYS)}")
        var, file_var = BUNDLE_KEYS[name]
        if folder is None and env.get(var, "").strip():
            text = env[var]
        else:
            if folder is None and env.get(file_var, "").strip():
                path, named = Path(env[file_var]), file_var
            else:
                path, named = Path(folder or DEFAULT_KEY_DIR).expanduser() / name, None
            if not path.expanduser().exists():
                raise MissingKeyError(
                    f"no {name} to export: {path} does not exist (set ${var} or ${file_var}, "
                    "or run 'twinlab keys init')"
                )
            text = check_key_file(path, what=f"key file {name}", env=named).read_text("ascii")
        if not text.strip():
            raise MissingKeyError(f"the key {name} is empty")
        out[name] = text.strip()
    return out


def _kdf(passphrase: str, salt: bytes, params: Mapping[str, int]) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=params["n"], r=params["r"], p=params["p"])
    return kdf.derive(passphrase.encode("utf-8"))


def _replace_private(file: Path, data: bytes) -> Path:
    """Write ``data`` to ``file`` (mode 0600) through a new temporary file and a rename."""
    tmp = file.with_name(f".{file.name}.{secrets.token_hex(4)}.tmp")
    write_private_file(tmp, data)
    try:
        os.replace(tmp, file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return file


def _refuse_in_repo(path: Path, what: str) -> None:
    tree = git_work_tree(path)
    if tree is not None:
        raise KeyLocationError(
            f"{what} {path} lies inside the git work tree {tree}; write it outside any "
            "repository (one 'git add' would publish the study's keys)"
        )


def write_bundle(
    keys: Mapping[str, str],
    out: str | Path,
    passphrase: str,
    *,
    overwrite: bool = False,
    kdf_n: int = _DEFAULT_KDF["n"],
) -> Path:
    """Encrypt ``keys`` with ``passphrase`` into a bundle file (mode 0600).

    Parameters
    ----------
    keys
        Key file name -> key text.
    out
        The bundle file; refused inside a git work tree.
    passphrase
        Checked with :func:`check_passphrase`.
    overwrite
        Replace an existing file.
    kdf_n
        scrypt's cost ``n`` (a power of two, at least 2**14); the default costs about
        128 MiB and a fraction of a second per attempt.

    Returns
    -------
    Path
        The bundle file.

    Raises
    ------
    BundleError
        A weak passphrase, or ``out`` exists and ``overwrite`` is false.
    KeyLocationError
        ``out`` lies inside a git work tree.
    """
    check_passphrase(passphrase)
    if kdf_n < _MIN_N or kdf_n & (kdf_n - 1):
        raise BundleError(f"scrypt n must be a power of two >= {_MIN_N}, not {kdf_n}")
    unknown = sorted(set(keys) - set(BUNDLE_KEYS))
    if unknown or not keys:
        raise BundleError(f"a bundle holds keys among {sorted(BUNDLE_KEYS)}, not {unknown}")
    file = Path(out).expanduser().resolve()
    _refuse_in_repo(file, "key bundle")
    if file.exists() and not overwrite:
        raise BundleError(f"{file} exists; pass --force to replace it")
    salt, nonce = secrets.token_bytes(_SALT), secrets.token_bytes(_NONCE)
    params = {**_DEFAULT_KDF, "n": int(kdf_n)}
    header = {
        "format": FORMAT,
        "version": VERSION,
        "kdf": {**params, "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "AES-256-GCM", "nonce": base64.b64encode(nonce).decode()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "keys": sorted(keys),
    }
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    prefix = MAGIC + struct.pack(">I", len(head)) + head
    plain = json.dumps({"keys": {k: keys[k].strip() for k in sorted(keys)}}).encode()
    sealed = AESGCM(_kdf(passphrase, salt, params)).encrypt(nonce, plain, prefix)
    return _replace_private(file, prefix + sealed)


def _header(blob: bytes, where: str) -> tuple[dict, bytes, bytes]:
    def fail(why: str) -> BundleError:
        return BundleError(f"{where} is not a twinlab key bundle: {why}")

    if blob[:4] != MAGIC:
        raise fail("bad magic bytes")
    if len(blob) < 8:
        raise fail("truncated")
    (n_head,) = struct.unpack(">I", blob[4:8])
    if n_head > _MAX_HEADER or len(blob) < 8 + n_head + 16:
        raise fail("truncated or oversized header")
    prefix = blob[: 8 + n_head]
    try:
        header = json.loads(blob[8 : 8 + n_head])
        kdf, cipher = header["kdf"], header["cipher"]
        if header["format"] != FORMAT:
            raise fail(f"format {header['format']!r}")
        if header["version"] != VERSION:
            raise BundleError(
                f"{where} is a version {header['version']} key bundle; this twinlab reads "
                f"version {VERSION}: upgrade twinlab"
            )
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(cipher["nonce"], validate=True)
        n, r, p = (int(kdf[k]) for k in ("n", "r", "p"))
        ok = (
            kdf["name"] == "scrypt"
            and cipher["name"] == "AES-256-GCM"
            and len(salt) == _SALT
            and len(nonce) == _NONCE
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise fail("malformed header") from None
    if not ok:
        raise fail("unsupported KDF or cipher")
    if not (_MIN_N <= n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        raise fail(f"scrypt parameters n={n}, r={r}, p={p} are outside the accepted bounds")
    if 128 * n * r * p > _MAX_MEMORY:
        raise fail(f"scrypt parameters need more than {_MAX_MEMORY >> 20} MiB")
    header["kdf"] = {"name": "scrypt", "n": n, "r": r, "p": p, "salt": salt}
    header["cipher"] = {"name": "AES-256-GCM", "nonce": nonce}
    return header, prefix, blob[len(prefix) :]


def read_bundle(path: str | Path, passphrase: str) -> dict[str, str]:
    """Decrypt a key bundle.

    Parameters
    ----------
    path
        The bundle file.
    passphrase
        The passphrase it was written with.

    Returns
    -------
    dict
        Key file name -> key text.

    Raises
    ------
    BundleError
        If the passphrase is wrong or the bundle was altered (one message for both: GCM
        cannot tell them apart), or the file is not a bundle.
    FileNotFoundError
        If there is no such file.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"no key bundle {file}")
    header, prefix, sealed = _header(file.read_bytes(), str(file))
    kdf = header["kdf"]
    key = _kdf(passphrase, kdf["salt"], kdf)
    try:
        plain = AESGCM(key).decrypt(header["cipher"]["nonce"], sealed, prefix)
    except InvalidTag:
        raise BundleError(
            f"cannot open {file}: wrong passphrase, or the bundle was altered"
        ) from None
    keys = json.loads(plain)["keys"]
    if sorted(keys) != header["keys"] or not set(keys) <= set(BUNDLE_KEYS):
        raise BundleError(f"{file}: the keys inside do not match its header")  # pragma: no cover
    return {str(k): str(v) for k, v in keys.items()}


def export_bundle(
    out: str | Path,
    passphrase: str,
    *,
    include_master: bool = False,
    folder: str | Path | None = None,
    overwrite: bool = False,
    kdf_n: int = _DEFAULT_KDF["n"],
) -> dict[str, str]:
    """Write this workstation's de-identification key (and master key) to a bundle.

    Parameters
    ----------
    out
        The bundle file (outside any git work tree; written 0600).
    passphrase
        At least :data:`MIN_PASSPHRASE` characters (:func:`check_passphrase`).
    include_master
        Also export the master key: only for a reviewer who must read the study's raw
        zone; the harmonized outputs reproduce with the de-identification key alone.
    folder
        Read keys from this folder instead of the environment (:func:`read_local_keys`).
    overwrite
        Replace an existing bundle.
    kdf_n
        scrypt cost (:func:`write_bundle`).

    Returns
    -------
    dict
        Key file name -> fingerprint (:func:`key_fingerprint`) of each exported key.
    """
    check_passphrase(passphrase)
    names = ("deid.key", "master.key") if include_master else ("deid.key",)
    keys = read_local_keys(names, folder=folder)
    write_bundle(keys, out, passphrase, overwrite=overwrite, kdf_n=kdf_n)
    return {name: key_fingerprint(name, text) for name, text in keys.items()}


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_bundle` did, per key file name.

    Attributes
    ----------
    files : dict
        Key file name -> the key file now holding it.
    status : dict
        Key file name -> ``"written"``, ``"unchanged"`` or ``"replaced"``.
    backups : dict
        Key file name -> where a replaced key was kept.
    fingerprints : dict
        Key file name -> :func:`key_fingerprint`.
    """

    files: dict[str, Path]
    status: dict[str, str]
    backups: dict[str, Path]
    fingerprints: dict[str, str]

    def environment(self) -> dict[str, str]:
        """Key file variable -> file, ready for ``export`` lines or ``os.environ.update``."""
        return {BUNDLE_KEYS[name][1]: str(path) for name, path in self.files.items()}


def import_bundle(
    path: str | Path,
    passphrase: str,
    *,
    folder: str | Path | None = None,
    force: bool = False,
) -> ImportResult:
    """Write the keys of a bundle into a key folder (files 0600, folder 0700).

    Parameters
    ----------
    path
        The bundle file.
    passphrase
        Its passphrase.
    folder
        The key folder (``~/.config/twinlab/keys`` by default); refused inside a git work
        tree.
    force
        Replace existing keys that differ (each old key is kept beside it as
        ``<name>.replaced-<UTC time>``, mode 0600). Without it a differing key is refused:
        replacing a de-identification key changes every pseudonym, and replacing a
        master key makes the raw zone it encrypted unreadable.

    Returns
    -------
    ImportResult

    Raises
    ------
    BundleError
        Wrong passphrase, altered bundle, or an existing different key without ``force``
        (nothing is written then).
    KeyLocationError
        The key folder lies inside a git work tree.
    """
    keys = read_bundle(path, passphrase)
    where = Path(folder or DEFAULT_KEY_DIR).expanduser().resolve()
    _refuse_in_repo(where, "key folder")
    status: dict[str, str] = {}
    for name, text in keys.items():
        file = where / name
        if not file.exists():
            status[name] = "written"
            continue
        old = check_key_file(file, what=f"key file {name}").read_text("ascii").strip()
        status[name] = "unchanged" if old == text.strip() else "replaced"
    differ = [n for n, s in status.items() if s == "replaced"]
    if differ and not force:
        raise BundleError(
            f"{', '.join(str(where / n) for n in differ)} already hold(s) a different key; "
            "importing would change pseudonyms or lock out the raw zone. Use --dir for "
            "another folder, or --force to replace (the old key is kept beside it)"
        )
    from twinlab.security.filemodes import make_dirs

    make_dirs(where, 0o700)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    backups: dict[str, Path] = {}
    for name, text in keys.items():
        file = where / name
        if status[name] == "unchanged":
            continue
        if status[name] == "replaced":
            backups[name] = write_private_file(
                where / f"{name}.replaced-{stamp}", file.read_bytes()
            )
        _replace_private(file, text.strip().encode("ascii") + b"\n")
    return ImportResult(
        files={name: where / name for name in keys},
        status=status,
        backups=backups,
        fingerprints={name: key_fingerprint(name, text) for name, text in keys.items()},
    )
