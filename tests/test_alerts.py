"""Alerts: one JSON message to a webhook when a run needs a person (cleanwire/report/alerts.py).

A real HTTP receiver (a thread serving 127.0.0.1 on a free port) takes the
POSTs; real runs of the flow produce them: a gate refusal, a drift alarm, a
stale source and a failed run each deliver one message naming the run, the
input, the failed expectation with its source, observed value and threshold,
the counts and the report. A webhook that refuses connections or never
answers leaves the run's result as it was and costs at most 5 s.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import helpers as h
import pytest

from cleanwire.config import DEFAULT_SUITES
from cleanwire.report import alerts


@pytest.fixture
def receiver():
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it; `answers` are the
    status codes of its next replies (200 once they run out)."""
    got: list[dict] = []
    answers: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.append({"path": self.path, "content_type": self.headers.get("Content-Type"),
                        "json": json.loads(body)})
            status = answers.pop(0) if answers else 200
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"no")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}/services/T0/B0/secret", got=got,
                              answers=answers, messages=lambda: [g["json"] for g in got])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_url():
    """A port that accepts connections (the kernel's backlog) and never answers."""
    sock = socket.create_server(("127.0.0.1", 0), backlog=8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    finally:
        sock.close()


@pytest.fixture
def closed_url():
    """A port nothing listens on: connections are refused."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/hook"


def _write_mostly_undated(raw: Path, folder: str = "desk") -> None:
    """20 complete articles without a date and 4 clean ones: 83 % quarantined, above the gate's 50 %."""
    for s in range(8100, 8120):
        h.write(raw, f"{folder}/undated_{s}.txt", h.clean_dump(h.make_article(s), date=False))
    for s in range(8120, 8124):
        h.write(raw, f"{folder}/dated_{s}.txt", h.clean_dump(h.make_article(s)))


def _assert_common_fields(m: dict, raw_dir: Path, summary: dict | None) -> None:
    assert isinstance(m["text"], str) and m["text"], "Slack shows `text`"
    assert m["input"] == str(raw_dir.resolve())
    assert m["flow_run_id"]
    if summary is not None:
        assert m["run_id"] == summary["run_id"] and m["run_id"] in m["text"]
        assert m["counts"] == {"files_found": summary["files"]["found"],
                               "files_processed": summary["files"]["processed"], "records": summary["records"],
                               "published": summary["published"], "quarantined": summary["quarantined"]}
        assert m["report"] and Path(m["report"]).is_file() and m["report"] in m["text"]


# ------------------------------------------------------------------ one message per ending

def test_gate_refusal_sends_one_message_with_the_failed_expectation(run_etl, raw_dir, out_dir, receiver):
    _write_mostly_undated(raw_dir)
    state = run_etl(raw_dir, out_dir, alert_webhook=receiver.url)
    assert state.is_failed()

    assert len(receiver.got) == 1
    assert receiver.got[0]["path"] == "/services/T0/B0/secret"
    assert receiver.got[0]["content_type"].startswith("application/json")
    m = receiver.messages()[0]
    summary = h.summary_json(out_dir)
    _assert_common_fields(m, raw_dir, summary)
    assert m["event"] == "gate_refused" and m["severity"] == "critical"
    assert m["reason"] == state.message
    (failure,) = m["failures"]
    assert "quarantined" in failure["expectation"] and failure["severity"] == "critical"
    assert failure["observed"] == pytest.approx(20 / 24)
    assert failure["threshold"]["max_value"] == 0.5
    assert m["counts"]["records"] == 24 and m["counts"]["published"] == 0
    assert "refused" in m["text"] and "0.833" in m["text"] and "<= 0.5" in m["text"]


def test_drift_alarm_sends_one_message_naming_the_source(run_etl, raw_dir, out_dir, receiver):
    n = 20  # the drift alarm measures sources with at least 20 records in the run
    for batch in (1, 2):
        for k in range(n):
            h.write(raw_dir, f"wire/b{batch}-{k:02d}.txt", h.clean_dump(h.make_article(8200 + batch * 100 + k)))
        assert run_etl(raw_dir, out_dir, alert_webhook=receiver.url).is_completed()
    assert receiver.got == [], "healthy runs send nothing"
    for k in range(n):
        h.write(raw_dir, f"wire/b3-{k:02d}.txt", h.clean_dump(h.make_article(8500 + k), date=False))
    # The share gate is lifted: the drift alone holds this publish.
    state = run_etl(raw_dir, out_dir, alert_webhook=receiver.url, max_quarantined_share=1.0)
    assert state.is_failed() and "wire" in (state.message or "")

    (m,) = receiver.messages()
    _assert_common_fields(m, raw_dir, h.summary_json(out_dir))
    assert m["event"] == "gate_refused"
    (failure,) = [f for f in m["failures"] if f["column"] == "drift_missing_date"]
    assert failure["source"] == "wire" and failure["severity"] == "critical"
    assert failure["observed"] == pytest.approx(1.0) and failure["threshold"] == {"max_value": 0.3}
    assert "wire (drift_missing_date = 1.00) (threshold <= 0.3)" in m["text"]


def test_stale_source_sends_one_warning_and_the_run_publishes(run_etl, raw_dir, out_dir, receiver):
    for k in range(3):
        h.write(raw_dir, f"wire/a{k}.txt", h.clean_dump(h.make_article(8600 + k)))
        h.write(raw_dir, f"feeds/a{k}.txt", h.clean_dump(h.make_article(8650 + k)))
    then = time.time() - 30 * 3600  # the wire scraper last delivered 30 hours ago
    for p in (raw_dir / "wire").iterdir():
        os.utime(p, (then, then))
    assert run_etl(raw_dir, out_dir, alert_webhook=receiver.url).is_completed()
    assert receiver.got == [], "a source's first run is never stale"
    for k in range(3):
        h.write(raw_dir, f"feeds/b{k}.txt", h.clean_dump(h.make_article(8700 + k)))

    state = run_etl(raw_dir, out_dir, alert_webhook=receiver.url)
    assert state.is_completed(), "a warning reports, it does not hold"
    (m,) = receiver.messages()
    _assert_common_fields(m, raw_dir, h.summary_json(out_dir))
    assert m["event"] == "expectations_failed" and m["severity"] == "warning"
    age = next(f for f in m["failures"] if f["column"] == "newest_file_age_hours")
    assert age["source"] == "wire" and age["severity"] == "warning"
    assert 29.9 < age["observed"] < 30.5 and age["threshold"] == {"max_value": 24}
    share = next(f for f in m["failures"] if f["column"] == "new_files_share")
    assert share["source"] == "wire" and share["observed"] == 0.0
    assert all(f["source"] == "wire" for f in m["failures"]), "feeds delivered: it is not named"
    assert [q["source"] for q in m["quiet_sources"]] == ["wire"]
    assert "[warning]" in m["text"] and "wire (newest file 30" in m["text"] and "(threshold <= 24)" in m["text"]


def test_failed_run_sends_one_message_with_its_reason(run_etl, raw_dir, out_dir, receiver, tmp_path, monkeypatch):
    suites = tmp_path / "suites"
    shutil.copytree(DEFAULT_SUITES, suites)
    batch = json.loads((suites / "batch.json").read_text())
    batch["expectations"][0]["severity"] = "fatal"
    (suites / "batch.json").write_text(json.dumps(batch))
    h.write_clean_articles(raw_dir, range(8800, 8802))
    monkeypatch.setenv("CLEANWIRE_ALERT_WEBHOOK", receiver.url)  # the webhook of the machine running the flow

    state = run_etl(raw_dir, out_dir, suites=str(suites))
    assert state.is_failed()
    (m,) = receiver.messages()
    _assert_common_fields(m, raw_dir, None)
    assert m["event"] == "run_failed" and m["severity"] == "critical"
    assert "severity must be one of" in m["reason"] and m["reason"] in m["text"]
    assert m["run_id"] is None and m["counts"] == {} and m["report"] is None


def test_a_clean_run_sends_nothing(run_etl, raw_dir, out_dir, receiver):
    h.write_clean_articles(raw_dir, range(8900, 8903))
    assert run_etl(raw_dir, out_dir, alert_webhook=receiver.url).is_completed()
    assert receiver.got == []


# ------------------------------------------------------------------ a webhook that does not answer

@pytest.mark.parametrize("unreachable", ["closed_url", "silent_url"])
def test_unreachable_webhook_leaves_the_run_result_unchanged(run_etl, raw_dir, out_dir, request, unreachable):
    _write_mostly_undated(raw_dir)
    started = time.perf_counter()
    state = run_etl(raw_dir, out_dir, alert_webhook=request.getfixturevalue(unreachable))
    wall = time.perf_counter() - started
    assert state.is_failed() and "quarantined" in (state.message or "")
    summary = h.summary_json(out_dir)
    assert summary["gate"]["ok"] is False and summary["records"] == 24 and summary["quarantined"] == 24
    # What the flow itself took, plus Prefect's own start and end of a run, plus at most 5 s of alert.
    assert wall - summary["seconds"] < 5.0 + 4.0, (wall, summary["seconds"])


def test_delivery_to_a_silent_webhook_gives_up_within_5_seconds(silent_url, caplog):
    started = time.perf_counter()
    with caplog.at_level("WARNING", logger="cleanwire.report.alerts"):
        ok = alerts.deliver(silent_url, {"text": "hello", "event": "run_failed"})
    elapsed = time.perf_counter() - started
    assert ok is False
    assert elapsed <= 5.0 + 0.2, elapsed
    assert "not delivered" in caplog.text and "/hook" not in caplog.text, "the webhook's path (its secret) is not logged"


def test_delivery_to_a_closed_port_fails_fast(closed_url):
    started = time.perf_counter()
    assert alerts.deliver(closed_url, {"text": "hello"}) is False
    assert time.perf_counter() - started < 2.0


def test_delivery_retries_once_after_a_server_error(receiver):
    receiver.answers.extend([503])
    assert alerts.deliver(receiver.url, {"text": "hello"}) is True
    assert len(receiver.got) == 2


def test_delivery_does_not_retry_a_refused_message(receiver):
    receiver.answers.extend([400, 400])
    assert alerts.deliver(receiver.url, {"text": "hello"}) is False
    assert len(receiver.got) == 1


def test_the_webhook_must_be_an_http_url():
    from pydantic import ValidationError

    from cleanwire.config import RunConfig

    with pytest.raises(ValidationError, match="http"):
        RunConfig(alert_webhook="hooks.slack.com/services/x")
    assert RunConfig(alert_webhook="https://hooks.example.org/x").alert_url == "https://hooks.example.org/x"


# ------------------------------------------------------------------ Prefect's own notification on failed runs

def test_serve_can_create_a_failed_run_automation_with_a_notification_block(prefect_api):
    from prefect.blocks.notifications import SlackWebhook
    from prefect.client.orchestration import get_client

    from flows.deploy import FAILED_RUN_AUTOMATION, ensure_failed_run_automation

    block_id = SlackWebhook(url="https://hooks.slack.com/services/T0/B0/never-called").save("cleanwire-ops", overwrite=True)
    first = ensure_failed_run_automation("slack-webhook/cleanwire-ops")
    second = ensure_failed_run_automation("slack-webhook/cleanwire-ops")  # serve again: replaced, not doubled
    with get_client(sync_client=True) as client:
        (automation,) = client.read_automations_by_name(FAILED_RUN_AUTOMATION)
    assert automation.id == second != first
    assert automation.trigger.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
    assert automation.trigger.match_related.model_dump() == {"prefect.resource.role": "flow",
                                                             "prefect.resource.name": "news-etl"}
    (action,) = automation.actions
    assert action.type == "send-notification" and action.block_document_id == block_id
    assert "{{ flow_run.state.message }}" in action.body
    with pytest.raises(ValueError, match="TYPE/NAME"):
        ensure_failed_run_automation("cleanwire-ops")
