"""EDC export: an ODM 1.3.2 transaction file, schema-valid, keyed by the EDC's subject keys
(mapped in the raw zone), that the project's ODM reader reads back to the same values."""

from __future__ import annotations

import io
import json
import os
import stat

import pandas as pd
import pytest

from twinlab.api.odm_export import (
    ExportItem,
    OdmSchemaError,
    build_odm,
    export_odm,
    validate_odm,
)
from twinlab.ingest.odm import read_odm
from twinlab.security.access import PermissionDenied
from twinlab.security.crypto import encrypt_bytes, load_keyring


def _keyring(master_key):
    """The keyring the server loads from ``$TWINLAB_MASTER_KEY`` (set while tests run)."""
    before = os.environ.get("TWINLAB_MASTER_KEY")
    os.environ["TWINLAB_MASTER_KEY"] = master_key
    try:
        return load_keyring()
    finally:
        if before is None:
            os.environ.pop("TWINLAB_MASTER_KEY")
        else:
            os.environ["TWINLAB_MASTER_KEY"] = before


@pytest.fixture(scope="module")
def edc_keys(api_project, master_key):
    """The raw zone's crosswalk: each real patient of the run <- an EDC subject key."""
    sources = pd.read_parquet(api_project / "results" / "demo" / "lineage.parquet")["source"]
    sources = sorted(s for s in set(sources.astype(str)) if s)
    keys = {s: f"SITE01-{n:03d}" for n, s in enumerate(sources, 1)}
    table = pd.DataFrame(
        {"source_patient": [f"usubjid:{k}" for k in keys.values()], "patient_id": list(keys),
         "shift_days": 0}
    )  # fmt: skip
    sink = io.BytesIO()
    table.to_parquet(sink, index=False)
    zone = api_project / "data" / "raw_zone"
    zone.mkdir(parents=True, exist_ok=True)
    ring = _keyring(master_key)
    blob = encrypt_bytes(sink.getvalue(), context="crosswalk.parquet", keyring=ring)
    (zone / "crosswalk.parquet.enc").write_bytes(blob)
    return keys


@pytest.mark.parametrize("metadata", [False, True])
def test_export_validates_and_round_trips(api, edc_keys, tmp_path, audit_path, metadata):
    subjects = list(edc_keys)[:5]
    body = {
        "run": "demo",
        "arm": "T100",
        "control_arm": "Placebo",
        "target": "effect_end",
        "subjects": subjects,
        "study_oid": "TWL-001",
        "include_metadata": metadata,
    }
    with api.http(headers={"Authorization": f"Bearer {api.token('reviewer-app')}"}) as http:
        r = http.post("/v1/edc/export", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    validate_odm(r.content)
    assert not any(s.encode() in r.content for s in subjects)  # no pseudonym leaves for the EDC
    file = tmp_path / "export.xml"
    file.write_bytes(r.content)
    back = read_odm(file)
    assert back.records_accepted == 5 and back.quarantine.empty
    assert sorted(back.persons["source_patient"]) == sorted(edc_keys[s] for s in subjects)
    truth = pd.read_parquet(api.settings.project / "results" / "demo" / "patients.parquet")
    for s in subjects:
        key = edc_keys[s]
        ev = back.events[back.events["source_patient"] == key].set_index("code")
        want = truth[(truth["source"] == s) & (truth["arm"] == "T100")]["cmax"].mean()
        got = ev.loc["IT.TWIN.CMAX"]
        value = got["value_num"] if metadata else float(got["orig_value"])
        assert value == want  # exact: plain decimal notation reads back to the same float
        assert ev.loc["IT.TWIN.VERSION", "orig_value"] == "twin_test/1"
    entries = [json.loads(x) for x in audit_path.read_text().splitlines()]
    assert any(e["action"] == "api.edc_export" and e["actor"] == "reviewer-app" for e in entries)
    assert any(e["action"] == "lineage.crosswalk" for e in entries)
    written = api.settings.raw_zone / "edc"  # the EDC's subject keys in plain text: private
    assert stat.S_IMODE(written.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in written.iterdir())


def test_export_refused_without_the_role_and_invalid_documents(api, edc_keys, tmp_path):
    items = [ExportItem("IT.X", "x")]
    rows = [{"subject": next(iter(edc_keys)), "IT.X": 1.5}]
    with pytest.raises(PermissionDenied):
        export_odm(rows, items, out=tmp_path / "x.xml", raw_zone=api.settings.raw_zone,
                   study_oid="S", role="modeler")  # fmt: skip
    assert not (tmp_path / "x.xml").exists()
    data = build_odm([{"subject_key": "K1", "IT.X": 1.5}], items, study_oid="S")
    validate_odm(data)
    with pytest.raises(OdmSchemaError, match=r"ODM 1\.3\.2 schema"):
        validate_odm(data.replace(b'TransactionType="Upsert"', b'TransactionType="Merge"'))
    with pytest.raises(OdmSchemaError):
        validate_odm(b"<ODM")
    with api.http(headers={"Authorization": f"Bearer {api.token('modeler-app')}"}) as http:
        body = {"run": "demo", "arm": "T100", "control_arm": "Placebo", "subjects": ["P-X"],
                "study_oid": "S"}  # fmt: skip
        assert http.post("/v1/edc/export", json=body).status_code == 403
