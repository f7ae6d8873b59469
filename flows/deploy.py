"""The `scheduled` deployment of the `news-etl` flow.

Serve it from one long-running process (`cleanwire serve`, which calls
`serve_scheduled`) or deploy it to a work pool with `prefect deploy` and the
`prefect.yaml` beside this repository's README. Either way:

* the schedule is a cron expression in a time zone (default: hourly, UTC);
* the parameters are one typed model, `cleanwire.config.RunConfig`;
* at most one run is active: a run that would start while another is still
  running is cancelled (`CANCEL_NEW`), so runs never overlap or pile up.
"""
from __future__ import annotations

import datetime as dt

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType
from prefect.schedules import Cron, Interval

from cleanwire.config import RunConfig
from flows.news_etl import news_etl

DEPLOYMENT = "scheduled"
FULL_NAME = f"{news_etl.name}/{DEPLOYMENT}"
ONE_AT_A_TIME = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


def scheduled_deployment(config: RunConfig, cron: str = "0 * * * *", timezone: str = "UTC",
                         every_seconds: float | None = None):
    """The deployment object; `every_seconds` replaces the cron schedule by an interval."""
    schedule = (Interval(dt.timedelta(seconds=every_seconds)) if every_seconds
                else Cron(cron, timezone=timezone))
    return news_etl.to_deployment(
        name=DEPLOYMENT,
        schedule=schedule,
        parameters={"config": config.model_dump(mode="json")},
        concurrency_limit=ONE_AT_A_TIME,
        # Import the flow by module path: the served runs work from any working directory.
        entrypoint_type=EntrypointType.MODULE_PATH,
        description="cleanwire: raw news files -> validated, published Parquet",
        tags=["cleanwire"],
    )


# ------------------------------------------------------------------ a Prefect automation on failed runs

FAILED_RUN_AUTOMATION = "cleanwire: news-etl run failed"
FAILED_RUN_BODY = ("cleanwire: flow run {{ flow.name }}/{{ flow_run.name }} is {{ flow_run.state.name }}.\n"
                   "{{ flow_run.state.message }}\n"
                   "Flow run: {{ flow_run|ui_url }}")


def failed_run_automation(block_document_id):
    """A Prefect automation: a news-etl run that fails (a refused gate included) or crashes
    sends the notification block `block_document_id`, with the state's one-line message."""
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    return AutomationCore(
        name=FAILED_RUN_AUTOMATION,
        description="Sent by the Prefect server when a news-etl run ends Failed or Crashed (cleanwire serve --notify-block).",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={"prefect.resource.role": "flow", "prefect.resource.name": news_etl.name},
            for_each={"prefect.resource.id"}, posture=Posture.Reactive, threshold=1, within=dt.timedelta(0)),
        actions=[SendNotification(block_document_id=block_document_id, subject=FAILED_RUN_AUTOMATION,
                                  body=FAILED_RUN_BODY)],
    )


def ensure_failed_run_automation(block: str):
    """Create the failed-run automation with the notification block `block` ('TYPE/NAME', e.g.
    'slack-webhook/ops'), replacing one of the same name; returns its id."""
    from prefect.client.orchestration import get_client

    block_type, _, name = block.partition("/")
    if not block_type or not name:
        raise ValueError(f"notification block {block!r}: give it as TYPE/NAME, e.g. slack-webhook/ops")
    with get_client(sync_client=True) as client:
        document = client.read_block_document_by_name(name=name, block_type_slug=block_type)
        for old in client.read_automations_by_name(FAILED_RUN_AUTOMATION):
            client.delete_automation(old.id)
        return client.create_automation(failed_run_automation(document.id))


def serve_scheduled(config: RunConfig, cron: str = "0 * * * *", timezone: str = "UTC",
                    every_seconds: float | None = None) -> None:
    """Register the deployment on the server at PREFECT_API_URL and run its schedule (blocks)."""
    from prefect import serve

    serve(scheduled_deployment(config, cron, timezone, every_seconds), pause_on_shutdown=False)
