"""``pausebutton protocol``: inspect and verify signed protocol objects offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pausebutton.cli.common import out, print_json
from pausebutton.cli.objects import describe, read_input, sniff
from pausebutton.errors import MalformedError, UsageError
from pausebutton.protocol.trustroot import ROLES, load_pinned_root
from pausebutton.translog.bundle import MAX_BUNDLE_SIZE

app = typer.Typer(help="Inspect and verify signed protocol objects (canonical CBOR envelopes).")


@app.command("inspect")
def inspect(
    path: Annotated[
        Path,
        typer.Argument(
            help="An envelope, install bundle, inclusion bundle or agent certificates file"
            " (- for stdin)."
        ),
    ],
) -> None:
    """Decode any object the tools write (rejecting non-canonical or malformed bytes) and
    print it as JSON: an envelope with its payload opened, an install bundle as its envelope
    with an inclusion summary, an inclusion bundle with its entry opened.

    Example: pausebutton protocol inspect lic1.bundle
    """
    print_json(describe(read_input(path, MAX_BUNDLE_SIZE)))


@app.command("verify")
def verify(
    path: Annotated[Path, typer.Argument(help="An envelope or install bundle file (- for stdin).")],
    trust: Annotated[Path, typer.Option("--trust", help="The pinned trust root file.")],
    role: Annotated[str, typer.Option(help=f"The role that must sign: {', '.join(ROLES)}.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check that an envelope carries ROLE's threshold of signatures under the trust root.
    Exit 0 if so, 3 if not.

    Example: pausebutton protocol verify pause1.cbor --trust auth/trust-root.cbor --role pause
    """
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    _, root = load_pinned_root(read_input(trust))
    found = sniff(read_input(path, MAX_BUNDLE_SIZE))
    if found.kind == "install":
        from pausebutton.protocol.envelope import Envelope

        env = Envelope.decode(found.value.envelope)
    elif found.kind == "envelope":
        env = found.value
    else:
        raise MalformedError(f"{path}: an {found.kind} file carries no one envelope to verify")
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
