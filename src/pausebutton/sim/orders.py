"""Acts 6-8: the K-of-N pause and how fast it arrives, the dead man's switch of a chip cut
off before it, and the resume that needs a log proof."""

from __future__ import annotations

import base64
import time

from pausebutton.sim.results import StepResult, expect, ordinal
from pausebutton.sim.world import (
    MAX_OFFLINE,
    PAUSED_WORK_FLOP,
    SITES,
    WORK_FLOP,
    Demo,
    K,
    order_sequence,
)


def step_pause(d: Demo, r: StepResult) -> None:
    # the edge node loses its uplink before the pause: it will never hear it (step 7)
    edge = d.nodes["edge"]
    edge.connected = False
    edge.agent.client = None
    connected = d.connected()
    d.start_runners()
    time.sleep(0.3)  # the agents' long-polls are open
    body = {
        "kind": "pause",
        "scope": {"kind": "global"},
        "reason": "demo: global pause by K-of-N members",
        "effective_at": int(time.time()) - 60,
    }
    out, counts, t_k = d.sign_order(body)
    expect(counts == list(range(1, K + 1)), f"signature progress {counts}")
    seq = order_sequence(out)
    d.pause_sequence = seq
    d.progress(f"order {seq} assembled and logged; waiting for the agents")
    deadline = time.monotonic() + 20
    arrived: dict[str, float] = {}
    while len(arrived) < len(connected):
        for node in connected:
            if node.name not in arrived and all(s == "paused" for s in d.states([node]).values()):
                arrived[node.name] = time.perf_counter() - t_k
                d.progress(
                    f"{node.name}: all {len(node.agent.gpus)} chips PAUSED"
                    f" {arrived[node.name] * 1000:.0f} ms after the {ordinal(K)} signature"
                )
        expect(
            time.monotonic() < deadline, f"pause not delivered within 20 s: {d.states(connected)}"
        )
        time.sleep(0.002)
    delivery = max(arrived.values())
    time.sleep(0.2)  # the agents enforce right after installing
    caps = {uuid: node.backend.power_limits(uuid).current_mw for node, uuid, _ in d.gpus(connected)}
    expect(all(c < 700_000 for c in caps.values()), f"paused GPUs not power-capped: {caps}")
    runs = [d.work(gpu, PAUSED_WORK_FLOP) for _, _, gpu in d.gpus(connected)]
    expect(all(x["full"] == 0 for x in runs), "work ran at full rate during the pause")
    rate = max(x["rate_of_peak"] for x in runs)
    expect(0.005 < rate < 0.02, f"paused work ran at {rate:.2%} of peak, not ~1 %")
    site = SITES[1]
    chips = [gpu.chip_id for _, _, gpu in d.gpus([d.nodes[site.key]])]
    refused = d.apply(site.owner_id, chips, 10**18, "during-pause")
    expect(refused["status"] == "refused", f"application during the pause: {refused['status']}")
    orders = d.admin.get("/v1/orders", active=True)
    logged = any(o.get("sequence") == seq and o.get("log_index") is not None for o in orders)
    expect(logged, "the pause order is not in the log")
    r.tables.append(d.chip_table("chips after the pause (connected nodes)", connected))
    r.notes.append(
        "licence application during the pause refused: " + "; ".join(refused["reasons"][:2])
    )
    r.data = {
        "order_sequence": seq,
        "signature_progress": counts,
        "delivery_seconds": round(delivery, 4),
        "delivery_seconds_by_node": {k: round(v, 4) for k, v in arrived.items()},
        "states": d.states(connected),
        "paused_rate_of_peak": round(rate, 4),
        "power_caps_mw": caps,
        "refused_application": {"status": refused["status"], "reasons": refused["reasons"]},
        "chips": len(runs),
    }
    r.summary = (
        f"signatures 1/{K} .. {K}/{K}; pause order {seq} reached all {len(runs)} chips"
        f" {delivery * 1000:.0f} ms after the last ({ordinal(K)}) signature; work at"
        f" {rate:.1%} of peak;"
        f" new application refused"
    )


def step_deadman(d: Demo, r: StepResult) -> None:
    from pausebutton.protocol.envelope import Envelope
    from pausebutton.protocol.messages import TimeToken

    # connected chips receive a fresh time token from the time role
    token = Envelope.create(
        TimeToken(time=int(time.time()), sequence=1), [d.keys.key("time")]
    ).encode()
    d.stop_runners()
    for node in d.connected():
        res = node.agent.install_everywhere(token)
        expect(
            all(not v.startswith("rejected") for v in res.values()), f"time token refused: {res}"
        )
    edge = d.nodes["edge"]
    ((uuid, gpu),) = edge.agent.gpus.items()
    fw = gpu.chip.firmware
    before = fw.state.value
    st = fw.status()
    deadline = st["license"]["offline_deadline"]
    wait = deadline - fw.trusted_time + 1
    cycles_before = fw.record.cycles
    edge.agent.tick()  # no client: nothing reaches the authority, nothing comes in
    d.edge_clock.t += wait
    edge.agent.advance_clock()
    edge.agent.enforce()
    after = gpu.chip.firmware.state.value
    counted = gpu.chip.firmware.record.cycles - cycles_before
    expect(before == "licensed", f"the disconnected chip was {before} before its deadline")
    expect(after == "throttled", f"the disconnected chip is {after} after its deadline")
    allowance = gpu.chip.firmware.full_rate_allowance()
    expect(allowance == 0, "the disconnected chip still has full-rate allowance")
    cap = edge.backend.power_limits(uuid).current_mw
    connected_states = d.states(d.connected())
    expect(
        all(s == "paused" for s in connected_states.values()),
        f"connected chips left the pause: {connected_states}",
    )
    r.tables.append(d.chip_table("the disconnected edge node", [edge]))
    r.data = {
        "before": before,
        "after": after,
        "max_offline": MAX_OFFLINE,
        "cycles_counted": counted,
        "seconds_counted": counted // fw.record.clock_hz,
        "power_cap_mw": cap,
    }
    r.summary = (
        f"the cut-off edge chip never heard the pause: still {before.upper()}; {wait} s of"
        f" counted cycles ({counted:.3e}) later its {MAX_OFFLINE} s max offline period has run"
        f" out: {after.upper()} (connected chips got a fresh time token)"
    )


def step_resume(d: Demo, r: StepResult) -> None:
    assert d.pause_sequence is not None
    body = {
        "kind": "resume",
        "lifts": d.pause_sequence,
        "reason": "demo: the quorum lifts the pause",
        "effective_at": int(time.time()) - 30,
    }
    out, counts, t_k = d.sign_order(body)
    expect(counts == list(range(1, K + 1)), f"signature progress {counts}")
    seq = order_sequence(out)
    connected = d.connected()
    # before witnesses cosign, the resume has no public proof: chips keep the pause
    early = {}
    for node in connected:
        early.update(node.agent.install_everywhere(_order_bytes(d, seq), None))
    expect(
        all(v.startswith("rejected") for v in early.values()),
        f"a resume without log proof was accepted: {early}",
    )
    d.progress(f"without a log proof every chip refuses the resume ({len(early)} refusals)")
    d.witness()
    for node in connected:
        node.agent.tick()
    took = time.perf_counter() - t_k
    states = d.states(connected)
    expect(all(s == "licensed" for s in states.values()), f"chips after the resume: {states}")
    edge_state = d.states([d.nodes["edge"]])
    caps = {uuid: node.backend.power_limits(uuid).current_mw for node, uuid, _ in d.gpus(connected)}
    expect(all(c == 700_000 for c in caps.values()), f"power caps not restored: {caps}")
    runs = [d.work(gpu, WORK_FLOP // 10) for _, _, gpu in d.gpus(connected)]
    expect(all(x["throttled"] == 0 for x in runs), "work after the resume was throttled")
    r.tables.append(d.chip_table("chips after the resume"))
    r.data = {
        "order_sequence": seq,
        "signature_progress": counts,
        "rejected_without_proof": sorted({v.split(":")[1].strip() for v in early.values()}),
        "states": states,
        "edge_state": edge_state,
        "power_caps_mw": caps,
        "seconds": round(took, 4),
    }
    r.summary = (
        f"resume {seq} (lifts {d.pause_sequence}) signed {K}/{K}; refused without a log proof,"
        f" accepted with one: {len(states)} chips LICENSED; the offline edge chip stays THROTTLED"
    )


def _order_bytes(d: Demo, seq: int) -> bytes:
    row = d.admin.get(f"/v1/orders/{seq}")
    return base64.b64decode(row["envelope"])
