"""``pausebutton chip``: a simulated pause-button-compatible chip on a state directory.

The stable chip CLI contract (docs/cli.md): ``new``, ``install``, ``run``,
``status``, ``report``, ``respond`` and ``tamper``. Exit codes: 0 accepted /
ran at full rate, 3 rejected (reason on stderr as ``error: CODE: message``),
4 some work ran throttled, 2 unusable command-line input.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from pausebutton.chip.firmware import DEFAULT_PEAK_FLOPS, FIRMWARE_VERSION, verify_report_chain
from pausebutton.chip.simulated import SimulatedChip
from pausebutton.cli.common import (
    EXIT_THROTTLED,
    JsonOpt,
    err,
    error_line,
    fail,
    out,
    print_json,
)
from pausebutton.cli.objects import read_input
from pausebutton.errors import PausebuttonError, UsageError
from pausebutton.fsutil import atomic_write
from pausebutton.issuing.vendor import load_vendor
from pausebutton.protocol.flop import MAX_COUNTER, format_flop, parse_flop
from pausebutton.protocol.messages import GENESIS_HASH
from pausebutton.protocol.units import format_duration, format_instant

app = typer.Typer(help="A simulated pause-button-compatible chip (firmware over secure NVM).")

StateArg = Annotated[Path, typer.Argument(help="The chip's state directory.")]


def _open(state: Path) -> SimulatedChip:
    try:
        return SimulatedChip.open(state)
    except PausebuttonError as exc:
        fail(exc)


@app.command("new")
def new(
    state: Annotated[Path, typer.Argument(help="State directory to create (must not exist).")],
    trust: Annotated[Path, typer.Option("--trust", help="Trust root to pin (trust-root.cbor).")],
    vendor: Annotated[Path, typer.Option("--vendor", help="Vendor directory (vendor init).")],
    model: Annotated[str, typer.Option(help="Chip model name.")] = "H100-SXM5",
    serial: Annotated[str | None, typer.Option(help="Serial number (default: random).")] = None,
    region: Annotated[
        str | None, typer.Option(help="ISO 3166 region the chip is provisioned for.")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Owner the chip is provisioned for.")] = None,
    peak_flops: Annotated[str, typer.Option(help="Dense peak FLOP/s.")] = str(DEFAULT_PEAK_FLOPS),
    firmware_version: Annotated[int, typer.Option(help="Firmware version.")] = FIRMWARE_VERSION,
    json_out: JsonOpt = False,
) -> None:
    """Manufacture a chip: generate its device key inside it, have the vendor certify it,
    pin the trust root, write its first NVM. Prints the chip id (hex; --json: with its
    model, serial, vendor and provisioning)."""
    import secrets

    root = read_input(trust)
    name, key = load_vendor(vendor)
    if region is not None:
        region = region.upper()
    with SimulatedChip.create(
        state,
        root=root,
        vendor_key=key,
        vendor=name,
        issued_at=int(time.time()),
        model=model,
        serial=serial or f"SN-{secrets.token_hex(6)}",
        peak_flops=parse_flop(peak_flops, "--peak-flops", error=UsageError, maximum=MAX_COUNTER),
        region=region,
        owner=owner,
        firmware_version=firmware_version,
    ) as chip:
        if json_out:
            doc = chip.status()
            print_json({k: doc[k] for k in NEW_FIELDS})
        else:
            out.print(chip.chip_id.hex())


NEW_FIELDS = ("chip_id", "state", "model", "serial", "vendor", "region", "owner", "peak_flops")


@app.command("install")
def install(
    state: StateArg,
    file: Annotated[Path, typer.Argument(help="License, order, time token or root update.")],
    json_out: JsonOpt = False,
) -> None:
    """Install a license, pause/resume order, time token or trust-root update (a bare
    envelope or an install bundle with its log inclusion proof; FILE or - for stdin).
    Exit 0 accepted; exit 3 rejected, with the reason on stderr."""
    data = read_input(file, 1 << 20)
    with _open(state) as chip:
        try:
            decision = chip.install(data)
        except PausebuttonError as exc:
            err.print(error_line(exc), markup=False)
            raise typer.Exit(3) from None
    if json_out:
        print_json(
            {"accepted": True, "detail": decision.detail, "state": decision.state_after.value}
        )
    else:
        out.print(f"accepted: {decision.detail} (state {decision.state_after.value})")


@app.command("run")
def run(
    state: StateArg,
    flop: Annotated[str, typer.Option("--flop", help="FLOP of work to run (e.g. 1e15).")],
    cycles: Annotated[int | None, typer.Option(help="Measured cycles (default: modelled).")] = None,
    energy_mj: Annotated[
        int | None, typer.Option(help="Measured energy in mJ (default: modelled).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Meter N FLOP of work. Prints the FLOP that ran at full rate and throttled (--json:
    the exact counts, what scripts and the conformance kit read). Exit 0 if all ran at
    full rate, 4 if any ran throttled, 3 if the chip refuses."""
    amount = parse_flop(flop, "--flop", error=UsageError, maximum=MAX_COUNTER)
    with _open(state) as chip:
        try:
            result = chip.run(amount, cycles=cycles, energy_mj=energy_mj)
        except PausebuttonError as exc:
            fail(exc)
        doc = {
            "flop": amount,
            "flop_full": result.flop_full,
            "flop_throttled": result.flop_throttled,
            "cycles": result.cycles,
            "energy_mj": result.energy_mj,
            "state": chip.firmware.state.value,
        }
    if json_out:
        print_json(doc)
    else:
        out.print(
            f"ran {format_flop(amount)}: {format_flop(result.flop_full)} at full rate,"
            f" {format_flop(result.flop_throttled)} throttled (state {doc['state']})",
            markup=False,
        )
    if result.flop_throttled:
        raise typer.Exit(EXIT_THROTTLED)


@app.command("status")
def status(
    state: StateArg,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the chip's state, trusted time, license, counters and pauses."""
    with _open(state) as chip:
        doc = chip.status()
    if json_out:
        print_json(doc)
        return
    lic = doc["license"]
    # plain lines (typer.echo, not rich): status is the verb a chip's tools call most
    typer.echo(f"chip      {doc['chip_id']}\nstate     {doc['state']}")
    typer.echo(f"time      {format_instant(doc['trusted_time'])} (trusted)")
    typer.echo(
        f"flop      full {format_flop(doc['flop_full'])}"
        f"  throttled {format_flop(doc['flop_throttled'])}"
    )
    if lic:
        typer.echo(
            f"license   {lic['license_id']}: {format_flop(lic['flop_left'])} of"
            f" {format_flop(lic['flop_budget'])} left, until {format_instant(lic['not_after'])}"
            f" (offline at most {format_duration(lic['max_offline'])})"
        )
    else:
        typer.echo("license   none installed")
    active = [p for p in doc.get("pauses") or [] if p.get("lifted_at") is None]
    if active:
        seqs = ", ".join(str(p["sequence"]) for p in active)
        typer.echo(f"pauses    {len(active)} in force (order {seqs})")


@app.command("report")
def report(
    state: StateArg,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="File for the signed usage report (default: stdout)."),
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option("--json", help="With --out: print where it went and its sequence as JSON."),
    ] = False,
) -> None:
    """Write the next usage report: signed by the device key, hash-chained to the last."""
    from pausebutton.cli.objects import say, write_output

    if json_out and out_path is None:
        raise UsageError("--json needs --out FILE: without it the report itself goes to stdout")
    with _open(state) as chip:
        try:
            data = chip.report()
        except PausebuttonError as exc:
            fail(exc)
        sequence = chip.status()["report_sequence"]
    where = write_output(out_path, data, "a usage report")
    if json_out:
        print_json({"out": where, "sequence": sequence, "bytes": len(data)})
    else:
        say(where, f"usage report {sequence} written to {where}")


@app.command("respond")
def respond(
    state: StateArg,
    challenge: Annotated[
        str, typer.Argument(help="A LocationChallenge file, or the nonce as 64 hex digits.")
    ],
    out_path: Annotated[Path, typer.Option("--out", help="File for the signed response.")],
    json_out: JsonOpt = False,
) -> None:
    """Answer a location challenge at once: sign (nonce, chip id, counter)."""
    path = Path(challenge)
    if path.is_file():
        data = read_input(path, 1 << 16)
    else:
        try:
            data = bytes.fromhex(challenge)
        except ValueError:
            raise UsageError("CHALLENGE is neither a file nor a hex nonce") from None
        if len(data) != 32:
            raise UsageError("a nonce is 32 bytes (64 hex digits)")
    with _open(state) as chip:
        try:
            message = chip.respond(data)
        except PausebuttonError as exc:
            fail(exc)
    atomic_write(out_path, message)
    if json_out:
        print_json({"out": str(out_path), "bytes": len(message)})
    else:
        out.print(f"location response written to {out_path}")


@app.command("tamper")
def tamper(
    state: StateArg,
    reason: Annotated[str, typer.Option(help="What the tamper sensor saw.")] = "tamper signal",
    json_out: JsonOpt = False,
) -> None:
    """Raise the tamper signal: the chip zeroises its device key and refuses everything."""
    with _open(state) as chip:
        chip.tamper(reason)
    if json_out:
        print_json({"state": "tampered", "reason": reason})
    else:
        out.print("chip tampered: device key zeroised")


@app.command("certificate")
def certificate(
    state: StateArg,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="File for the certificate (default: stdout, - too)."),
    ] = None,
) -> None:
    """Export the chip's vendor-signed device certificate (CBOR envelope): auditors verify
    reports with it, registry chip-register takes it as it is.

    Example: pausebutton chip certificate ./chip1 --out chip1.cert
    """
    from pausebutton.cli.objects import write_output

    with _open(state) as chip:
        data = chip.certificate
    where = write_output(out_path, data, "a device certificate")
    if where != "stdout":
        out.print(f"device certificate written to {where}")


@app.command("verify-reports")
def verify_reports(
    reports: Annotated[list[Path], typer.Argument(help="Usage report files, in order.")],
    cert: Annotated[Path, typer.Option("--certificate", help="The chip's certificate file.")],
    first_sequence: Annotated[int, typer.Option(help="Sequence of the first report.")] = 1,
    prev_hash: Annotated[
        str | None, typer.Option(help="Hex hash the first report links to (default: genesis).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Check a run of usage reports: device-key signatures, consecutive sequences and the
    hash chain. Exit 3 (chain) if a report is missing, reordered or forged."""
    link = GENESIS_HASH
    if prev_hash is not None:
        try:
            link = bytes.fromhex(prev_hash)
        except ValueError:
            raise UsageError("--prev-hash is hex") from None
    chain = verify_report_chain(
        read_input(cert, 1 << 16),
        [read_input(r, 1 << 16) for r in reports],
        prev_hash=link,
        first_sequence=first_sequence,
    )
    last = chain[-1] if chain else None
    if json_out:
        print_json(
            {
                "verified": len(chain),
                "last_sequence": last.sequence if last else None,
                "last_flop_full": last.flop_full if last else None,
            }
        )
        return
    out.print(
        f"{len(chain)} report(s) verified"
        + (
            f"; last: sequence {last.sequence}, {format_flop(last.flop_full)} at full rate"
            if last
            else ""
        )
    )
