"""The one writer of the harmonize stage: write, reconcile, encrypt, scan, publish, audit.

:func:`publish` takes what :func:`twinlab.harmonize.pipeline.build_timeline` computed (a
:class:`Harmonized`: the de-identified timeline, the public quarantine, the counts and the
identified material for the raw zone) and writes it:

1. the timeline tables (``patients/events/links.parquet``), ``series.zarr`` and
   ``quarantine.parquet`` into a private staging folder beside ``out_dir``;
2. **reconciles** the counts against the written files
   (:func:`twinlab.harmonize.accounting.reconcile`): a run that does not reconcile raises
   :class:`~twinlab.harmonize.accounting.ReconciliationError` and publishes nothing;
3. ``report.json`` and ``quality.json``; the raw zone's files, encrypted with AES-GCM, into a
   staging folder beside ``raw_zone``;
4. scans every output file for PHI: with findings, nothing is published;
5. swaps both staging folders into place (a kill leaves the previous version) and writes the
   stage's audit entry (the only audit call of the harmonizer).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from twinlab.harmonize.accounting import ReconciliationError, ingest_report, reconcile

__all__ = ["HarmonizeResult", "Harmonized", "publish", "staging_dir", "write_series"]


@dataclass
class Harmonized:
    """Everything the harmonize stage computes, before anything is written.

    Attributes
    ----------
    cohort : twinlab.timeline.Cohort
        The de-identified timeline (validated).
    public_quarantine : pandas.DataFrame
        ``quarantine.parquet``: keyed file and record ids, format, check, scrubbed reason.
    file_counts : list of dict
        Per-file counts (:func:`twinlab.harmonize.accounting.file_counts`), without
        ``events_in_timeline`` (counted from the written timeline).
    report : dict
        The parts of ``report.json`` known before writing (``linkage``, ``unmapped_codes``,
        ``patients_without_person``, ``field_policy``).
    raw_zone : dict
        The raw zone's files by name: DataFrames (written as Parquet) and dicts (JSON).
    series : dict
        De-identified raw series by group name
        (:func:`twinlab.harmonize.series.deidentified_series`).
    identifiers : twinlab.deid.IdentifierSet
        The identifiers of the inputs, for the PHI scan of the outputs.
    vocabulary : twinlab.deid.vocabulary.CodedVocabulary, optional
        The coded-concept names whose displays the field policy kept, so that the PHI scan
        checks them as declared names (every pattern, known values), not as free text.
    """

    cohort: Any
    public_quarantine: pd.DataFrame
    file_counts: list[dict[str, Any]]
    report: dict[str, Any]
    raw_zone: dict[str, Any]
    series: dict[str, Any] = field(default_factory=dict)
    identifiers: Any = None
    vocabulary: Any = None


@dataclass
class HarmonizeResult:
    """What :func:`twinlab.harmonize.harmonize` wrote and found."""

    out_dir: Path
    report: dict[str, Any]
    quality: dict[str, Any]
    phi_findings: list[Any]


def publish(
    h: Harmonized,
    *,
    out_dir: str | Path,
    raw_zone: str | Path,
    keyring: Any,
    scan_phi: bool = True,
    params: Mapping[str, Any] | None = None,
    inputs: Sequence[str | Path] = (),
) -> HarmonizeResult:
    """Write ``h`` to staging folders, reconcile, scan and publish it; audit the stage.

    Parameters
    ----------
    h : Harmonized
        What the stage computed.
    out_dir, raw_zone : path
        The de-identified output folder and the raw zone (replaced whole on success).
    keyring : twinlab.security.crypto.Keyring
        The master keyring that encrypts the raw zone.
    scan_phi : bool
        Scan every output file for the inputs' identifiers before publishing.
    params : mapping, optional
        The stage's parameters, for the audit entry.
    inputs : sequence of path
        The stage's inputs, for the audit entry.

    Returns
    -------
    HarmonizeResult
        With ``phi_findings`` non-empty, nothing was published (``out_dir`` and ``raw_zone``
        are as they were).

    Raises
    ------
    ReconciliationError
        When the written timeline and quarantine do not account for every record and event
        read; nothing is published.
    """
    # Publish only when clean (issues 14 and 15): write to private staging folders beside
    # --out and the raw zone, scan there, and swap both into place only after a clean scan.
    final_out, final_zone = Path(out_dir), Path(raw_zone)
    out = staging_dir(final_out)
    staged = [out]
    try:
        zone = staging_dir(final_zone)
        staged.append(zone)
        return _publish_staged(
            h, out, zone, final_out, final_zone, keyring=keyring, scan_phi=scan_phi,
            params=params, inputs=inputs,
        )  # fmt: skip
    except BaseException:  # a full disk, a read-only folder, Ctrl-C: no half-written folder
        for folder in staged:  # published ones were renamed away: nothing to remove there
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _publish_staged(
    h: Harmonized,
    out: Path,
    zone: Path,
    final_out: Path,
    final_zone: Path,
    *,
    keyring: Any,
    scan_phi: bool,
    params: Mapping[str, Any] | None,
    inputs: Sequence[str | Path],
) -> HarmonizeResult:
    """:func:`publish` once its staging folders ``out`` and ``zone`` exist."""
    from twinlab.audit import audit_stage
    from twinlab.deid import scan_for_phi
    from twinlab.harmonize.quality import quality_report
    from twinlab.security.crypto import encrypt_bytes
    from twinlab.security.filemodes import publish_dir, restrict_tree

    h.cohort.write(out)
    n_series = write_series(h.series, out)
    h.public_quarantine.to_parquet(out / "quarantine.parquet", index=False)

    counts = [dict(c) for c in h.file_counts]
    written = pd.read_parquet(out / "events.parquet", columns=["source_file"])["source_file"]
    problems = reconcile(
        counts, written, pd.read_parquet(out / "quarantine.parquet")["source_file"]
    )
    if problems:  # nothing is published; --out and the raw zone stay as they were
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(zone, ignore_errors=True)
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        shown = "; ".join(problems[:5]) + more
        raise ReconciliationError(
            f"ingest does not reconcile (records in = timeline + quarantined + duplicates): "
            f"{shown}; nothing was published ({final_out} and {final_zone} are as they were)"
        )
    per_file = written.astype(str).value_counts()
    for c in counts:
        c["events_in_timeline"] = int(per_file.get(c["source_file"], 0))
    report = ingest_report(counts, h.cohort, h.cohort.links)
    report.update(h.report)
    report["timeline"]["raw_series"] = n_series
    quality = quality_report(h.cohort.patients, h.cohort.events, h.public_quarantine, counts)
    write_json(out / "report.json", report)
    write_json(out / "quality.json", quality)

    for name, content in h.raw_zone.items():
        data = (
            parquet_bytes(content) if isinstance(content, pd.DataFrame)
            else json.dumps(content, indent=2, sort_keys=True).encode()
        )  # fmt: skip
        (zone / f"{name}.enc").write_bytes(encrypt_bytes(data, context=name, keyring=keyring))

    findings: list[Any] = []
    if scan_phi:
        findings = scan_for_phi(
            sorted(out.rglob("*")),
            h.identifiers,
            text_columns=("display", "value_text", "orig_value"),
            # quarantine reasons are scrubbed with every pattern, no engine (harmonize.pipeline)
            pattern_columns=("reason",),
            vocabulary=h.vocabulary,
        )
        report["phi_scan"] = {"files": len(list(out.rglob("*.*"))), "findings": len(findings)}
        write_json(out / "report.json", report)
    if findings:  # nothing is published; --out and the raw zone stay as they were
        findings = [
            dataclasses.replace(f, file=str(f.file).replace(str(out), str(final_out), 1))
            for f in findings
        ]
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(zone, ignore_errors=True)
        return HarmonizeResult(final_out, report, quality, findings)
    for staged, final in ((zone, final_zone), (out, final_out)):
        restrict_tree(staged)
        publish_dir(staged, final)
    audit_stage(
        "harmonize",
        params=dict(params or {}),
        inputs=list(inputs),
        outputs=[final_out, final_zone],
        summary={"totals": report["totals"], "reconciles": report["reconciles"],
                 "phi_findings": len(findings), "quality": quality["summary"]["overall"]},
    )  # fmt: skip
    return HarmonizeResult(final_out, report, quality, findings)


def write_series(groups: Mapping[str, Any], out: Path) -> int:
    """``groups`` (de-identified series by name) as the zarr DataTree ``out/series.zarr``.

    Returns
    -------
    int
        The number of series written (no folder when there is none).
    """
    import xarray as xr

    if groups:
        xr.DataTree.from_dict(dict(groups)).to_zarr(
            out / "series.zarr", mode="w", consolidated=False
        )
    return len(groups)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as Parquet file bytes (no index)."""
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def staging_dir(target: Path) -> Path:
    """A new private folder beside ``target`` (same file system, so it can be renamed over it).

    Staging folders left by a killed run are removed first, and a publish cut off between its
    two renames is undone (:func:`twinlab.security.filemodes.recover`).
    """
    from twinlab.security.filemodes import dir_mode, recover

    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    for stale in target.parent.glob(f".{target.name}.staging-*"):
        pid = stale.name.rsplit("-", 2)[-2]
        if not (pid.isdigit() and _alive(int(pid))):  # a concurrent run keeps its own
            shutil.rmtree(stale, ignore_errors=True)
    path = target.parent / f".{target.name}.staging-{os.getpid()}-{secrets.token_hex(4)}"
    path.mkdir(mode=dir_mode())
    return path


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def write_json(path: Path, data: dict[str, Any]) -> None:
    """``data`` as indented JSON with sorted keys and a final newline."""
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
