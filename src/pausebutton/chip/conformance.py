"""The conformance kit: run firmware scenarios (data) against any chip CLI.

A scenario is a JSON file (package data: src/pausebutton/data/conformance/*.json; format
in docs/firmware.md, "Conformance kit")::

    {"name": "...", "description": "...",
     "chips": {"a": {"region": "NL", "owner": "acme"}},
     "steps": [ {"make": "license", "name": "L1", "chip": "a", "flop": "1e15"},
                {"install": "L1", "chip": "a", "expect": "accepted"},
                {"run": "1e12", "chip": "a", "full": "1e12", "throttled": "0"}, ... ]}

The kit plays the authority itself (keys, log, signing: ``make`` steps) and
drives the chip only through the chip CLI contract of docs/cli.md, as
``CMD chip new|install|run|status|report|respond|tamper ...``, so a vendor can
point it at their own implementation with ``--chip-cli "CMD"``. The chip CLI is a
``ChipCli``: a command run as subprocesses (``subprocess_chip_cli``), or any callable
with the same answer (the ``pausebutton conformance`` verb runs its own chip CLI
in-process, which saves a process start per step).

Times in scenarios are offsets in seconds from T, the host time when the
scenario starts (the chip's manufacture time is T as well).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pausebutton import data as bundled_data
from pausebutton.chip.install import InstallFile
from pausebutton.errors import DataError
from pausebutton.fsutil import atomic_write, package_home
from pausebutton.issuing.keydir import ROOT_FILE, AuthorityDir, write_authority_dir
from pausebutton.issuing.offline import OfflineAuthority, make_inclusion_bundle
from pausebutton.issuing.vendor import write_vendor_dir
from pausebutton.protocol.envelope import Envelope, Signature
from pausebutton.protocol.flop import parse_flop
from pausebutton.protocol.genesis import found_authority
from pausebutton.protocol.governance import RootChange, apply_change
from pausebutton.protocol.keys import PrivateKey
from pausebutton.protocol.messages import License, PauseOrder, ResumeOrder, TimeToken
from pausebutton.protocol.scopes import parse_scope
from pausebutton.protocol.trustroot import TrustRoot
from pausebutton.translog import merkle

SCENARIOS = "conformance"
"""The scenarios' folder in the package data (:mod:`pausebutton.data`)."""


def default_scenarios() -> Path:
    """The scenarios shipped with the package (``pausebutton/data/conformance/*.json``)."""
    return bundled_data.path(SCENARIOS)


STEP_TIMEOUT = 60

ChipCli = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]
"""Runs the chip CLI with these arguments (``["chip", "status", DIR, "--json"]``) and
returns its exit status, stdout and stderr."""


def subprocess_chip_cli(cmd: Sequence[str]) -> ChipCli:
    """The chip CLI as the command ``cmd`` (e.g. ``["python", "-m", "mychip"]``), one
    subprocess per call, each bounded by ``STEP_TIMEOUT``."""

    def run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*cmd, *args],
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT,
            check=False,
        )

    return run


class ScenarioFailure(Exception):
    """A step did not behave as the scenario expects."""


@dataclass
class ScenarioResult:
    name: str
    passed: bool
    steps: int
    message: str = ""
    seconds: float = 0.0


@dataclass
class _Ctx:
    """One scenario's world: authority, vendor, chips, made objects."""

    cli: ChipCli
    work: Path
    auth: OfflineAuthority
    vendor_dir: Path
    t0: int
    chips: dict[str, str] = field(default_factory=dict)
    """chip name -> chip id hex"""
    files: dict[str, Path] = field(default_factory=dict)
    log_leaves: list[bytes] = field(default_factory=list)
    next_seq: dict[str, int] = field(default_factory=dict)
    roots: dict[int, TrustRoot] = field(default_factory=dict)
    """Roots made by ``rotate`` steps, by version (the chain the scenario builds)."""
    member_keys: dict[str, PrivateKey] = field(default_factory=dict)
    """The members' current keys along that chain."""

    def state(self, chip: str) -> Path:
        return self.work / f"chip-{chip}"

    def chip_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cli(["chip", *args])

    def seq(self, kind: str, requested: Any) -> int:
        value = int(requested) if requested is not None else self.next_seq.get(kind, 0) + 1
        self.next_seq[kind] = max(self.next_seq.get(kind, 0), value)
        return value


def make_world(work: Path, seed: bytes) -> tuple[OfflineAuthority, Path]:
    """An authority directory (5 members, K=3, 3 witnesses, W=2) and a vendor directory."""
    keys = found_authority(members=5, threshold=3, seed=seed)
    root = keys.signed_root(version=1, expires=int(time.time()) + 365 * 86400)
    write_authority_dir(work / "authority", keys, root.encode())
    vendor_dir = work / "vendor"
    vendor = PrivateKey.from_seed_material(seed + b"/vendor")
    write_vendor_dir(vendor_dir, vendor, "conformance-vendor")
    return OfflineAuthority(AuthorityDir.load(work / "authority")), vendor_dir


# -- making authority objects ----------------------------------------------------------------


def _signers(ctx: _Ctx, role: str, spec: Any) -> list[PrivateKey]:
    keys = ctx.auth.authdir.keys
    if role == "pause":
        members = list(keys.members.values())
        if spec == "current":  # the members' keys along the scenario's chain of roots
            return list(ctx.member_keys.values())[: keys.thresholds["pause"]]
        count = keys.thresholds["pause"] if spec is None else int(spec)
        return members[:count]
    if spec == "none":
        return []
    if spec == "wrong":  # a key the trust root does not know for this role
        return [PrivateKey.from_seed_material(b"not-a-role-key")]
    return keys.role_keys[role]


def _forge(env: Envelope, how: str | None, ctx: _Ctx) -> Envelope:
    """Attack variants of a signed envelope."""
    if how is None:
        return env
    if how == "flip-signature":
        sigs = list(env.signatures)
        first = sigs[0]
        sigs[0] = Signature(first.key_id, bytes([first.sig[0] ^ 1]) + first.sig[1:])
        return Envelope(env.type, env.version, env.payload, tuple(sigs))
    if how == "flip-payload":
        payload = env.payload[:-1] + bytes([env.payload[-1] ^ 1])
        return Envelope(env.type, env.version, payload, env.signatures)
    if how == "duplicate-signer":  # one member's signature repeated to fake a quorum
        sig = env.signatures[0]
        return Envelope(env.type, env.version, env.payload, (sig, sig, sig))
    if how == "one-key-two-ids":  # one member's signature relabelled with other members' ids
        member_ids = [k.key_id for k in ctx.auth.authdir.keys.members.values()]
        sig = next(s for s in env.signatures if s.key_id == member_ids[0])
        relabelled = tuple(Signature(kid, sig.sig) for kid in member_ids[:3])
        return Envelope(env.type, env.version, env.payload, relabelled)
    raise DataError(f"unknown forgery {how!r}")


def _rotated_root(ctx: _Ctx, step: dict[str, Any]) -> Envelope:
    """The next root of the scenario's chain, with member ``rotate`` (an index) given a new
    key: signed by the members of the root before (their current keys) and the new key."""
    if not ctx.member_keys:
        ctx.member_keys = dict(ctx.auth.authdir.keys.members)
        ctx.roots[1] = ctx.auth.authdir.root
    old = ctx.roots[max(ctx.roots)]
    name = list(ctx.member_keys)[int(step["rotate"])]
    fresh = PrivateKey.from_seed_material(f"conformance/{name}/v{old.version + 1}".encode())
    new = apply_change(old, RootChange(rotate_members=((name, fresh.public.raw),)))
    signers = [*ctx.member_keys.values(), fresh]
    ctx.member_keys[name] = fresh
    ctx.roots[new.version] = new
    return Envelope.create(new, signers)


def _log(ctx: _Ctx, entry: bytes, witnesses: Any) -> bytes:
    keys = ctx.auth.authdir.keys
    ctx.log_leaves.append(merkle.leaf_hash(entry))
    wit = keys.role_keys["witness"]
    return make_inclusion_bundle(
        ctx.log_leaves,
        len(ctx.log_leaves) - 1,
        entry,
        origin=ctx.auth.authdir.root.log_origin,
        log_key=keys.key("log"),
        witnesses=wit if witnesses is None else wit[: int(witnesses)],
        timestamp=ctx.t0,
    )


def _chip_id(ctx: _Ctx, step: dict[str, Any]) -> bytes:
    if step.get("for_chip") == "other":
        return bytes.fromhex("ab" * 32)
    return bytes.fromhex(ctx.chips[step.get("chip", "a")])


def _make(ctx: _Ctx, step: dict[str, Any]) -> None:
    kind = step["make"]
    t0 = ctx.t0
    payload: License | PauseOrder | ResumeOrder | TimeToken
    if kind == "license":
        payload = License(
            license_id=ctx.seq("license", step.get("license_id")),
            chip_id=_chip_id(ctx, step),
            not_before=t0 + int(step.get("not_before", -300)),
            not_after=t0 + int(step.get("not_after", 86400)),
            flop_budget=parse_flop(str(step.get("flop", "1e15"))),
            max_offline=int(step.get("max_offline", 7 * 86400)),
            firmware_floor=int(step.get("firmware_floor", 0)),
            region=step.get("region"),
            owner=step.get("owner"),
        )
        role = "licensing"
    elif kind == "garbage":
        path = ctx.work / f"obj-{step['name']}.cbor"
        atomic_write(path, b"\xff\x00 this is not an envelope")
        ctx.files[step["name"]] = path
        return
    elif kind == "root":
        keys = ctx.auth.authdir.keys
        if "rotate" in step:
            env = _rotated_root(ctx, step)
        else:
            new_root = keys.trust_root(
                version=int(step.get("version", 2)), expires=t0 + 365 * 86400
            )
            signers = keys.role_keys["root"][: int(step.get("signers", len(keys.members)))]
            env = Envelope.create(new_root, signers)
        data = env.encode()
        logged = step.get("logged", True)
        path = ctx.work / f"obj-{step['name']}.cbor"
        inclusion = _log(ctx, data, step.get("witnesses")) if logged else None
        atomic_write(path, InstallFile(data, inclusion).encode() if logged else data)
        ctx.files[step["name"]] = path
        return
    elif kind == "time":
        chip = step.get("chip")
        payload = TimeToken(
            time=t0 + int(step.get("at", 0)),
            sequence=ctx.seq("time", step.get("sequence")),
            chip_id=None if chip is None or not step.get("bind") else _chip_id(ctx, step),
        )
        role = "time"
    elif kind == "pause":
        payload = PauseOrder(
            sequence=ctx.seq("order", step.get("sequence")),
            scope=_scope(ctx, step.get("scope", "global")),
            effective_at=t0 + int(step.get("effective", -1)),
            issued_at=t0,
            reason="conformance",
        )
        role = "pause"
    elif kind == "resume":
        payload = ResumeOrder(
            sequence=ctx.seq("order", step.get("sequence")),
            lifts=int(step["lifts"]),
            scope=_scope(ctx, step.get("scope", "global")),
            effective_at=t0 + int(step.get("effective", -1)),
            issued_at=t0,
            reason="conformance",
        )
        role = "pause"
    else:
        raise DataError(f"unknown object kind {kind!r}")
    env = Envelope.create(payload, _signers(ctx, role, step.get("signers")))
    env = _forge(env, step.get("forge"), ctx)
    data = env.encode()
    logged = step.get("logged", kind in ("license", "resume"))
    inclusion = None
    if logged:
        entry = data if step.get("log_other") is None else data + b"x"
        inclusion = _log(ctx, entry, step.get("witnesses"))
    path = ctx.work / f"obj-{step['name']}.cbor"
    atomic_write(path, InstallFile(data, inclusion).encode() if logged else data)
    ctx.files[step["name"]] = path


def _scope(ctx: _Ctx, spec: str) -> Any:
    if spec.startswith("chips:"):
        names = spec[len("chips:") :].split(",")
        spec = "chips:" + ",".join(ctx.chips.get(n, n) for n in names)
    return parse_scope(spec, error=DataError)


# -- chip steps -------------------------------------------------------------------------------


def _expect_rejection(proc: subprocess.CompletedProcess[str], reason: str, what: str) -> None:
    if proc.returncode != 3:
        raise ScenarioFailure(
            f"{what}: expected exit 3 ({reason}), got {proc.returncode}: {proc.stderr.strip()}"
        )
    if reason not in proc.stderr:
        raise ScenarioFailure(
            f"{what}: expected reason {reason!r} on stderr, got {proc.stderr.strip()!r}"
        )


_Ran = tuple[subprocess.CompletedProcess[str], str] | None
"""What a chip step ran: its result and a name for messages, or None when the step
checked its own result (or ran no CLI)."""

_ChipStep = Callable[[_Ctx, dict[str, Any], str, bool], _Ran]
"""A chip step kind: (scenario world, step, chip name, whether it expects acceptance)."""


def _install(ctx: _Ctx, step: dict[str, Any], chip: str, _accepted: bool) -> _Ran:
    proc = ctx.chip_cli("install", str(ctx.state(chip)), str(ctx.files[step["install"]]))
    return proc, f"install {step['install']}"


def _run(ctx: _Ctx, step: dict[str, Any], chip: str, accepted: bool) -> _Ran:
    flop = str(parse_flop(str(step["run"])))
    proc = ctx.chip_cli("run", str(ctx.state(chip)), "--flop", flop, "--json")
    what = f"run {step['run']}"
    if accepted:
        _check_run(proc, step, what)
        return None
    return proc, what


def _status(ctx: _Ctx, step: dict[str, Any], chip: str, accepted: bool) -> _Ran:
    proc = ctx.chip_cli("status", str(ctx.state(chip)), "--json")
    if accepted:
        _check_status(proc, step)
        return None
    return proc, "status"


def _report(ctx: _Ctx, step: dict[str, Any], chip: str, _accepted: bool) -> _Ran:
    out = ctx.work / f"report-{chip}-{len(ctx.files)}.cbor"
    proc = ctx.chip_cli("report", str(ctx.state(chip)), "--out", str(out))
    if proc.returncode == 0:
        ctx.files[step["report"]] = out
    return proc, "report"


def _respond(ctx: _Ctx, step: dict[str, Any], chip: str, _accepted: bool) -> _Ran:
    out = ctx.work / f"response-{chip}.cbor"
    nonce = str(step["respond"])
    proc = ctx.chip_cli("respond", str(ctx.state(chip)), nonce, "--out", str(out))
    if proc.returncode == 0:
        _check_response(ctx, chip, out, nonce)
    return proc, "respond"


def _tamper(ctx: _Ctx, _step: dict[str, Any], chip: str, _accepted: bool) -> _Ran:
    return ctx.chip_cli("tamper", str(ctx.state(chip))), "tamper"


def _corrupt(ctx: _Ctx, _step: dict[str, Any], chip: str, _accepted: bool) -> _Ran:
    """Truncate every file in the chip's state directory (no CLI call)."""
    for path in ctx.state(chip).iterdir():
        if path.is_file() and not path.name.startswith("."):
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])
    return None


CHIP_STEPS: dict[str, _ChipStep] = {
    "install": _install,
    "run": _run,
    "status": _status,
    "report": _report,
    "respond": _respond,
    "tamper": _tamper,
    "corrupt": _corrupt,
}
"""The chip step kinds of docs/firmware.md section 9, by the key that names them in a
step (checked in this order)."""


def _step(ctx: _Ctx, step: dict[str, Any]) -> None:
    if "make" in step:
        _make(ctx, step)
        return
    kind = next((k for k in CHIP_STEPS if k in step), None)
    if kind is None:
        raise DataError(f"unknown step {step}")
    expect = step.get("expect", "accepted")
    ran = CHIP_STEPS[kind](ctx, step, step.get("chip", "a"), expect == "accepted")
    if ran is None:
        return
    proc, what = ran
    if expect != "accepted":
        _expect_rejection(proc, expect, what)
    elif proc.returncode != 0:
        raise ScenarioFailure(
            f"{what}: expected success, got exit {proc.returncode}: {proc.stderr.strip()}"
        )


def _check_run(proc: subprocess.CompletedProcess[str], step: dict[str, Any], what: str) -> None:
    try:
        doc = json.loads(proc.stdout)
        full, throttled = int(doc["flop_full"]), int(doc["flop_throttled"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        raise ScenarioFailure(
            f"{what}: exit {proc.returncode}, no JSON result: {proc.stdout[:200]!r}"
            f" {proc.stderr.strip()!r}"
        ) from None
    if step.get("some_throttled") and not throttled:
        raise ScenarioFailure(f"{what}: expected some work throttled, all ran at full rate")
    if "full" in step and full != parse_flop(str(step["full"])):
        raise ScenarioFailure(f"{what}: {full} FLOP ran at full rate, expected {step['full']}")
    if "throttled" in step and throttled != parse_flop(str(step["throttled"])):
        raise ScenarioFailure(f"{what}: {throttled} FLOP throttled, expected {step['throttled']}")
    want = 4 if throttled else 0
    if proc.returncode != want:
        raise ScenarioFailure(f"{what}: exit {proc.returncode}, expected {want}")


def _check_status(proc: subprocess.CompletedProcess[str], step: dict[str, Any]) -> None:
    if proc.returncode != 0:
        raise ScenarioFailure(f"status: exit {proc.returncode}: {proc.stderr.strip()}")
    doc = json.loads(proc.stdout)
    want = step["status"]
    if doc.get("state") != want:
        raise ScenarioFailure(f"status: state {doc.get('state')!r}, expected {want!r}")


def _check_response(ctx: _Ctx, chip: str, path: Path, nonce_hex: str) -> None:
    env = Envelope.decode(path.read_bytes())
    payload = env.open()
    if getattr(payload, "nonce", None) != bytes.fromhex(nonce_hex):
        raise ScenarioFailure("respond: the response does not carry the nonce")
    if getattr(payload, "chip_id", b"").hex() != ctx.chips[chip]:
        raise ScenarioFailure("respond: the response names another chip")
    if not any(s.key_id.hex() == ctx.chips[chip] for s in env.signatures):
        raise ScenarioFailure("respond: the response is not signed by the device key")


# -- running ----------------------------------------------------------------------------------


def load_scenarios(directory: Path) -> list[dict[str, Any]]:
    if not directory.is_dir():
        raise DataError(f"{directory}: no scenario directory", file=str(directory))
    out = []
    for path in sorted(directory.glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: {exc}", file=str(path)) from None
        doc.setdefault("name", path.stem)
        out.append(doc)
    return out


def run_scenario(cli: ChipCli, scenario: dict[str, Any], seed: bytes) -> ScenarioResult:
    start = time.monotonic()
    name = scenario["name"]
    steps = scenario.get("steps", [])
    with tempfile.TemporaryDirectory(prefix="pb-conformance-") as tmp:
        work = Path(tmp)
        auth, vendor_dir = make_world(work, seed)
        ctx = _Ctx(cli, work, auth, vendor_dir, int(time.time()))
        done = 0
        try:
            for chip, opts in scenario.get("chips", {"a": {}}).items():
                args = ["new", str(ctx.state(chip)), "--trust", str(work / "authority" / ROOT_FILE)]
                args += ["--vendor", str(vendor_dir)]
                for opt in ("region", "owner", "serial", "model"):
                    if opts.get(opt):
                        args += [f"--{opt}", str(opts[opt])]
                proc = ctx.chip_cli(*args)
                if proc.returncode != 0:
                    raise ScenarioFailure(f"chip new failed: {proc.stderr.strip()}")
                words = proc.stdout.strip().split()
                if not words or not re.fullmatch(r"[0-9a-f]{64}", words[-1]):
                    raise ScenarioFailure(f"chip new printed no chip id: {proc.stdout[:100]!r}")
                ctx.chips[chip] = words[-1]
            for i, step in enumerate(steps):
                try:
                    _step(ctx, step)
                except ScenarioFailure as exc:
                    raise ScenarioFailure(f"step {i + 1}: {exc}") from None
                done += 1
        except (ScenarioFailure, subprocess.TimeoutExpired, ValueError, KeyError, OSError) as exc:
            return ScenarioResult(name, False, done, str(exc), time.monotonic() - start)
    return ScenarioResult(name, True, done, "", time.monotonic() - start)


def run_all(
    chip_cli: str | ChipCli,
    scenarios: list[dict[str, Any]],
    *,
    jobs: int = 2,
    seed: bytes = b"conformance",
    on_done: Callable[[ScenarioResult], None] | None = None,
) -> list[ScenarioResult]:
    """Run ``scenarios``, ``jobs`` at a time, against ``chip_cli``: a command line (run as
    subprocesses) or a ``ChipCli``; ``on_done`` sees each result as it finishes (a
    progress bar)."""
    cli = subprocess_chip_cli(shlex.split(chip_cli)) if isinstance(chip_cli, str) else chip_cli

    def one(scenario: dict[str, Any]) -> ScenarioResult:
        result = run_scenario(cli, scenario, seed)
        if on_done is not None:
            on_done(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, scenarios))


def own_chip_cli() -> str:
    """This pausebutton's chip CLI (``python -m pausebutton``, importing this same package)."""
    home = shlex.quote(str(package_home()))
    return f"env PYTHONPATH={home} {shlex.quote(sys.executable)} -m pausebutton"
