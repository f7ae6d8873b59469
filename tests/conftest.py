"""Shared infrastructure of the end-to-end suite: environment, Prefect's local API, the flow runner.

Prefect and Great Expectations read their settings when they are imported, so
the environment is set in `pytest_configure`, before pytest imports any test
module; no test module imports prefect or `flows` at import time (they do it
inside fixtures). Prefect's local API starts once per session (~10-15 s) and
its URL is exported, so the flow, its process-pool workers and `cleanwire`
subprocesses all report to it.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import SEED_DIR

_PREFECT_HOME: str | None = None


def pytest_configure(config):
    global _PREFECT_HOME
    if "prefect" in sys.modules:
        raise pytest.UsageError("prefect was imported before tests/conftest.py could set its environment")
    _PREFECT_HOME = tempfile.mkdtemp(prefix="cleanwire-tests-prefect-")
    os.environ.update({
        "PREFECT_HOME": _PREFECT_HOME,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
        # Suite verdicts are cached per session, not in the user's cache folder.
        "CLEANWIRE_CACHE_DIR": os.path.join(_PREFECT_HOME, "cleanwire-cache"),
    })
    # Never talk to a server configured in the developer's shell: `prefect_api` starts our own.
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.pop("PREFECT_PROFILE", None)


def pytest_unconfigure(config):
    if _PREFECT_HOME:
        shutil.rmtree(_PREFECT_HOME, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def prefect_env():
    """The session's Prefect/GX environment (set in pytest_configure, before any prefect import)."""
    assert os.environ.get("PREFECT_HOME") == _PREFECT_HOME and _PREFECT_HOME, "pytest_configure did not run"
    yield {k: os.environ[k] for k in ("PREFECT_HOME", "PREFECT_SERVER_ANALYTICS_ENABLED", "DO_NOT_TRACK",
                                      "GX_ANALYTICS_ENABLED", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
                                      "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL")}


@pytest.fixture(scope="session")
def prefect_api(prefect_env):
    """Prefect's local API, started once (what `cleanwire.cli._LocalApi` does), URL exported."""
    from prefect.server.api.server import SubprocessASGIServer

    srv = SubprocessASGIServer()
    srv.start()
    os.environ["PREFECT_API_URL"] = srv.api_url
    try:
        yield srv.api_url
    finally:
        # Send the logs and events still buffered before the API goes away (else Prefect retries
        # against a dead server at interpreter exit, for minutes).
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=30)
        EventsWorker.drain_all(timeout=30)
        srv.stop()
        os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture(scope="session")
def run_etl(prefect_api):
    """run_etl(input_dir, output_dir, **config_overrides) -> the Prefect state of one `news-etl` run."""
    from cleanwire.config import RunConfig
    from flows.news_etl import news_etl

    def run(input_dir, output_dir, **overrides):
        # In-process runs skip the Data Docs HTML (~0.7 s each) unless a test asks for it; the CLI
        # tests run the real command, which renders them (tests/test_cli.py checks the site).
        cfg = RunConfig(input=str(input_dir), output=str(output_dir), **{"data_docs": False, **overrides})
        return news_etl(config=cfg, return_state=True)

    return run


@pytest.fixture
def seeds_copy(tmp_path) -> Path:
    """A private copy of data/raw (the 5 seed files), mtimes preserved."""
    dst = tmp_path / "raw"
    shutil.copytree(SEED_DIR, dst)
    return dst


@pytest.fixture
def raw_dir(tmp_path) -> Path:
    d = tmp_path / "raw"
    d.mkdir()
    return d


@pytest.fixture
def out_dir(tmp_path) -> Path:
    return tmp_path / "out"


# ------------------------------------------------------------------ a real S3 endpoint (moto's server)

@pytest.fixture(scope="session")
def moto_server():
    """moto's S3 server as a separate process on 127.0.0.1 (a free port): its URL.

    A real HTTP endpoint, not moto's in-process mock: polars, pyarrow and deltalake
    talk to S3 with their own clients, not through boto. Started once per session;
    the `s3` fixture resets it before each test.
    """
    import socket
    import subprocess
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tempfile.NamedTemporaryFile(prefix="cleanwire-moto-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto_server did not start: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.unlink(log.name)


@pytest.fixture
def s3(moto_server, monkeypatch):
    """An empty S3 (moto reset) with the bucket `news`, and the AWS variables of this process (and of
    the `cleanwire` subprocesses it starts) pointing at it. Yields the endpoint URL."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10).read()
    for k, v in {"AWS_ENDPOINT_URL": moto_server, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(k, raising=False)
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/news", method="PUT"), timeout=10).read()
    yield moto_server
