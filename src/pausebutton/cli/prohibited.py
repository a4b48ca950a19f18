"""``pausebutton prohibited``: K-of-N lists of prohibited artifacts (banned weights, code).

Offline, like pause orders: ``propose`` hashes files into an unsigned list, each member
``sign``s it on its own machine, ``assemble`` merges the signatures and checks the pause
role's quorum; ``pause publish-prohibited`` publishes the result. Online: ``submit``
proposes a list to the authority (signed with your key), the other members ``approve``
it, and at K signatures the authority publishes it to every node agent.

Hashing needs no torch for plain files and safetensors weights; a torch checkpoint
(``.pt``, ``.pth``, ``.bin``) is read with torch when it is installed.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from pausebutton import keystore
from pausebutton.chip.install import InstallFile
from pausebutton.cli.common import out, print_json
from pausebutton.cli.online import DEFAULT_URL, JsonOpt, KeyOpt, UrlOpt, client
from pausebutton.errors import UsageError
from pausebutton.fsutil import atomic_write, read_limited
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.messages import Artifact, ArtifactKind, ProhibitedArtifacts
from pausebutton.protocol.trustroot import load_pinned_root

app = typer.Typer(help="Prohibited-artifact lists: propose, sign, assemble (K of N), submit.")

FilesOpt = Annotated[list[Path] | None, typer.Option(help="A file listed by its bytes.")]


def _read(path: Path) -> tuple[Envelope, ProhibitedArtifacts]:
    env = Envelope.decode(InstallFile.decode(read_limited(path, 1 << 22)).envelope)
    if env.type != ProhibitedArtifacts.TYPE:
        raise UsageError(f"{path} holds a {env.type}, not a {ProhibitedArtifacts.TYPE}")
    return env, env.open_as(ProhibitedArtifacts)


def _doc(plist: ProhibitedArtifacts, out_path: Path, signatures: int) -> dict[str, Any]:
    return {
        "sequence": plist.sequence,
        "out": str(out_path),
        "signatures": signatures,
        "artifacts": [
            {"kind": a.kind.value, "sha256": a.sha256.hex(), "description": a.description}
            for a in plist.artifacts
        ],
    }


def _summary(plist: ProhibitedArtifacts) -> None:
    out.print(f"prohibited-artifacts list {plist.sequence}: {len(plist.artifacts)} artifact(s)")
    for a in plist.artifacts:
        out.print(f"  {a.kind.value:10} {a.sha256.hex()[:16]}  {a.description}", markup=False)


@app.command("propose")
def propose(
    out_path: Annotated[Path, typer.Option("--out", help="File to write.")],
    sequence: Annotated[
        int | None, typer.Option(help="List sequence (default: --previous's + 1, else 1).")
    ] = None,
    weights: Annotated[
        list[Path] | None,
        typer.Option(help="Model weights: the file, its large tensors and the tensor set."),
    ] = None,
    file: FilesOpt = None,
    code: Annotated[list[Path] | None, typer.Option(help="A training script or code file.")] = None,
    previous: Annotated[
        Path | None, typer.Option(help="The list in force: its artifacts are kept.")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON, for scripts.")
    ] = False,
) -> None:
    """Write an unsigned list for the members to sign (safetensors and plain files are
    hashed without torch)."""
    from pausebutton.guard.artifacts import file_hash, weights_artifacts

    artifacts: list[Artifact] = []
    seq = sequence
    if previous is not None:
        _, before = _read(previous)
        artifacts.extend(before.artifacts)
        seq = seq if seq is not None else before.sequence + 1
        if seq <= before.sequence:
            raise UsageError(f"--sequence must exceed the previous list's {before.sequence}")
    for path in weights or []:
        artifacts.extend(weights_artifacts(path))
    for path in file or []:
        artifacts.append(Artifact(ArtifactKind.FILE, file_hash(path), path.name))
    for path in code or []:
        artifacts.append(Artifact(ArtifactKind.CODE, file_hash(path), path.name))
    unique: dict[bytes, Artifact] = {}
    for a in artifacts:
        unique.setdefault(a.sha256, a)
    if not unique:
        raise UsageError("name at least one --weights, --file or --code to list")
    plist = ProhibitedArtifacts(
        sequence=seq or 1, issued_at=int(time.time()), artifacts=tuple(unique.values())
    )
    plist.validate()
    atomic_write(out_path, Envelope.wrap(plist).encode())
    if json_out:
        print_json(_doc(plist, out_path, 0))
        return
    _summary(plist)
    out.print(f"proposed: {out_path} (0 signatures)")


@app.command("sign")
def sign(
    file: Annotated[Path, typer.Argument(help="The proposed list.")],
    key: Annotated[Path, typer.Option("--key", help="Your member key file.")],
    out_path: Annotated[Path | None, typer.Option("--out", help="Default: sign in place.")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON, for scripts.")
    ] = False,
) -> None:
    """Add your signature to a proposed list (prints what it lists)."""
    env, plist = _read(file)
    signed = env.sign(keystore.read_private_key(key))
    atomic_write(out_path or file, signed.encode())
    if json_out:
        print_json(_doc(plist, out_path or file, len(signed.signatures)))
        return
    _summary(plist)
    out.print(f"signed: {len(signed.signatures)} signature(s) on {out_path or file}")


@app.command("assemble")
def assemble(
    files: Annotated[list[Path], typer.Argument(help="Signed copies of the same list.")],
    out_path: Annotated[Path, typer.Option("--out", help="File to write.")],
    trust: Annotated[Path, typer.Option(help="The trust root (the pause role's K of N).")],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON, for scripts.")
    ] = False,
) -> None:
    """Merge the members' signatures and check the quorum (exit 3 if short)."""
    merged: Envelope | None = None
    for f in files:
        env, _ = _read(f)
        merged = env if merged is None else merged.merge(env)
    if merged is None:
        raise UsageError("give at least one signed list")
    root = load_pinned_root(read_limited(trust))[1]
    result = root.verify_role(merged, "pause")
    if not json_out:
        out.print(f"{len(result.signed)} of {result.threshold} member signatures")
    result.require("prohibited-artifacts list")
    atomic_write(out_path, merged.encode())
    if json_out:
        doc = {"out": str(out_path), "signed": len(result.signed), "threshold": result.threshold}
        print_json(doc)
        return
    out.print(f"assembled: {out_path} (publish it with pause publish-prohibited or submit)")


def _line(p: dict[str, Any]) -> str:
    return (
        f"list proposal {p['id']} (sequence {p['sequence']}): {p['status']},"
        f" signed by {len(p['signed_by'])}/{p['threshold']} {p['signed_by']}"
    )


def _signature(key_path: Path, signing_input: str) -> dict[str, str]:
    key = keystore.read_private_key(key_path)
    return {"key_id": key.key_id.hex(), "sig": key.sign(bytes.fromhex(signing_input)).hex()}


@app.command("submit")
def submit(
    file: Annotated[Path, typer.Argument(help="A proposed (or partly signed) list.")],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Propose a list to the authority, signed with your member key; the signatures it
    carries count too. At K signatures the authority publishes it."""
    if key is None:
        raise UsageError("give your member key with --key")
    env, _ = _read(file)
    c = client(url, key)
    prop = c.request(
        "POST",
        "/v1/prohibited/proposals",
        content=env.encode(),
        content_type="application/cbor",
    )
    if prop["status"] == "open":
        prop = c.post(
            f"/v1/prohibited/proposals/{prop['id']}/signatures",
            _signature(key, prop["signing_input"]),
        )
    print_json(prop) if json_out else out.print(_line(prop), markup=False)


@app.command("approve")
def approve(
    proposal_id: Annotated[int, typer.Argument(help="The list proposal's id.")],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Save the list's envelope as it stands.")
    ] = None,
) -> None:
    """Review a proposed list (printed) and sign it with your member key."""
    if key is None:
        raise UsageError("give your member key with --key")
    c = client(url, key)
    prop = c.get(f"/v1/prohibited/proposals/{proposal_id}")
    env = Envelope.decode(base64.b64decode(prop["envelope"]))
    if not json_out:
        _summary(env.open_as(ProhibitedArtifacts))
    prop = c.post(
        f"/v1/prohibited/proposals/{proposal_id}/signatures",
        _signature(key, prop["signing_input"]),
    )
    if out_path is not None:
        atomic_write(out_path, base64.b64decode(prop["envelope"]))
    print_json(prop) if json_out else out.print(_line(prop), markup=False)
