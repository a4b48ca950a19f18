"""End to end: a log server on 127.0.0.1, two witnesses (the real CLI), an honest log and
a forked one that serves the witnesses different views."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from pausebutton.errors import BelowThresholdError, ProofError
from pausebutton.keystore import write_private_key
from pausebutton.protocol.genesis import AuthorityKeys, found_authority
from pausebutton.translog.bundle import ConsistencyBundle, InclusionBundle
from pausebutton.translog.http import create_log_app
from pausebutton.translog.note import SignedCheckpoint
from pausebutton.translog.policy import LogPolicy
from pausebutton.translog.store import LogService, LogStore, create_log_engine
from pausebutton.translog.witness import WitnessState, state_from_bytes

EXIT_INCONSISTENT = 5


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free 127.0.0.1 port in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def auth() -> AuthorityKeys:
    return found_authority(seed=b"fork-e2e", witnesses=3, witness_threshold=2)


@pytest.fixture
def setup(tmp_path: Path, auth: AuthorityKeys) -> dict[str, Path]:
    root = tmp_path / "trust-root.cbor"
    root.write_bytes(auth.signed_root(version=1, expires=int(time.time()) + 86400).encode())
    paths = {"root": root}
    for i in range(2):
        key = tmp_path / f"w{i}.key"
        write_private_key(key, auth.key("witness", i))
        paths[f"key{i}"] = key
        paths[f"state{i}"] = tmp_path / f"w{i}-state"
    return paths


def _service(path: Path, auth: AuthorityKeys, entries: list[bytes]) -> LogService:
    policy = LogPolicy.from_trust_root(auth.trust_root(version=1, expires=int(time.time()) + 86400))
    svc = LogService(LogStore(create_log_engine(f"sqlite:///{path}")), auth.key("log"), policy)
    svc.append(entries)
    return svc


Cli = Callable[..., Any]


def _witness(cli: Cli, paths: dict[str, Path], i: int, url: str) -> Any:
    return cli(
        "witness", "run", "--log", f"{url}/v1/log", "--state", paths[f"state{i}"],
        "--key", paths[f"key{i}"], "--trust", paths["root"], "--once", "--json",
        timeout=60,
    )  # fmt: skip


def test_honest_log_two_witnesses_and_offline_verify(
    cli: Cli, tmp_path: Path, auth: AuthorityKeys, setup: dict[str, Path]
) -> None:
    svc = _service(tmp_path / "log.db", auth, [f"license {i}".encode() for i in range(7)])
    with serve(create_log_app(svc)) as url:
        for round_ in range(2):
            for i in range(2):
                r = _witness(cli, setup, i, url)
                assert r.returncode == 0, r.stderr
                line = json.loads(r.stdout.strip().splitlines()[-1])
                assert line["verdict"] == "cosign"
                assert line["posted"] == 200
            svc.append([f"license {i}".encode() for i in range(7 + 3 * round_, 10 + 3 * round_)])
        # the newest checkpoint has no cosignatures yet; bundles use the cosigned one
        bundle_bytes = httpx.get(f"{url}/v1/log/bundle", params={"index": 8}).content
    bundle = InclusionBundle.decode(bundle_bytes)
    assert bundle.tree_size == 10
    cp = SignedCheckpoint.parse(bundle.checkpoint)
    assert len(cp.note.signatures) == 3
    state = state_from_bytes((setup["state0"] / "state.json").read_bytes())
    assert isinstance(state, WitnessState) and state.size == 10
    path = tmp_path / "bundle.cbor"
    path.write_bytes(bundle_bytes)
    r = cli("log", "verify", path, "--trust", setup["root"], "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["witnesses"] and json.loads(r.stdout)["tree_size"] == 10
    other = tmp_path / "other-entry"
    other.write_bytes(b"license 9999")
    r = cli("log", "verify", path, "--trust", setup["root"], "--entry", other)
    assert r.returncode == 3 and "not_logged" in r.stderr
    path.write_bytes(bundle_bytes[:-3])
    r = cli("log", "verify", path, "--trust", setup["root"])
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_split_view_is_caught_by_the_witnesses(
    cli: Cli, tmp_path: Path, auth: AuthorityKeys, setup: dict[str, Path]
) -> None:
    common = [f"license {i}".encode() for i in range(5)]
    view_a = _service(tmp_path / "a.db", auth, common + [f"a{i}".encode() for i in range(5)])
    view_b = _service(tmp_path / "b.db", auth, common + [f"b{i}".encode() for i in range(5)])
    apps = {"a": create_log_app(view_a), "b": create_log_app(view_b)}
    w0 = f"witness-{auth.key('witness', 0).public.key_id.hex()[:16]}"
    w1 = f"witness-{auth.key('witness', 1).public.key_id.hex()[:16]}"
    views = {w0: "a", w1: "b"}

    async def forked_log(scope: Any, receive: Any, send: Any) -> None:
        """One log key, one origin, two histories: the view depends on who asks."""
        agent = dict(scope.get("headers", [])).get(b"user-agent", b"").decode()
        name = agent.rsplit("/", 1)[-1]
        await apps[views.get(name, "a")](scope, receive, send)

    with serve(forked_log) as url:
        # each witness sees a self-consistent log and cosigns its own view
        for i in range(2):
            r = _witness(cli, setup, i, url)
            assert r.returncode == 0, r.stderr
        # one cosignature per view: below the witness threshold, chips refuse both views
        policy = LogPolicy.from_trust_root(
            auth.trust_root(version=1, expires=int(time.time()) + 86400)
        )
        for view, name in (("a", w0), ("b", w1)):
            raw = httpx.get(
                f"{url}/v1/log/bundle", params={"index": 7}, headers={"user-agent": f"x/{name}"}
            ).content
            bundle = InclusionBundle.decode(raw)
            with pytest.raises(BelowThresholdError):
                policy.verify_entry(bundle.entry, bundle)
            assert bundle.entry.startswith(view.encode())

        # the log grows view b and now shows it to witness 0 as well: a fork
        view_b.append([b"b-later-1", b"b-later-2"])
        views[w0] = "b"
        r = _witness(cli, setup, 0, url)
        assert r.returncode == EXIT_INCONSISTENT, r.stdout + r.stderr
        assert "FORK" in r.stderr and "Traceback" not in r.stderr
        alerts = list(setup["state0"].glob("alert-*.json"))
        assert len(alerts) == 1
        alert = json.loads(alerts[0].read_text())
        old = SignedCheckpoint.parse(alert["old_checkpoint"])
        new = SignedCheckpoint.parse(alert["new_checkpoint"])
        assert (old.size, new.size) == (10, 12)
        assert old.root_hash == view_a.store.root(10)[1]
        assert new.root_hash == view_b.store.root(12)[1]
        # both checkpoints carry the log's signature: the evidence stands on its own
        policy.parse_log_signed(old)
        policy.parse_log_signed(new)
        evidence = ConsistencyBundle.decode(base64.b64decode(alert["consistency_bundle"]))
        with pytest.raises(ProofError):
            policy.verify_consistency(evidence)
        # the witness state still holds the view it cosigned; it refuses to go on
        assert state_from_bytes((setup["state0"] / "state.json").read_bytes()).size == 10
        r = _witness(cli, setup, 0, url)
        assert r.returncode == EXIT_INCONSISTENT and "alert pending" in r.stderr
        # an auditor judges the alert: unresolved offline, proven once the log is asked
        r = cli("log", "check-alert", alerts[0], "--trust", setup["root"], "--json")
        assert r.returncode == 1 and json.loads(r.stdout)["finding"] == "unresolved"
        r = cli("log", "check-alert", alerts[0], "--trust", setup["root"], "--log", f"{url}/v1/log")
        assert r.returncode == EXIT_INCONSISTENT and "PROVEN" in r.stdout, r.stdout + r.stderr

        # witness 1 is shown view a at the size it cosigned in view b: a second root
        views[w1] = "a"
        r = _witness(cli, setup, 1, url)
        assert r.returncode == EXIT_INCONSISTENT
        alert1_path = next(setup["state1"].glob("alert-*.json"))
        assert "two roots" in json.loads(alert1_path.read_text())["reason"]
        r = cli("log", "check-alert", alert1_path, "--trust", setup["root"])
        assert r.returncode == EXIT_INCONSISTENT and "two log-signed roots" in r.stdout

        # the forked log never got a checkpoint past the threshold in either view
        for svc in (view_a, view_b):
            for size in (10, 12):
                try:
                    note = svc.checkpoint_at(size).encode()
                except Exception:  # noqa: BLE001 - that view has no checkpoint of this size
                    continue
                with pytest.raises(BelowThresholdError):
                    policy.verify_checkpoint(note)


def test_witness_survives_a_bad_log(
    cli: Cli, tmp_path: Path, auth: AuthorityKeys, setup: dict[str, Path]
) -> None:
    rogue = found_authority(seed=b"rogue-log")
    svc = _service(tmp_path / "rogue.db", rogue, [b"x"])
    with serve(create_log_app(svc)) as url:
        r = _witness(cli, setup, 0, url)
    assert r.returncode == 3 and "below_threshold" in r.stderr and "Traceback" not in r.stderr
    assert not (setup["state0"] / "state.json").exists()
    r = _witness(cli, setup, 0, "http://127.0.0.1:9")
    assert r.returncode == 1 and "service" in r.stderr


def test_witness_follows_a_growing_log_and_rides_out_failures(
    tmp_path: Path, auth: AuthorityKeys, setup: dict[str, Path]
) -> None:
    """Follow mode: polls every 0.2 s; the log grows between polls and is briefly broken."""
    import os
    import subprocess
    import sys

    svc = _service(tmp_path / "log.db", auth, [b"first"])
    broken = {"on": False, "refused": 0}
    app = create_log_app(svc)

    async def flaky(scope: Any, receive: Any, send: Any) -> None:
        if broken["on"] and scope["type"] == "http":
            broken["refused"] += 1
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"down"})
            return
        await app(scope, receive, send)

    src = Path(__file__).resolve().parents[3] / "src"
    with serve(flaky) as url:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pausebutton", "witness", "run", "--log", f"{url}/v1/log",
             "--state", str(setup["state0"]), "--key", str(setup["key0"]),
             "--trust", str(setup["root"]), "--interval", "0.2", "--rounds", "400", "--json"],
            env={**os.environ, "PYTHONPATH": str(src)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None

            def next_verdict() -> dict[str, Any]:
                line = proc.stdout.readline()  # type: ignore[union-attr]
                assert line, proc.stderr.read() if proc.stderr else "witness exited"
                return dict(json.loads(line))

            assert next_verdict()["verdict"] == "cosign"
            for n in range(3):
                svc.append([f"more {n}".encode()])
                while (doc := next_verdict())["verdict"] == "unchanged":
                    pass
                assert doc == {"verdict": "cosign", "size": 2 + n, "posted": 200}
            broken["on"] = True
            deadline = time.monotonic() + 60
            while broken["refused"] < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            broken["on"] = False
            assert broken["refused"] >= 2
            svc.append([b"after the outage"])
            while (doc := next_verdict())["verdict"] == "unchanged":
                pass
            assert doc["verdict"] == "cosign" and doc["size"] == 5
            assert proc.poll() is None  # still following
        finally:
            proc.terminate()
            _, stderr = proc.communicate(timeout=10)
    assert "poll failed" in stderr and "HTTP 503" in stderr and "Traceback" not in stderr
    cp = svc.checkpoint_at(5)
    assert len(cp.note.signatures) == 2  # log + this witness


def test_a_shrunken_log_is_evidence_and_stops_the_witness(
    cli: Cli, tmp_path: Path, auth: AuthorityKeys, setup: dict[str, Path]
) -> None:
    entries = [f"license {i}".encode() for i in range(5)]
    full = _service(tmp_path / "full.db", auth, entries)
    shrunk = _service(tmp_path / "shrunk.db", auth, entries[:3])
    with serve(create_log_app(full)) as url:
        r = _witness(cli, setup, 0, url)
        assert r.returncode == 0 and json.loads(r.stdout)["size"] == 5, r.stderr
    with serve(create_log_app(shrunk)) as url:
        # the log signed size 5 and now shows size 3 and cannot prove 3 -> 5: not a
        # temporary service error but a fork, with the alert log check-alert proves
        r = _witness(cli, setup, 0, url)
        assert r.returncode == EXIT_INCONSISTENT, r.stdout + r.stderr
        assert "FORK" in r.stderr and "Traceback" not in r.stderr
        (alert,) = setup["state0"].glob("alert-*.json")
        r = cli("log", "check-alert", alert, "--trust", setup["root"], "--log", f"{url}/v1/log")
        assert r.returncode == EXIT_INCONSISTENT and "PROVEN" in r.stdout, r.stdout + r.stderr
        # the witness keeps what it cosigned and stops cosigning this log, across runs
        assert state_from_bytes((setup["state0"] / "state.json").read_bytes()).size == 5
        r = _witness(cli, setup, 0, url)
        assert r.returncode == EXIT_INCONSISTENT and "alert pending" in r.stderr
        assert shrunk.checkpoint_at(3) is not None
    with serve(create_log_app(full)) as url:
        r = _witness(cli, setup, 0, url)
        assert r.returncode == EXIT_INCONSISTENT and "alert pending" in r.stderr
