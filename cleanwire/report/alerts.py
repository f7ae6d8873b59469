"""Alerts: one JSON message to a webhook when a run needs a person.

A run sends at most one message, when it ended in one of three ways:

* `gate_refused`: a critical batch expectation failed (the quarantined share,
  a drift, a source silent past its critical freshness threshold), so the
  previous published version was kept;
* `expectations_failed`: the run published, but warning expectations of the
  batch suite failed (a drift or a quiet source worth a look);
* `run_failed`: the run itself failed (a bad suite, a locked output, a bug).

One message per run, listing every failed expectation with its severity, so
a refusal caused by a drift arrives once, not as two alarms. The message has
a `text` field (Slack's incoming webhooks show it as is) and the same facts
as fields: the run, the input folder, each failed expectation with its source
folder, observed value and threshold, the counts, and the report's path (and
the flow run's URL in the Prefect UI when there is one).

Delivery never fails or holds up a run: one POST with a 2 s time-out and one
retry, in a thread the run waits on for at most 5 s; a failure is logged as a
warning. The webhook is `RunConfig.alert_webhook` (`--alert-webhook`) or the
environment's CLEANWIRE_ALERT_WEBHOOK, read where the run executes.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from cleanwire.config import ALERT_WEBHOOK_ENV

ALERT_TIMEOUT = 2.0    # seconds per attempt: a webhook answers in well under a second
ALERT_ATTEMPTS = 2     # one retry: a receiver restarting or a dropped connection
ALERT_DEADLINE = 5.0   # the most a delivery adds to a run, whatever the network does (DNS included)
_RETRY_PAUSE = 0.3

GATE_REFUSED, EXPECTATIONS_FAILED, RUN_FAILED = "gate_refused", "expectations_failed", "run_failed"
ALERTING = ("critical", "warning")  # `info` expectations are reported, never sent


def build_message(summary, *, failed: bool, state_message: str | None = None, input: str | None = None,
                  output: str | None = None, flow_run_id: str | None = None, flow_run_url: str | None = None) -> dict | None:
    """The run's alert, or None when it needs no one.

    `summary`: this run's RunSummary, or None when the run failed before writing
    one; `failed`: whether the flow run ended Failed (or Crashed); `state_message`:
    its state's message, the reason of a failure.
    """
    failures = _failures(summary) if summary is not None else []
    if summary is not None and not summary.gate.ok:
        event, severity = GATE_REFUSED, "critical"
        reason = summary.gate.message or "batch gate refused the publish"
    elif failed:
        event, severity = RUN_FAILED, "critical"
        reason = state_message or "flow run failed"
    elif failures:
        event, severity = EXPECTATIONS_FAILED, max((f["severity"] for f in failures), key=ALERTING[::-1].index)
        reason = f"{len(failures)} batch expectation{'s' if len(failures) > 1 else ''} failed; published anyway"
    else:
        return None
    message = {
        "event": event,
        "severity": severity,
        "reason": reason,
        "run_id": summary.run_id if summary is not None else None,
        "flow_run_id": (summary.flow_run_id if summary is not None else None) or flow_run_id,
        "flow_run_url": flow_run_url,
        "input": summary.input if summary is not None and summary.input else input,
        "output": summary.output if summary is not None else output,
        "failures": failures,
        "quiet_sources": [q for q in (summary.freshness if summary is not None else []) if q.get("quiet")],
        "counts": _counts(summary),
        "report": _report(summary),
    }
    return {"text": slack_text(message), **message}


def _failures(summary) -> list[dict]:
    """Each failed critical or warning batch expectation; one entry per failing source for the
    per-source ones (their `observed` is {source: value})."""
    out = []
    for f in summary.gate.failures:
        if f.get("severity") not in ALERTING:
            continue
        base = {"expectation": f.get("expectation"), "severity": f.get("severity"), "column": f.get("column"),
                "threshold": f.get("threshold") or {}}
        observed = f.get("observed")
        if isinstance(observed, dict) and observed:
            out += [{**base, "source": source, "observed": value} for source, value in observed.items()]
        else:
            out.append({**base, "source": None, "observed": observed})
    return sorted(out, key=lambda f: f["severity"] != "critical")  # what held the publish first


def _counts(summary) -> dict:
    if summary is None:
        return {}
    return {"files_found": summary.files.found, "files_processed": summary.files.processed,
            "records": summary.records, "published": summary.published, "quarantined": summary.quarantined}


def _report(summary) -> str | None:
    if summary is None:
        return None
    r = summary.reports
    return r.get("html") or r.get("latest_html") or r.get("summary")


def slack_text(m: dict) -> str:
    """The message in words, for a chat channel: what happened, why, where to look."""
    run = m["run_id"] or m["flow_run_id"] or "(no run id)"
    head = {GATE_REFUSED: "batch gate refused the publish", RUN_FAILED: "run failed",
            EXPECTATIONS_FAILED: "batch expectations failed"}[m["event"]]
    lines = [f"cleanwire [{m['severity']}] {head}: run {run}", f"input: {m['input'] or '?'}"]
    if m["event"] == RUN_FAILED or not m["failures"]:
        lines.append(f"reason: {m['reason']}")
    shown = set()
    for f in m["failures"]:
        if f["expectation"] in shown:
            continue  # a per-source expectation failing on several sources names them all in its message
        shown.add(f["expectation"])
        # A per-source failure's message already names each source with its value.
        observed = None if f["source"] else _number(f["observed"])
        detail = ", ".join(x for x in (f"observed {observed}" if observed is not None else "",
                                        _limit(f["threshold"])) if x)
        lines.append(f"- [{f['severity']}] {f['expectation']}" + (f" ({detail})" if detail else ""))
    c = m["counts"]
    if c:
        lines.append(f"files processed {c['files_processed']}, records {c['records']}, published {c['published']}, "
                     f"quarantined {c['quarantined']}")
    if m["report"]:
        lines.append(f"report: {m['report']}")
    if m["flow_run_url"]:
        lines.append(f"flow run: {m['flow_run_url']}")
    return "\n".join(lines)


def _number(x) -> str | None:
    if x is None:
        return None
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def _limit(t: dict) -> str:
    lo, hi = t.get("min_value"), t.get("max_value")
    parts = []
    if lo is not None:
        parts.append(f"{'>' if t.get('strict_min') else '>='} {_plain(lo)}")
    if hi is not None:
        parts.append(f"{'<' if t.get('strict_max') else '<='} {_plain(hi)}")
    return "threshold " + " and ".join(parts) if parts else ""


def _plain(x) -> str:
    return f"{x:g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


# ------------------------------------------------------------------ delivery

def deliver(url: str, message: dict, log: logging.Logger | logging.LoggerAdapter | None = None,
            timeout: float = ALERT_TIMEOUT, attempts: int = ALERT_ATTEMPTS, deadline: float = ALERT_DEADLINE) -> bool:
    """POST `message` as JSON to `url`; whether it was accepted (2xx). Never raises.

    The POST runs in a daemon thread the caller waits on for at most `deadline`
    seconds: socket time-outs do not bound a name lookup or a receiver that
    trickles its answer, a deadline does.
    """
    log = log or logging.getLogger(__name__)
    body = json.dumps(message, default=str, ensure_ascii=False).encode("utf-8")
    outcome: dict[str, object] = {}

    def post() -> None:
        stop = time.monotonic() + deadline
        for attempt in range(attempts):
            left = stop - time.monotonic()
            if left <= 0.05:
                return
            request = urllib.request.Request(url, data=body, method="POST", headers={
                "Content-Type": "application/json; charset=utf-8", "User-Agent": "cleanwire-alerts"})
            try:
                with urllib.request.urlopen(request, timeout=min(timeout, left)) as response:
                    response.read(65536)
                outcome["ok"] = True
                return
            except urllib.error.HTTPError as e:
                outcome["error"] = f"HTTP {e.code} {e.reason}"
                if e.code < 500 and e.code != 429:
                    return  # the receiver refused this message: sending it again changes nothing
            except Exception as e:  # noqa: BLE001 - refused, reset, timed out, bad URL: all a failed delivery
                outcome["error"] = f"{type(e).__name__}: {e}"
            if attempt + 1 < attempts:
                time.sleep(min(_RETRY_PAUSE, max(0.0, stop - time.monotonic())))

    sender = threading.Thread(target=post, name="cleanwire-alert", daemon=True)
    sender.start()
    sender.join(deadline)
    where = _redacted(url)
    if outcome.get("ok"):
        log.info("alert %s sent to %s", message.get("event"), where)
        return True
    why = outcome.get("error") if not sender.is_alive() else f"no answer within {deadline:g} s"
    log.warning("alert %s not delivered to %s: %s (the run's result is unchanged)", message.get("event"), where, why)
    return False


def _redacted(url: str) -> str:
    """The webhook without its path: a Slack webhook's path is its secret, and logs are not."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "(invalid URL)"


# ------------------------------------------------------------------ the Prefect hook

def on_run_end(flow, flow_run, state) -> None:
    """Prefect hook of `news-etl` (on completion, failure and crash): send the run's alert, if any.

    The run's summary is read back from its output (written before the flow
    returns), so one hook sees every ending: a refused gate, warnings of a
    completed run, and a failure before any summary. Never raises.
    """
    log = _logger()
    try:
        config = _config(flow_run)
        url = (config.alert_url if config is not None else None) or os.environ.get(ALERT_WEBHOOK_ENV)
        if not url:
            return
        summary = None
        if config is not None:
            from cleanwire.report.summary import latest_summary

            latest = latest_summary(config.output_dir)
            if latest is not None and latest.flow_run_id == str(flow_run.id):
                summary = latest
        message = build_message(
            summary, failed=bool(state.is_failed() or state.is_crashed()), state_message=state.message,
            input=str(config.input_dir) if config is not None else None,
            output=str(config.output_dir) if config is not None else None,
            flow_run_id=str(flow_run.id), flow_run_url=_ui_url(flow_run))
    except Exception as e:  # noqa: BLE001 - an alert must never change how a run ends
        log.warning("alert not built: %s: %s", type(e).__name__, e)
        return
    if message is not None:
        deliver(url, message, log)


def _config(flow_run):
    """The run's RunConfig from its parameters (None if they do not validate: the run failed on them)."""
    from cleanwire.config import RunConfig

    given = (getattr(flow_run, "parameters", None) or {}).get("config")
    if isinstance(given, RunConfig):
        return given
    try:
        return RunConfig.model_validate(given or {})
    except Exception:  # noqa: BLE001
        return None


def _ui_url(flow_run) -> str | None:
    try:
        from prefect.utilities.urls import url_for

        return url_for(flow_run)
    except Exception:  # noqa: BLE001 - no UI configured (the local API has none)
        return None


def _logger():
    try:
        from prefect import get_run_logger

        return get_run_logger()
    except Exception:  # noqa: BLE001 - outside a run context
        return logging.getLogger(__name__)
