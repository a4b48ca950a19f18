"""Acts 4-5: licences below the threshold (applied, witnessed, installed, used, reported)
and a frontier run that waits for K-of-N member approvals."""

from __future__ import annotations

from pausebutton.sim.results import StepResult, TableData, expect, sci
from pausebutton.sim.world import (
    FRONTIER_BUDGET,
    FRONTIER_FLOP,
    SITES,
    SMALL_BUDGET,
    WITNESS_K,
    WORK_FLOP,
    Demo,
    K,
)


def step_licences(d: Demo, r: StepResult) -> None:
    apps = []
    for site in SITES:
        nodes = [n for n in d.nodes.values() if n.site is site]
        chips = [gpu.chip_id for _, _, gpu in d.gpus(nodes)]
        out = d.apply(site.owner_id, chips, SMALL_BUDGET, f"{site.key}-finetune")
        expect(out["status"] in ("approved", "issued"), f"{site.key} application: {out['status']}")
        expect(len(out["license_ids"]) == len(chips), "one licence per chip expected")
        apps.append(out)
        d.progress(
            f"{site.owner_id}: {len(chips)} licences {out['status']} ({SMALL_BUDGET:.0e} FLOP)"
        )
    # before any witness cosigns, a chip must refuse the licences (no public proof yet)
    d.nodes["dc-a"].agent.tick()
    unwitnessed = d.states([d.nodes["dc-a"]])
    expect(
        all(s == "throttled" for s in unwitnessed.values()),
        f"licences installed without a witnessed log proof: {unwitnessed}",
    )
    d.progress("dc-a tries to install them before any witness cosigned: chips stay THROTTLED")
    w = d.witness()
    for node in d.nodes.values():
        node.agent.tick()
    states = d.states()
    expect(all(s == "licensed" for s in states.values()), f"chips not licensed: {states}")
    runs = [d.work(gpu, WORK_FLOP) for _, _, gpu in d.gpus()]
    expect(all(x["throttled"] == 0 for x in runs), "licensed work was throttled")
    expect(all(x["rate_of_peak"] > 0.99 for x in runs), "licensed work not at full rate")
    for node in d.nodes.values():
        node.agent.tick()
    reports = 0
    for _, _, gpu in d.gpus():
        reports += len(d.admin.get(f"/v1/chips/{gpu.chip_id}/reports"))
    expect(reports >= 2 * len(states), f"only {reports} usage reports ingested")
    r.tables.append(d.chip_table("chips after licensing and a work burst"))
    r.data = {
        "applications": [{"id": a["id"], "status": a["status"]} for a in apps],
        "licences": sum(len(a["license_ids"]) for a in apps),
        "unwitnessed_states": sorted(set(unwitnessed.values())),
        "witnessed_checkpoint_size": w["size"],
        "states": states,
        "work_rate_of_peak": round(min(x["rate_of_peak"] for x in runs), 4),
        "reports_ingested": reports,
    }
    r.summary = (
        f"{r.data['licences']} licences auto-approved (below {FRONTIER_FLOP:.0e} FLOP);"
        f" refused by chips until {WITNESS_K} witnesses cosigned; then LICENSED, work at"
        f" {r.data['work_rate_of_peak']:.0%} of peak; {reports} signed usage reports ingested"
    )


def step_frontier(d: Demo, r: StepResult) -> None:
    node = d.nodes["dc-a"]
    chips = [gpu.chip_id for _, _, gpu in d.gpus([node])]
    out = d.apply(node.site.owner_id, chips, FRONTIER_BUDGET, "frontier-1")
    expect(out["status"] == "pending", f"a {FRONTIER_BUDGET:.0e} FLOP run was {out['status']}")
    pending_reasons = out["reasons"]
    d.progress(f"application {out['id']} for {FRONTIER_BUDGET:.0e} FLOP: {out['status']}")
    approvals = []
    for i in range(K):
        out = d.as_member(i).post(f"/v1/licenses/applications/{out['id']}/approvals", {})
        approvals.append(
            {"member": d.member_name(i), "count": len(out["approvals"]), "status": out["status"]}
        )
        d.progress(f"approval {len(out['approvals'])}/{K} from {d.member_name(i)}: {out['status']}")
    expect(approvals[K - 2]["status"] == "pending", "approved before K members approved")
    expect(out["status"] in ("approved", "issued"), f"after {K} approvals: {out['status']}")
    expect(len(out["license_ids"]) == len(chips), "frontier licences not issued")
    d.witness()
    node.agent.tick()
    installed = {
        gpu.chip_id: gpu.chip.firmware.status()["license"]["license_id"]
        for _, _, gpu in d.gpus([node])
    }
    expect(
        sorted(installed.values()) == sorted(out["license_ids"]),
        f"the chips did not install the frontier licences: {installed}",
    )
    r.tables.append(
        TableData(
            "frontier application",
            ["member", "approvals", "status"],
            [[a["member"], f"{a['count']}/{K}", a["status"]] for a in approvals],
        )
    )
    r.data = {
        "application": out["id"],
        "flop_budget": FRONTIER_BUDGET,
        "pending_reasons": pending_reasons,
        "approvals": approvals,
        "status": out["status"],
        "licence_ids": out["license_ids"],
    }
    d.frontier_chips = chips
    r.notes.extend(f"policy: {sci(reason)}" for reason in pending_reasons[:2])
    r.summary = (
        f"{FRONTIER_BUDGET:.0e} FLOP run (threshold {FRONTIER_FLOP:.0e}): pending ->"
        f" {K} member approvals -> issued, witnessed, {len(chips)} licences installed"
    )
