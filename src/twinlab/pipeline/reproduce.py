"""The reviewer's reproduce workflow: re-run a pinned commit, compare it artifact by artifact.

``twinlab reproduce --rev <commit>`` makes a clean clone of the repository at
that commit (uncommitted changes of the working tree are deliberately *not*
included: the point is the pinned commit), points the clone's DVC cache at the
original repository's cache, runs ``dvc repro -f`` there with this
environment's Python on ``PATH`` and the caller's keys (as ``twinlab demo``
does), and compares every ``outs`` entry of the pinned commit's ``dvc.lock``
with the reproduced ``dvc.lock``:

* ``identical`` – same md5;
* ``differs by design`` – files that are :mod:`twinlab.security.crypto`
  envelopes (they start with ``TWLE``) are encrypted with fresh nonces on every
  run. When the master key is available both versions are decrypted and the
  plaintexts compared, which turns them into a real check (``differs`` when the
  plaintexts differ);
* ``differs`` – with the reason: for a folder the files added, removed and
  changed (from the two ``.dir`` manifests in the DVC cache); for a notebook the
  first cell whose source or outputs differ, or that only metadata differs; for
  JSON metrics the keys whose values differ; for other files the first
  differing line. When the stage's declared dependencies and parameters are
  unchanged, the report says that the difference comes from something
  ``dvc.yaml`` does not declare (imported code, packages, environment) or from
  non-determinism;
* ``within tolerance`` – differs, but only as far as a Monte Carlo fit may (below);
* ``missing`` – recorded but not reproduced, or reproduced but not recorded.

Each output is classified before it is compared (:mod:`twinlab.audit.expectations`):
``bit-identical`` (the data stages, deterministic at their stated precision), ``Monte Carlo``
(a fit's posterior: every summarized mean within ``k`` Monte Carlo standard errors,
``|a - b| <= k sqrt(mcse_a^2 + mcse_b^2)``, and the gate – ``reports/validate.json`` – still
passed) or ``follows the fit`` (the fit's reports and everything downstream of it:
bit-identical when the posterior is, else held to the gate). The table prints each output's
class, the tolerance applied and whether it held.

The report also gives the code version (commit, and whether the pinned tree
matches the original working tree) and the package versions.

Limits: the recorded objects must be in the original repository's DVC cache
(``dvc pull`` first) for file-level reasons, otherwise only the md5s are
compared; metrics stored with ``cache: false`` are read from git at the pinned
commit. The reproduction writes its outputs into that shared cache (new
objects only; nothing recorded is changed). Commits that no branch or tag of
the repository reaches cannot be cloned. Parquet and other binary files are
only reported as changed, not diffed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from twinlab.audit.expectations import (
    AFTER_FIT,
    EXACT,
    MONTE_CARLO,
    POSTERIOR_STORE,
    Tolerance,
    classify_outputs,
    compare_posterior_json,
    flatten,
    holds_posterior,
    in_store,
    share_of_bound,
)
from twinlab.audit.records import code_version, package_versions
from twinlab.config import ConfigError
from twinlab.security.filemodes import private_umask

__all__ = [
    "AFTER_FIT",
    "BY_DESIGN",
    "DIFFERS",
    "EXACT",
    "IDENTICAL",
    "MISSING",
    "MONTE_CARLO",
    "WITHIN_TOLERANCE",
    "ArtifactResult",
    "ReproduceError",
    "ReproduceReport",
    "Tolerance",
    "classify_outputs",
    "compare_posterior_json",
    "reproduce",
]

IDENTICAL = "identical"
BY_DESIGN = "differs by design"
DIFFERS = "differs"
WITHIN_TOLERANCE = "within tolerance"
MISSING = "missing"
#: Statuses that do not fail a reproduction.
OK_STATUSES = frozenset({IDENTICAL, BY_DESIGN, WITHIN_TOLERANCE})
#: First bytes of a :mod:`twinlab.security.crypto` envelope.
ENVELOPE_MAGIC = b"TWLE"
_MAX_NAMED = 10  # files, keys or lines named per artifact
_SNIPPET = 100


class ReproduceError(ConfigError):
    """The reproduction cannot start: not a repository, unknown rev, no ``dvc.lock``."""


@dataclass
class ArtifactResult:
    """The comparison of one recorded output with its reproduction.

    Attributes
    ----------
    path
        The output, relative to the DVC project root (as in ``dvc.lock``).
    stage
        The stage that writes it.
    status
        ``identical``, ``differs by design``, ``differs`` or ``missing``.
    recorded_md5, reproduced_md5
        The md5s of the pinned commit's and of the reproduced ``dvc.lock``.
    details
        Why it differs, one human-readable line each.
    diff
        The same, structured: ``added``/``removed``/``changed`` files of a
        folder, ``keys`` of a JSON file, ``cell`` of a notebook, ...
    plaintext_identical
        For encrypted outputs: whether the decrypted versions are identical
        (``None`` when not checked, e.g. without the master key).
    expected
        What it must reproduce as: ``bit-identical``, ``Monte Carlo`` (a posterior,
        compared within Monte Carlo error) or ``follows the fit`` (see
        :func:`classify_outputs`).
    tolerance
        The tolerance applied when it differs (``None``: none, it had to be identical);
        :attr:`status` says whether it held. ``diff["checks"]`` holds a posterior's checks.
    """

    path: str
    stage: str
    status: str
    recorded_md5: str | None
    reproduced_md5: str | None
    details: list[str] = field(default_factory=list)
    diff: dict[str, Any] = field(default_factory=dict)
    plaintext_identical: bool | None = None
    expected: str = EXACT
    tolerance: str | None = None

    @property
    def ok(self) -> bool:
        """Whether this artifact is identical or differs only by design."""
        return self.status in OK_STATUSES

    @property
    def verified(self) -> bool:
        """Identical bytes, or an encrypted output whose plaintexts are identical."""
        return self.status == IDENTICAL or (
            self.status == BY_DESIGN and self.plaintext_identical is True
        )

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-able dict."""
        return {
            "path": self.path,
            "stage": self.stage,
            "status": self.status,
            "ok": self.ok,
            "recorded_md5": self.recorded_md5,
            "reproduced_md5": self.reproduced_md5,
            "plaintext_identical": self.plaintext_identical,
            "expected": self.expected,
            "tolerance": self.tolerance,
            "details": list(self.details),
            "diff": self.diff,
        }


@dataclass
class ReproduceReport:
    """What a reproduction of a pinned commit found.

    Attributes
    ----------
    repo
        The original repository (DVC project root).
    rev
        The revision asked for.
    commit
        The commit it resolved to.
    rows
        One :class:`ArtifactResult` per output of the pinned ``dvc.lock`` (and
        per reproduced output it does not record).
    code
        ``commit``, ``original`` (:func:`~twinlab.audit.records.code_version` of
        the repository), ``tree_matches_working_tree`` and ``differing_paths``.
    packages
        Package versions of the environment that reproduced.
    stage_changes
        Per stage, the declared dependencies and parameters whose recorded and
        reproduced values differ.
    repro
        ``returncode``, ``seconds``, ``log`` and (on failure) ``error`` of
        ``dvc repro -f``.
    keys
        Where the keys came from, and whether the master key was available.
    clone
        The clone's folder when kept, else ``None``.
    tolerance
        The tolerances applied.
    """

    repo: str
    rev: str
    commit: str
    rows: list[ArtifactResult]
    code: dict[str, Any]
    packages: dict[str, str | None]
    stage_changes: dict[str, list[str]]
    repro: dict[str, Any]
    keys: dict[str, Any]
    clone: str | None = None
    tolerance: Tolerance = field(default_factory=Tolerance)

    @property
    def ok(self) -> bool:
        """Whether ``dvc repro`` succeeded and every artifact reproduced as expected.

        Identical, differing by design (fresh nonces) or within its tolerance.
        """
        return (
            self.repro.get("returncode") == 0 and bool(self.rows) and all(r.ok for r in self.rows)
        )

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-able dict."""
        return {
            "ok": self.ok,
            "repo": self.repo,
            "rev": self.rev,
            "commit": self.commit,
            "code": self.code,
            "packages": self.packages,
            "keys": self.keys,
            "repro": self.repro,
            "stage_changes": self.stage_changes,
            "tolerance": self.tolerance.to_dict(),
            "artifacts": [row.to_dict() for row in self.rows],
            "clone": self.clone,
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, default=str)

    def __str__(self) -> str:
        code = self.code
        match = code.get("tree_matches_working_tree")
        lines = [
            f"reproduce {self.repo} at {self.rev} = commit {self.commit}",
            "pinned tree matches the working tree: "
            + ("yes" if match else "no" if match is False else "unknown")
            + (
                f" ({len(code['differing_paths'])} path(s) differ: "
                + ", ".join(code["differing_paths"][:5])
                + (", ..." if len(code["differing_paths"]) > 5 else "")
                + ")"
                if code.get("differing_paths")
                else ""
            ),
            f"dvc repro -f: exit {self.repro.get('returncode')} "
            f"in {self.repro.get('seconds', 0.0):.1f} s",
        ]
        if self.repro.get("error"):
            lines.append(f"  {self.repro['error']}")
            lines.append(
                "  last lines of its log"
                + (f" ({self.repro['log']}):" if self.repro.get("log") else " (--keep keeps it):")
            )
            lines.extend(f"  | {line}" for line in self.repro.get("log_tail", [])[-8:])
        lines.append(
            "master key: "
            + ("available (encrypted outputs checked by decryption)" if self.keys.get("master")
               else "not available (encrypted outputs not checked)")
        )  # fmt: skip
        lines.append("")
        lines.extend(self._expectations())
        width_path = max([len("artifact"), *(len(r.path) for r in self.rows)])
        width_stage = max([len("stage"), *(len(r.stage) for r in self.rows)])
        width_expected = max([len("expected"), *(len(r.expected) for r in self.rows)])
        lines.append("")
        lines.append(
            f"{'artifact':<{width_path}}  {'stage':<{width_stage}}  "
            f"{'expected':<{width_expected}}  {'status':<17}  {'recorded':<12}  reproduced"
        )
        last_why = ""
        for row in self.rows:
            lines.append(
                f"{row.path:<{width_path}}  {row.stage:<{width_stage}}  "
                f"{row.expected:<{width_expected}}  {row.status:<17}  "
                f"{_short(row.recorded_md5):<12}  {_short(row.reproduced_md5)}"
            )
            if row.tolerance:
                held = {WITHIN_TOLERANCE: "held", DIFFERS: "did NOT hold"}.get(row.status, "")
                lines.append(f"    tolerance: {row.tolerance}" + (f" -> {held}" if held else ""))
            for detail in row.details:
                if detail.startswith("why:") and detail == last_why:
                    continue  # said once per stage
                last_why = detail if detail.startswith("why:") else last_why
                lines.append(f"    - {detail}")
        if self.stage_changes:
            lines.append("")
            lines.append("declared inputs that changed between the record and the reproduction:")
            for stage, changes in self.stage_changes.items():
                lines.extend(f"  {stage}: {c}" for c in changes)
        lines.append("")
        lines.append(
            "packages: "
            + ", ".join(f"{k} {v or 'not installed'}" for k, v in self.packages.items())
        )
        failed = [r for r in self.rows if not r.ok]
        counts = {st: sum(r.status == st for r in self.rows) for st in sorted(OK_STATUSES)}
        verdict = (
            "OK: every artifact reproduced ("
            + ", ".join(f"{n} {st}" for st, n in counts.items() if n)
            + ")"
            if self.ok
            else f"NOT REPRODUCED: {len(failed)} of {len(self.rows)} artifacts differ or missing"
            if self.repro.get("returncode") == 0
            else "NOT REPRODUCED: dvc repro -f failed"
        )
        lines.append(verdict)
        return "\n".join(lines)

    def _expectations(self) -> list[str]:
        """What had to be identical and what was compared with a tolerance, by stage."""
        by_stage: dict[str, list[ArtifactResult]] = {}
        for row in self.rows:
            by_stage.setdefault(row.stage, []).append(row)

        def where(cls: str) -> str:
            parts = []
            for stage, rows in by_stage.items():
                mine = [r.path for r in rows if r.expected == cls]
                if mine:
                    whole = len(mine) == len(rows)
                    parts.append(stage if whole else f"{stage} ({', '.join(mine)})")
            return "; ".join(parts)

        moved = any(r.expected == MONTE_CARLO and r.status != IDENTICAL for r in self.rows)
        lines = ["what must reproduce how:"]
        if exact := where(EXACT):
            lines.append(
                f"  {EXACT}: {exact}. Deterministic: pinned seeds, values written at their "
                "stated precision (encrypted files: their plaintext)."
            )
        if posterior := where(MONTE_CARLO):
            lines.append(
                f"  {MONTE_CARLO}: {posterior}. MCMC draws follow every last bit of the "
                "arithmetic, so they differ between CPUs; compared by their summaries: "
                + self.tolerance.posterior_rule()
                + " (SDs, intervals, R-hat, ESS and divergences are the gate's to judge)."
            )
        if after := where(AFTER_FIT):
            state = (
                "the posterior moved here, so they are held to the gate"
                if moved
                else "the posterior reproduced bit for bit here, so they must too"
            )
            lines.append(
                f"  {AFTER_FIT}: {after}. Bit-identical when the posterior is; when it moved "
                f"within its tolerance, the reproduction must pass the gate ({state})."
            )
        return lines


def _short(md5: str | None) -> str:
    if md5 is None:
        return "-"
    return md5[:8] + (".dir" if md5.endswith(".dir") else "")


# --------------------------------------------------------------------------- git and dvc


def _run(
    cmd: list[str], cwd: Path, *, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=dict(env) if env is not None else None,
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        proc = _run(["git", *args], cwd)
    except OSError:
        return None
    return proc.stdout if proc.returncode == 0 else None


def _dvc(args: list[str], cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "dvc", *args], cwd, env=env)


def _cache_dir(repo: Path, env: Mapping[str, str]) -> Path:
    """The DVC cache folder of ``repo`` (``dvc cache dir``, else ``.dvc/cache``)."""
    proc = _dvc(["cache", "dir"], repo, env)
    text = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and text:
        return (repo / text[-1].strip()).resolve()
    return (repo / ".dvc" / "cache").resolve()


def _key_env() -> tuple[dict[str, str], dict[str, Any]]:
    """The caller's environment with keys: theirs, else this workstation's (as ``twinlab demo``)."""
    env = dict(os.environ)
    info: dict[str, Any] = {"source": "environment"}
    if not (env.get("TWINLAB_DEID_KEY") or env.get("TWINLAB_DEID_KEY_FILE")) or not (
        env.get("TWINLAB_MASTER_KEY") or env.get("TWINLAB_MASTER_KEY_FILE")
    ):
        from twinlab.security.keyfiles import init_local_keys

        for name, file in init_local_keys().items():
            env.setdefault(name, str(file))
        info["source"] = "environment and this workstation's key files"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env, info


def _keyring(env: Mapping[str, str]) -> Any:
    """The master keyring for ``env``, or ``None`` when no key is available."""
    from twinlab.security.crypto import KEY_ENV, KEY_FILE_ENV, load_keyring

    try:
        if os.environ.get(KEY_ENV) or os.environ.get(KEY_FILE_ENV) or not env.get(KEY_FILE_ENV):
            return load_keyring()
        return load_keyring(key_file=env[KEY_FILE_ENV])
    except Exception:  # a missing or misplaced key: encrypted outputs stay unchecked
        return None


# --------------------------------------------------------------------------- dvc.lock


def _lock_outs(lock: Mapping[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{out path: (stage, entry)}`` of a parsed ``dvc.lock``."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for stage, body in (lock.get("stages") or {}).items():
        for out in (body or {}).get("outs") or []:
            found[out["path"]] = (stage, out)
    return found


def _stage_inputs(body: Mapping[str, Any]) -> dict[str, Any]:
    deps = {f"dep {d['path']}": d.get("md5") for d in body.get("deps") or []}
    params = {
        f"param {k}": v
        for file, values in (body.get("params") or {}).items()
        for k, v in flatten(values).items()
        if k
    }
    return {**deps, **params, "cmd": body.get("cmd")}


def _stage_changes(
    recorded: Mapping[str, Any], reproduced: Mapping[str, Any]
) -> dict[str, list[str]]:
    changes: dict[str, list[str]] = {}
    stages_r = recorded.get("stages") or {}
    stages_n = reproduced.get("stages") or {}
    for stage in stages_r.keys() & stages_n.keys():  # a stage that did not run: rows say so
        before = _stage_inputs(stages_r.get(stage) or {})
        after = _stage_inputs(stages_n.get(stage) or {})
        found = []
        for key in sorted(before.keys() | after.keys()):
            if before.get(key) != after.get(key):
                if key.startswith("dep "):
                    found.append(f"{key}: {_short(before.get(key))} -> {_short(after.get(key))}")
                else:
                    found.append(f"{key}: {before.get(key)!r} -> {after.get(key)!r}")
        if found:
            changes[stage] = found
    return dict(sorted(changes.items()))


# --------------------------------------------------------------------------- content access


@dataclass
class _Side:
    """Where the bytes of one side (recorded or reproduced) can be found."""

    cache: Path
    tree: Path | None = None  # a work tree holding the files (the reproduced side)
    git_root: Path | None = None  # a clone whose HEAD is the pinned commit
    git_prefix: str = ""

    def object(self, md5: str | None) -> Path | None:
        if not md5:
            return None
        for candidate in (
            self.cache / "files" / "md5" / md5[:2] / md5[2:],
            self.cache / md5[:2] / md5[2:],  # DVC 2 layout
        ):
            if candidate.is_file():
                return candidate
        return None

    def manifest(self, md5: str | None, path: str) -> dict[str, str] | None:
        """``{relpath: md5}`` of a folder output, from the cache or the work tree."""
        obj = self.object(md5)
        if obj is not None:
            entries = json.loads(obj.read_text(encoding="utf-8"))
            return {e["relpath"]: e["md5"] for e in entries}
        if self.tree is not None and (self.tree / path).is_dir():
            from twinlab.audit.records import dir_files, file_digests

            return {rel: file_digests(f)["md5"] for rel, f in dir_files(self.tree / path)}
        return None

    def holds_posterior(self, md5: str | None, path: str) -> bool:
        """Whether the folder output ``path`` holds a fit's posterior on this side."""
        return str(md5).endswith(".dir") and holds_posterior(self.manifest(md5, path))

    def read(self, path: str, md5: str | None) -> bytes | None:
        """The bytes of a file output (or of a file inside a folder output)."""
        if self.tree is not None and (self.tree / path).is_file():
            return (self.tree / path).read_bytes()
        obj = self.object(md5)
        if obj is not None:
            return obj.read_bytes()
        if self.git_root is not None:
            try:
                proc = subprocess.run(
                    ["git", "show", f"HEAD:{self.git_prefix}{path}"],
                    cwd=self.git_root, capture_output=True, check=False,
                )  # fmt: skip
            except OSError:
                return None
            if proc.returncode == 0:
                return proc.stdout
        return None


# --------------------------------------------------------------------------- diffs


def _first_line_diff(a: str, b: str) -> str | None:
    la, lb = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(la, lb, strict=False)):
        if x != y:
            return f"line {i + 1}: {_clip(x)!r} -> {_clip(y)!r}"
    if len(la) != len(lb):
        return f"{len(la)} lines recorded, {len(lb)} reproduced"
    return None


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 3] + "..."


def _json_diff(a: bytes, b: bytes) -> tuple[list[str], dict[str, Any]]:
    try:
        before, after = flatten(json.loads(a)), flatten(json.loads(b))
    except ValueError:
        return _text_diff(a, b), {}
    keys = sorted(
        k for k in before.keys() | after.keys() if before.get(k, ...) != after.get(k, ...)
    )
    details = []
    for key in keys[:_MAX_NAMED]:
        old = json.dumps(before[key]) if key in before else "(absent)"
        new = json.dumps(after[key]) if key in after else "(absent)"
        details.append(f"key {key}: {_clip(old)} -> {_clip(new)}")
    if len(keys) > _MAX_NAMED:
        details.append(f"... and {len(keys) - _MAX_NAMED} more keys")
    if not keys:
        details.append("same keys and values; only formatting differs")
    return details, {"keys": keys}


def _text_diff(a: bytes, b: bytes) -> list[str]:
    try:
        where = _first_line_diff(a.decode("utf-8"), b.decode("utf-8"))
    except UnicodeDecodeError:
        where = None
    if where is None:
        return [f"content differs ({len(a)} bytes recorded, {len(b)} reproduced)"]
    return [f"first difference at {where}"]


def _output_text(outputs: Iterable[Mapping[str, Any]]) -> str:
    parts = []
    for out in outputs:
        if "text" in out:
            text = out["text"]
        elif "data" in out:
            data = out["data"]
            text = data.get("text/plain") or next(iter(data.values()), "")
            if not isinstance(text, (str, list)):
                text = json.dumps(text)
        else:
            text = f"{out.get('ename', '')}: {out.get('evalue', '')}"
        parts.append("".join(text) if isinstance(text, list) else str(text))
    return "\n".join(parts)


def _notebook_diff(a: bytes, b: bytes) -> tuple[list[str], dict[str, Any]]:
    try:
        before, after = json.loads(a), json.loads(b)
    except ValueError:
        return _text_diff(a, b), {}
    cells_a, cells_b = before.get("cells", []), after.get("cells", [])
    for i, (ca, cb) in enumerate(zip(cells_a, cells_b, strict=False)):
        label = f"cell index {i} ({ca.get('cell_type', '?')}"
        label += f", execution count {ca['execution_count']})" if ca.get("execution_count") else ")"
        src_a, src_b = "".join(ca.get("source", "")), "".join(cb.get("source", ""))
        if src_a != src_b:
            where = _first_line_diff(src_a, src_b)
            return [f"{label}: source differs" + (f", {where}" if where else "")], {
                "cell": i, "part": "source"
            }  # fmt: skip
        if ca.get("outputs", []) != cb.get("outputs", []):
            text_a, text_b = (
                _output_text(ca.get("outputs", [])),
                _output_text(cb.get("outputs", [])),
            )
            where = _first_line_diff(text_a, text_b)
            return [f"{label}: outputs differ" + (f", {where}" if where else "")], {
                "cell": i, "part": "outputs"
            }  # fmt: skip
    if len(cells_a) != len(cells_b):
        i = min(len(cells_a), len(cells_b))
        return [f"{len(cells_a)} cells recorded, {len(cells_b)} reproduced (from cell {i})"], {
            "cell": i, "part": "cells"
        }  # fmt: skip
    # cells agree in source and outputs: only metadata differs
    meta_a = flatten(before.get("metadata", {}))
    meta_b = flatten(after.get("metadata", {}))
    keys = sorted(
        k for k in meta_a.keys() | meta_b.keys() if meta_a.get(k, ...) != meta_b.get(k, ...)
    )
    cell_meta = [
        i for i, (ca, cb) in enumerate(zip(cells_a, cells_b, strict=True))
        if ca.get("metadata") != cb.get("metadata") or ca.get("id") != cb.get("id")
        or ca.get("execution_count") != cb.get("execution_count")
    ]  # fmt: skip
    details = ["only metadata differs (every cell's source and outputs are identical)"]
    for key in keys[:_MAX_NAMED]:
        details.append(
            f"metadata {key}: {meta_a.get(key, '(absent)')} -> {meta_b.get(key, '(absent)')}"
        )
    if cell_meta:
        details.append(
            "cell metadata, ids or execution counts differ in cells " + _names(cell_meta)
        )
    return details, {"cell": None, "part": "metadata", "metadata_keys": keys, "cells": cell_meta}


def _names(items: list[Any]) -> str:
    text = ", ".join(str(i) for i in items[:_MAX_NAMED])
    return text + (f" (+{len(items) - _MAX_NAMED} more)" if len(items) > _MAX_NAMED else "")


def _file_diff(name: str, a: bytes, b: bytes) -> tuple[list[str], dict[str, Any]]:
    if name.endswith(".ipynb"):
        return _notebook_diff(a, b)
    if name.endswith(".json"):
        return _json_diff(a, b)
    if name.endswith((".html", ".csv", ".txt", ".md", ".yaml", ".yml", ".xml", ".tsv", ".vcf")):
        return _text_diff(a, b), {}
    return [f"content differs ({len(a)} bytes recorded, {len(b)} reproduced)"], {}


def _is_envelope(data: bytes | None) -> bool:
    return data is not None and data[:4] == ENVELOPE_MAGIC


def _decrypt(data: bytes, name: str, keyring: Any) -> bytes:
    from twinlab.security.crypto import IntegrityError, decrypt_bytes

    context = name.removesuffix(".enc")
    try:
        return decrypt_bytes(data, context=context, keyring=keyring)
    except IntegrityError:
        if context == name:
            raise
        return decrypt_bytes(data, context=name, keyring=keyring)  # encrypt_file's default


class _Comparer:
    """Compares one recorded output with its reproduction."""

    def __init__(self, recorded: _Side, reproduced: _Side, keyring: Any) -> None:
        self.recorded = recorded
        self.reproduced = reproduced
        self.keyring = keyring

    def compare(
        self, path: str, stage: str, rec: Mapping[str, Any] | None, rep: Mapping[str, Any] | None
    ) -> ArtifactResult:
        md5_r = rec.get("md5") if rec else None
        md5_n = rep.get("md5") if rep else None
        row = ArtifactResult(path, stage, IDENTICAL, md5_r, md5_n)
        if rec is None or rep is None:
            row.status = MISSING
            row.details.append(
                f"recorded but not reproduced (stage {stage!r} did not complete)"
                if rep is None
                else "reproduced but not recorded in the pinned dvc.lock (stale lock?)"
            )  # fmt: skip
            return row
        if md5_r == md5_n:
            return row
        row.status = DIFFERS
        try:
            if str(md5_r).endswith(".dir") or str(md5_n).endswith(".dir"):
                self._folder(row)
            else:
                self._file(row)
        except Exception as err:  # a damaged object must not hide the other rows
            row.details.append(f"could not explain the difference: {type(err).__name__}: {err}")
        return row

    def _folder(self, row: ArtifactResult) -> None:
        before = self.recorded.manifest(row.recorded_md5, row.path)
        after = self.reproduced.manifest(row.reproduced_md5, row.path)
        if before is None or after is None:
            row.details.append(
                "recorded folder manifest not in the DVC cache (dvc fetch it to see which files)"
                if before is None else "reproduced folder manifest not found"
            )  # fmt: skip
            if after is not None and before is None:
                blobs = [
                    self.reproduced.read(f"{row.path}/{rel}", md5) for rel, md5 in after.items()
                ]
                if blobs and all(_is_envelope(b) for b in blobs):
                    row.status = BY_DESIGN
                    row.details.insert(0, "encrypted with fresh nonces (not checked)")
            return
        added = sorted(after.keys() - before.keys())
        removed = sorted(before.keys() - after.keys())
        changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
        row.diff = {"added": added, "removed": removed, "changed": changed}
        summary, explain = [], []
        if added:
            summary.append("files added: " + _names(added))
        if removed:
            summary.append("files removed: " + _names(removed))
        encrypted: list[tuple[str, bytes, bytes]] = []
        plain: list[str] = []
        for rel in changed:
            a = self.recorded.read(f"{row.path}/{rel}", before[rel])
            b = self.reproduced.read(f"{row.path}/{rel}", after[rel])
            if a is not None and b is not None and _is_envelope(a) and _is_envelope(b):
                encrypted.append((rel, a, b))
                continue
            plain.append(rel)
            if a is None or b is None:
                explain.append(
                    f"{rel}: {'recorded' if a is None else 'reproduced'} bytes not found"
                )
                continue
            details, sub = _file_diff(rel, a, b)
            explain.extend(f"{rel}: {d}" for d in details)
            if sub:
                row.diff.setdefault("files", {})[rel] = sub
        if plain:
            summary.append("files changed: " + _names(plain))
        row.details.extend(summary + explain)
        if encrypted:
            self._encrypted(row, encrypted, real_changes=bool(added or removed or plain))

    def _file(self, row: ArtifactResult) -> None:
        a = self.recorded.read(row.path, row.recorded_md5)
        b = self.reproduced.read(row.path, row.reproduced_md5)
        if b is None:
            row.details.append("reproduced file not found")
            return
        if a is None:
            if _is_envelope(b):
                row.status = BY_DESIGN
                row.details.append(
                    "encrypted with fresh nonces (recorded bytes unavailable: not checked)"
                )
            else:
                row.details.append(
                    "recorded content not available (not in the DVC cache nor in git): md5s differ"
                )
            return
        if _is_envelope(a) and _is_envelope(b):
            self._encrypted(row, [(Path(row.path).name, a, b)], real_changes=False)
            return
        details, sub = _file_diff(row.path, a, b)
        row.details.extend(details)
        row.diff.update(sub)

    def _encrypted(
        self, row: ArtifactResult, files: list[tuple[str, bytes, bytes]], *, real_changes: bool
    ) -> None:
        names = [rel for rel, _, _ in files]
        if self.keyring is None:
            row.plaintext_identical = None
            row.details.append(
                f"differs by design: encrypted with fresh nonces ({_names(names)}); "
                "no master key, plaintexts not checked"
            )
            if not real_changes:
                row.status = BY_DESIGN
            return
        differing, unreadable = [], []
        for rel, a, b in files:
            try:
                same = _decrypt(a, Path(rel).name, self.keyring) == _decrypt(
                    b, Path(rel).name, self.keyring
                )
            except Exception as err:  # wrong key, damaged envelope
                unreadable.append(f"{rel} ({type(err).__name__}: {err})")
                continue
            if not same:
                differing.append(rel)
        row.diff["encrypted"] = names
        if differing:
            row.plaintext_identical = False
            row.details.append("decrypted plaintexts differ: " + _names(differing))
            row.diff["plaintext_changed"] = differing
        elif unreadable:
            row.plaintext_identical = None
            row.details.append(
                "differs by design: encrypted with fresh nonces; could not decrypt "
                + _names(unreadable)
            )
            if not real_changes:
                row.status = BY_DESIGN
        else:
            row.plaintext_identical = True
            row.details.append(
                f"differs by design: encrypted with fresh nonces; {len(files)} file(s) decrypted, "
                "plaintexts identical"
            )
            if not real_changes:
                row.status = BY_DESIGN


def _why(row: ArtifactResult, stage_changes: Mapping[str, list[str]]) -> None:
    """Add the likely cause of a difference to a differing row."""
    if row.status != DIFFERS:
        return
    changes = stage_changes.get(row.stage)
    if changes:
        row.details.append(
            f"why: declared inputs of stage {row.stage!r} changed ({len(changes)}; see below)"
        )
    else:
        row.details.append(
            f"why: stage {row.stage!r} ran with the recorded dependencies and parameters, so "
            "something dvc.yaml does not declare changed (imported code, packages, environment) "
            "or the stage is not deterministic"
        )


# --------------------------------------------------------------------------- expectations


def _gates(rows: list[ArtifactResult], side: _Side) -> dict[str, bool]:
    """``{path: passed}`` of the reproduced gate metrics (JSON with ``passed`` and ``gates``)."""
    found: dict[str, bool] = {}
    for row in rows:
        if not row.path.endswith(".json") or row.reproduced_md5 is None:
            continue
        data = side.read(row.path, row.reproduced_md5)
        try:
            doc = json.loads(data) if data is not None else None
        except ValueError:
            continue
        if isinstance(doc, Mapping) and isinstance(doc.get("passed"), bool) and "gates" in doc:
            found[row.path] = doc["passed"]
    return found


def _gate_text(gates: Mapping[str, bool]) -> str:
    return ", ".join(f"{p}: {'passed' if ok else 'FAILED'}" for p, ok in gates.items())


class _Expectations:
    """Holds each compared row to what its class expects (see :func:`classify_outputs`)."""

    def __init__(self, comparer: _Comparer, tolerance: Tolerance) -> None:
        self.comparer = comparer
        self.tolerance = tolerance

    def apply(self, rows: list[ArtifactResult], classes: Mapping[str, str]) -> None:
        for row in rows:
            row.expected = classes.get(row.path, EXACT)
        gates = _gates(rows, self.comparer.reproduced)
        gate_ok = bool(gates) and all(gates.values())
        for row in rows:
            if row.expected == MONTE_CARLO and row.status == DIFFERS:
                self._posterior(row, gates, gate_ok)
        posteriors = [r for r in rows if r.expected == MONTE_CARLO]
        moved = [r for r in posteriors if r.status != IDENTICAL]
        beyond = [r.path for r in moved if r.status != WITHIN_TOLERANCE]
        for row in rows:
            if row.expected != AFTER_FIT or row.status != DIFFERS:
                continue
            if not moved:
                row.details.append(
                    "expected bit-identical: every posterior reproduced bit for bit"
                    if posteriors else "expected bit-identical: no posterior in dvc.lock"
                )  # fmt: skip
                continue
            row.tolerance = (
                "may differ only as the posterior does: every posterior within its tolerance "
                "and the gate passed"
            )
            reasons = []
            if not gates:
                reasons.append("no gate metric in dvc.lock to hold it to")
            elif not gate_ok:
                reasons.append(f"the reproduction failed the gate ({_gate_text(gates)})")
            if beyond:
                reasons.append(
                    f"the posterior did not reproduce within its tolerance ({_names(beyond)})"
                )
            if reasons:
                row.details.append("why: " + "; ".join(reasons))
            else:
                row.status = WITHIN_TOLERANCE
                row.details.append(
                    f"differs because the posterior moved ({_names([r.path for r in moved])}); "
                    f"gate {_gate_text(gates)}"
                )

    def _posterior(self, row: ArtifactResult, gates: Mapping[str, bool], gate_ok: bool) -> None:
        row.tolerance = self.tolerance.posterior_rule()
        if "changed" not in row.diff:
            row.details.append("cannot compare within Monte Carlo error: folder manifests missing")
            return
        before = self.comparer.recorded.manifest(row.recorded_md5, row.path) or {}
        after = self.comparer.reproduced.manifest(row.reproduced_md5, row.path) or {}
        draws = [rel for rel in row.diff["changed"] if in_store(rel)]
        fixed = [f"{rel}: added" for rel in row.diff["added"]]
        fixed += [f"{rel}: removed" for rel in row.diff["removed"]]
        checks: list[dict[str, Any]] = []
        statistics = 0
        summarized = list(draws)
        for rel in row.diff["changed"]:
            if rel in draws:
                continue
            a = self.comparer.recorded.read(f"{row.path}/{rel}", before.get(rel))
            b = self.comparer.reproduced.read(f"{row.path}/{rel}", after.get(rel))
            try:
                doc_a, doc_b = json.loads(a or b""), json.loads(b or b"")
            except ValueError:
                fixed.append(f"{rel}: changed" if a and b else f"{rel}: bytes not found")
                continue
            summarized.append(rel)
            c, f, n = compare_posterior_json(doc_a, doc_b, k=self.tolerance.k_mcse)
            checks.extend({"file": rel, **x} for x in c)
            fixed.extend(f"{rel}: {x}" for x in f)
            statistics += n
        # per-file lines of the draws and raw key diffs of the summaries say less than the
        # checks below: drop them
        row.details = [
            d for d in row.details if not any(d.startswith(f"{r}: ") for r in summarized)
        ]
        row.diff["checks"] = checks
        failed = [c for c in checks if not c["held"]]
        if draws:
            row.details.append(
                f"{len(draws)} file(s) of the draws ({POSTERIOR_STORE}) differ: MCMC, compared "
                "through their summaries"
            )
        if checks:
            worst = max(checks, key=share_of_bound)
            row.details.append(
                f"{len(checks) - len(failed)} of {len(checks)} posterior means within "
                f"{self.tolerance.k_mcse:g} MCSE (largest move for its bound: {worst['file']} "
                f"{worst['quantity']}, {share_of_bound(worst):.0%} of it)"
            )
        else:
            row.details.append("no posterior summary found to compare")
        for c in failed[:_MAX_NAMED]:
            row.details.append(
                f"beyond tolerance: {c['file']} {c['quantity']}: {c['recorded']!r} -> "
                f"{c['reproduced']!r} (bound {_fmt(c['bound'])})"
            )
        if statistics:
            row.details.append(f"{statistics} other statistic(s) of the draws differ (gate)")
        for item in fixed[:_MAX_NAMED]:
            row.details.append(f"must not change: {item}")
        if gates:
            row.details.append(f"gate: {_gate_text(gates)}")
        else:
            row.details.append("no gate metric in dvc.lock: R-hat not held to a bound")
        if checks and not failed and not fixed and (gate_ok or not gates):
            row.status = WITHIN_TOLERANCE


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _compare_locks(
    recorded: Mapping[str, Any],
    reproduced: Mapping[str, Any],
    comparer: _Comparer,
    tolerance: Tolerance | None = None,
) -> tuple[list[ArtifactResult], dict[str, list[str]]]:
    """Compare every output of two ``dvc.lock`` files and hold each to its class.

    Parameters
    ----------
    recorded, reproduced
        The parsed pinned and reproduced ``dvc.lock``.
    comparer
        Where the bytes of both sides are (the DVC cache, the clone).
    tolerance
        Sampling stages and ``k``; default :class:`Tolerance`.

    Returns
    -------
    rows : list of ArtifactResult
        One per output, recorded order first.
    stage_changes : dict
        Per stage, the declared inputs whose recorded and reproduced values differ.
    """
    tolerance = tolerance or Tolerance()
    before, after = _lock_outs(recorded), _lock_outs(reproduced)
    stage_changes = _stage_changes(recorded, reproduced)
    rows = []
    for path in [*before, *(p for p in after if p not in before)]:
        stage = (before.get(path) or after[path])[0]
        rec = before[path][1] if path in before else None
        rep = after[path][1] if path in after else None
        row = comparer.compare(path, stage, rec, rep)
        if rep is None and stage in (reproduced.get("stages") or {}):
            row.details = ["recorded, but the stage no longer writes it (stale dvc.lock?)"]
        rows.append(row)
    posteriors = [
        path
        for path in {**after, **before}
        if any(
            side.holds_posterior(entry[1].get("md5"), path)
            for side, entry in ((comparer.recorded, before.get(path)),
                                (comparer.reproduced, after.get(path)))
            if entry is not None
        )
    ]  # fmt: skip
    stages = {**(reproduced.get("stages") or {}), **(recorded.get("stages") or {})}
    classes = classify_outputs({"stages": stages}, posteriors, tolerance)
    _Expectations(comparer, tolerance).apply(rows, classes)
    for row in rows:
        if not (row.expected == AFTER_FIT and row.tolerance):
            _why(row, stage_changes)
    return rows, stage_changes


# --------------------------------------------------------------------------- the workflow


def _resolve(repo: Path, rev: str) -> tuple[Path, str, str]:
    """The git top level, the project's path prefix in it, and ``rev``'s commit."""
    if not repo.is_dir():
        raise ReproduceError(f"no such folder: {repo}")
    top = _git(["rev-parse", "--show-toplevel"], repo)
    if top is None:
        raise ReproduceError(f"{repo} is not inside a git repository")
    toplevel = Path(top.strip()).resolve()
    prefix = repo.resolve().relative_to(toplevel).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    commit = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], repo)
    if commit is None:
        raise ReproduceError(f"unknown revision {rev!r} in {toplevel}")
    commit = commit.strip()
    for name in ("dvc.yaml", "dvc.lock"):
        if _git(["cat-file", "-e", f"{commit}:{prefix}{name}"], repo) is None:
            hint = (
                "run the pipeline (twinlab demo) and commit dvc.lock first"
                if name == "dvc.lock" else "this is not a DVC pipeline"
            )  # fmt: skip
            raise ReproduceError(
                f"commit {commit[:12]} ({rev}) has no {prefix}{name}: nothing recorded to "
                f"reproduce; {hint}"
            )
    return toplevel, prefix, commit


def _tree_match(repo: Path, commit: str) -> tuple[bool | None, list[str]]:
    diff = _git(["diff", "--name-only", commit, "--", "."], repo)
    untracked = _git(["ls-files", "--others", "--exclude-standard", "--", "."], repo)
    if diff is None or untracked is None:
        return None, []
    paths = sorted(set(diff.split()) | {f"{p} (untracked)" for p in untracked.split()})
    return not paths, paths


def reproduce(
    repo: str | Path,
    *,
    rev: str = "HEAD",
    workdir: str | Path | None = None,
    keep: bool = False,
    progress: Callable[[str], None] | None = None,
    tolerance: Tolerance | None = None,
) -> ReproduceReport:
    """Re-run a pinned commit's pipeline in a clean clone and compare every output.

    Parameters
    ----------
    repo
        The DVC project (inside a git repository) whose commit to reproduce.
    rev
        The commit, branch or tag; ``HEAD`` by default. Uncommitted changes of
        the working tree are not included.
    workdir
        Folder in which to make the clone (a new temporary folder by default).
    keep
        Keep the clone (its path is in :attr:`ReproduceReport.clone`); by
        default it is removed.
    progress
        Called with a line of text at each step (e.g. ``click.echo``).
    tolerance
        Which stages sample and how many Monte Carlo standard errors their posterior
        means may move (default :class:`Tolerance`: stage ``fit``, 4).

    Returns
    -------
    ReproduceReport
        One row per output, each classified (bit-identical, Monte Carlo, follows the fit);
        :attr:`ReproduceReport.ok` says whether everything reproduced as its class expects:
        identical, differing only by design, or within its tolerance.

    Raises
    ------
    ReproduceError
        If ``repo`` is not a git repository, ``rev`` is unknown, the commit has
        no ``dvc.yaml`` / ``dvc.lock``, or the clone cannot be made.
    """
    say = progress or (lambda _line: None)
    tolerance = tolerance or Tolerance()
    repo = Path(repo).resolve()
    toplevel, prefix, commit = _resolve(repo, rev)
    env, key_info = _key_env()
    cache = _cache_dir(repo, env)
    parent = Path(workdir) if workdir is not None else Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix=f"twinlab-reproduce-{commit[:8]}-", dir=parent))
    clone = base / toplevel.name
    project = clone / prefix if prefix else clone
    try:
        say(f"cloning {toplevel} at {commit[:12]} into {clone}")
        made = _run(["git", "clone", "--quiet", "--no-checkout", str(toplevel), str(clone)], base)
        if made.returncode != 0:
            raise ReproduceError(f"git clone failed: {made.stderr.strip()}")
        checked = _run(
            ["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", commit], clone
        )
        if checked.returncode != 0:
            raise ReproduceError(
                f"cannot check out {commit[:12]} in the clone (is it reachable from a branch or "
                f"tag?): {checked.stderr.strip()}"
            )
        recorded_lock = yaml.safe_load((project / "dvc.lock").read_text(encoding="utf-8")) or {}
        linked = _dvc(["cache", "dir", "--local", str(cache)], project, env)
        if linked.returncode != 0:
            raise ReproduceError(f"dvc cache dir failed: {linked.stderr.strip()}")
        run_env = dict(env)
        if (project / "src").is_dir():  # the clone's package, not an editable install elsewhere
            run_env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(project / "src"), env.get("PYTHONPATH")])
            )
        say(f"dvc repro -f (cache: {cache})")
        log = base / "dvc-repro.log"
        start = time.perf_counter()
        with log.open("w", encoding="utf-8") as fh, private_umask():
            proc = subprocess.run(
                [sys.executable, "-m", "dvc", "repro", "-f"],
                cwd=project,
                env=run_env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                text=True,
                check=False,
            )
        repro: dict[str, Any] = {
            "returncode": proc.returncode,
            "seconds": round(time.perf_counter() - start, 2),
            "log": str(log) if keep else None,
        }
        if proc.returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
            errors = [line for line in tail if "ERROR" in line or "Error" in line]
            repro["error"] = (errors or tail or ["no output"])[-1].strip()
            repro["log_tail"] = tail
        lock_file = project / "dvc.lock"
        reproduced_lock = (
            yaml.safe_load(lock_file.read_text(encoding="utf-8")) or {}
            if lock_file.is_file()
            else {}
        )
        if proc.returncode != 0:
            reproduced_lock = _only_rerun(recorded_lock, reproduced_lock, project, env)

        keyring = _keyring(env)
        key_info["master"] = keyring is not None
        comparer = _Comparer(
            _Side(cache, git_root=clone, git_prefix=prefix),
            _Side(cache, tree=project),
            keyring,
        )
        rows, stage_changes = _compare_locks(recorded_lock, reproduced_lock, comparer, tolerance)
        matches, differing = _tree_match(repo, commit)
        report = ReproduceReport(
            repo=str(repo),
            rev=rev,
            commit=commit,
            rows=rows,
            code={
                "commit": commit,
                "original": code_version(repo),
                "tree_matches_working_tree": matches,
                "differing_paths": differing,
                "imports_from_clone": "PYTHONPATH" in run_env
                and run_env["PYTHONPATH"] != env.get("PYTHONPATH"),
            },
            packages=package_versions(),
            stage_changes=stage_changes,
            repro=repro,
            keys=key_info,
            clone=str(clone) if keep else None,
            tolerance=tolerance,
        )
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    return report


def _only_rerun(
    recorded: Mapping[str, Any],
    reproduced: Mapping[str, Any],
    project: Path,
    env: Mapping[str, str],
) -> dict[str, Any]:
    """After a failed ``dvc repro -f``, drop stages whose lock entry was not rewritten.

    The clone's ``dvc.lock`` starts as the recorded one; a stage that never ran
    keeps the recorded entry and would compare as identical.
    """
    stages = dict(reproduced.get("stages") or {})
    for name, body in list(stages.items()):
        if body == (recorded.get("stages") or {}).get(name):
            outs = [o["path"] for o in (body or {}).get("outs") or []]
            if not all((project / o).exists() for o in outs):
                del stages[name]
    return {**reproduced, "stages": stages}
