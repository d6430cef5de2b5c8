"""Results reads, trial analyses, prognostic scores and load limits on a real server."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow.parquet as pq
from api_fixtures import serving

from twinlab.trials.analytic import procova_sample_size


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_patients_paged_filtered_json_and_parquet(api, api_project):
    truth = pd.read_parquet(api_project / "results" / "demo" / "patients.parquet")
    want = truth[(truth["arm"] == "T100") & (truth["draw"] == 1)].sort_values("vpid")
    token = api.token("modeler-app")
    with api.http(headers=_auth(token)) as http:
        runs = {r["run"]: r for r in http.get("/v1/results").json()}
        assert runs["demo"]["model"] == "twin_test" and runs["demo"]["model_version"] == 1
        params = {"arm": "T100", "draw": 1, "limit": 7, "offset": 7, "column": ["vpid", "cmax"]}
        page = http.get("/v1/results/demo/patients", params=params).json()
        assert page["total"] == len(want) == 60
        assert [r["vpid"] for r in page["items"]] == want["vpid"].iloc[7:14].tolist()
        assert [r["cmax"] for r in page["items"]] == want["cmax"].iloc[7:14].tolist()
        raw = http.get("/v1/results/demo/patients", params={**params, "format": "parquet"})
        assert raw.headers["content-type"] == "application/vnd.apache.parquet"
        table = pq.read_table(io.BytesIO(raw.content)).to_pandas()
        assert table["cmax"].tolist() == want["cmax"].iloc[7:14].tolist()
        assert http.get("/v1/results/demo/patients", params={"column": "nope"}).status_code == 400
        assert http.get("/v1/results/missing/patients").status_code == 404
        assert http.get("/v1/results/..%2F..%2Fetc/patients").status_code in (404, 422)


def test_trial_analyses(api):
    token = api.token("stakeholder-app")
    design = {"delta": 0.4, "sd": 1.0, "rho": 0.6}
    with api.http(headers=_auth(token)) as http:
        size = http.post("/v1/trials/sample-size", json=design).json()
        assert size["n_procova"] == procova_sample_size(0.4, 1.0, rho=0.6)
        assert size["n_procova"] < size["n_unadjusted"]
        power = http.post("/v1/trials/power", json={**design, "n_total": size["n_procova"]})
        assert power.json()["power"] >= 0.8 > power.json()["power_unadjusted"]
        assert http.post("/v1/trials/power", json={"delta": -1}).status_code == 422


def test_prognostic_scores_name_the_twin(api):
    subjects = [
        {"subject": "P-A", "covariates": {"WT": 60.0, "CRCL": 50.0, "CYP2C9": 0.0}},
        {"subject": "P-B", "covariates": {"WT": 100.0, "CRCL": 130.0, "CYP2C9": 2.0}},
    ]
    body = {"run": "demo", "control_arm": "T100", "target": "auc", "subjects": subjects}
    with api.http(headers=_auth(api.token("modeler-app"))) as http:
        r = http.post("/v1/prognostic-scores", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["twin"]["name"] == "twin_test" and out["twin"]["version"] == 1
    assert len(out["model"]["data_hash"]) == 64
    a, b = (s["score"] for s in out["scores"])
    assert a > b  # lower clearance (CrCL, genotype), higher exposure
    # enrolled subjects by pseudonym only: their de-identified baseline from their twins
    truth = pd.read_parquet(api.settings.results / "demo" / "patients.parquet")
    real = sorted(set(truth["source"]) - {""})[:3]
    by_id = {**body, "subjects": [{"subject": p} for p in real]}
    with api.http(headers=_auth(api.token("modeler-app"))) as http:
        scored = http.post("/v1/prognostic-scores", json=by_id).json()["scores"]
        unknown = {**body, "subjects": [{"subject": "P-NOBODY"}]}
        assert http.post("/v1/prognostic-scores", json=unknown).status_code == 400
    given = [
        {"subject": p, "covariates": truth[truth["source"] == p].iloc[0][["WT", "CRCL", "CYP2C9"]]
         .astype(float).to_dict()}
        for p in real
    ]  # fmt: skip
    with api.http(headers=_auth(api.token("modeler-app"))) as http:
        same = http.post("/v1/prognostic-scores", json={**body, "subjects": given}).json()
    assert [s["score"] for s in scored] == [s["score"] for s in same["scores"]]
    with api.http(headers=_auth(api.token("stakeholder-app"))) as http:
        assert http.post("/v1/prognostic-scores", json=body).status_code == 403


def test_rate_limit_body_limit(api_settings, api_secrets, audit_path):
    tight = api_settings.with_(rate_per_s=0.5, burst=3.0, max_body_bytes=2048)
    with serving(tight, api_secrets) as srv:
        token = srv.token("modeler-app")
        with srv.http(headers=_auth(token)) as http:
            codes = [http.get("/v1/models").status_code for _ in range(6)]
            assert codes.count(200) <= 3 and codes[-1] == 429
            r = http.get("/v1/models")
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            big = http.post(
                "/v1/trials/power",
                content=b"{" + b" " * 5000 + b"}",
                headers={"content-type": "application/json"},
            )
            assert big.status_code == 413


def test_dose_recommendation(api, api_project):
    from twinlab.trials.dose import recommend_regimen

    truth = pd.read_parquet(api_project / "results" / "demo" / "patients.parquet")
    want = recommend_regimen(truth, metric="cmax", target=0.5).iloc[0]
    body = {"run": "demo", "metric": "cmax", "target": 0.5}
    with api.http(headers=_auth(api.token("stakeholder-app"))) as http:
        r = http.post("/v1/trials/dose", json=body)
        assert r.status_code == 200, r.text  # the whole population passes the disclosure rule
        out = r.json()
        expected = None if pd.isna(want["recommended"]) else want["recommended"]
        assert out["recommended"] == expected and "none" in out["shares"]
        assert (
            http.post("/v1/trials/dose", json={**body, "safety_metric": "cmax"}).status_code == 400
        )


def test_a_corrupt_result_file_is_a_500_without_the_servers_paths(api, api_project, tmp_path):
    """Arrow's errors are ValueErrors whose messages name the file: a stored result that
    cannot be read is the server's fault (500), and its path is not told to the client."""
    import shutil

    results = tmp_path / "results"
    shutil.copytree(api_project / "results" / "demo", results / "demo")
    (results / "demo" / "patients.parquet").write_bytes(b"PAR1 not a parquet file PAR1")
    settings = api.settings.with_(results=results)
    with serving(settings, api.secrets) as served:
        with served.http(headers=_auth(served.token("modeler-app"))) as http:
            answers = [
                http.get("/v1/results/demo/summary", params={"metric": "cmax"}),
                http.get("/v1/results/demo/patients"),
            ]
    for r in answers:
        assert r.status_code == 500, (r.status_code, r.text)
        assert str(tmp_path) not in r.text and "parquet" not in r.text.lower()
