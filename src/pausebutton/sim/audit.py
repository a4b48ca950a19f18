"""Act 12: the transparency audit; a licence proven included offline against the root."""

from __future__ import annotations

import base64
import dataclasses
import time

from pausebutton import errors
from pausebutton.sim.results import StepResult, TableData, expect
from pausebutton.sim.world import WITNESS_K, Demo


def step_audit(d: Demo, r: StepResult) -> None:
    from pausebutton.translog.bundle import InclusionBundle
    from pausebutton.translog.policy import LogPolicy

    d.witness()
    policy = LogPolicy.from_trust_root(d.root)
    note = d.admin.get("/v1/log/checkpoint")
    report = policy.check_checkpoint(note, now=int(time.time()))
    node = d.nodes["dc-b"]
    gpu = next(iter(node.agent.gpus.values()))
    row = max(d.admin.get("/v1/licenses", chip_id=gpu.chip_id), key=lambda x: x["license_id"])
    envelope = base64.b64decode(row["envelope"])
    resp = d.admin.http.get(f"{d.url}/v1/log/bundle", params={"index": row["log_index"]})
    expect(resp.status_code == 200, f"no inclusion bundle for entry {row['log_index']}")
    bundle = InclusionBundle.decode(resp.content)
    # offline from here: only the pinned trust root, the bundle and the licence
    from pausebutton.protocol import encoding

    if bundle.entry != envelope:  # an authority record {"kind", "body", "at"} around it
        wrapped = encoding.decode(bundle.entry)
        expect(
            isinstance(wrapped, dict) and wrapped.get("body") == envelope,
            "the log entry is not the licence",
        )
    checkpoint = policy.verify_entry(bundle.entry, bundle)
    tampered = dataclasses.replace(bundle, entry=bundle.entry + b"x")
    try:
        policy.verify_entry(tampered.entry, tampered)
        tamper_result = "ACCEPTED"
    except errors.PausebuttonError as exc:
        tamper_result = type(exc).__name__
    expect(tamper_result != "ACCEPTED", "a tampered entry passed the inclusion check")
    stats = d.admin.get("/v1/stats")
    r.tables.append(
        TableData(
            "transparency log",
            ["item", "value"],
            [
                ["log size (entries)", str(report.signed.size)],
                ["root hash", report.signed.root_hash.hex()[:32] + "…"],
                ["witness cosignatures", f"{len(report.witnesses)} (threshold {WITNESS_K})"],
                ["licence checked", f"#{row['license_id']} at log index {row['log_index']}"],
                ["inclusion proof", f"{len(bundle.proof)} hashes, tree size {checkpoint.size}: OK"],
                ["same proof, entry altered", tamper_result],
            ],
        )
    )
    r.data = {
        "log_size": report.signed.size,
        "witness_cosignatures": len(report.witnesses),
        "licence_id": row["license_id"],
        "log_index": row["log_index"],
        "proof_hashes": len(bundle.proof),
        "inclusion_verified": True,
        "tampered_entry": tamper_result,
        "stats": stats,
    }
    r.summary = (
        f"log of {report.signed.size} entries, checkpoint cosigned by {len(report.witnesses)}"
        f" witnesses; licence #{row['license_id']} proven included offline"
    )
