"""Background loops never fail silently: a failing loop is logged, counted in /metrics
and turns /healthz to 503 ``degraded`` with the reason, until the fault is gone."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from pausebutton.authority.api import create_app
from pausebutton.authority.inprocess import serve_in_process


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


class Fault:
    """Wraps a callable; raises while ``on``."""

    def __init__(self, inner: Callable[..., Any]) -> None:
        self.inner = inner
        self.on = True
        self.calls = 0

    def __call__(self, *args: Any, **kw: Any) -> Any:
        self.calls += 1
        if self.on:
            raise OSError("disk on fire")
        return self.inner(*args, **kw)


@pytest.mark.parametrize("loop", ["order_feed", "checkpointer", "wal_checkpoint"])
def test_failing_loop_is_logged_counted_and_degrades_health(
    world: Any, db_url: str, caplog: pytest.LogCaptureFixture, loop: str
) -> None:
    app = create_app(world.settings(db_url, checkpoint_interval=0.05, poll_interval=0.05))
    caplog.set_level(logging.INFO, logger="pausebutton.authority.api")
    with serve_in_process(app) as http:
        assert http.get("/healthz").json()["status"] == "ok"
        st = app.state.pb
        target = {
            "order_feed": (st.service.orders, "last_order_sequence"),
            "checkpointer": (st.log, "checkpoint"),
            "wal_checkpoint": (st.service.db, "checkpoint_wal"),
        }[loop]
        fault = Fault(getattr(*target))
        setattr(*target, fault)

        wait_for(lambda: http.get("/healthz").status_code == 503)
        health = http.get("/healthz").json()
        assert health["status"] == "degraded"
        assert any(r.startswith(f"{loop}: OSError: disk on fire") for r in health["reasons"])
        wait_for(lambda: fault.calls >= 2)
        text = http.get("/metrics").text
        failures = f'pausebutton_authority_background_failures_total{{loop="{loop}"}}'
        assert metric(text, failures) >= 2
        assert metric(text, f'pausebutton_authority_background_failing{{loop="{loop}"}}') == 1
        errors = [
            r
            for r in caplog.records
            if r.levelno == logging.ERROR and r.name.startswith("pausebutton.authority.api")
        ]
        assert errors and f"background loop {loop} failed" in errors[0].getMessage()
        assert errors[0].exc_info is not None  # the first failure carries its traceback

        fault.on = False
        wait_for(lambda: http.get("/healthz").status_code == 200)
        assert http.get("/healthz").json() == {
            "status": "ok",
            "worker": health["worker"],
            "reasons": [],
        }
        text = http.get("/metrics").text
        assert metric(text, f'pausebutton_authority_background_failing{{loop="{loop}"}}') == 0
        assert metric(text, failures) >= 2  # a counter never goes back
        assert any(f"background loop {loop} recovered" in r.getMessage() for r in caplog.records)


def test_location_loop_failure_is_reported(world: Any, db_url: str) -> None:
    app = create_app(world.settings(db_url, location_interval=0.05))
    with serve_in_process(app) as http:
        location = app.state.pb.service.location
        fault = Fault(location.run_location_checks)
        location.run_location_checks = fault
        wait_for(lambda: http.get("/healthz").status_code == 503)
        assert http.get("/healthz").json()["reasons"][0].startswith("location_checks: OSError")
        fault.on = False
        wait_for(lambda: http.get("/healthz").status_code == 200)


def test_metrics_of_two_apps_in_one_process_are_separate(world: Any, tmp_path: Any) -> None:
    first = create_app(world.settings(f"sqlite:///{tmp_path / 'a.db'}"))
    second = create_app(world.settings(f"sqlite:///{tmp_path / 'b.db'}"))
    with serve_in_process(first) as a, serve_in_process(second) as b:
        assert a.post("/v1/owners", json={}).status_code == 401
        name = "pausebutton_authority_auth_401_total"
        assert metric(a.get("/metrics").text, name) == 1
        assert metric(b.get("/metrics").text, name) == 0
