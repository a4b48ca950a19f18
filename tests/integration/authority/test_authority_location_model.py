"""``authority serve --location-model`` and ``--workers``: what travels in the settings file
every worker loads; a model the authority cannot run, or a bad worker count, is refused by
name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pausebutton.authority.services.reports import default_verify_processes
from pausebutton.authority.settings import Settings
from pausebutton.errors import DataError
from pausebutton.geo.verdict import Model


def _settings(tmp_path: Path, cli: Any, **extra: object) -> Path:
    adir = tmp_path / "auth"
    r = cli("authority", "init", str(adir), "--members", "3", "--threshold", "2", "--json")
    assert r.returncode == 0, r.stderr
    path = tmp_path / "serve.json"
    data = {"authority_dir": str(adir), "database_url": f"sqlite:///{tmp_path}/a.db", **extra}
    path.write_text(json.dumps(data))
    return path


def test_default_and_named_models(tmp_path: Path, cli: Any) -> None:
    path = _settings(tmp_path, cli)
    assert Settings.from_file(path).location_policy is None  # the statistical default
    for name, model in (("fibre", Model.FIBRE), ("hard", Model.HARD)):
        data = json.loads(path.read_text())
        data["location_model"] = name
        path.write_text(json.dumps(data))
        policy = Settings.from_file(path).location_policy
        assert policy is not None and policy.model is model


@pytest.mark.parametrize("bad", ["calibrated", "gps", 7])
def test_models_the_authority_cannot_run_are_refused(tmp_path: Path, cli: Any, bad: Any) -> None:
    path = _settings(tmp_path, cli, location_model=bad)
    with pytest.raises(DataError, match="location_model"):
        Settings.from_file(path)


def test_serve_refuses_an_unknown_model_before_starting(tmp_path: Path, cli: Any) -> None:
    adir = tmp_path / "auth"
    assert cli("authority", "init", str(adir), "--members", "3", "--threshold", "2").returncode == 0
    r = cli("authority", "serve", str(adir), "--location-model", "calibrated")
    assert r.returncode == 2
    assert "--location-model" in r.stderr and "Traceback" not in r.stderr
    assert not (adir / "serve.json").exists()


def test_each_worker_verifies_on_the_cores_it_may_use(tmp_path: Path, cli: Any) -> None:
    """Each worker verifies report signatures on every core its CPU set allows (at most
    4), whatever the number of workers; a bad setting is refused by name."""
    import os

    path = _settings(tmp_path, cli)
    allowed = os.sched_getaffinity(0)
    assert default_verify_processes() == max(1, min(4, len(allowed)))
    try:
        os.sched_setaffinity(0, {min(allowed)})
        assert default_verify_processes() == 1
    finally:
        os.sched_setaffinity(0, allowed)
    data = json.loads(path.read_text())
    data["gc_freeze"] = "yes"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match="gc_freeze"):
        Settings.from_file(path)
    r = cli("authority", "serve", str(tmp_path / "auth"), "--workers", "0")
    assert r.returncode == 2 and "--workers" in r.stderr
