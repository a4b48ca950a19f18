"""``pausebutton log``: serve the transparency log, append to it, verify bundles offline."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pausebutton.cli.common import out, print_json
from pausebutton.cli.objects import read_input
from pausebutton.protocol.trustroot import load_pinned_root

if TYPE_CHECKING:
    from pausebutton.translog.store import LogService

app = typer.Typer(help="The transparency log: serve it, append entries, verify proof bundles.")

DbOpt = Annotated[str, typer.Option("--db", help="SQLAlchemy database URL, e.g. sqlite:///log.db.")]


def _service(db: str, authority: Path) -> LogService:
    from pausebutton.issuing.keydir import AuthorityDir
    from pausebutton.translog.policy import LogPolicy
    from pausebutton.translog.store import LogService, LogStore, create_log_engine

    adir = AuthorityDir.load(authority)
    store = LogStore(create_log_engine(db))
    return LogService(store, adir.keys.key("log"), LogPolicy.from_trust_root(adir.root))


@app.command("serve")
def serve(
    db: DbOpt,
    authority: Annotated[
        Path, typer.Option("--authority", help="The authority directory (holds the log key).")
    ],
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8470,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Serve the log's HTTP API under /v1/log (checkpoint, entries, proofs, cosignatures).

    The checkpoint is signed with the authority's log key whenever the tree has grown."""
    import uvicorn

    from pausebutton.translog.http import create_log_app

    service = _service(db, authority)
    out.print(
        f"log {service.origin}: {service.store.size()} entries, on http://{host}:{port}/v1/log"
    )
    uvicorn.run(create_log_app(service), host=host, port=port, log_level="warning")


@app.command("append")
def append(
    files: Annotated[list[Path], typer.Argument(help="Files; each file's bytes are one entry.")],
    db: DbOpt,
    authority: Annotated[
        Path, typer.Option("--authority", help="The authority directory (holds the log key).")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Append entries in one batch (all or none), then sign a checkpoint of the new tree."""
    from pausebutton.translog.store import MAX_ENTRY_SIZE

    entries = [read_input(f, MAX_ENTRY_SIZE) for f in files]
    service = _service(db, authority)
    indices = service.append(entries)
    cp = service.checkpoint()
    if json_out:
        print_json({"indices": indices, "size": cp.size, "checkpoint": cp.encode()})
    else:
        out.print(f"appended {len(indices)} entries at {indices[0]}..{indices[-1]}; size {cp.size}")


@app.command("bundle")
def bundle(
    output: Annotated[Path, typer.Argument(help="Where to write the bundle (CBOR).")],
    db: DbOpt,
    authority: Annotated[
        Path, typer.Option("--authority", help="The authority directory (holds the log key).")
    ],
    index: Annotated[int, typer.Option("--index", help="The entry's leaf index.")],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print where it went and the tree size as JSON.")
    ] = False,
) -> None:
    """Write the inclusion bundle of one entry (entry, proof, cosigned checkpoint)."""
    from pausebutton.fsutil import atomic_write

    b = _service(db, authority).inclusion_bundle(index)
    atomic_write(output, b.encode())
    if json_out:
        from pausebutton.cli.common import print_json

        print_json({"index": index, "tree_size": b.tree_size, "out": str(output)})
    else:
        out.print(f"bundle for entry {index} under tree size {b.tree_size} written to {output}")


@app.command("verify")
def verify(
    bundle_path: Annotated[
        Path,
        typer.Argument(
            metavar="BUNDLE",
            help="An inclusion bundle (log bundle) or install bundle (license issue); - for stdin.",
        ),
    ],
    trust: Annotated[Path, typer.Option("--trust", help="The pinned trust root file.")],
    entry: Annotated[
        Path | None,
        typer.Option("--entry", help="The entry the bundle must prove (default: the bundled one)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Offline: check that an entry is in the log under a checkpoint signed by the trust
    root's log key and cosigned by its witness threshold. Exit 0 if so, 3 if not. An
    install bundle's entry must be the envelope it carries.

    Example: pausebutton log verify lic1.bundle --trust auth/trust-root.cbor
    """
    from pausebutton import errors
    from pausebutton.cli.objects import read_input, sniff
    from pausebutton.translog.bundle import MAX_BUNDLE_SIZE, InclusionBundle
    from pausebutton.translog.merkle import leaf_hash
    from pausebutton.translog.policy import LogPolicy

    _, root = load_pinned_root(read_input(trust), int(time.time()))
    found = sniff(read_input(bundle_path, MAX_BUNDLE_SIZE))
    carried: bytes | None = None
    if found.kind == "install":
        if found.value.inclusion is None:
            raise errors.NotLoggedError(
                f"{bundle_path}: an install file without an inclusion proof; ask the"
                " authority for the logged bundle"
            )
        b = InclusionBundle.decode(found.value.inclusion)
        carried = found.value.envelope
    elif found.kind == "inclusion":
        b = found.value
    else:
        raise errors.MalformedError(
            f"{bundle_path}: a {found.kind} file is no log proof; give an inclusion bundle"
            " (log bundle) or an install bundle (license issue)"
        )
    data = b.entry if entry is None else read_input(entry, MAX_BUNDLE_SIZE)
    if carried is not None and data != carried:
        raise errors.NotLoggedError(
            f"{bundle_path}: the logged entry is not the envelope this bundle installs"
        )
    policy = LogPolicy.from_trust_root(root)
    report = policy.check_checkpoint(b.checkpoint, now=int(time.time()))
    policy.verify_entry(data, b, now=int(time.time()))
    result = {
        "ok": True,
        "origin": report.checkpoint.origin,
        "leaf_index": b.leaf_index,
        "tree_size": b.tree_size,
        "leaf_hash": leaf_hash(data).hex(),
        "root_hash": report.checkpoint.root_hash.hex(),
        "witnesses": sorted(k.hex() for k in report.witnesses),
        "witness_threshold": policy.witness_threshold,
    }
    if json_out:
        print_json(result)
    else:
        out.print(
            f"entry {b.leaf_index} is in {result['origin']} at size {b.tree_size}:"
            f" log-signed, cosigned by {len(report.witnesses)} witnesses"
            f" (threshold {policy.witness_threshold}) — OK"
        )


@app.command("check-alert")
def check_alert(
    alert: Annotated[Path, typer.Argument(help="A witness's alert-*.json file.")],
    trust: Annotated[Path, typer.Option("--trust", help="The pinned trust root file.")],
    log_url: Annotated[
        str | None,
        typer.Option("--log", help="Ask this log (…/v1/log) for a fresh consistency proof."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Judge a witness's fork alert: both checkpoints must be signed by the trust root's log
    key. Exit 5 if the fork is proven (two roots for one size, or the log's own proof
    between the two fails), 0 if refuted, 1 if unresolved (pass --log), 3 if the alert's
    checkpoints are not the log's."""
    import httpx

    from pausebutton import errors
    from pausebutton.cli.common import EXIT_ERROR, EXIT_INCONSISTENT
    from pausebutton.translog.policy import LogPolicy
    from pausebutton.translog.witness import (
        AlertFinding,
        parse_alert,
        refuses_proof,
        review_alert,
    )

    _, root = load_pinned_root(read_input(trust))
    policy = LogPolicy.from_trust_root(root)
    evidence = parse_alert(read_input(alert, 1 << 20))
    review = review_alert(policy, evidence)
    if review.finding is AlertFinding.UNRESOLVED and log_url is not None:
        params = {"old": review.old.size, "new": review.new.size}
        try:
            resp = httpx.get(f"{log_url.rstrip('/')}/proof/consistency", params=params, timeout=10)
        except httpx.HTTPError as exc:
            raise errors.ServiceError(f"the log is unreachable: {exc}") from None
        if resp.status_code == 200:
            try:
                doc = resp.json()
                if (doc["old_size"], doc["new_size"]) != (params["old"], params["new"]):
                    raise ValueError("the proof is for other sizes")
                fresh = [base64.b64decode(h, validate=True) for h in doc["proof"]]
            except (ValueError, KeyError, TypeError) as exc:
                raise errors.MalformedError(f"the log's proof is unreadable: {exc}") from None
        elif refuses_proof(resp.status_code):
            # the log refuses a proof between two sizes it signed: an empty proof fails too
            fresh = []
        else:
            raise errors.ServiceError(f"the log answered HTTP {resp.status_code}")
        review = review_alert(policy, evidence, fresh)
    result = {
        "finding": review.finding.value,
        "reason": review.reason,
        "origin": review.old.origin,
        "sizes": [review.old.size, review.new.size],
        "roots": [review.old.root_hash.hex(), review.new.root_hash.hex()],
    }
    if json_out:
        print_json(result)
    else:
        out.print(f"{review.finding.value.upper()}: {review.reason}")
    if review.finding is AlertFinding.PROVEN:
        raise typer.Exit(EXIT_INCONSISTENT)
    if review.finding is AlertFinding.UNRESOLVED:
        raise typer.Exit(EXIT_ERROR)
