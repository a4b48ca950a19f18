"""End to end: a guarded training job under the node agent, against a running authority
(the real FastAPI app and database, served in-process over the HTTP stack).

A guarded job runs; its budget runs out and it stops at a step boundary; a new
license lets it continue; a K-of-N pause stops it within one step of the order
arriving; a resume lets it continue; restarting the agent keeps every counter.
"""

from __future__ import annotations

import base64
import time

import pytest

torch = pytest.importorskip("torch")

from pausebutton.agent.daemon import Agent  # noqa: E402
from pausebutton.agent.lease import LeaseBudget, LeaseServer  # noqa: E402
from pausebutton.agent.logcheck import BundleLogCheck, OnlineLogCheck  # noqa: E402
from pausebutton.agent.logcheck import token as logcheck_token  # noqa: E402
from pausebutton.agent.nvml import FakeBackend  # noqa: E402
from pausebutton.authority.api import create_app  # noqa: E402
from pausebutton.authority.client import AuthorityClient  # noqa: E402
from pausebutton.authority.demo import demo_world  # noqa: E402
from pausebutton.authority.inprocess import serve_in_process  # noqa: E402
from pausebutton.errors import (  # noqa: E402
    AuthError,
    LicenseExhaustedError,
    NotLoggedError,
    PausedError,
)
from pausebutton.guard.examples import make_batch, tiny_gpt, train_step  # noqa: E402
from pausebutton.guard.torch import Guard, LicenseExhausted, Paused, count_flops  # noqa: E402
from pausebutton.translog.note import SignedCheckpoint  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.timeout(240)]


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class World:
    def __init__(self, http, world):
        self.world = world
        self.admin = AuthorityClient("http://testserver", world.admin, http=http)
        self.admin.post("/v1/owners", {"id": "acme", "name": "Acme", "country": "US"})
        self.op_key = world.operator_key("acme")
        self.admin.post(
            "/v1/keys",
            {
                "public_key": self.op_key.public.raw.hex(),
                "role": "operator",
                "name": "acme-ops",
                "owner_id": "acme",
            },
        )
        self.admin.post(
            "/v1/facilities",
            {
                "id": "dc1",
                "name": "DC1",
                "country": "US",
                "latitude": 40.0,
                "longitude": -100.0,
                "power_mw": 50.0,
                "verified": True,
            },
        )
        self.operator = self.admin.with_key(self.op_key)

    def register(self, certificate: bytes) -> None:
        self.admin.post(
            "/v1/chips",
            {
                "certificate": base64.b64encode(certificate).decode(),
                "owner_id": "acme",
                "facility_id": "dc1",
            },
        )

    def witness(self) -> None:
        """Two of the three witnesses cosign the log's latest checkpoint."""
        # the server signs checkpoints periodically: wait for one covering every entry
        size = int(self.admin.get("/v1/stats")["log_size"])
        deadline = time.monotonic() + 15
        cp = SignedCheckpoint.parse(self.admin.get("/v1/log/checkpoint"))
        while cp.body.size < size:
            assert time.monotonic() < deadline, f"no checkpoint covers {size} entries"
            time.sleep(0.02)
            cp = SignedCheckpoint.parse(self.admin.get("/v1/log/checkpoint"))
        now = int(time.time())
        for i in range(2):
            note = cp.with_signatures([cp.cosign(self.world.keys.key("witness", i), now)])
            resp = self.admin.http.post(
                "http://testserver/v1/log/cosignature", content=note.encode().encode()
            )
            assert resp.status_code == 200, resp.text

    def license(self, chip_id: str, flop: int, run: str, *, witness: bool = True) -> None:
        now = int(time.time())
        out = self.operator.post(
            "/v1/licenses/applications",
            {
                "chips": [chip_id],
                "flop_budget": flop,
                "not_before": now - 3600,
                "not_after": now + 7 * 86400,
                "run_id": run,
                "purpose": "e2e test",
            },
        )
        assert out["license_ids"], out
        if witness:
            self.witness()

    def order(self, kind: str, lifts: int | None = None) -> int:
        # effective a little in the past: the chip's trusted time is whole seconds
        body = {
            "kind": kind,
            "scope": {"kind": "global"},
            "reason": f"e2e {kind}",
            "effective_at": int(time.time()) - (60 if kind == "pause" else 30),
        }
        if lifts is not None:
            body["lifts"] = lifts
        member = self.admin.with_key(self.world.member(0))
        prop = member.post("/v1/orders/proposals", body)
        si = bytes.fromhex(prop["signing_input"])
        out = prop
        for i in range(3):  # K = 3 of N = 5
            k = self.world.member(i)
            out = self.admin.with_key(k).post(
                f"/v1/orders/proposals/{prop['id']}/signatures",
                {"key_id": k.key_id.hex(), "sig": k.sign(si).hex()},
            )
        self.witness()
        return int(out["order"]["sequence"] if "order" in out else out["sequence"])


@pytest.mark.parametrize("check", [BundleLogCheck, OnlineLogCheck])
def test_guarded_job_under_agent_and_authority(tmp_path, check):
    world = demo_world(seed=b"agent-e2e")
    app = create_app(world.settings(f"sqlite:///{tmp_path / 'authority.db'}"))
    state = tmp_path / "agent"
    backend = FakeBackend(1)
    torch.manual_seed(0)
    model = tiny_gpt(d_model=64, ctx=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = make_batch(model, 4)
    per_step = count_flops(lambda: train_step(model, opt, x, y))

    with serve_in_process(app) as http:
        w = World(http, world)
        Agent.enroll(
            state,
            backend,
            trust_root=world.root_bytes,
            vendor_key=world.keys.key("vendor"),
            issued_at=int(time.time()),
            owner="acme",
            region="US",
        )

        def start_agent():
            client = w.operator
            agent = Agent(state, backend, client, verifier=check(client))
            server = LeaseServer(tmp_path / "lease.sock", agent.lease_service()).start()
            return agent, server

        agent, server = start_agent()
        ((uuid, gpu),) = agent.gpus.items()
        w.register(agent.certificates()[uuid])
        w.license(gpu.chip_id, per_step * 5 + per_step // 2, "run-1")
        agent.tick()
        assert gpu.chip.firmware.state.value == "licensed"

        stops = []
        ran = 0
        budget = LeaseBudget(tmp_path / "lease.sock")
        guard = Guard(budget, checkpoint=stops.append)

        def run(n):
            nonlocal ran
            for _ in range(n):
                with guard.step(x, y):
                    train_step(model, opt, x, y)
                    ran += 1

        # 1. the job runs until the budget is spent, and stops at a step boundary
        with pytest.raises(LicenseExhausted):
            run(100)
        assert ran == 5, (stops, gpu.chip.firmware.status())
        assert len(stops) == 1 and isinstance(stops[0], LicenseExhaustedError)
        rec = gpu.chip.firmware.record
        assert rec.license_used <= per_step * 5 + per_step // 2
        assert rec.flop_throttled == 0

        # 2. a new license lets it continue
        w.license(gpu.chip_id, per_step * 1000, "run-2")
        agent.tick()
        guard.wait(timeout=5, poll=0.05)
        run(2)
        assert ran == 7

        # 3. a K-of-N pause stops it within one step of the order arriving
        pause_seq = w.order("pause")
        assert agent.sync_orders() == 1
        with pytest.raises(Paused):
            run(1)
        assert ran == 7
        assert isinstance(stops[-1], PausedError)

        # 4. a resume (logged, checked against the authority's log) lets it continue
        w.order("resume", lifts=pause_seq)
        agent.tick()
        guard.wait(timeout=5, poll=0.05)
        run(2)
        assert ran == 9

        # 5. restarting the agent keeps every counter; the guard gets a new lease
        agent.tick()
        before = gpu.chip.firmware.status()
        server.stop()
        agent, server = start_agent()
        after = agent.gpus[uuid].chip.firmware.status()
        for key in ("flop_full", "flop_throttled", "energy_mj", "report_sequence", "license"):
            assert after[key] == before[key], key
        run(1)
        assert ran == 10
        guard.close()
        agent.tick()

        # the authority holds the chip's hash-chained usage reports
        reports = w.admin.get(f"/v1/chips/{gpu.chip_id}/reports")
        assert len(reports) >= 5
        server.stop()


def test_revoked_operator_key_puts_the_node_in_a_safe_state(tmp_path):
    world = demo_world(seed=b"agent-e2e-revoke")
    app = create_app(world.settings(f"sqlite:///{tmp_path / 'authority.db'}"))
    state = tmp_path / "agent"
    backend = FakeBackend(1)
    with serve_in_process(app) as http:
        w = World(http, world)
        Agent.enroll(
            state,
            backend,
            trust_root=world.root_bytes,
            vendor_key=world.keys.key("vendor"),
            issued_at=int(time.time()),
            owner="acme",
            region="US",
        )
        agent = Agent(state, backend, w.operator, verifier=OnlineLogCheck(w.operator))
        ((uuid, gpu),) = agent.gpus.items()
        w.register(agent.certificates()[uuid])
        w.license(gpu.chip_id, 10**15, "run-r")
        agent.tick()
        # a long credit: only the agent's fence can refuse the next step
        server = LeaseServer(tmp_path / "lease.sock", agent.lease_service(credit_seconds=60))
        server.start()
        try:
            budget = LeaseBudget(tmp_path / "lease.sock")
            budget.step(0, 10)
            while budget.fast_steps == 0 or budget._unsettled + 20 > budget._credit:
                budget.step(10, 10)  # until a credit covering the next step is open
            keys = w.admin.get("/v1/keys")
            key_id = next(k for k in keys if k.get("role") == "operator")["key_id"]
            w.admin.post(f"/v1/keys/{key_id}/revoke", {})
            agent.tick()
            assert isinstance(agent.status.safe_reason, AuthError)
            with pytest.raises(AuthError):
                budget.step(10, 10)
            budget.close(0)
        finally:
            server.stop()


def test_agent_list_refuses_listed_weights_and_code_through_the_lease(tmp_path):
    from pausebutton.agent.daemon import PROHIBITED_FILE
    from pausebutton.chip.lab import Lab
    from pausebutton.errors import PolicyError
    from pausebutton.guard.artifacts import file_hash, listable_tensors
    from pausebutton.protocol.envelope import Envelope
    from pausebutton.protocol.messages import Artifact, ArtifactKind, ProhibitedArtifacts

    lab = Lab.create(b"agent-e2e-artifacts")
    backend = FakeBackend(1)
    state = tmp_path / "agent"
    Agent.enroll(
        state, backend, trust_root=lab.root_bytes, vendor_key=lab.keys.key("vendor"), issued_at=1
    )
    torch.manual_seed(7)
    banned = tiny_gpt(d_model=64, ctx=8)
    script = tmp_path / "train_banned.py"
    script.write_text("# a listed training script\n")
    arts = (*listable_tensors(banned), Artifact(ArtifactKind.CODE, file_hash(script), "code"))
    listed = Envelope.create(ProhibitedArtifacts(3, 1, tuple(arts)), lab.members()).encode()
    (state / PROHIBITED_FILE).write_bytes(listed)
    agent = Agent(state, backend)
    server = LeaseServer(tmp_path / "lease.sock", agent.lease_service()).start()
    try:
        with pytest.raises(PolicyError), Guard(LeaseBudget(tmp_path / "lease.sock"), model=banned):
            pytest.fail("a listed model must be refused before the loop")
        with (
            pytest.raises(PolicyError),
            Guard(LeaseBudget(tmp_path / "lease.sock"), code=(str(script),)),
        ):
            pytest.fail("listed code must be refused before the loop")
        torch.manual_seed(8)
        fine = tiny_gpt(d_model=64, ctx=8)
        with Guard(LeaseBudget(tmp_path / "lease.sock"), model=fine) as guard:
            assert guard.prohibited is not None and len(guard.prohibited) == len(arts)
        reports = (state / "artifact-reports.jsonl").read_text().splitlines()
        assert len(reports) == 2 and "prohibited-artifact" in reports[0]
    finally:
        server.stop()


def test_license_needs_a_witnessed_log_proof(tmp_path):
    world = demo_world(seed=b"agent-e2e-unwitnessed")
    app = create_app(world.settings(f"sqlite:///{tmp_path / 'authority.db'}"))
    backend = FakeBackend(1)
    state = tmp_path / "agent"
    with serve_in_process(app) as http:
        w = World(http, world)
        Agent.enroll(
            state,
            backend,
            trust_root=world.root_bytes,
            vendor_key=world.keys.key("vendor"),
            issued_at=int(time.time()),
            owner="acme",
            region="US",
        )
        check = BundleLogCheck(w.operator)
        agent = Agent(state, backend, w.operator, verifier=check)
        ((uuid, gpu),) = agent.gpus.items()
        w.register(agent.certificates()[uuid])
        w.license(gpu.chip_id, 10**15, "run-u", witness=False)
        agent.tick()
        assert gpu.chip.firmware.state.value == "throttled"  # no cosigned checkpoint yet
        row = w.admin.get("/v1/licenses", chip_id=gpu.chip_id)[0]
        envelope = base64.b64decode(row["envelope"])
        with pytest.raises(NotLoggedError):  # a bundle for another entry
            check(agent.root, envelope + b"x", logcheck_token(row["log_index"]))
        w.witness()
        agent.tick()
        assert gpu.chip.firmware.state.value == "licensed"


def test_running_agent_pushes_a_pause_to_the_guard_within_seconds(tmp_path):
    import threading

    world = demo_world(seed=b"agent-e2e-run")
    app = create_app(world.settings(f"sqlite:///{tmp_path / 'authority.db'}"))
    backend = FakeBackend(1)
    state = tmp_path / "agent"
    torch.manual_seed(0)
    model = tiny_gpt(d_model=32, ctx=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = make_batch(model, 2)
    with serve_in_process(app) as http:
        w = World(http, world)
        Agent.enroll(
            state,
            backend,
            trust_root=world.root_bytes,
            vendor_key=world.keys.key("vendor"),
            issued_at=int(time.time()),
            owner="acme",
            region="US",
        )
        agent = Agent(
            state, backend, w.operator, verifier=BundleLogCheck(w.operator), watch_timeout=2.0
        )
        ((uuid, gpu),) = agent.gpus.items()
        w.register(agent.certificates()[uuid])
        w.license(gpu.chip_id, 10**15, "run-live")
        stop = threading.Event()
        sock = tmp_path / "live.sock"
        runner = threading.Thread(
            target=agent.run, args=(stop,), kwargs={"report_interval": 0.5, "socket_path": sock}
        )
        runner.start()
        try:
            deadline = time.monotonic() + 20
            while gpu.chip.firmware.state.value != "licensed":
                assert time.monotonic() < deadline, "the running agent never installed the license"
                time.sleep(0.05)
            guard = Guard(LeaseBudget(sock))
            for _ in range(3):
                with guard.step(x, y):
                    train_step(model, opt, x, y)
            t0 = time.monotonic()
            w.order("pause")
            while gpu.chip.firmware.state.value != "paused":
                assert time.monotonic() - t0 < 10, "the pause was not pushed to the agent"
                time.sleep(0.01)
            delivery = time.monotonic() - t0
            with pytest.raises(Paused), guard.step(x, y):
                pytest.fail("the first step after the order arrived must be refused")
            assert delivery < 5.0
            guard.close()
            reports = w.admin.get(f"/v1/chips/{gpu.chip_id}/reports")
            assert reports, "the running agent sent no usage report"
        finally:
            stop.set()
            runner.join(20)
        assert not runner.is_alive()
