"""``twinlab demo``: the whole pipeline with ``dvc repro``, its audit log sealed and verified.

The stages run with this environment's Python on ``PATH`` (so the pipeline works without
activating the virtual environment) and this workstation's keys when the caller has none
(``twinlab keys init``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twinlab.config import ConfigError, paths
from twinlab.pipeline.stores import private_stores
from twinlab.security.filemodes import private_umask

__all__ = ["DemoRun", "key_environment", "run_demo", "seal_and_verify"]

_AUDIT_KEYS = ("TWINLAB_AUDIT_KEY", "TWINLAB_AUDIT_KEY_FILE", "TWINLAB_AUDIT_HMAC_KEY")


def key_environment() -> dict[str, str]:
    """This process's environment with key files set: the caller's keys, else this
    workstation's (made if missing)."""
    from twinlab.security.keyfiles import init_local_keys

    env = dict(os.environ)
    if (
        not (env.get("TWINLAB_DEID_KEY") or env.get("TWINLAB_DEID_KEY_FILE"))
        or not (env.get("TWINLAB_MASTER_KEY") or env.get("TWINLAB_MASTER_KEY_FILE"))
        or not any(env.get(name) for name in _AUDIT_KEYS)
    ):
        for name, file in init_local_keys().items():
            env.setdefault(name, str(file))
    return env


def seal_and_verify(env: dict[str, str]) -> Any:
    """Checkpoint the end of a run in the audit log ``env`` names and verify the log.

    The audit settings of ``env`` (key, anchor) become this process's, as for the stages.

    Returns
    -------
    VerifyResult
    """
    from twinlab.audit import AuditLog, verify
    from twinlab.audit.log import ANCHOR_ENV

    os.environ.update({k: v for k, v in env.items() if k.startswith("TWINLAB_AUDIT")})
    log = AuditLog(env["TWINLAB_AUDIT_LOG"], anchor=env.get(ANCHOR_ENV) or None)
    if log.path.exists():
        log.seal()
    return verify(log.path, anchor=log.anchor)


@dataclass(frozen=True)
class DemoRun:
    """A finished ``dvc repro``: its exit status, the audit log and its check, the metrics."""

    returncode: int
    audit_log: Path
    check: Any
    metrics: tuple[Path, ...]


def run_demo(
    targets: Sequence[str] = (),
    *,
    force: bool = False,
    root: str | Path | None = None,
    echo: Callable[[str], None] = print,
) -> DemoRun:
    """Run ``dvc repro`` (``-f`` with ``force``) on ``targets`` of the project at ``root``.

    DVC runs under :func:`~twinlab.security.filemodes.private_umask`, its cache and local
    remote made private first (:func:`twinlab.pipeline.stores.private_stores`).

    Every section of ``params.yaml`` is checked before any stage runs. The audit log
    (``$TWINLAB_AUDIT_LOG``, default ``logs/audit.jsonl``) is sealed and verified after a
    successful run; ``check`` is ``None`` when ``dvc repro`` failed.

    Raises
    ------
    ConfigError
        Outside a twinlab project, or for an invalid ``params.yaml``.
    """
    from twinlab.pipeline.params import load_pipeline_params

    root = paths(root).root
    if not (root / "dvc.yaml").is_file():
        raise ConfigError(f"no dvc.yaml in {root}: run this inside a twinlab project")
    load_pipeline_params(root / "params.yaml")  # every section checked before any stage runs
    env = key_environment()
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.setdefault("TWINLAB_AUDIT_LOG", str(root / "logs" / "audit.jsonl"))
    cmd = [sys.executable, "-m", "dvc", "repro", *(["-f"] if force else []), *targets]
    echo("$ " + " ".join(["dvc", *cmd[3:]]))
    private_stores(root)
    with private_umask():  # DVC's checkouts and new cache folders: private
        result = subprocess.run(cmd, cwd=root, env=env, check=False)
    log = Path(env["TWINLAB_AUDIT_LOG"])
    if result.returncode != 0:
        return DemoRun(result.returncode, log, None, ())
    check = seal_and_verify(env)
    return DemoRun(0, log, check, tuple(sorted((root / "reports").glob("*.json"))))
