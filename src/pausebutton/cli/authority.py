"""``pausebutton authority``: found an authority (offline) and, later, serve it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from pausebutton.cli.common import JsonOpt, out, print_json
from pausebutton.errors import UsageError
from pausebutton.issuing.keydir import ROOT_FILE, write_authority_dir
from pausebutton.protocol.genesis import DEFAULT_ORIGIN, found_authority

app = typer.Typer(help="Found and run the licensing authority.")

DAY = 86400


@app.command("init")
def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the authority in.")],
    members: Annotated[int, typer.Option(help="Number of member states N.")] = 5,
    threshold: Annotated[
        int, typer.Option(help="Signatures K needed to pause or change root.")
    ] = 3,
    witnesses: Annotated[int, typer.Option(help="Number of witness keys.")] = 3,
    witness_threshold: Annotated[int, typer.Option(help="Cosignatures W a checkpoint needs.")] = 2,
    landmarks: Annotated[int, typer.Option(help="Number of landmark keys.")] = 3,
    origin: Annotated[str, typer.Option(help="Transparency log origin line.")] = DEFAULT_ORIGIN,
    valid_for: Annotated[
        str, typer.Option("--valid-for", help="Time until the trust root expires, e.g. 365d.")
    ] = "365d",
    valid_days: Annotated[
        int | None, typer.Option("--valid-days", hidden=True, help="Old spelling: days valid.")
    ] = None,
    ceremony: Annotated[
        bool,
        typer.Option(
            "--ceremony",
            help="Make only the operator's keys (licensing, log, time) and their cards; the"
            " members found the root together (root propose/sign/assemble).",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """DEMO MODE: generate every member, role and witness key on this one machine, and a
    self-signed trust root (version 1). For demos and tests only: whoever holds this
    directory holds every member's vote.

    With --ceremony: the operator's keys only; each member runs ``member init`` on its own
    machine, each witness ``witness init``, and the founders make the root together
    (docs/governance.md).
    """
    if ceremony:
        from pausebutton.issuing.ceremony import init_operator

        cards = init_operator(directory)
        if json_out:
            paths = [str(directory / "cards" / (card.role + ".json")) for card in cards]
            print_json({"directory": str(directory), "ceremony": True, "cards": paths})
            return
        out.print(f"operator keys made in {directory} (no trust root yet)")
        for card in cards:
            out.print(f"card to send: {directory / 'cards' / (card.role + '.json')}")
        out.print("next: the founders run root propose --card ... (docs/governance.md)")
        return
    keys = found_authority(
        members=members,
        threshold=threshold,
        witnesses=witnesses,
        witness_threshold=witness_threshold,
        landmarks=landmarks,
        log_origin=origin,
    )
    now = int(time.time())
    from pausebutton.protocol.units import parse_duration

    lifetime = (
        valid_days * DAY
        if valid_days is not None
        else parse_duration(valid_for, "--valid-for", error=UsageError)
    )
    env = keys.signed_root(version=1, expires=now + lifetime)
    write_authority_dir(directory, keys, env.encode())
    if json_out:
        print_json(
            {
                "directory": str(directory),
                "ceremony": False,
                "members": members,
                "threshold": threshold,
                "expires": now + lifetime,
                "trust_root": str(directory / ROOT_FILE),
            }
        )
        return
    out.print(
        f"DEMO authority founded in {directory}: {members} members, pause threshold"
        f" {threshold} (every key on this machine; for demos and tests only)"
    )
    out.print(f"trust root: {directory / ROOT_FILE}")


def _db_url(directory: Path, db: str | None) -> str:
    return db or f"sqlite:///{directory.resolve() / 'authority.db'}"


DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="PB_AUTHORITY_DB",
        help="Database URL (postgresql://... or sqlite:///...); default DIR/authority.db.",
    ),
]


@app.command("migrate")
def migrate_cmd(
    directory: Annotated[Path, typer.Argument(help="The authority directory.")],
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create or upgrade the authority's database schema (Alembic)."""
    from pausebutton.authority.db import Database, current_revision, migrate

    database = Database.connect(_db_url(directory, db))
    try:
        migrate(database)
        revision = current_revision(database)
        if json_out:
            print_json({"revision": revision})
        else:
            out.print(f"database at revision {revision}")
    finally:
        database.dispose()


@app.command("serve")
def serve(
    directory: Annotated[Path, typer.Argument(help="The authority directory (authority init).")],
    db: DbOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    workers: Annotated[int, typer.Option(help="API worker processes (stateless).")] = 1,
    admin_key: Annotated[
        list[Path] | None,
        typer.Option("--admin-key", help="Public key file of an admin (repeatable)."),
    ] = None,
    policy: Annotated[
        Path | None, typer.Option(help="Licensing policy as JSON (rules as data).")
    ] = None,
    write_rate: Annotated[float, typer.Option(help="Signed requests/s per key.")] = 200.0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    keep_alive: Annotated[
        int, typer.Option(help="Seconds an idle HTTP connection is kept open.")
    ] = 30,
    location_interval: Annotated[
        float,
        typer.Option(help="Run the location checks every this many seconds (0: never)."),
    ] = 3600.0,
    location_max_age: Annotated[
        int, typer.Option(help="Refuse and ignore location measurements older than this (s).")
    ] = 24 * 3600,
    location_model: Annotated[
        str,
        typer.Option(
            help="Delay model of the location checks: statistical (fitted on real pings"
            " between servers; inconsistent or suspicious with an error probability), fibre"
            " (2/3 c with a fixed route inflation: rejects most honest servers on real"
            " internet delays) or hard (speed of light only: never rejects an honest chip,"
            " cannot see relays).",
        ),
    ] = "statistical",
    detection_interval: Annotated[
        float,
        typer.Option(help="Run the verification engine every this many seconds (0: never)."),
    ] = 300.0,
    whistle_key: Annotated[
        Path | None,
        typer.Option(
            help="The whistleblower channel's public key (detect whistle keygen): serves"
            " /v1/whistle, keeps sealed submissions in DIR/whistle-intake.sqlite and turns"
            " access logs off."
        ),
    ] = None,
    console: Annotated[
        bool,
        typer.Option(
            "--console/--no-console", help="Serve the web console at /console beside the API."
        ),
    ] = True,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the start line as one JSON object.")
    ] = False,
) -> None:
    """Serve the authority's HTTP API and its web console (runs migrations first).

    Writes DIR/serve.json (the settings every worker loads) and starts uvicorn.
    """
    import json
    import os
    import shutil
    import sys
    import tempfile

    import uvicorn

    from pausebutton import keystore
    from pausebutton.authority.db import Database, migrate
    from pausebutton.authority.policy import Policy
    from pausebutton.authority.settings import LOCATION_MODELS
    from pausebutton.fsutil import atomic_write, read_limited
    from pausebutton.issuing.keydir import AuthorityDir

    if not 0 <= location_interval <= 366 * 86400:
        raise UsageError("--location-interval must be 0 (never) to 31622400 seconds")
    if not 0 < location_max_age <= 366 * 86400:
        raise UsageError("--location-max-age must be 1 to 31622400 seconds")
    if not 0 <= detection_interval <= 366 * 86400:
        raise UsageError("--detection-interval must be 0 (never) to 31622400 seconds")
    if not 1 <= workers <= 256:
        raise UsageError("--workers must be 1 to 256")
    models = [m.value for m in LOCATION_MODELS]
    if location_model not in models:
        raise UsageError("--location-model must be " + ", ".join(models))
    AuthorityDir.load(directory)  # fail early on a bad directory
    url = _db_url(directory, db)
    admins = [keystore.read_public_key(p).raw.hex() for p in admin_key or []]
    settings: dict[str, object] = {
        "authority_dir": str(directory.resolve()),
        "database_url": url,
        "admin_keys": admins,
        "migrate": False,
        "write_rate": write_rate,
        "write_burst": write_rate * 2,
        "location_interval": location_interval,
        "location_max_age": location_max_age,
        "detection_interval": detection_interval,
        "location_model": location_model,
        "gc_freeze": True,
    }
    if whistle_key is not None:
        from pausebutton.cli.detect import read_whistle_key

        settings["whistle_key"] = read_whistle_key(whistle_key, "public").hex()
        settings["whistle_store"] = str(directory.resolve() / "whistle-intake.sqlite")
    if policy is not None:
        data = json.loads(read_limited(policy, 1 << 20))
        Policy.from_dict(data)
        settings["policy"] = data
    path = directory.resolve() / "serve.json"
    atomic_write(path, (json.dumps(settings, indent=2) + "\n").encode(), mode=0o600)
    database = Database.connect(url)
    try:
        migrate(database)
    finally:
        database.dispose()
    os.environ["PB_AUTHORITY_SETTINGS"] = str(path)
    if json_out:
        sys.stdout.write(
            json.dumps(
                {
                    "url": f"http://{host}:{port}",
                    "workers": workers,
                    "database": url.split(":")[0],
                    "console": f"http://{host}:{port}/console/" if console else None,
                }
            )
            + "\n"
        )
        sys.stdout.flush()
    else:
        out.print(
            f"authority serving on http://{host}:{port} ({workers} worker(s), {url.split(':')[0]})"
        )
        if console:
            out.print(f"console at http://{host}:{port}/console/")
    # every worker writes its metrics into one private directory, so that any worker's
    # /metrics answers one coherent set (prometheus_client's multiprocess mode)
    # (inside DIR, so that a killed server leaves nothing behind elsewhere)
    metrics_dir = tempfile.mkdtemp(prefix="metrics-", dir=directory.resolve())
    previous = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run(
            "pausebutton.console:console_app_from_env"
            if console
            else "pausebutton.authority.api:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            timeout_graceful_shutdown=5,
            timeout_keep_alive=keep_alive,
            # a whistleblower's address must not be written anywhere
            access_log=whistle_key is None,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        if previous is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = previous
