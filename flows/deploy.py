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


def serve_scheduled(config: RunConfig, cron: str = "0 * * * *", timezone: str = "UTC",
                    every_seconds: float | None = None) -> None:
    """Register the deployment on the server at PREFECT_API_URL and run its schedule (blocks)."""
    from prefect import serve

    serve(scheduled_deployment(config, cron, timezone, every_seconds), pause_on_shutdown=False)
