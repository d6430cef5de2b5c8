"""The audit trail is read by roles without patient-level access (``view_audit``: admins,
in the reviewer dashboard), so the body of a patient-level request (enrolled subjects and
their covariates) is audited as its hash only, whether the request is answered or refused;
aggregate requests keep their body."""

from __future__ import annotations

import json

import pandas as pd


def _entries(audit_path, target: str) -> list[dict]:
    lines = audit_path.read_text().splitlines() if audit_path.is_file() else []
    return [e for e in map(json.loads, lines) if e.get("target") == target]


def test_patient_level_bodies_are_audited_as_their_hash(api, api_project, audit_path):
    table = pd.read_parquet(api_project / "results/demo/patients.parquet")
    subject = sorted(set(table["source"]))[0]
    covariates = {"WT": 71.234567, "CRCL": 98.765432, "CYP2C9": 1.0}  # as enrolled
    body = {"run": "demo", "control_arm": "T100", "target": "auc",
            "subjects": [{"subject": subject, "covariates": covariates}]}  # fmt: skip
    before = len(_entries(audit_path, "/v1/prognostic-scores"))
    for client in ("reviewer-app", "stakeholder-app"):  # answered, then refused (403)
        with api.http(headers={"Authorization": f"Bearer {api.token(client)}"}) as http:
            r = http.post("/v1/prognostic-scores", json=body)
            assert r.status_code == (200 if client == "reviewer-app" else 403), r.text
    export = {"run": "demo", "arm": "T100", "control_arm": "T100", "target": "auc",
              "subjects": [subject], "study_oid": "S-PHI"}  # fmt: skip
    with api.http(headers={"Authorization": f"Bearer {api.token('reviewer-app')}"}) as http:
        http.post("/v1/edc/export", json=export)  # answered or not: its body is the subjects
    with api.http(headers={"Authorization": f"Bearer {api.token('modeler-app')}"}) as http:
        power = {"delta": 1, "sd": 2, "n_total": 100}
        assert http.post("/v1/trials/power", json=power).status_code == 200
    scored = _entries(audit_path, "/v1/prognostic-scores")[before:]
    exported = _entries(audit_path, "/v1/edc/export")[-1:]
    assert [e["params"]["status"] for e in scored] == [200, 403]
    for entry in [*scored, *exported]:
        assert "body" not in entry["params"] and len(entry["params"]["body_sha256"]) == 64
        assert subject not in json.dumps(entry) and "71.234567" not in json.dumps(entry)
    assert _entries(audit_path, "/v1/trials/power")[-1]["params"]["body"] == power
