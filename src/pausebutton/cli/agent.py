"""``pausebutton agent``: the node agent a data-center operator runs on each GPU server.

docs/operators.md explains enrollment, the lease socket, the guard and the
hard enforcement modes with the permissions they need.
"""

from __future__ import annotations

import base64
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from pausebutton import keystore
from pausebutton.cli.common import EXIT_ERROR, EXIT_REJECTED, close_at_exit, err, out, print_json
from pausebutton.cli.objects import read_input
from pausebutton.cli.online import DEFAULT_URL, JsonOpt, KeyOpt, UrlOpt, client
from pausebutton.errors import UsageError
from pausebutton.fsutil import atomic_write, read_limited

app = typer.Typer(
    help="The node agent: one firmware chip per GPU, the lease socket for guarded jobs,"
    " license renewal, pause orders, usage reports."
)

StateOpt = Annotated[Path, typer.Option("--state", help="The agent's state directory.")]
FakeOpt = Annotated[
    int | None,
    typer.Option(
        "--fake-gpus",
        help="Use N fake GPUs instead of NVML (tests, machines without GPUs). Never implied.",
    ),
]


def _backend(fake_gpus: int | None, state: Path, *, enroll: bool = False) -> Any:
    """The GPUs: NVML, or ``fake_gpus`` fake GPUs of this agent's own (their identities
    derive from a seed kept in the state directory, written when ``enroll``)."""
    from pausebutton.agent.nvml import fake_seed, open_backend

    if fake_gpus is None:
        return open_backend(None)
    return open_backend(fake_gpus, seed=fake_seed(state, create=enroll))


def _enroll_if_new(
    state: Path,
    backend: Any,
    trust: Path | None,
    vendor_key: Path | None,
    region: str | None,
    owner: str | None,
) -> None:
    from pausebutton.agent.daemon import STATE_FILE, Agent

    if (state / STATE_FILE).exists():
        if trust is not None or vendor_key is not None:
            err.print(f"agent: {state} is already enrolled; --trust/--vendor-key are ignored")
        return
    if trust is None or vendor_key is None:
        raise UsageError(
            f"{state} holds no agent state: enroll the GPUs once with --trust ROOT_FILE and"
            " --vendor-key KEY_FILE"
        )
    Agent.enroll(
        state,
        backend,
        trust_root=read_input(trust, 1 << 20),
        vendor_key=keystore.read_private_key(vendor_key),
        region=region,
        owner=owner,
        issued_at=int(time.time()),
    )
    err.print(f"agent: enrolled {len(backend.gpus())} GPU(s) in {state}")


def _authority_url(url: str | None, old: str | None) -> str:
    """``--url`` (or its old spelling ``--authority``): the authority's base URL."""
    if url is not None and old is not None and url != old:
        raise UsageError("give --url (or its old spelling --authority), not both")
    chosen = url or old
    if not chosen:
        raise UsageError(
            "--url is required: the authority's base URL, e.g. https://authority.example"
        )
    return chosen


@app.command("run")
def run(
    state: StateOpt,
    operator_key: Annotated[
        Path, typer.Option("--operator-key", help="The operator's key file (signs reports).")
    ],
    url: Annotated[
        str | None,
        typer.Option("--url", help="Base URL of the authority."),
    ] = None,
    authority: Annotated[
        str | None, typer.Option("--authority", hidden=True, help="Old spelling of --url.")
    ] = None,
    fake_gpus: FakeOpt = None,
    trust: Annotated[
        Path | None, typer.Option("--trust", help="First run: the trust-root file to pin.")
    ] = None,
    vendor_key: Annotated[
        Path | None,
        typer.Option("--vendor-key", help="First run: the key that certifies the GPUs' chips."),
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="First run: ISO 3166 code of the site.")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="First run: the owner's registry id.")] = None,
    log_check: Annotated[
        str,
        typer.Option(
            help="How licenses and resumes are checked against the log: 'proof' (Merkle"
            " inclusion proof to a witness-cosigned checkpoint, verified here; default) or"
            " 'online' (the authority's log listing; weaker)."
        ),
    ] = "proof",
    enforce: Annotated[
        str, typer.Option(help="Hard enforcement: off, power-cap or suspend.")
    ] = "off",
    enforce_for_real: Annotated[
        bool,
        typer.Option(
            "--enforce-for-real", help="Act on the GPUs; without it hard modes only log (dry run)."
        ),
    ] = False,
    socket_path: Annotated[
        Path | None, typer.Option("--socket", help="Lease socket (default STATE/lease.sock).")
    ] = None,
    report_interval: Annotated[
        float, typer.Option(help="Seconds between usage-report rounds.")
    ] = 60.0,
    offline_grace: Annotated[
        float, typer.Option(help="Seconds without the authority before the node is throttled.")
    ] = 600.0,
    time_refresh: Annotated[
        float,
        typer.Option(
            help="Seconds between time tokens from the authority (at most half the shortest"
            " max_offline of the chips' licences is used)."
        ),
    ] = 300.0,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run one round, print the chips' status, what they wait for and what they"
            " refused, and exit (3 if a chip refused or still waits for something).",
        ),
    ] = False,
) -> None:
    """Run the agent: enroll on first use, then keep every GPU's chip in step with the
    authority and serve the lease socket until SIGTERM/SIGINT."""
    from pausebutton.agent.daemon import Agent
    from pausebutton.agent.enforcement import Enforcer, Mode
    from pausebutton.agent.logcheck import BundleLogCheck, OnlineLogCheck
    from pausebutton.authority.client import AuthorityClient

    try:
        mode = Mode(enforce)
    except ValueError:
        raise UsageError(f"--enforce must be off, power-cap or suspend, not {enforce!r}") from None
    if log_check not in ("proof", "online"):
        raise UsageError("--log-check must be 'proof' or 'online'")
    logging.basicConfig(level=logging.INFO, format="agent: %(message)s")
    backend = _backend(fake_gpus, state, enroll=trust is not None and vendor_key is not None)
    _enroll_if_new(state, backend, trust, vendor_key, region, owner)
    client = AuthorityClient(
        _authority_url(url, authority), keystore.read_private_key(operator_key), timeout=30
    )
    close_at_exit(client.close)
    verifier = OnlineLogCheck(client) if log_check == "online" else BundleLogCheck(client)
    enforcer = Enforcer(backend, mode, dry_run=not enforce_for_real)
    agent = Agent(
        state,
        backend,
        client,
        verifier=verifier,
        enforcer=enforcer,
        offline_grace=offline_grace,
        time_refresh=time_refresh,
    )
    if once:
        agent.tick()
        _round_result(agent, enforcer)
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    path = socket_path or state / "lease.sock"
    err.print(f"agent: {len(agent.gpus)} GPU(s) ({backend.kind}), lease socket {path}")
    agent.run(stop, report_interval=report_interval, socket_path=path)


def _round_result(agent: Any, enforcer: Any) -> None:
    """Print one round's result; exit 1 if the authority failed, 3 if a chip refused an
    order or licence (permanently, or for now: it waits for the log or for time)."""
    pending = sorted(agent.tracker.items(), key=lambda p: (p.kind, p.ident))
    now = agent.clock()
    waiting = [p.summary(now) for p in pending]
    print_json(
        {
            "chips": agent.chip_status(),
            "errors": agent.status.errors,
            "waiting": waiting,
            "refused": agent.tracker.refused,
            "enforcement": [a.__dict__ for a in enforcer.actions],
        }
    )
    if agent.status.errors:
        err.print(f"error: {agent.status.errors[-1]}", markup=False)
        raise typer.Exit(EXIT_ERROR)
    for item in agent.tracker.refused:
        err.print(
            f"refused: {item['kind']} {item['id']} on GPU {item['gpu']}: {item['error']}:"
            f" {item['message']}",
            markup=False,
        )
    for item in waiting:
        for gpu, reason in item["reasons"].items():
            err.print(f"waiting: {item['kind']} {item['id']} on GPU {gpu}: {reason}", markup=False)
    if agent.tracker.refused or waiting:
        raise typer.Exit(EXIT_REJECTED)


@app.command("resync")
def resync(
    state: StateOpt,
    operator_key: Annotated[
        Path, typer.Option("--operator-key", help="The operator's key file (signs reports).")
    ],
    url: Annotated[
        str | None,
        typer.Option("--url", help="Base URL of the authority."),
    ] = None,
    authority: Annotated[
        str | None, typer.Option("--authority", hidden=True, help="Old spelling of --url.")
    ] = None,
    fake_gpus: FakeOpt = None,
    log_check: Annotated[
        str, typer.Option(help="'proof' (default) or 'online', as for `agent run`.")
    ] = "proof",
) -> None:
    """Force a full catch-up: forget the order cursor and every remembered refusal, fetch
    every order and licence again and a fresh time token, install what the chips lack,
    print the result as `agent run --once` does (exit 3 if something is still refused)."""
    from pausebutton.agent.daemon import Agent
    from pausebutton.agent.enforcement import Enforcer
    from pausebutton.agent.logcheck import BundleLogCheck, OnlineLogCheck
    from pausebutton.authority.client import AuthorityClient

    if log_check not in ("proof", "online"):
        raise UsageError("--log-check must be 'proof' or 'online'")
    logging.basicConfig(level=logging.INFO, format="agent: %(message)s")
    backend = _backend(fake_gpus, state)
    client = AuthorityClient(
        _authority_url(url, authority), keystore.read_private_key(operator_key), timeout=30
    )
    close_at_exit(client.close)
    verifier = OnlineLogCheck(client) if log_check == "online" else BundleLogCheck(client)
    enforcer = Enforcer(backend)
    agent = Agent(state, backend, client, verifier=verifier, enforcer=enforcer)
    agent.resync()
    _round_result(agent, enforcer)


@app.command("status")
def status(
    state: StateOpt,
    fake_gpus: FakeOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print every counter as JSON (for scripts).")
    ] = False,
) -> None:
    """Show every GPU's chip: state, why it is throttled, its licence and what is left of
    it, what it waits for (as the running agent last saved it); --json: every counter,
    licence and pause as JSON."""
    from pausebutton.agent.daemon import Agent
    from pausebutton.cli.tables import Column, flop, instant, show_rows

    agent = Agent(state, _backend(fake_gpus, state))
    chips = agent.chip_status()
    if json_out:
        print_json(chips)
        return

    def lic(field: str) -> Any:
        return lambda licence: None if not licence else licence.get(field)

    rows = [{**chip, "uuid": uuid} for uuid, chip in chips.items()]
    columns = [  # the chip ids: --json, or agent certificates
        Column("GPU", "uuid", whole=True),
        Column("state", "state", whole=True),
        Column("throttled because", "throttled"),
        Column("licence", "license", lambda v: str(lic("license_id")(v) or "—"), "right"),
        Column("left at full rate", "license", lambda v: flop(lic("flop_left")(v)), "right"),
        Column("until (UTC)", "license", lambda v: instant(lic("not_after")(v)), whole=True),
        Column("waiting", "waiting", lambda w: str(len(w or [])), "right"),
    ]
    show_rows(rows, columns, json_out=False, noun="GPUs", limit=0, empty="no GPUs enrolled")


@app.command("certificates")
def certificates(
    state: StateOpt,
    fake_gpus: FakeOpt = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here (default: stdout).")
    ] = None,
) -> None:
    """Print each GPU's chip certificate as JSON (GPU UUID -> base64 of the certificate
    envelope); registry chip-register takes this file or stream as it is.

    Example: pausebutton agent certificates --state /var/lib/pausebutton --out certs.json
    """
    from pausebutton.agent.daemon import Agent

    agent = Agent(state, _backend(fake_gpus, state))
    doc = {u: base64.b64encode(c).decode() for u, c in agent.certificates().items()}
    if out_path is None or str(out_path) == "-":
        print_json(doc)
    else:
        import json

        atomic_write(out_path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())
        out.print(f"{len(doc)} certificate(s) written to {out_path}")


@app.command("respond")
def respond(
    state: StateOpt,
    gpu: Annotated[str, typer.Option("--gpu", help="The GPU's UUID.")],
    challenge: Annotated[Path, typer.Argument(help="A LocationChallenge envelope file.")],
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the response.")],
    fake_gpus: FakeOpt = None,
) -> None:
    """Answer a landmark's location challenge with the GPU chip's signed response."""
    from pausebutton.agent.daemon import Agent

    agent = Agent(state, _backend(fake_gpus, state))
    answer = agent.respond(gpu, read_input(challenge, 1 << 16))
    atomic_write(out_path, answer)
    print_json({"gpu": gpu, "bytes": len(answer)})


@app.command("prohibit")
def prohibit(
    state: StateOpt,
    list_file: Annotated[Path, typer.Argument(help="A signed ProhibitedArtifacts envelope.")],
) -> None:
    """Install a signed prohibited-artifacts list (pause-role quorum, no rollback)."""
    from pausebutton.agent.daemon import PROHIBITED_FILE, ROOT_FILE
    from pausebutton.guard.artifacts import ProhibitedList
    from pausebutton.protocol.trustroot import load_pinned_root

    _, root = load_pinned_root(read_limited(state / ROOT_FILE, 1 << 20))
    data = read_input(list_file, 16 << 20)
    held = state / PROHIBITED_FILE
    previous = ProhibitedList.verify(read_limited(held), root) if held.exists() else None
    plist = ProhibitedList.verify(data, root, previous=previous)
    atomic_write(held, data)
    print_json({"sequence": plist.sequence, "artifacts": len(plist)})


@app.command("hash")
def hash_weights(
    weights: Annotated[Path, typer.Argument(help="A torch weights file (loaded weights-only).")],
) -> None:
    """Print the artifacts an authority would list for a weights file (tensor hashes)."""
    from pausebutton.guard.artifacts import file_hash, listable_tensors
    from pausebutton.guard.torch import _torch

    torch = _torch()
    obj = torch.load(weights, map_location="cpu", weights_only=True)
    arts = listable_tensors(obj)
    print_json(
        {
            "file": file_hash(weights).hex(),
            "artifacts": [
                {"kind": a.kind.value, "sha256": a.sha256.hex(), "description": a.description}
                for a in arts
            ],
        }
    )


@app.command("gnss-fix")
def gnss_fix(
    chip: Annotated[str, typer.Argument(help="The chip (hex key id) the receiver serves.")],
    nmea: Annotated[
        Path | None,
        typer.Option(help="NMEA 0183 from the receiver (GGA sentences); - for stdin."),
    ] = None,
    lat: Annotated[float | None, typer.Option(help="Latitude, instead of --nmea.")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude, instead of --nmea.")] = None,
    accuracy: Annotated[float, typer.Option(help="Accuracy in metres (with --lat).")] = 50.0,
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Report the chip's GNSS position; the authority checks it against light speed.

    Example: pausebutton agent gnss-fix CHIP --nmea receiver.nmea --key operator.key
    """
    from pausebutton.agent.gnss import ReceiverFix, parse_nmea
    from pausebutton.cli.objects import read_input
    from pausebutton.errors import UsageError

    if key is None:
        raise UsageError("--key: the operator's private key signs the report")
    if (nmea is None) == (lat is None or lon is None):
        raise UsageError("give either --nmea or both --lat and --lon")
    if nmea is not None:
        # NMEA is ASCII: anything else is left for the parser to refuse by line
        fixes = parse_nmea(read_input(nmea, 1 << 20).decode("ascii", errors="replace"))
    else:
        assert lat is not None and lon is not None
        fixes = [ReceiverFix(lat, lon, accuracy)]
    now = int(time.time())
    body = {
        "fixes": [
            {"chip_id": chip, "time": now - (len(fixes) - 1 - i), "lat": f.lat, "lon": f.lon,
             "accuracy_m": f.accuracy_m}
            for i, f in enumerate(fixes)
        ]
    }  # fmt: skip
    answer = client(url, key).post("/v1/location/fixes", body)
    if json_out:
        print_json(answer)
        return
    for r in answer:
        out.print(f"fix {r['lat']:.5f},{r['lon']:.5f}: {r['verdict']} — {r['result']['reason']}")
