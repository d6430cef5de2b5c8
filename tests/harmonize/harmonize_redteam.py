"""What the structured red-team rounds of ``harmonize`` share: a generated study harmonized
with reviewed free text (scrubbed) and without (dropped), and the text of every published file
read independently of twinlab's own detectors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from twinlab.deid import DeidKey
from twinlab.harmonize import HarmonizeConfig, HarmonizeResult, harmonize
from twinlab.security.crypto import Keyring
from twinlab.synth import SynthConfig, generate_study

KEY = DeidKey(b"planted-test-deid-key-32-bytes!!")
KEYRING = Keyring({"k": b"m" * 32})
#: Free text of every reader reviewed: scrubbed (the other run drops it, the default).
REVIEWED = {"fhir": "scrub", "sdtm": "scrub", "odm": "scrub"}
#: Files whose text is read as it is (zarr's metadata is JSON; its chunks are numbers).
_TEXT_SUFFIXES = {".json", ".csv", ".txt", ".md", ".html", ".xml", ".yaml"}
_TEXT_NAMES = {".zattrs", ".zarray", ".zgroup", ".zmetadata", "zarr.json"}


def published_text(out: Path) -> str:
    """Every published file's text: Parquet tables (values and column names) as CSV, and
    the text files (JSON, CSV, zarr metadata...) as they are; file names included."""
    parts = []
    for f in sorted(out.rglob("*")):
        parts.append(str(f.relative_to(out)))
        if f.suffix == ".parquet":
            table = pd.read_parquet(f)
            parts.append(table.astype(str).to_csv(index=False))
            parts.extend(table.columns)
        elif f.is_file() and (f.suffix in _TEXT_SUFFIXES or f.name in _TEXT_NAMES):
            parts.append(f.read_text(errors="replace"))
    return "\n".join(parts)


def small_study(root: Path) -> Path:
    """A generated study of 4 patients (half of them with a wearable) in ``root/raw``."""
    generate_study(root / "raw", root / "truth", SynthConfig(n_patients=4, seed=5,
                                                             wearable_fraction=0.5))  # fmt: skip
    return root / "raw"


def run_both(
    raw: Path, root: Path, *, age_reference: str | None = "2026-12-01", **config
) -> dict[str, HarmonizeResult]:
    """``raw`` harmonized twice, into ``root/scrub`` (free text reviewed: scrubbed) and
    ``root/default`` (nobody reviewed it: dropped), each with its raw zone beside it."""
    out = {}
    for label, free_text, age in (("scrub", REVIEWED, age_reference), ("default", {}, None)):
        cfg = HarmonizeConfig(free_text=free_text, age_reference=age, **config)
        out[label] = harmonize(
            [raw], out_dir=root / label, raw_zone=root / f"{label}-zone", config=cfg,
            key=KEY, keyring=KEYRING,
        )  # fmt: skip
    return out


def fhir_entry(resource: dict, url: str | None = None) -> dict:
    """A transaction bundle entry that POSTs ``resource``."""
    return {"fullUrl": url or f"urn:uuid:planted-{resource['id']}", "resource": resource,
            "request": {"method": "POST", "url": resource["resourceType"]}}  # fmt: skip


def observation_like(template: dict, rid: str, **fields) -> dict:
    """A copy of Observation ``template`` with id ``rid`` and ``fields``, no value."""
    obs = json.loads(json.dumps(template))
    obs["id"] = rid
    obs.pop("valueQuantity", None)
    obs.update(fields)
    return obs


def where_found(root: Path, label: str, value: str) -> list[str]:
    """Where a leaked value is (file and column), for the failure message."""
    found = []
    for f in sorted((root / label).rglob("*")):
        if f.suffix == ".parquet":
            table = pd.read_parquet(f).astype(str)
            for col in table.columns:
                hit = table[col].str.contains(re.escape(value), case=False, regex=True)
                if hit.any():
                    found.append(f"{f.name}:{col}: {table.loc[hit, col].iloc[0][:200]}")
        elif f.is_file() and value.lower() in f.read_text(errors="replace").lower():
            found.append(f.name)
    return found
