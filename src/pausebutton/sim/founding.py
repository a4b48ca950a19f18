"""Acts 1-3: found the authority, seed its registry, enroll the data centres and the edge
node."""

from __future__ import annotations

import base64
import shutil
import time
from typing import Any

from pausebutton.protocol.keys import PrivateKey
from pausebutton.sim.results import StepResult, TableData, expect
from pausebutton.sim.world import (
    BUILTIN_FACILITIES,
    MEMBERS,
    SITES,
    WITNESS_K,
    WITNESSES,
    Demo,
    K,
    Node,
)


def step_found(d: Demo, r: StepResult) -> None:
    from pausebutton.issuing.keydir import write_authority_dir
    from pausebutton.protocol.genesis import found_authority
    from pausebutton.protocol.trustroot import load_pinned_root

    names = [m for m, _ in MEMBERS]
    regions: list[str | None] = [c for _, c in MEMBERS]
    d.keys = found_authority(
        members=len(MEMBERS),
        threshold=K,
        witnesses=WITNESSES,
        witness_threshold=WITNESS_K,
        member_names=names,
        member_regions=regions,
    )
    expires = int(time.time()) + 365 * 86400
    d.root_bytes = d.keys.signed_root(version=1, expires=expires).encode()
    _, d.root = load_pinned_root(d.root_bytes)
    write_authority_dir(d.state / "authority", d.keys, d.root_bytes)
    expect(d.root.role("pause").threshold == K, "pause threshold is not K")
    expect(d.root.role("witness").threshold == WITNESS_K, "witness threshold is not W")
    rows = []
    for name, region in MEMBERS:
        rows.append(["member", f"{name} ({region})", d.keys.members[name].key_id.hex()[:16]])
    for role in ("licensing", "log", "time", "vendor"):
        rows.append([role, "1 key", d.keys.key(role).key_id.hex()[:16]])
    for i in range(WITNESSES):
        rows.append(["witness", f"witness {i}", d.keys.key("witness", i).key_id.hex()[:16]])
    r.tables.append(TableData("trust root v1", ["role", "holder", "key id"], rows))
    r.data = {
        "members": {n: c for n, c in MEMBERS},
        "pause_threshold": K,
        "witnesses": WITNESSES,
        "witness_threshold": WITNESS_K,
        "member_key_ids": {n: k.key_id.hex() for n, k in d.keys.members.items()},
        "root_version": d.root.version,
        "log_origin": d.root.log_origin,
    }
    r.summary = (
        f"{len(MEMBERS)} members ({', '.join(c for _, c in MEMBERS)}), pause/approval"
        f" threshold {K}-of-{len(MEMBERS)}, {WITNESSES} witnesses ({WITNESS_K} must cosign)"
    )


def step_registry(d: Demo, r: StepResult, server_url: str) -> None:
    from pausebutton.authority.client import AuthorityClient

    d.url = server_url
    d.admin = AuthorityClient(server_url, d.admin_key)
    health = d.admin.get("/healthz")
    expect(bool(health), "the authority does not answer /healthz")
    seeded = 0
    source = "built-in sample (--no-epoch)"
    if d.epoch_dir is not None:
        from pausebutton.authority.epoch import facilities_csv

        text, seeded = facilities_csv(d.epoch_dir, limit=40 if d.quick else None)
        d.admin.request(
            "POST", "/v1/registry/facilities.csv", content=text.encode(), content_type="text/csv"
        )
        source = f"Epoch AI GPU clusters ({d.epoch_dir}; CC BY 4.0, credit: Epoch AI)"
    else:
        for fid, name, country, power in BUILTIN_FACILITIES:
            d.admin.post(
                "/v1/facilities",
                {"id": fid, "name": name, "country": country, "power_mw": power},
            )
            seeded += 1
        r.notes.append("--no-epoch: seeded three built-in sample facilities")
    for site in SITES:
        d.admin.post(
            "/v1/owners", {"id": site.owner_id, "name": site.owner_name, "country": site.country}
        )
        d.admin.post(
            "/v1/facilities",
            {
                "id": site.facility_id,
                "name": site.name,
                "country": site.country,
                "latitude": site.lat,
                "longitude": site.lon,
                "power_mw": 40.0,
                "owner_id": site.owner_id,
                "verified": True,
            },
        )
        key = PrivateKey.generate()
        d.admin.post(
            "/v1/keys",
            {
                "public_key": key.public.raw.hex(),
                "role": "operator",
                "name": f"{site.owner_id}-ops",
                "owner_id": site.owner_id,
            },
        )
        d.operators[site.owner_id] = d.admin.with_key(key)
    facilities = d.admin.get("/v1/facilities", limit=1000)
    count = len(facilities) if isinstance(facilities, list) else len(facilities.get("items", []))
    expect(count >= seeded + len(SITES), f"registry holds {count} facilities, expected more")
    r.data = {
        "url": server_url,
        "database": str(d.state / "authority.db"),
        "facilities_seeded": seeded,
        "facility_source": source,
        "operators": [s.owner_id for s in SITES],
    }
    r.tables.append(
        TableData(
            "operators",
            ["owner", "name", "facility", "country", "verified"],
            [[s.owner_id, s.owner_name, s.facility_id, s.country, "yes"] for s in SITES],
        )
    )
    r.summary = (
        f"authority at {server_url} (SQLite); {seeded} facilities from {source.split(' (')[0]};"
        f" {len(SITES)} operators with signing keys"
    )


def step_agents(d: Demo, r: StepResult) -> None:
    from pausebutton.agent.daemon import Agent
    from pausebutton.agent.enforcement import Enforcer, Mode
    from pausebutton.agent.logcheck import BundleLogCheck
    from pausebutton.agent.nvml import FakeBackend

    vendor = d.keys.key("vendor")
    now = int(time.time())
    plan = [(s.key, s, d.chips_per_site) for s in SITES] + [("edge", SITES[1], 1)]
    for name, site, count in plan:
        state = d.state / "agents" / name
        backend = FakeBackend(count, seed=f"pausebutton-demo/{name}/{d.state}")
        Agent.enroll(
            state,
            backend,
            trust_root=d.root_bytes,
            vendor_key=vendor,
            vendor="DemoVendor",
            issued_at=now,
            owner=site.owner_id,
            region=site.country,
        )
        client = d.operators[site.owner_id]
        # hard enforcement for real on the fake GPUs: power cap to the minimum when restricted
        enforcer = Enforcer(backend, mode=Mode.POWER_CAP, dry_run=False)
        kw: dict[str, Any] = {"watch_timeout": 1.0, "enforcer": enforcer}
        if name == "edge":
            kw["clock"] = d.edge_clock
        agent = Agent(state, backend, client, verifier=BundleLogCheck(client), **kw)
        for cert in agent.certificates().values():
            d.admin.post(
                "/v1/chips",
                {
                    "certificate": base64.b64encode(cert).decode(),
                    "owner_id": site.owner_id,
                    "facility_id": site.facility_id,
                },
            )
        d.nodes[name] = Node(name, site, agent, backend, state)
        agent.tick()
    # the NVM of one chip as it stands now: step 9 restores it (a rollback attack)
    first = next(iter(d.nodes["dc-a"].agent.gpus.values()))
    d.snapshot = d.state / "snapshot-nvm"
    shutil.copytree(first.chip.dir, d.snapshot, ignore=shutil.ignore_patterns(".lock"))
    states = d.states()
    expect(
        all(s == "throttled" for s in states.values()), f"unlicensed chips not throttled: {states}"
    )
    registered = d.admin.get("/v1/chips", limit=1000)
    n_reg = len(registered) if isinstance(registered, list) else len(registered.get("items", []))
    expect(n_reg == len(states), f"{n_reg} chips registered, {len(states)} enrolled")
    r.tables.append(d.chip_table("chips after enrollment (no licence yet)"))
    r.data = {"nodes": {n.name: len(n.agent.gpus) for n in d.nodes.values()}, "states": states}
    r.summary = (
        f"{len(states)} fake GPUs on 3 nodes enrolled (vendor-signed certificates, registered);"
        " all THROTTLED: no licence"
    )
