"""Generate the whole demo study: raw sources, their manifest and the ground truth."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twinlab.synth import truth as T
from twinlab.synth.config import SynthConfig, rng_streams
from twinlab.synth.fhir import build_bundles, write_bundles
from twinlab.synth.identities import simulate_identities
from twinlab.synth.observations import simulate_observations
from twinlab.synth.population import simulate_subjects
from twinlab.synth.schedule import simulate_schedule
from twinlab.synth.sdtm import build_domains, write_domains
from twinlab.synth.vcf import select_genotyped, write_vcf
from twinlab.synth.wearables import select_wearers, write_wearables

MANIFEST = "manifest.json"
_OWNED = ("fhir", "sdtm", "vcf", "wearables", MANIFEST)
_TRUTH_FILES = ("parameters.json", "patients.csv")


@dataclass(frozen=True)
class ManifestEntry:
    """One written file: path relative to ``out_dir``, format, record count and sha256."""

    path: str
    format: str
    records: int
    sha256: str
    samples: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as a JSON-ready dict (``samples`` only for VCF)."""
        d: dict[str, Any] = {"format": self.format, "path": self.path, "records": self.records,
                             "sha256": self.sha256}  # fmt: skip
        if self.samples is not None:
            d["samples"] = self.samples
        return d


@dataclass(frozen=True)
class StudyManifest:
    """What :func:`generate_study` wrote: the config and every raw file, sorted by path."""

    config: SynthConfig
    files: tuple[ManifestEntry, ...]
    path: Path

    def to_dict(self) -> dict[str, Any]:
        """Return the manifest as written to ``manifest.json``."""
        return {
            "config": self.config.to_dict(),
            "files": [f.to_dict() for f in self.files],
            "generator": "twinlab.synth",
            "manifest_version": 1,
        }


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dump_json(obj: Any, path: Path) -> None:
    """Write JSON deterministically: sorted keys, indent 2, UTF-8, ``\\n`` line ends."""
    text = json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    path.write_bytes(text.encode("utf-8"))


def _prepare(out_dir: Path, truth_dir: Path, overwrite: bool) -> None:
    out_r, truth_r = out_dir.resolve(), truth_dir.resolve()
    if out_r == truth_r or out_r in truth_r.parents or truth_r in out_r.parents:
        raise ValueError(
            f"truth_dir ({truth_dir}) and out_dir ({out_dir}) must be separate folders, "
            "neither inside the other"
        )
    for folder, owned in ((out_dir, _OWNED), (truth_dir, _TRUTH_FILES)):
        if folder.exists() and any(folder.iterdir()):
            if not overwrite:
                raise FileExistsError(f"{folder} is not empty; pass overwrite=True to replace")
            for name in owned:
                target = folder / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        folder.mkdir(parents=True, exist_ok=True)


def generate_study(
    out_dir: str | Path,
    truth_dir: str | Path,
    config: SynthConfig = SynthConfig(),  # noqa: B008 - frozen, immutable default
    *,
    overwrite: bool = False,
) -> StudyManifest:
    """Generate the demo twinurostat study's raw sources and ground truth.

    Parameters
    ----------
    out_dir
        Receives ``fhir/``, ``sdtm/``, ``vcf/``, ``wearables/`` and ``manifest.json``.
    truth_dir
        Receives ``parameters.json`` and ``patients.csv``; must not overlap ``out_dir``.
    config
        Size, seed and shape of the study.
    overwrite
        Replace files of an earlier run; otherwise non-empty folders raise.

    Returns
    -------
    StudyManifest
        The files written with their record counts and sha256.

    Raises
    ------
    ValueError
        If the folders overlap or ``config`` is not a :class:`SynthConfig`.
    FileExistsError
        If a folder is not empty and ``overwrite`` is false.

    Examples
    --------
    >>> from twinlab.synth import SynthConfig, generate_study
    >>> manifest = generate_study("data/raw", "data/truth", SynthConfig(n_patients=20))
    ... # doctest: +SKIP
    """
    if not isinstance(config, SynthConfig):
        raise ValueError(f"config must be a SynthConfig, got {type(config).__name__}")
    out_dir, truth_dir = Path(out_dir), Path(truth_dir)
    _prepare(out_dir, truth_dir, overwrite)
    streams = rng_streams(config.seed)
    subjects = simulate_subjects(config, streams)
    identities = simulate_identities(subjects, streams["identity"])
    schedule = simulate_schedule(subjects, streams["schedule"])
    obs = simulate_observations(subjects, schedule, streams["pk_error"], streams["pd_error"])

    entries: list[ManifestEntry] = []

    def add(path: Path, fmt: str, records: int, samples: int | None = None) -> None:
        rel = path.relative_to(out_dir).as_posix()
        entries.append(ManifestEntry(rel, fmt, records, sha256_file(path), samples))

    bundles = build_bundles(
        subjects, identities, obs.screen_urate, config.study_id, streams["fhir"]
    )
    patient_uuid = [b["entry"][0]["fullUrl"].removeprefix("urn:uuid:") for b in bundles]
    for path, n in write_bundles(bundles, out_dir / "fhir"):
        add(path, "fhir-r4-bundle+json", n)
    del bundles

    created = dt.datetime.combine(config.start, dt.time(0, 0))
    domains = build_domains(subjects, schedule, obs, config.study_id, streams["sdtm"])
    for path, n in write_domains(domains, out_dir / "sdtm", created):
        add(path, "sas-xport-v5", n)

    genotyped = select_genotyped(subjects, streams["vcf"])
    vcf_path = out_dir / "vcf" / "genotypes.vcf"
    n_var, n_samples = write_vcf(
        subjects, genotyped, vcf_path, config.start.strftime("%Y%m%d"), streams["vcf"]
    )
    add(vcf_path, "vcf-4.2", n_var, n_samples)

    wearers = select_wearers(subjects, config.wearable_fraction, streams["wearables"])
    wear_files, serial_of = write_wearables(
        subjects,
        identities,
        wearers,
        config.wearable_days,
        out_dir / "wearables",
        streams["wearables"],
    )
    for path, n in wear_files:
        add(path, "wearable-csv", n)

    entries.sort(key=lambda e: e.path)
    manifest = StudyManifest(config=config, files=tuple(entries), path=out_dir / MANIFEST)
    dump_json(manifest.to_dict(), manifest.path)

    truth = T.parameters()
    truth["config"] = config.to_dict()
    dump_json(truth, truth_dir / "parameters.json")
    _truth_table(subjects, identities, schedule, genotyped, serial_of, patient_uuid).to_csv(
        truth_dir / "patients.csv", index=False, lineterminator="\n"
    )
    return manifest


def _truth_table(subjects, identities, schedule, genotyped, serial_of, patient_uuid):
    table = subjects.copy()
    first = np.full(len(table), np.datetime64("NaT"), dtype="datetime64[m]")
    first[schedule.rows] = schedule.first_dose
    table["first_dose_local"] = first
    table["genotyped"] = genotyped
    table["wearable_serial"] = [serial_of.get(u, "") for u in table["USUBJID"]]
    table["fhir_patient_uuid"] = patient_uuid
    table["email"] = identities["email"].to_numpy()
    for col in ("screen_dt", "first_dose_local"):
        table[col] = np.datetime_as_string(table[col].to_numpy(), unit="m")
    for col in ("day1_date", "birth_date"):
        table[col] = np.datetime_as_string(table[col].to_numpy(), unit="D")
    table = table.replace({"NaT": ""})
    return pd.DataFrame(table)
