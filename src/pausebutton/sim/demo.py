"""The pause-button story, end to end, on the real components (``pausebutton demo``).

One process founds an authority, serves it with uvicorn on 127.0.0.1 (an
ephemeral port, a real socket) over an SQLite database in the state folder,
runs node agents over fake GPUs (each GPU a firmware instance with its own
secure NVM), and walks through licensing, a frontier-run approval, a K-of-N
pause, the dead man's switch, a resume, an attack gallery, location
verification, the verification engine and a transparency-log audit.

Every step checks its own outcome (:class:`ExpectationFailed` names what did
not hold) and returns a :class:`StepResult`; nothing here prints. The CLI
(:mod:`pausebutton.cli.demo`) renders the results; tests read the JSON summary.

This module is the driver: it serves the authority, runs the acts in order and
reports. The acts live beside it: :mod:`~pausebutton.sim.founding` (found, registry,
agents), :mod:`~pausebutton.sim.licensing` (licences, frontier),
:mod:`~pausebutton.sim.orders` (pause, dead man's switch, resume),
:mod:`~pausebutton.sim.attacks`, :mod:`~pausebutton.sim.location`,
:mod:`~pausebutton.sim.detection` and :mod:`~pausebutton.sim.audit`; the world they
share is :mod:`~pausebutton.sim.world`, their results :mod:`~pausebutton.sim.results`.

What is simulated: the GPUs (``FakeBackend``), the work (FLOP metered into the
firmware instead of run), round-trip times of location challenges (computed
from distances; the chip's signature is real), and the verification engine's
signals (the seeded scenario generator). Everything else is the real code.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pausebutton import errors
from pausebutton.protocol.keys import PrivateKey
from pausebutton.sim.attacks import step_attacks
from pausebutton.sim.audit import step_audit
from pausebutton.sim.detection import step_detect
from pausebutton.sim.founding import step_agents, step_found, step_registry
from pausebutton.sim.licensing import step_frontier, step_licences
from pausebutton.sim.location import step_location
from pausebutton.sim.orders import step_deadman, step_pause, step_resume
from pausebutton.sim.results import ExpectationFailed, StepResult, TableData, expect
from pausebutton.sim.server import serve
from pausebutton.sim.world import FRONTIER_FLOP, MAX_OFFLINE, Demo, K

# the names other code imports from here (the CLI, the tests that replace an act)
__all__ = [
    "STEPS",
    "Demo",
    "DemoResult",
    "ExpectationFailed",
    "StepResult",
    "TableData",
    "check_chips",
    "expect",
    "run_demo",
    "serve",
    "step_agents",
    "step_attacks",
    "step_audit",
    "step_deadman",
    "step_detect",
    "step_found",
    "step_frontier",
    "step_licences",
    "step_location",
    "step_pause",
    "step_registry",
    "step_resume",
]

Act = Callable[[Demo, StepResult], None]
"""One act of the story: it works on the shared :class:`Demo` and fills its result."""


# -- the story: its acts in order, and the runner ----------------------------------------

STEPS: tuple[tuple[str, str, str], ...] = (
    ("found", "Found the authority", "Member states generate their keys and sign the trust root."),
    (
        "registry",
        "Start the authority and seed the registry",
        "The real HTTP server on 127.0.0.1 over SQLite; facilities, owners, operator keys.",
    ),
    (
        "agents",
        "Enroll two data centres and an edge node",
        "Node agents bind each fake GPU to a firmware chip; vendor-signed chips are registered.",
    ),
    (
        "licences",
        "Licences: apply, witness, install, work, report",
        "Below-threshold runs are auto-approved; chips accept them only with a witnessed"
        " log proof.",
    ),
    (
        "frontier",
        "A frontier run needs K-of-N approval",
        f"A run of at least {FRONTIER_FLOP:.0e} FLOP waits for {K} member approvals.",
    ),
    (
        "pause",
        "PAUSE",
        "Members sign a global pause one by one; the order is pushed to every agent.",
    ),
    (
        "deadman",
        "Dead man's switch",
        "A chip that hears nothing throttles itself when its licence's offline period runs out.",
    ),
    ("resume", "RESUME", "K signatures plus a log inclusion proof lift the pause."),
    (
        "attacks",
        "Attack gallery",
        "Forgery, replay, wrong chip, secret licence, K-1 quorum, rollback.",
    ),
    (
        "location",
        "Location verification",
        "Landmarks time signed challenges; the speed of light bounds where a chip can be.",
    ),
    (
        "detect",
        "Verification engine",
        "Ten verification methods fused into evidence-backed alerts.",
    ),
    (
        "audit",
        "Transparency audit",
        "Anyone can check a licence's inclusion offline against the root.",
    ),
)


@dataclass
class DemoResult:
    steps: list[StepResult]
    seconds: float
    state_dir: str
    url: str | None

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps) and len(self.steps) == len(STEPS)

    @property
    def failed(self) -> StepResult | None:
        return next((s for s in self.steps if not s.ok), None)

    def to_json(self) -> dict[str, Any]:
        failed = self.failed
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "state_dir": self.state_dir,
            "url": self.url,
            "failed_step": None if failed is None else failed.number,
            "steps": [s.to_json() for s in self.steps],
        }


def _acts(url: str) -> dict[str, Act]:
    """The acts after founding, by step key. Looked up at each run, so that a test may
    replace one (``monkeypatch.setattr(pausebutton.sim.demo, "step_pause", ...)``)."""
    return {
        "registry": lambda d, r: step_registry(d, r, url),
        "agents": step_agents,
        "licences": step_licences,
        "frontier": step_frontier,
        "pause": step_pause,
        "deadman": step_deadman,
        "resume": step_resume,
        "attacks": step_attacks,
        "location": step_location,
        "detect": step_detect,
        "audit": step_audit,
    }


@dataclass
class _Runner:
    """Runs one act at a time, records its result and tells the caller."""

    on_start: Callable[[StepResult], None] | None
    on_done: Callable[[StepResult], None] | None
    results: list[StepResult]

    def run(self, r: StepResult, fn: Callable[[], None]) -> bool:
        if self.on_start:
            self.on_start(r)
        t = time.perf_counter()
        try:
            fn()
            r.ok = True
        except ExpectationFailed as exc:
            r.failure = str(exc)
        except errors.PausebuttonError as exc:
            r.failure = f"{type(exc).__name__}: {exc.message}"
        r.seconds = time.perf_counter() - t
        self.results.append(r)
        if self.on_done:
            self.on_done(r)
        return r.ok


MAX_CHIPS = 64
"""Most fake GPUs per data centre."""


def check_chips(chips: int) -> None:
    """Fake GPUs per data centre: 1 to :data:`MAX_CHIPS`, else a named usage error."""
    if not 1 <= chips <= MAX_CHIPS:
        raise errors.UsageError(f"--chips must be between 1 and {MAX_CHIPS}")


def run_demo(
    state: Path,
    *,
    chips: int = 4,
    quick: bool = False,
    epoch_dir: Path | None = None,
    on_start: Callable[[StepResult], None] | None = None,
    on_done: Callable[[StepResult], None] | None = None,
    on_event: Callable[[str], None] | None = None,
    hold: Callable[[DemoResult], None] | None = None,
) -> DemoResult:
    """Run every step in order; stop at the first that fails. Never raises for a step's
    failure (it is recorded); raises only if the server cannot start.

    ``hold``: called with the result after the story while the authority and its web
    console still serve (``demo --serve`` waits there until Ctrl-C); the admin key is
    written to STATE/admin.key for signing in to the console."""
    from pausebutton import keystore
    from pausebutton.authority.policy import Policy
    from pausebutton.authority.settings import Settings
    from pausebutton.console import create_console_app

    check_chips(chips)
    t0 = time.perf_counter()
    d = Demo(state=state, chips_per_site=chips, quick=quick, epoch_dir=epoch_dir)
    d.admin_key = PrivateKey.generate()
    if on_event is not None:
        d.progress = on_event
    runner = _Runner(on_start, on_done, [])
    numbered = [StepResult(i + 1, k, t, e) for i, (k, t, e) in enumerate(STEPS)]
    if not runner.run(numbered[0], functools.partial(step_found, d, numbered[0])):
        return DemoResult(runner.results, time.perf_counter() - t0, str(state), None)
    settings = Settings.from_dir(
        state / "authority",
        f"sqlite:///{state / 'authority.db'}",
        admin_keys=(d.admin_key.public.raw,),
        policy=Policy(max_offline=MAX_OFFLINE, frontier_flop=FRONTIER_FLOP),
        checkpoint_interval=0.1,
    )
    with serve(create_console_app(settings)) as url:
        acts = _acts(url)
        try:
            for r in numbered[1:]:
                if not runner.run(r, functools.partial(acts[r.key], d, r)):
                    break
        finally:
            d.stop_runners()
            if d.admin is not None:
                d.admin.close()
        result = DemoResult(runner.results, time.perf_counter() - t0, str(state), url)
        if hold is not None:
            keystore.write_private_key(state / "admin.key", d.admin_key, force=True)
            hold(result)
    return result
