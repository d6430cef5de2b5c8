"""Every real public file ingests without a crash; a real mixed batch harmonizes without leaks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from twinlab.deid import DeidKey
from twinlab.harmonize import harmonize
from twinlab.ingest import read_sources
from twinlab.security.crypto import Keyring

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")


def test_every_shared_file_reads_and_reconciles():
    results = read_sources([SHARED])
    counts = pd.DataFrame([r.counts for r in results])
    assert len(counts) > 90
    assert (counts.records_in == counts.accepted + counts.quarantined).all()
    # every supported format is recognized on its real files
    assert {"fhir", "sdtm", "odm", "vcf", "wearables"} <= set(counts["format"])
    unknown = counts[counts["format"] == "unknown"]["source_file"]
    assert not unknown.str.endswith((".xpt", ".vcf", ".vcf.gz", ".bgz", ".xml", ".awd")).any()


def _synthea_names() -> set[str]:
    names = set()
    for file in (SHARED / "fhir" / "synthea_smart").glob("*.json"):
        for entry in json.loads(file.read_text()).get("entry", []):
            res = entry["resource"]
            if res["resourceType"] == "Patient":
                for name in res.get("name", []):
                    names.update(n for n in [name.get("family"), *name.get("given", [])] if n)
                names.update(i["value"] for i in res.get("identifier", []) if len(i["value"]) > 6)
    return names


def test_real_mixed_batch_harmonizes_without_leaking_identifiers(tmp_path):
    sources = [SHARED / "fhir", SHARED / "sdtm" / "pharmaversesdtm", SHARED / "odm",
               SHARED / "genomics" / "pharmcat_getrm", SHARED / "wearables"]  # fmt: skip
    result = harmonize(
        sources, out_dir=tmp_path / "out", raw_zone=tmp_path / "zone",
        key=DeidKey(b"real-data-test-deid-key-32-bytes"),
        keyring=Keyring({"t": b"real-data-test-master-key-32-byt"}),
    )  # fmt: skip
    assert result.report["reconciles"]
    assert result.report["timeline"]["patients"] > 300
    assert result.phi_findings == []
    names = _synthea_names()
    assert len(names) > 50
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(names))) + r")\b")
    outputs = [f for f in (tmp_path / "out").rglob("*") if f.is_file()]
    # zarr chunks hold compressed numbers; their metadata (attributes) is text
    outputs = [f for f in outputs if ".zarr" not in str(f) or f.name == "zarr.json"]
    assert any(f.name == "events.parquet" for f in outputs)
    for file in outputs:
        text = (
            json.dumps(pq.read_table(file).to_pylist(), default=str)
            if file.suffix == ".parquet"
            else file.read_text()
        )
        assert pattern.search(text) is None, f"{file.name} holds a Synthea name or identifier"
