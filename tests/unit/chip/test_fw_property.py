"""Property: whatever the sequence of installs, meters, crashes and NVM file restores,
the FLOP a chip lets run at full rate never exceed the sum of the budgets it accepted."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fwkit import new_sim
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pausebutton.chip.lab import T0, Lab
from pausebutton.chip.nvm import COPY_NAMES, FileNvm
from pausebutton.chip.simulated import SimulatedChip
from pausebutton.errors import PausebuttonError

LAB = Lab.create(b"property")


class Crash(Exception):
    """Power lost in the middle of an NVM write."""


@dataclass
class World:
    directory: Path
    chip: SimulatedChip | None
    crash_after: int | None = None
    writes: int = 0
    licenses: list[tuple[bytes, bytes | None, int, int]] = field(default_factory=list)
    possibly_accepted: dict[int, int] = field(default_factory=dict)
    """license id -> budget, for every license the chip may have applied."""
    full_run: int = 0
    snapshots: list[dict[str, bytes]] = field(default_factory=list)
    saved: dict[str, bytes] | None = None

    def hook(self, path: Path, data: bytes) -> None:
        if self.crash_after is not None:
            if self.writes >= self.crash_after:
                self.crash_after = None
                raise Crash
            self.writes += 1
        FileNvm._atomic(path, data)

    def chip_or_none(self) -> SimulatedChip | None:
        if self.chip is None:
            try:
                self.chip = SimulatedChip.open(
                    self.directory, verifier=LAB.verifier(), write_hook=self.hook
                )
            except (PausebuttonError, Crash):  # a crash while repairing copies at boot
                self.crash_after = None
                return None
        return self.chip

    def crash(self) -> None:
        if self.chip is not None:
            self.chip.close()
            self.chip = None


ops = st.one_of(
    st.tuples(st.just("license"), st.integers(1, 1000)),
    st.tuples(st.just("license"), st.integers(1, 1000)),
    st.tuples(st.just("replay"), st.integers(0, 20)),
    st.tuples(st.just("old-id"), st.integers(1, 1000)),
    st.tuples(st.just("meter"), st.integers(0, 3000)),
    st.tuples(st.just("meter"), st.integers(0, 3000)),
    st.tuples(st.just("crash-next"), st.integers(0, 4)),
    st.tuples(st.just("reboot"), st.just(0)),
    st.tuples(st.just("snapshot"), st.just(0)),
    st.tuples(st.just("snapshot"), st.just(0)),
    st.tuples(st.just("restore"), st.integers(0, 31)),
    st.tuples(st.just("restore"), st.integers(0, 31)),
    st.tuples(st.just("heal"), st.just(0)),
    st.tuples(st.just("time"), st.integers(0, 10**6)),
    st.tuples(st.just("pause"), st.integers(-100, 10**4)),
    st.tuples(st.just("resume"), st.integers(-100, 10**4)),
)


def _files(directory: Path) -> dict[str, bytes]:
    return {n: (directory / n).read_bytes() for n in COPY_NAMES if (directory / n).exists()}


# -- the operations: on the world (power, NVM files) and on the chip ---------------------------


def _crash_next(world: World, arg: int) -> None:
    world.crash_after, world.writes = arg, 0


def _reboot(world: World, _arg: int) -> None:
    world.crash()


def _snapshot(world: World, _arg: int) -> None:
    world.snapshots.append(_files(world.directory))


def _restore(world: World, arg: int) -> None:
    if not world.snapshots:
        return
    world.crash()
    if world.saved is None:
        world.saved = _files(world.directory)
    old = world.snapshots[(arg >> 2) % len(world.snapshots)]
    for i, name in enumerate(COPY_NAMES):  # all copies, or only the first one or two
        if (arg & 3 == 0 or i < arg & 3) and name in old:
            (world.directory / name).write_bytes(old[name])


def _heal(world: World, _arg: int) -> None:
    if world.saved is not None:
        world.crash()
        for name, data in world.saved.items():
            (world.directory / name).write_bytes(data)
        world.saved = None


WORLD_OPS: dict[str, Callable[[World, int], None]] = {
    "crash-next": _crash_next,
    "reboot": _reboot,
    "snapshot": _snapshot,
    "restore": _restore,
    "heal": _heal,
}


def _license(world: World, chip: SimulatedChip, arg: int) -> None:
    env = LAB.license(chip.chip_id, flop=arg)
    data, inc = LAB.logged(env)
    world.licenses.append((data, inc, LAB.next_license - 1, arg))
    world.possibly_accepted[LAB.next_license - 1] = arg  # even if a crash hides it
    chip.install_envelope(data, inc)


def _replay(world: World, chip: SimulatedChip, arg: int) -> None:
    if world.licenses:
        data, inc, _lid, _budget = world.licenses[arg % len(world.licenses)]
        chip.install_envelope(data, inc)


def _old_id(world: World, chip: SimulatedChip, arg: int) -> None:
    env = LAB.license(chip.chip_id, flop=arg, license_id=1)
    data, inc = LAB.logged(env)
    world.possibly_accepted.setdefault(1, arg)
    world.possibly_accepted[1] = max(world.possibly_accepted[1], arg)
    chip.install_envelope(data, inc)


def _time(_world: World, chip: SimulatedChip, arg: int) -> None:
    chip.install_envelope(LAB.time_token(chip.firmware.trusted_time + arg).encode())


def _pause(_world: World, chip: SimulatedChip, arg: int) -> None:
    now = chip.firmware.trusted_time
    pause = LAB.pause(effective_at=now + arg, issued_at=max(T0, now + arg // 3))
    chip.install_envelope(pause.encode())


def _resume(_world: World, chip: SimulatedChip, arg: int) -> None:
    now = chip.firmware.trusted_time
    lifts = max((p.sequence for p in chip.firmware.record.pauses), default=1)
    resume = LAB.resume(lifts, effective_at=max(0, now + arg), issued_at=max(T0, now + arg))
    chip.install_envelope(*LAB.logged(resume))


def _meter(world: World, chip: SimulatedChip, arg: int) -> None:
    world.full_run += chip.run(arg).flop_full  # counts only once persisted


CHIP_OPS: dict[str, Callable[[World, SimulatedChip, int], None]] = {
    "license": _license,
    "replay": _replay,
    "old-id": _old_id,
    "time": _time,
    "pause": _pause,
    "resume": _resume,
    "meter": _meter,
}


def step(world: World, op: str, arg: int) -> None:
    """The model of the firmware: one operation on the world or on the chip."""
    if op in WORLD_OPS:
        WORLD_OPS[op](world, arg)
        return
    chip = world.chip_or_none()
    if chip is None:
        return
    try:
        CHIP_OPS[op](world, chip, arg)
    except Crash:
        world.crash()
    except PausebuttonError as exc:
        assert "firmware bug" not in exc.message, exc.message  # a step outside TRANSITIONS


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(ops, max_size=30))
def test_full_rate_flop_never_exceeds_accepted_budgets(sequence: list[tuple[str, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "chip"
        world = World(directory, new_sim(LAB, directory))
        assert world.chip is not None
        world.chip.close()
        world.chip = None
        for op, arg in sequence:
            step(world, op, arg)
            assert world.full_run <= sum(world.possibly_accepted.values())
        world.crash()
        for name, data in (world.saved or {}).items():
            (directory / name).write_bytes(data)
        world.saved = None
        chip = world.chip_or_none()
        if chip is not None:  # the chip's own counter obeys the bound too
            assert chip.firmware.record.flop_full <= sum(world.possibly_accepted.values())
            assert chip.firmware.record.flop_full >= world.full_run
            world.crash()


pure_ops = st.lists(
    st.one_of(
        st.tuples(st.just("license"), st.integers(1, 10**16)),
        st.tuples(st.just("meter"), st.integers(0, 10**17)),
        st.tuples(st.just("time"), st.integers(0, 10**6)),
        st.tuples(st.just("pause"), st.integers(-1000, 10**5)),
        st.tuples(st.just("resume"), st.integers(-1000, 10**5)),
        st.tuples(st.just("report"), st.just(0)),
        st.tuples(st.just("respond"), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(pure_ops)
def test_pure_firmware_follows_its_tables(sequence: list[tuple[str, int]]) -> None:
    """Any input sequence: every step is in TRANSITIONS and full rate stays in budget."""
    fw = LAB.new_chip()
    budgets = 0
    full = 0
    for op, arg in sequence:
        now = fw.trusted_time
        try:
            if op == "license":
                out = fw.install(*LAB.logged(LAB.license(fw.record.chip_id, flop=arg)))
                budgets += arg
            elif op == "meter":
                out = fw.meter(arg)
                assert out.run is not None
                full += out.run.flop_full
            elif op == "time":
                out = fw.install(LAB.time_token(now + arg).encode())
            elif op == "pause":
                out = fw.install(LAB.pause(effective_at=max(0, now + arg), issued_at=now).encode())
            elif op == "resume":
                lifts = max((p.sequence for p in fw.record.pauses), default=1)
                resume = LAB.resume(lifts, effective_at=max(0, now + arg), issued_at=now)
                out = fw.install(*LAB.logged(resume))
            elif op == "report":
                out = fw.report()
            else:
                out = fw.respond(bytes(32))
        except PausebuttonError as exc:
            assert "firmware bug" not in exc.message, exc.message
            continue
        fw.commit(out)
        assert fw.trusted_time >= now  # trusted time never goes back
        assert full <= budgets
        assert fw.record.flop_full == full
