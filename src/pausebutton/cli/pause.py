"""``pausebutton pause`` and ``pausebutton resume``: K-of-N orders, offline.

Propose an unsigned order, have each member sign it with their key (on their own
machine), assemble the signatures into one envelope. A pause takes effect on a
valid quorum alone; a resume also needs a log inclusion proof, so ``resume
assemble`` needs ``--authority`` (the local log) to make an installable bundle.
Online verbs (against an authority URL) are registered here by the authority
service with ``register(app)``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated

import typer

from pausebutton import keystore
from pausebutton.chip.install import InstallFile
from pausebutton.cli.common import JsonOpt, err, out, print_json, read_envelope
from pausebutton.cli.objects import read_input
from pausebutton.errors import UsageError
from pausebutton.fsutil import atomic_write
from pausebutton.issuing.offline import OfflineAuthority
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.messages import PauseOrder, ResumeOrder
from pausebutton.protocol.scopes import parse_scope
from pausebutton.protocol.times import parse_optional_instant
from pausebutton.protocol.trustroot import TrustRoot, load_pinned_root

app = typer.Typer(help="Pause orders: propose, sign (each member), assemble (K of N).")
resume_app = typer.Typer(help="Resume orders: propose, sign, assemble (needs a log proof).")

ScopeOpt = Annotated[str, typer.Option(help="global, region:NL,DE, owner:NAME,.. or chips:ID,..")]
ReasonOpt = Annotated[str, typer.Option(help="Why (logged with the order).")]
OutOpt = Annotated[Path, typer.Option("--out", help="File to write.")]
AuthOpt = Annotated[
    Path | None, typer.Option("--authority", help="Authority directory (counters, local log).")
]
SeqOpt = Annotated[int | None, typer.Option(help="Order sequence (default: authority's next).")]
EffOpt = Annotated[
    str | None,
    typer.Option(help="When it takes effect, Unix seconds or ISO 8601 (default: now)."),
]


def _effective(text: str | None, now: int) -> int:
    at = parse_optional_instant(text, "--effective-at", error=UsageError)
    return now if at is None else at


def _sequence(authority: Path | None, sequence: int | None) -> int:
    if authority is not None:
        return OfflineAuthority.load(authority).next_number("order_sequence", sequence)
    if sequence is None:
        raise UsageError("give --sequence or --authority (to take the next sequence)")
    return sequence


def _write_unsigned(order: PauseOrder | ResumeOrder, out_path: Path, json_out: bool) -> None:
    order.validate()
    atomic_write(out_path, Envelope.wrap(order).encode())
    if json_out:
        print_json(
            {"type": order.TYPE, "sequence": order.sequence, "out": str(out_path), "signatures": 0}
        )
    else:
        out.print(f"{order.TYPE} {order.sequence} proposed: {out_path} (0 signatures)")


def _sign(file: Path, key: Path, out_path: Path | None, expected: str, json_out: bool) -> None:
    _, env = read_envelope(file)
    if env.type != expected:
        raise UsageError(f"{file} holds a {env.type}, not a {expected}")
    env.open()
    signed = env.sign(keystore.read_private_key(key))
    atomic_write(out_path or file, signed.encode())
    if json_out:
        print_json(
            {"type": expected, "out": str(out_path or file), "signatures": len(signed.signatures)}
        )
    else:
        out.print(f"signed: {len(signed.signatures)} signature(s) on {out_path or file}")


def _assemble(
    files: list[Path],
    out_path: Path,
    trust: Path | None,
    authority: Path | None,
    expected: str,
    needs_log: bool,
    json_out: bool,
) -> None:
    result_json: dict[str, object] = {"type": expected, "out": str(out_path)}
    merged: Envelope | None = None
    for f in files:
        data = read_input(f, 1 << 20)
        env = Envelope.decode(InstallFile.decode(data).envelope)
        if env.type != expected:
            raise UsageError(f"{f} holds a {env.type}, not a {expected}")
        merged = env if merged is None else merged.merge(env)
    if merged is None:
        raise UsageError("give at least one signed order file")
    merged.open()
    root: TrustRoot | None = None
    auth = OfflineAuthority.load(authority) if authority is not None else None
    if trust is not None:
        root = load_pinned_root(read_input(trust))[1]
    elif auth is not None:
        root = auth.authdir.root
    if root is not None:
        result = root.verify_role(merged, "pause")
        if not json_out:
            out.print(f"{len(result.signed)} of {result.threshold} pause signatures")
        result_json.update(signed=len(result.signed), threshold=result.threshold)
        result.require(expected)
    if auth is not None:
        item = auth.logged_install_file(merged, timestamp=int(time.time()))
    else:
        item = InstallFile(merged.encode())
        if needs_log:
            err.print(
                "warning: no --authority, so no log inclusion proof: chips will reject this"
                " resume until it is logged"
            )
    atomic_write(out_path, item.encode())
    result_json["logged"] = auth is not None
    if json_out:
        print_json(result_json)
    else:
        out.print(f"{expected} assembled: {out_path}")


@app.command("propose")
def pause_propose(
    out_path: OutOpt,
    reason: ReasonOpt,
    scope: ScopeOpt = "global",
    sequence: SeqOpt = None,
    authority: AuthOpt = None,
    effective_at: EffOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write an unsigned pause order for the members to sign."""
    now = int(time.time())
    draft = PauseOrder(
        sequence=sequence or 1,
        scope=parse_scope(scope),
        effective_at=_effective(effective_at, now),
        issued_at=now,
        reason=reason,
    )
    draft.validate()  # all input checked before the sequence counter moves
    _write_unsigned(
        dataclasses.replace(draft, sequence=_sequence(authority, sequence)), out_path, json_out
    )


@app.command("sign")
def pause_sign(
    file: Annotated[Path, typer.Argument(help="The proposed pause order.")],
    key: Annotated[Path, typer.Option("--key", help="Your member key file.")],
    out_path: Annotated[Path | None, typer.Option("--out", help="Default: sign in place.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Add one member's signature to a pause order."""
    _sign(file, key, out_path, PauseOrder.TYPE, json_out)


@app.command("assemble")
def pause_assemble(
    files: Annotated[list[Path], typer.Argument(help="Signed copies of the same order.")],
    out_path: OutOpt,
    trust: Annotated[Path | None, typer.Option(help="Check the quorum against this root.")] = None,
    authority: AuthOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Merge members' signatures into one order; check the K-of-N quorum (exit 3 if short).
    With --authority the order is also appended to the local log."""
    _assemble(
        files, out_path, trust, authority, PauseOrder.TYPE, needs_log=False, json_out=json_out
    )


@resume_app.command("propose")
def resume_propose(
    out_path: OutOpt,
    reason: ReasonOpt,
    lifts: Annotated[int, typer.Option(help="Sequence of the pause this lifts.")],
    scope: ScopeOpt = "global",
    sequence: SeqOpt = None,
    authority: AuthOpt = None,
    effective_at: EffOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Write an unsigned resume order (its sequence must exceed the pause it lifts)."""
    now = int(time.time())
    draft = ResumeOrder(
        sequence=max(sequence or 0, lifts + 1),
        lifts=lifts,
        scope=parse_scope(scope),
        effective_at=_effective(effective_at, now),
        issued_at=now,
        reason=reason,
    )
    draft.validate()
    _write_unsigned(
        dataclasses.replace(draft, sequence=_sequence(authority, sequence)), out_path, json_out
    )


@resume_app.command("sign")
def resume_sign(
    file: Annotated[Path, typer.Argument(help="The proposed resume order.")],
    key: Annotated[Path, typer.Option("--key", help="Your member key file.")],
    out_path: Annotated[Path | None, typer.Option("--out", help="Default: sign in place.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Add one member's signature to a resume order."""
    _sign(file, key, out_path, ResumeOrder.TYPE, json_out)


@resume_app.command("assemble")
def resume_assemble(
    files: Annotated[list[Path], typer.Argument(help="Signed copies of the same order.")],
    out_path: OutOpt,
    trust: Annotated[Path | None, typer.Option(help="Check the quorum against this root.")] = None,
    authority: AuthOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Merge signatures, check the quorum, and (with --authority) log the resume and write
    an install bundle with its inclusion proof."""
    _assemble(
        files, out_path, trust, authority, ResumeOrder.TYPE, needs_log=True, json_out=json_out
    )
