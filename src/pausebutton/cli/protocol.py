"""``pausebutton protocol``: inspect and verify signed protocol objects offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pausebutton.cli.common import out, print_json, read_envelope
from pausebutton.errors import UsageError
from pausebutton.fsutil import read_limited
from pausebutton.protocol.jsonview import envelope_json
from pausebutton.protocol.trustroot import ROLES, load_pinned_root

app = typer.Typer(help="Inspect and verify signed protocol objects (canonical CBOR envelopes).")


@app.command("inspect")
def inspect(path: Annotated[Path, typer.Argument(help="A file holding one envelope.")]) -> None:
    """Decode an envelope (rejecting non-canonical or malformed bytes) and print it as JSON."""
    _, env = read_envelope(path)
    print_json(envelope_json(env))


@app.command("verify")
def verify(
    path: Annotated[Path, typer.Argument(help="A file holding one envelope.")],
    trust: Annotated[Path, typer.Option("--trust", help="The pinned trust root file.")],
    role: Annotated[str, typer.Option(help=f"The role that must sign: {', '.join(ROLES)}.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check that an envelope carries ROLE's threshold of signatures under the trust root.
    Exit 0 if so, 3 if not."""
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    _, root = load_pinned_root(read_limited(trust))
    _, env = read_envelope(path)
    env.open()
    result = root.verify_role(env, role)
    report = {
        "type": env.type,
        "role": role,
        "threshold": result.threshold,
        "signed": sorted(k.hex() for k in result.signed),
        "missing": result.missing,
        "ok": result.ok,
    }
    if json_out:
        print_json(report)
    else:
        out.print(
            f"{env.type}: {len(result.signed)} of {result.threshold} {role} signatures"
            f" — {'OK' if result.ok else 'BELOW THRESHOLD'}"
        )
    result.require(f"{env.type} for role {role}")
