"""Hardening found by attacking the service: security headers on every answer, no
third-party script pages, validation errors that neither echo input nor fail on NaN, 404s
that name no server folder, malformed scope claims refused, and X-Forwarded-For not
trusted by ``serve``."""

from __future__ import annotations

import pandas as pd
import pytest
from api_fixtures import serving

from twinlab.api import server
from twinlab.api.settings import ApiSettings


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_security_headers_and_no_docs_pages(api):
    token = api.token("modeler-app")
    with api.http() as http:
        answers = [
            http.get("/v1/results", headers=_auth(token)),
            http.get("/v1/results/nope/arms", headers=_auth(token)),
            http.get("/v1/results"),
            http.get("/openapi.json"),
        ]
        docs = [http.get(p).status_code for p in ("/docs", "/redoc", "/docs/oauth2-redirect")]
    assert [r.status_code for r in answers] == [200, 404, 401, 200]
    for r in answers:
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["strict-transport-security"].startswith("max-age=")
        assert "access-control-allow-origin" not in r.headers
    assert docs == [404, 404, 404]


@pytest.mark.parametrize(
    "body",
    [
        b'{"delta": NaN, "sd": 1, "n_total": 10}',
        b'{"delta": 1e999, "sd": 1, "n_total": 10}',
        b'{"delta": 1, "sd": 1, "n_total": 10, "secret": "SUBJ-0042 Jane Doe"}',
    ],
)
def test_validation_errors_are_4xx_and_echo_nothing(api, body):
    token = api.token("modeler-app")
    with api.http() as http:
        r = http.post(
            "/v1/trials/power",
            content=body,
            headers={**_auth(token), "Content-Type": "application/json"},
        )
    assert r.status_code == 422, r.text
    assert "Jane Doe" not in r.text and '"input"' not in r.text
    assert all({"loc", "msg", "type"} == set(e) for e in r.json()["detail"])


def test_not_found_names_no_server_folder(api):
    token = api.token("modeler-app")
    paths = ["/v1/models/nope/versions/1", "/v1/models/nope/versions/1/validation",
             "/v1/models/nope/versions/1/lineage", "/v1/models/twin_test/versions/99"]  # fmt: skip
    with api.http() as http:
        answers = [http.get(p, headers=_auth(token)) for p in paths]
    assert [r.status_code for r in answers] == [404] * 4
    for r in answers:
        assert str(api.settings.models) not in r.text and "/" not in r.json()["detail"]
    assert answers[3].json()["detail"] == "model 'twin_test' has no version 99 (have [1])"


@pytest.mark.parametrize("claims", [{"scope": 123}, {"scope": None, "scp": 5}, {"scope": {}}])
def test_malformed_scope_claim_refused(api, claims):
    with api.http() as http:
        r = http.get("/v1/results", headers=_auth(api.forge(**claims)))
    assert r.status_code == 401 and "scope" in r.json()["detail"]


def test_serve_does_not_trust_forwarded_headers(tmp_path, monkeypatch):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    monkeypatch.setattr(server, "prepare_audit", lambda project: tmp_path / "audit.jsonl")
    settings = ApiSettings.for_project(tmp_path, key_dir=tmp_path / "keys")
    server.serve(settings, insecure_http=True)
    assert seen["proxy_headers"] is False


def test_retired_key_stops_verifying_without_a_restart(api_settings, api_secrets, tmp_path):
    from twinlab.api.keys import retire, rotate

    settings = api_settings.with_(key_dir=tmp_path / "keys")
    with serving(settings, api_secrets) as served:
        old = served.token("modeler-app")
        with served.http() as http:
            assert http.get("/v1/results", headers=_auth(old)).status_code == 200
            rotate(settings.key_dir)
            assert len(retire(settings.key_dir, keep=1)) == 1  # the old key, e.g. leaked
            r = http.get("/v1/results", headers=_auth(old))
            assert r.status_code == 401 and "unknown key" in r.json()["detail"]
            new = served.token("modeler-app")
            assert http.get("/v1/results", headers=_auth(new)).status_code == 200


def test_failed_job_error_names_no_server_folder(api_settings, tmp_path):
    from twinlab.api.jobs import JobManager, JobRequest

    settings = api_settings.with_(results=tmp_path / "results")
    manager = JobManager(settings, client_factory=lambda: None)  # fails before any cluster
    job, _ = manager.submit("c", JobRequest(arms={"A": None}, model="nope"))
    manager._run(manager.get(job["id"]))
    failed = manager.get(job["id"])
    assert failed["state"] == "failed" and "no model 'nope'" in failed["error"]
    assert str(settings.models.parent) not in failed["error"], failed["error"]
    assert "/" not in failed["error"]
    manager.stop()


def test_prognostic_scores_and_export_of_degenerate_models_are_400(api, api_project, tmp_path):
    subjects = sorted(set(pd.read_parquet(api_project / "results/demo/patients.parquet")["source"]))
    scores = [  # a placebo arm's change from baseline is constant; vpid is no outcome
        ({"control_arm": "Placebo"}, 400, "does not vary"),
        ({"control_arm": "T100", "target": "vpid"}, 400, "no outcome 'vpid'"),
    ]
    with api.http(headers=_auth(api.token("modeler-app"))) as http:
        for extra, code, why in scores:
            body = {"run": "demo", "subjects": [{"subject": subjects[0]}], **extra}
            r = http.post("/v1/prognostic-scores", json=body)
            assert r.status_code == code and why in r.json()["detail"], r.text
        covariates = {"WT": 1e308, "CRCL": 1.0}
        huge = {"run": "demo", "control_arm": "T100", "target": "auc",
                "subjects": [{"subject": "s1", "covariates": covariates}]}  # fmt: skip
        assert http.post("/v1/prognostic-scores", json=huge).status_code == 422
    export = {"run": "demo", "arm": "T100", "control_arm": "Placebo", "subjects": subjects[:2],
              "study_oid": "S1"}  # fmt: skip
    with api.http(headers=_auth(api.token("reviewer-app"))) as http:
        r = http.post("/v1/edc/export", json=export)
        assert r.status_code == 400 and "does not vary" in r.json()["detail"], r.text
    settings = api.settings.with_(raw_zone=tmp_path / "no-raw-zone")
    with serving(settings, api.secrets) as served:
        with served.http(headers=_auth(served.token("reviewer-app"))) as http:
            r = http.post("/v1/edc/export", json={**export, "target": "effect_end"})
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == "not on the server: crosswalk.parquet.enc"


@pytest.mark.parametrize("loose", ["signing key", "clients file", "TLS key", "self-signed TLS key"])
def test_serve_refuses_secrets_others_may_read(tmp_path, monkeypatch, loose):
    import uvicorn

    from twinlab.api.clients import add_client
    from twinlab.api.keys import rotate

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("served"))
    monkeypatch.setattr(server, "prepare_audit", lambda project: tmp_path / "audit.jsonl")
    home = tmp_path / "home"
    settings = ApiSettings.for_project(
        tmp_path, key_dir=home / "keys", clients_file=home / "clients.json"
    )
    add_client(settings.clients_file, "etl-1", "reviewer")
    kid = rotate(settings.key_dir)
    tls: dict = {"insecure_http": True}
    if loose == "signing key":
        (settings.key_dir / f"{kid}.es256.pem").chmod(0o644)
    elif loose == "clients file":
        settings.clients_file.chmod(0o640)
    elif loose == "self-signed TLS key":  # made by an earlier start, loosened since
        from twinlab.api.keys import tls_files

        tls_files(settings.key_dir)[1].chmod(0o644)
        tls = {}
    else:  # a key the user brings: checked as the ones made here
        cert, key = home / "server.crt", home / "server.key"
        cert.write_text("certificate")
        key.write_text("private key")
        key.chmod(0o644)
        tls = {"tls_cert": cert, "tls_key": key}
    with pytest.raises(ValueError, match="chmod 600"):
        server.serve(settings, **tls)


def test_one_client_cannot_fill_the_job_queue(api, tmp_path):
    from twinlab.api.clients import add_client
    from twinlab.api.jobs import JobManager

    settings = api.settings.with_(
        results=tmp_path / "results", max_jobs=4, clients_file=tmp_path / "clients.json"
    )
    for client in ("greedy", "other", "third"):
        add_client(settings.clients_file, client, "stakeholder")
    jobs = JobManager(settings)
    jobs.start = lambda: None  # never started: jobs stay queued, nothing runs
    job = {"arms": {"A": {"dose": 1}}, "n_patients": 5}
    with serving(settings, api.secrets, jobs=jobs) as served, served.http() as http:

        def submit(client: str, **extra: object) -> int:
            token = served.forge(sub=client, twinlab_role="stakeholder", scope="simulate")
            return http.post("/v1/jobs", json={**job, **extra}, headers=_auth(token)).status_code

        assert [submit("greedy", seed=s) for s in range(3)] == [201, 201, 429]
        assert submit("other") == 201  # the others still get their share
        assert submit("other", seed=2) == 201
        assert submit("third") == 503  # and the whole queue stays bounded


def test_summary_metrics_and_card_paths(api):
    stakeholder, modeler = api.token("stakeholder-app"), api.token("modeler-app")
    with api.http() as http:

        def summary(token: str, metric: str) -> int:
            r = http.get("/v1/results/demo/summary", params={"metric": metric},
                         headers=_auth(token))  # fmt: skip
            return r.status_code

        # covariates are no outcome for aggregate-only callers (p05/p95 of a small cell is
        # one real patient's value); a covariate that is also a band column was a 500
        assert [summary(stakeholder, m) for m in ("AGE", "WT", "SEX", "effect_baseline")] == [
            400
        ] * 4
        assert summary(stakeholder, "cmax") == 200
        assert [summary(modeler, m) for m in ("AGE", "WT", "CRCL", "CYP2C9")] == [200] * 4
        card = http.get("/v1/models/twin_test/versions/1", headers=_auth(stakeholder)).json()
    assert card["data_file"] == "twin.csv"  # the file's name, not the server's path
    assert str(api.settings.project) not in str(card)


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://idp.example.org/realms/trials/certs", True),
        ("http://127.0.0.1:8080/certs", True),
        ("http://localhost/certs", True),
        ("http://idp.example.org/realms/trials/certs", False),
        ("file:///etc/twinlab/jwks.json", False),
        ("ftp://idp.example.org/certs", False),
    ],
)
def test_external_jwks_only_over_https(tmp_path, url, ok):
    from twinlab.api.tokens import TokenVerifier

    settings = ApiSettings(jwks_url=url, key_dir=tmp_path)
    if ok:
        TokenVerifier(settings)
    else:
        with pytest.raises(ValueError, match="must be https"):
            TokenVerifier(settings)


def test_the_job_services_cluster_serves_no_dask_dashboard_or_info_pages(api, tmp_path):
    """The API's own local cluster: no Dask dashboard and no info pages (plain HTTP without
    a login, where anyone on the machine could read task keys, call stacks and worker
    logs); its scheduler answers its health check only."""
    import urllib.error
    import urllib.request

    from twinlab.api.jobs import JobManager

    settings = api.settings.with_(results=tmp_path / "results", dask_workers=1, dask_address=None)
    jobs = JobManager(settings)
    try:
        client = jobs._dask()
        assert client.submit(sum, [1, 2]).result() == 3  # the cluster itself works
        port = client.scheduler_info()["services"]["dashboard"]
        base = f"http://127.0.0.1:{port}"
        assert urllib.request.urlopen(f"{base}/health", timeout=10).read() == b"ok"
        for page in ("/status", "/info/main/workers.html", "/json/identity.json"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + page, timeout=10)
            assert refused.value.code == 404, page
    finally:
        jobs._stack.close()


def _b64(obj: object) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("alg", ["SUBJ-0042 Jane Doe", "HS256" + "A" * 4000, ["ES256"]])
def test_a_refused_tokens_header_is_echoed_neither_to_the_caller_nor_the_audit(
    api, audit_path, alg
):
    """Anyone could write their own text (a name, kilobytes of it) into the 401 and into
    the signed, append-only trail through a token's ``alg``."""
    token = f"{_b64({'alg': alg, 'kid': 'k'})}.{_b64({'sub': 'x'})}.AAAA"
    with api.http() as http:
        r = http.get("/v1/results", headers=_auth(token))
    assert r.status_code == 401 and "not accepted" in r.json()["detail"]
    assert "Jane" not in r.text and "AAAAAAAA" not in r.text and len(r.text) < 200
    trail = audit_path.read_text()
    assert "Jane Doe" not in trail and "A" * 100 not in trail
