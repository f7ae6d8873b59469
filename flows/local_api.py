"""Prefect's temporary local API for one run, started as early as the run starts.

When no PREFECT_API_URL is set, a flow run needs an API server, and Prefect
starts one itself (`prefect.server.api.server.SubprocessASGIServer`): a child
process serving `create_app` with uvicorn. Getting there costs the caller an
import of Prefect's whole server module (2.1 s on the 2-core machine, measured)
before the child even starts, and the child imports it again. `start` launches
the same child, with the same command and environment, after importing only
Prefect's settings (1.3 s), so the API is up ~2 s sooner. The CLI uses it; a
flow called from Python without an API still gets Prefect's own.
"""
from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

POLL_SECONDS = 0.1


@dataclass
class LocalApi:
    process: subprocess.Popen
    url: str   # http://127.0.0.1:PORT/api

    def stop(self) -> None:
        """As Prefect stops its own: terminate, and kill what does not exit within 5 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reserve() -> str:
    """The URL the API will serve (a free port on 127.0.0.1), to export before Prefect is imported.

    Prefect reads its settings once, when it is imported: a process that imported it
    before PREFECT_API_URL was set starts a second, ephemeral API of its own when the
    flow runs (~220 MB and a CPU-heavy start-up, measured on the 2-core machine).
    """
    return f"http://127.0.0.1:{free_port()}/api"


def start(url: str) -> LocalApi:
    """Start the API at `url` (from `reserve`) in a child process and wait until it answers; it stops
    when this process exits."""
    import prefect
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, get_current_settings

    port = urllib.parse.urlsplit(url).port
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
           **get_current_settings().to_environment_variables(exclude_unset=True)}
    env.pop("PREFECT_API_URL", None)  # the server's own settings: it is not a client of itself
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent), "--factory",
         "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "error", "--lifespan", "on"], env=env)
    api = LocalApi(process, url)
    atexit.register(api.stop)
    timeout = PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Prefect's local API exited with code {process.returncode} while starting")
        try:
            with urllib.request.urlopen(f"{api.url}/health", timeout=1) as r:
                if r.status == 200:
                    return api
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(POLL_SECONDS)
    api.stop()
    raise RuntimeError(f"Prefect's local API did not start within {timeout} s "
                       "(raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS)")
