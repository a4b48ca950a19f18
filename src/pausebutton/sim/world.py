"""The demo's world: the authority's members, the data centres, the nodes and their fake
GPUs, and :class:`Demo`, the state the acts share with its helpers over the HTTP API."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pausebutton.protocol.keys import PrivateKey
from pausebutton.sim.results import TableData, expect

MEMBERS = (
    ("netherlands", "NL"),
    ("germany", "DE"),
    ("france", "FR"),
    ("japan", "JP"),
    ("brazil", "BR"),
)
K = 3
WITNESSES = 3
WITNESS_K = 2
MAX_OFFLINE = 3600
"""Licences' max offline period in the demo's policy (dead man's switch), seconds."""
FRONTIER_FLOP = 10**21
"""The demo's frontier threshold, scaled down from the law's 1e25 to what its handful of
chips can compute in a licence's 30 days (an H100 does about 2.6e21 FLOP at peak): the
authority refuses a budget its chips cannot physically compute."""
SMALL_BUDGET = 10**20
FRONTIER_BUDGET = 2 * 10**21
WORK_FLOP = 10**17
"""FLOP each chip runs per work burst (about 100 s of an H100 at peak)."""
PAUSED_WORK_FLOP = 10**15
"""FLOP a chip runs while paused (at 1 % this takes about 100 s of counted cycles)."""


@dataclass(frozen=True)
class Site:
    key: str
    facility_id: str
    name: str
    country: str
    lat: float
    lon: float
    owner_id: str
    owner_name: str


SITES = (
    Site(
        "dc-a",
        "demo-amsterdam",
        "Polder Compute AMS1",
        "NL",
        52.3702,
        4.8952,
        "polder",
        "Polder Compute BV",
    ),
    Site(
        "dc-b", "demo-frankfurt", "Rhein AI FRA2", "DE", 50.1109, 8.6821, "rhein", "Rhein AI GmbH"
    ),
)

BUILTIN_FACILITIES = (
    ("builtin-colossus", "xAI Colossus (built-in sample)", "US", 150.0),
    ("builtin-jupiter", "JUPITER (built-in sample)", "DE", 17.0),
    ("builtin-abci", "ABCI 3.0 (built-in sample)", "JP", 6.0),
)


@dataclass
class Node:
    name: str
    site: Site
    agent: Any
    backend: Any
    state: Path
    connected: bool = True


class FakeClock:
    """The edge node's oscillator: seconds that only the demo advances."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Demo:
    state: Path
    chips_per_site: int = 4
    quick: bool = False
    epoch_dir: Path | None = None
    keys: Any = None
    root_bytes: bytes = b""
    root: Any = None
    admin_key: PrivateKey | None = None
    url: str | None = None
    admin: Any = None
    operators: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    edge_clock: FakeClock = field(default_factory=FakeClock)
    pause_sequence: int | None = None
    frontier_chips: list[str] = field(default_factory=list)
    snapshot: Path | None = None
    runners: list[tuple[threading.Event, threading.Thread]] = field(default_factory=list)
    progress: Callable[[str], None] = field(default=lambda _: None)
    """Live one-line events (signatures arriving, deliveries) for the CLI."""

    # -- helpers over the HTTP API ----------------------------------------------------------

    def member(self, i: int) -> PrivateKey:
        key: PrivateKey = list(self.keys.members.values())[i]
        return key

    def member_name(self, i: int) -> str:
        name: str = list(self.keys.members)[i]
        return name

    def as_member(self, i: int) -> Any:
        return self.admin.with_key(self.member(i))

    def witness(self) -> dict[str, Any]:
        """W of the witnesses fetch the newest checkpoint and cosign it."""
        from pausebutton.translog.policy import LogPolicy

        policy = LogPolicy.from_trust_root(self.root)
        # the server signs a checkpoint periodically; wait for one that covers the log
        size = int(self.admin.get("/v1/stats")["log_size"])
        deadline = time.monotonic() + 15
        while True:
            cp = policy.parse_log_signed(self.admin.get("/v1/log/checkpoint"))
            if cp.size >= size:
                break
            expect(time.monotonic() < deadline, f"no checkpoint covers the log's {size} entries")
            time.sleep(0.02)
        now = int(time.time())
        accepted = 0
        for i in range(WITNESS_K):
            note = cp.with_signatures([cp.cosign(self.keys.key("witness", i), now)])
            resp = self.admin.http.post(
                f"{self.url}/v1/log/cosignature", content=note.encode().encode(), timeout=30
            )
            expect(resp.status_code == 200, f"witness {i} cosignature refused: {resp.text}")
            accepted += 1
        self.progress(f"{accepted} witnesses cosigned the checkpoint of size {cp.size}")
        return {"size": cp.size, "cosignatures": accepted}

    def connected(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.connected]

    def gpus(self, nodes: list[Node] | None = None) -> Iterator[tuple[Node, str, Any]]:
        for node in nodes if nodes is not None else list(self.nodes.values()):
            for uuid, gpu in node.agent.gpus.items():
                yield node, uuid, gpu

    def states(self, nodes: list[Node] | None = None) -> dict[str, str]:
        return {gpu.chip_id: gpu.chip.firmware.state.value for _, _, gpu in self.gpus(nodes)}

    def chip_table(self, title: str, nodes: list[Node] | None = None) -> TableData:
        rows = []
        for node, uuid, gpu in self.gpus(nodes):
            st = gpu.chip.firmware.status()
            lic = st["license"]
            cap = node.backend.power_limits(uuid).current_mw / 1000
            rows.append(
                [
                    node.name,
                    gpu.chip_id[:8],
                    st["region"] or "-",
                    st["state"].upper(),
                    "-" if lic is None else str(lic["license_id"]),
                    f"{st['flop_full']:.1e}",
                    f"{st['flop_throttled']:.1e}",
                    f"{cap:.0f} W",
                ]
            )
        return TableData(
            title,
            [
                "node",
                "chip",
                "region",
                "state",
                "licence",
                "FLOP full",
                "FLOP thr.",
                "power cap",
            ],
            rows,
        )

    def work(self, gpu: Any, flop: int) -> dict[str, Any]:
        """Meter ``flop`` of work into one chip (persisted before it 'runs')."""
        with gpu.chip.locked():
            gpu.chip.refresh()
            fw = gpu.chip.firmware
            out = fw.meter(flop)
            gpu.chip.persist(out.record)
            fw.commit(out)
        run = out.run
        assert run is not None
        rec = fw.record
        seconds = run.cycles / rec.clock_hz
        rate = (flop / seconds) / rec.peak_flops if seconds else 0.0
        return {
            "full": run.flop_full,
            "throttled": run.flop_throttled,
            "seconds": seconds,
            "rate_of_peak": rate,
        }

    def apply(self, owner: str, chips: list[str], flop: int, run_id: str) -> dict[str, Any]:
        now = int(time.time())
        out: dict[str, Any] = self.operators[owner].post(
            "/v1/licenses/applications",
            {
                "chips": chips,
                "flop_budget": flop,
                "not_before": now - 3600,
                "not_after": now + 30 * 86400,
                "run_id": run_id,
                "purpose": f"demo run {run_id}",
            },
        )
        return out

    def sign_order(self, body: dict[str, Any]) -> tuple[dict[str, Any], list[int], float]:
        """Member 0 proposes; members 0..K-1 sign one by one. Returns (answer, signature
        counts after each, perf_counter just before the K-th signature was sent)."""
        prop = self.as_member(0).post("/v1/orders/proposals", body)
        si = bytes.fromhex(prop["signing_input"])
        counts: list[int] = []
        out = prop
        t_k = 0.0
        for i in range(K):
            key = self.member(i)
            if i == K - 1:
                t_k = time.perf_counter()
            out = self.as_member(i).post(
                f"/v1/orders/proposals/{prop['id']}/signatures",
                {"key_id": key.key_id.hex(), "sig": key.sign(si).hex()},
            )
            counts.append(signature_count(out, i + 1))
            self.progress(f"signature {counts[-1]}/{K} from {self.member_name(i)}")
        return out, counts, t_k

    def start_runners(self) -> None:
        """Run the connected agents' loops (long-poll push, reports every second)."""
        for node in self.connected():
            stop = threading.Event()
            sock = node.state / "lease.sock"
            if len(str(sock)) > 100:  # AF_UNIX path limit
                sock = Path("/tmp") / f"pb-demo-{id(node):x}.sock"
            th = threading.Thread(
                target=node.agent.run,
                args=(stop,),
                kwargs={"report_interval": 1.0, "socket_path": sock},
                name=f"agent-{node.name}",
                daemon=True,
            )
            th.start()
            self.runners.append((stop, th))

    def stop_runners(self) -> None:
        for stop, _ in self.runners:
            stop.set()
        for _, th in self.runners:
            th.join(30)
        self.runners.clear()


def signature_count(answer: dict[str, Any], fallback: int) -> int:
    for name in ("signed", "signature_count", "signatures"):
        value = answer.get(name)
        if isinstance(value, int):
            return value
        if isinstance(value, list):
            return len(value)
    return fallback


def order_sequence(answer: dict[str, Any]) -> int:
    if isinstance(answer.get("order"), dict):
        return int(answer["order"]["sequence"])
    return int(answer["sequence"])
