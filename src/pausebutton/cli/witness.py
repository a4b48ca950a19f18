"""``pausebutton witness``: follow a log, check it only grows, cosign, and catch forks.

State lives in a directory: ``state.json`` (the last checkpoint cosigned, written
atomically), ``trust-root.cbor`` (the root in force: the pinned one, or the newest that
chains from it, adopted when seen), ``roots/V.cbor`` (every root it held) and, after a
fork, ``alert-*.json``
holding both checkpoints and the failed proof. A witness with an alert stops and refuses
to run again until a person has looked at it and removed the alert.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pausebutton import errors
from pausebutton.cli.common import EXIT_INCONSISTENT, err, out
from pausebutton.fsutil import atomic_write, read_limited
from pausebutton.issuing.ceremony import WITNESS_CARD, WITNESS_KEY, init_witness
from pausebutton.keystore import read_private_key
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.governance import verify_chain
from pausebutton.protocol.trustroot import TrustRoot, load_pinned_root
from pausebutton.translog.bundle import MAX_PROOF_HASHES
from pausebutton.translog.note import MAX_NOTE_SIZE
from pausebutton.translog.policy import LogPolicy
from pausebutton.translog.witness import (
    CosignRequest,
    Verdict,
    Witness,
    WitnessState,
    refuses_proof,
    state_from_bytes,
    state_to_bytes,
)

if TYPE_CHECKING:
    import httpx

app = typer.Typer(help="Witness a transparency log: cosign checkpoints that extend the last one.")

STATE_FILE = "state.json"
ROOT_FILE = "trust-root.cbor"
ROOTS_DIR = "roots"
MAX_RESPONSE = 64 * 1024
MAX_ROOTS_RESPONSE = 4 * 1024 * 1024


def _fetch(
    client: httpx.Client,
    path: str,
    params: dict[str, int] | None = None,
    limit: int = MAX_RESPONSE,
) -> tuple[int, bytes]:
    """GET with a size limit: (status, body); network failures become ServiceError."""
    import httpx

    try:
        with client.stream("GET", path, params=params) as resp:
            body = bytearray()
            for chunk in resp.iter_bytes():
                body.extend(chunk)
                if len(body) > limit:
                    raise errors.OversizedError(f"{path}: response larger than {limit}")
            return resp.status_code, bytes(body)
    except httpx.HTTPError as exc:
        raise errors.ServiceError(f"{path}: {exc}") from None


def _get(client: httpx.Client, path: str, params: dict[str, int] | None = None) -> bytes:
    """GET with a size limit; 4xx/5xx and network failures become ServiceError."""
    status, body = _fetch(client, path, params)
    if status != 200:
        raise errors.ServiceError(f"{path}: HTTP {status}: {body[:200].decode(errors='replace')}")
    return body


def _proof(client: httpx.Client, old: int, new: int) -> list[bytes]:
    """The log's consistency proof from ``old`` to ``new``. A log that refuses it (a 4xx
    that is not "try later") proves nothing between two sizes it signed: that is evidence,
    not a service failure, so the answer is the empty proof, which fails W3 and makes the
    witness raise the same alert ``log check-alert`` proves (it reads such a refusal the
    same way). A 5xx or an unreachable log is a ServiceError (retried)."""
    status, data = _fetch(client, "/proof/consistency", {"old": old, "new": new})
    if refuses_proof(status):
        err.print(
            f"the log refuses a consistency proof from size {old} to {new}: HTTP {status}"
            f" {data[:200].decode(errors='replace')}",
            markup=False,
        )
        return []
    if status != 200:
        raise errors.ServiceError(
            f"/proof/consistency: HTTP {status}: {data[:200].decode(errors='replace')}"
        )
    try:
        doc = json.loads(data)
        hashes = doc["proof"]
        if not isinstance(hashes, list) or len(hashes) > MAX_PROOF_HASHES:
            raise ValueError("proof is not a list of at most 64 hashes")
        if (doc["old_size"], doc["new_size"]) != (old, new):
            raise ValueError("proof is for other sizes")
        return [base64.b64decode(h, validate=True) for h in hashes]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise errors.MalformedError(f"the log's consistency proof is unreadable: {exc}") from None


def _load_state(directory: Path) -> WitnessState | None:
    path = directory / STATE_FILE
    if not path.exists():
        return None
    return state_from_bytes(read_limited(path, 4 * MAX_NOTE_SIZE))


def _load_root(directory: Path, trust: Path | None) -> bytes:
    pinned = directory / ROOT_FILE
    if trust is not None:
        data = read_limited(trust)
        if not pinned.exists():
            return data
        held = read_limited(pinned)
        earlier = [read_limited(p) for p in sorted((directory / ROOTS_DIR).glob("*.cbor"))]
        if data != held and data not in earlier:
            raise errors.ConflictError(
                f"{pinned} holds another trust root; a witness keeps the root it started with"
                " (and the roots that chain from it)"
            )
        return held
    if not pinned.exists():
        raise errors.UsageError(f"no trust root: pass --trust or put one at {pinned}")
    return read_limited(pinned)


def _emit(json_out: bool, doc: dict[str, Any], text: str) -> None:
    if json_out:
        typer.echo(json.dumps(doc, sort_keys=True))
    else:
        out.print(text)


def adopt_roots(directory: Path, root: TrustRoot, chain: Sequence[bytes], now: int) -> TrustRoot:
    """Adopt the roots of ``chain`` newer than ``root``: each must chain from the one before
    (G3/G4, ``protocol/governance.py``), else a named error and the witness keeps its root.
    The newest becomes DIR/trust-root.cbor (its log keys and witness list count from now
    on); every root held is kept in DIR/roots/."""
    newer = [d for d in chain if Envelope.decode(d).open_as(TrustRoot).version > root.version]
    if not newer:
        return root
    links = verify_chain(root, newer, now)
    held = directory / ROOTS_DIR
    old = directory / ROOT_FILE
    if old.exists():
        atomic_write(held / f"{root.version}.cbor", read_limited(old))
    for data, (_, new) in zip(newer, links, strict=True):
        atomic_write(held / f"{new.version}.cbor", data)
    atomic_write(old, newer[-1])
    new = links[-1][1]
    err.print(f"adopted trust root v{new.version} (from v{root.version})", markup=False)
    return new


def _fork_alert(step: Any, directory: Path, log_url: str, now: int, json_out: bool) -> None:
    """Write the fork evidence of ``step`` to DIR/alert-NOW.json and exit 5."""
    alert = directory / f"alert-{now}.json"
    doc = step.evidence.to_json(log_url=log_url, detected_at=now)
    atomic_write(alert, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())
    _emit(json_out, {"verdict": "fork", "size": step.checkpoint.size, "alert": str(alert)}, "")
    err.print(
        f"error: FORK in log {step.checkpoint.origin}: {step.evidence.reason}; evidence in {alert}",
        markup=False,
    )
    raise typer.Exit(EXIT_INCONSISTENT)


def _witness(state: Path, key: Path | None, trust: Path | None) -> tuple[Witness, TrustRoot]:
    """This witness (its key, the policy of the root in force) and that root."""
    state.mkdir(parents=True, exist_ok=True)
    alerts = sorted(state.glob("alert-*.json"))
    if alerts:
        err.print(f"error: fork alert pending in {alerts[0]}; investigate, then remove it")
        raise typer.Exit(EXIT_INCONSISTENT)
    root_bytes = _load_root(state, trust)
    _, root = load_pinned_root(root_bytes, int(time.time()))
    if not (state / ROOT_FILE).exists():
        atomic_write(state / ROOT_FILE, root_bytes)
    if key is None:
        key = state / WITNESS_KEY
        if not key.exists():
            raise errors.UsageError(f"no --key and no {key}: run witness init {state} first")
    witness = Witness(LogPolicy.from_trust_root(root), read_private_key(key))
    if not witness.in_trust_root:
        err.print(f"warning: {witness.name} is not a witness key of the trust root")
    return witness, root


@app.command("cosign")
def cosign(
    request: Annotated[
        Path, typer.Argument(help="The checkpoint handed over (license checkpoint --out).")
    ],
    state: Annotated[Path, typer.Option("--state", help="Directory holding this witness's state.")],
    out_path: Annotated[Path, typer.Option("--out", help="The cosigned checkpoint to hand back.")],
    key: Annotated[
        Path | None,
        typer.Option("--key", help="This witness's private key (default: STATE/witness.key)."),
    ] = None,
    trust: Annotated[
        Path | None,
        typer.Option("--trust", help="Trust root to pin (default: the one in the state dir)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Cosign a checkpoint handed over as a file (air-gapped): adopt the newer roots it
    carries that chain from the one held, check the log's signature and the consistency
    with the last checkpoint cosigned (its own record), then write the cosigned checkpoint
    to --out for the authority's offline tools (license attach). A fork writes
    alert-TIME.json and exits 5; an older checkpoint is refused (exit 3).

    Example: pausebutton witness cosign checkpoint.json --state w1 --out w1.cosig"""
    req = CosignRequest.from_bytes(read_limited(request, 16 * 1024 * 1024))
    witness, root = _witness(state, key, trust)
    now = int(time.time())
    if req.roots:
        new = adopt_roots(state, root, req.roots, now)
        if new is not root:
            witness = Witness(LogPolicy.from_trust_root(new), witness.key)
    current = _load_state(state)
    cp = witness.parse(req.checkpoint)
    if current is not None and cp.size < current.size:
        raise errors.RollbackError(
            f"checkpoint of size {cp.size} is older than the last cosigned"
            f" ({current.size}): nothing to cosign",
            size=cp.size,
        )
    need = witness.proof_needed(current, cp)
    proof = req.proof_for(*need) if need else None
    step = witness.evaluate(current, cp, proof, now=now)
    if step.verdict is Verdict.FORK:
        _fork_alert(step, state, str(request), now, json_out)
    if step.verdict is Verdict.COSIGN and step.state is not None:
        atomic_write(state / STATE_FILE, state_to_bytes(step.state), mode=0o600)
    atomic_write(out_path, step.cosigned_note().encode())
    _emit(
        json_out,
        {"verdict": step.verdict.value, "size": cp.size, "file": str(out_path)},
        f"{step.verdict.value}: {cp.origin} size {cp.size}; cosignature in {out_path}",
    )


@app.command("init")
def init(
    directory: Annotated[Path, typer.Argument(help="This witness's own directory.")],
    name: Annotated[str, typer.Option(help="A name for this witness (on its card).")] = "witness",
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON, for scripts.")
    ] = False,
) -> None:
    """Make an independent witness: its own key (DIR/witness.key, 0600, never leaves this
    machine), its card for the trust root (DIR/witness-card.json) and, later, its own record
    of what it cosigned (DIR/state.json). Run it with ``witness run --state DIR``."""
    card = init_witness(directory, name)
    if json_out:
        doc = {"name": card.name, "key_id": card.key_id, "card": str(directory / WITNESS_CARD)}
        typer.echo(json.dumps(doc, sort_keys=True))
        return
    out.print(f"witness {card.name}: key id {card.key_id}")
    out.print(f"card to send to the founders: {directory / WITNESS_CARD}")


@app.command("run")
def run(
    log: Annotated[str, typer.Option("--log", help="The log's base URL, e.g. http://host/v1/log.")],
    state: Annotated[Path, typer.Option("--state", help="Directory holding this witness's state.")],
    key: Annotated[
        Path | None,
        typer.Option("--key", help="This witness's private key (default: STATE/witness.key)."),
    ] = None,
    trust: Annotated[
        Path | None,
        typer.Option("--trust", help="Trust root to pin (default: the one in the state dir)."),
    ] = None,
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 10.0,
    once: Annotated[bool, typer.Option("--once", help="Poll once, then exit.")] = False,
    rounds: Annotated[int, typer.Option(help="Stop after this many polls (0: never).")] = 0,
    timeout: Annotated[float, typer.Option(help="HTTP timeout in seconds.")] = 10.0,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line per poll.")] = False,
    roots: Annotated[
        str | None,
        typer.Option(
            "--roots",
            help="The authority's base URL to follow root changes from (default: the log"
            " URL without /v1/log when it ends so; 'none': do not follow).",
        ),
    ] = None,
) -> None:
    """Follow a log: adopt the newer roots the authority serves that chain from the one held
    (so a rotated log key keeps being checked), verify each new checkpoint's signature and
    its consistency with the last one cosigned, cosign it and post the cosignature back. On a
    fork, write alert-TIME.json (both checkpoints and the failed proof) and exit 5. With
    --once, a poll that fails (log unreachable, bad checkpoint) exits non-zero;
    otherwise it is retried."""
    import httpx

    witness, root = _witness(state, key, trust)
    current = _load_state(state)
    limit = 1 if once else rounds
    done = 0
    base = log.rstrip("/")
    if roots is None and base.endswith("/v1/log"):
        roots = base.removesuffix("/v1/log")
    follow = None if roots in (None, "none") else f"{roots.rstrip('/')}/v1/roots"
    headers = {"user-agent": f"pausebutton-witness/{witness.name}"}
    with httpx.Client(base_url=base, timeout=timeout, headers=headers) as client:
        while True:
            try:
                if follow is not None:
                    new = _follow_roots(client, follow, state, root)
                    if new is None:
                        follow = None  # said once: this server serves no roots
                    elif new is not root:
                        root, witness = new, Witness(LogPolicy.from_trust_root(new), witness.key)
                current = _poll(client, witness, current, state, base, json_out)
            except errors.PausebuttonError as exc:
                if once:
                    raise
                err.print(f"poll failed: {exc}", markup=False)
            done += 1
            if limit and done >= limit:
                return
            time.sleep(interval)


def _poll(
    client: httpx.Client,
    witness: Witness,
    current: WitnessState | None,
    directory: Path,
    log_url: str,
    json_out: bool,
) -> WitnessState | None:
    import httpx

    cp = witness.parse(_get(client, "/checkpoint"))
    need = witness.proof_needed(current, cp)
    proof = _proof(client, *need) if need else None
    now = int(time.time())
    step = witness.evaluate(current, cp, proof, now=now)
    if step.verdict is Verdict.FORK:
        _fork_alert(step, directory, log_url, now, json_out)
    if step.verdict is Verdict.COSIGN and step.state is not None:
        atomic_write(directory / STATE_FILE, state_to_bytes(step.state), mode=0o600)
    posted = None
    if step.cosignature is not None:
        try:
            resp = client.post("/cosignature", content=step.cosigned_note().encode())
            posted = resp.status_code
        except httpx.HTTPError as exc:
            raise errors.ServiceError(f"posting the cosignature failed: {exc}") from None
        if posted != 200:
            err.print(f"the log refused the cosignature: HTTP {posted} {resp.text[:200]}")
    _emit(
        json_out,
        {"verdict": step.verdict.value, "size": cp.size, "posted": posted},
        f"{step.verdict.value}: {cp.origin} size {cp.size}"
        + (f" (cosignature posted: HTTP {posted})" if posted else ""),
    )
    return step.state


def _follow_roots(
    client: httpx.Client, url: str, directory: Path, root: TrustRoot
) -> TrustRoot | None:
    """Fetch the roots after the one held and adopt those that chain from it (the root in
    force afterwards). A server without roots (a bare log, 404) is said, not an error:
    None, and the caller stops asking."""
    status, body = _fetch(client, url, {"after": root.version}, MAX_ROOTS_RESPONSE)
    if status == 404:
        err.print(f"{url}: no roots served here (404); following the log only", markup=False)
        return None
    if status != 200:
        raise errors.ServiceError(f"{url}: HTTP {status}: {body[:200].decode(errors='replace')}")
    try:
        rows = json.loads(body)
        chain = [base64.b64decode(r["envelope"], validate=True) for r in rows]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise errors.MalformedError(f"{url}: the roots are unreadable: {exc}") from None
    return adopt_roots(directory, root, chain, int(time.time()))
