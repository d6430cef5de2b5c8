"""The request guard on its own: a slow request is answered 504, a large body 413, a bug
500, and all are audited as what they are."""

from __future__ import annotations

import asyncio
import json

import pytest

from twinlab.api.middleware import ServiceGuard


async def _slow(scope, receive, send):
    await receive()
    await asyncio.sleep(5)


async def _echo(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _call(app, body=b"", headers=()):
    scope = {"type": "http", "method": "POST", "path": "/x", "query_string": b"a=1",
             "headers": list(headers)}  # fmt: skip
    chunks = [body[i : i + 100] for i in range(0, len(body), 100)] or [b""]
    sent = []

    async def receive():
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_timeout_and_body_limit(tmp_path, monkeypatch):
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(log))
    slow = _call(ServiceGuard(_slow, max_body_bytes=1000, timeout_s=0.2))
    assert slow[0]["status"] == 504
    chunked = _call(ServiceGuard(_echo, max_body_bytes=250, timeout_s=5), body=b"x" * 1000)
    assert chunked[0]["status"] == 413  # no Content-Length: counted as it arrives
    declared = _call(ServiceGuard(_echo, max_body_bytes=250, timeout_s=5), body=b"x" * 10,
                     headers=[(b"content-length", b"5000")])  # fmt: skip
    assert declared[0]["status"] == 413
    ok = _call(ServiceGuard(_echo, max_body_bytes=250, timeout_s=5), body=b"y" * 200)
    assert ok[0]["status"] == 200 and ok[1]["body"] == b"y" * 200
    entries = [json.loads(x) for x in log.read_text().splitlines()]
    requests = [e for e in entries if e["action"] == "api.request"]
    assert [e["new"]["status"] for e in requests] == [504, 413, 413, 200]
    assert "took over" in requests[0]["params"]["refusal"]
    assert requests[3]["params"]["query"] == {"a": "1"} and requests[3]["params"]["body_sha256"]


async def _broken(scope, receive, send):
    await receive()
    raise RuntimeError("a bug at /srv/secret/path")


def test_unhandled_error_is_answered_and_audited(tmp_path, monkeypatch):
    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("TWINLAB_AUDIT_LOG", str(log))
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": "/x", "query_string": b"", "headers": []}
    guard = ServiceGuard(_broken, max_body_bytes=1000, timeout_s=5)
    with pytest.raises(RuntimeError):  # still raised: the server logs it
        asyncio.run(guard(scope, receive, send))
    assert sent[0]["status"] == 500 and json.loads(sent[1]["body"]) == {"detail": "internal error"}
    assert (b"cache-control", b"no-store") in sent[0]["headers"]
    (entry,) = [json.loads(x) for x in log.read_text().splitlines() if '"api.' in x]
    assert entry["action"] == "api.request" and entry["new"]["status"] == 500
    assert entry["params"]["refusal"] == "internal error" and "/srv" not in json.dumps(entry)


def test_timed_out_sync_handlers_hold_no_more_threads_than_the_pool(api, monkeypatch):
    """Handlers past their time keep their worker thread (they cannot be stopped) and their
    token of the pool: requests after them wait for a thread and are answered 504 without
    starting, and the 504s are audited although every handler thread is taken."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from api_fixtures import serving

    from twinlab.api import registry_views

    release, lock, started = threading.Event(), threading.Lock(), []

    def stuck(root):
        with lock:
            started.append(threading.get_ident())
        release.wait(60)
        return []

    monkeypatch.setattr(registry_views, "models", stuck)
    settings = api.settings.with_(timeout_s=2.0, max_threads=2)  # ample to start
    with serving(settings, api.secrets) as served:
        auth = {"Authorization": f"Bearer {served.forge(scope='read_aggregate')}"}

        def get(_: int) -> int:
            with served.http() as http:
                return http.get("/v1/models", headers=auth).status_code

        try:
            with ThreadPoolExecutor(4) as pool:
                first = list(pool.map(get, range(2)))  # take both threads, time out
                then = list(pool.map(get, range(4)))  # find none free
        finally:
            release.set()  # before the server stops: it waits for its handlers
    assert first == [504, 504] and then == [504] * 4
    assert len(started) == 2  # the later requests never started a handler


def test_a_504_means_no_job_and_a_job_under_way_gets_its_answer(api, tmp_path, monkeypatch):
    """A sync handler cannot be stopped in its thread: past the timeout, the request is
    answered 504 and its side effect (queuing the job) is refused; a handler that began its
    side effect before the timeout is answered for real, late, never 504."""
    import threading
    import time

    from api_fixtures import serving

    from twinlab.api import jobs as jobs_module
    from twinlab.api.jobs import JobManager

    settings = api.settings.with_(timeout_s=2.0, results=tmp_path / "results")
    manager = JobManager(settings)
    monkeypatch.setattr(manager, "start", lambda: None)  # jobs are queued, none is run
    scenario = {"scenario": "late", "model": "twin_test", "arms": {"A": {"dose": 10}},
                "regimen": {"interval_h": 24, "n_doses": 1}, "n_patients": 4,
                "times": {"start": 0, "stop": 24, "step": 12}, "seed": 1}  # fmt: skip
    side_effect, ended, outcome = jobs_module.side_effect, threading.Event(), []

    def late_side_effect(request):  # the handler was slow before its side effect
        time.sleep(5.0)
        try:
            side_effect(request)
            outcome.append("acted")
        except Exception as exc:
            outcome.append(getattr(exc, "status_code", exc))
            raise
        finally:
            ended.set()

    submit = manager.submit

    def slow_submit(*args, **kwargs):  # the side effect itself is slow
        time.sleep(4.0)
        return submit(*args, **kwargs)

    with serving(settings, api.secrets, jobs=manager) as served:
        auth = {"Authorization": f"Bearer {served.token('stakeholder-app')}"}
        with served.http(headers=auth) as http:
            monkeypatch.setattr(jobs_module, "side_effect", late_side_effect)
            r = http.post("/v1/jobs", json=scenario, headers={"Idempotency-Key": "k1"})
            assert r.status_code == 504
            assert ended.wait(30) and outcome == [504]
            assert manager.list("stakeholder-app") == []  # the retry below is the first job
            monkeypatch.setattr(jobs_module, "side_effect", side_effect)
            monkeypatch.setattr(manager, "submit", slow_submit)
            r = http.post("/v1/jobs", json=scenario, headers={"Idempotency-Key": "k1"})
            assert r.status_code == 201, r.text
            assert [j["id"] for j in manager.list("stakeholder-app")] == [r.json()["id"]]
