"""``pausebutton witness``: follow a log, check it only grows, cosign, and catch forks.

State lives in a directory: ``state.json`` (the last checkpoint cosigned, written
atomically), ``trust-root.cbor`` (the pinned root) and, after a fork, ``alert-*.json``
holding both checkpoints and the failed proof. A witness with an alert stops and refuses
to run again until a person has looked at it and removed the alert.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pausebutton import errors
from pausebutton.cli.common import EXIT_INCONSISTENT, err, out
from pausebutton.fsutil import atomic_write, read_limited
from pausebutton.issuing.ceremony import WITNESS_CARD, WITNESS_KEY, init_witness
from pausebutton.keystore import read_private_key
from pausebutton.protocol.trustroot import load_pinned_root
from pausebutton.translog.bundle import MAX_PROOF_HASHES
from pausebutton.translog.note import MAX_NOTE_SIZE
from pausebutton.translog.policy import LogPolicy
from pausebutton.translog.witness import (
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
MAX_RESPONSE = 64 * 1024


def _fetch(
    client: httpx.Client, path: str, params: dict[str, int] | None = None
) -> tuple[int, bytes]:
    """GET with a size limit: (status, body); network failures become ServiceError."""
    import httpx

    try:
        with client.stream("GET", path, params=params) as resp:
            body = bytearray()
            for chunk in resp.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_RESPONSE:
                    raise errors.OversizedError(f"{path}: response larger than {MAX_RESPONSE}")
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
        if pinned.exists() and read_limited(pinned) != data:
            raise errors.ConflictError(
                f"{pinned} holds another trust root; a witness keeps the root it started with"
            )
        return data
    if not pinned.exists():
        raise errors.UsageError(f"no trust root: pass --trust or put one at {pinned}")
    return read_limited(pinned)


def _emit(json_out: bool, doc: dict[str, Any], text: str) -> None:
    if json_out:
        typer.echo(json.dumps(doc, sort_keys=True))
    else:
        out.print(text)


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
) -> None:
    """Follow a log: verify each new checkpoint's signature and its consistency with the last
    one cosigned, cosign it and post the cosignature back. On a fork, write
    alert-TIME.json (both checkpoints and the failed proof) and exit 5. With --once, a poll
    that fails (log unreachable, bad checkpoint) exits non-zero; otherwise it is retried."""
    import httpx

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
    current = _load_state(state)
    limit = 1 if once else rounds
    done = 0
    base = log.rstrip("/")
    headers = {"user-agent": f"pausebutton-witness/{witness.name}"}
    with httpx.Client(base_url=base, timeout=timeout, headers=headers) as client:
        while True:
            try:
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
        assert step.evidence is not None
        alert = directory / f"alert-{now}.json"
        doc = step.evidence.to_json(log_url=log_url, detected_at=now)
        atomic_write(alert, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())
        _emit(json_out, {"verdict": "fork", "size": cp.size, "alert": str(alert)}, "")
        err.print(
            f"error: FORK in log {cp.origin}: {step.evidence.reason}; evidence in {alert}",
            markup=False,
        )
        raise typer.Exit(EXIT_INCONSISTENT)
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
