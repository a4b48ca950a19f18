"""Act 9: the attack gallery; each attempt is rejected with its named error."""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Callable
from typing import Any

from pausebutton import errors
from pausebutton.protocol.keys import PrivateKey
from pausebutton.sim.results import StepResult, TableData, expect
from pausebutton.sim.world import MEMBERS, Demo, K


def step_attacks(d: Demo, r: StepResult) -> None:
    from pausebutton.agent.logcheck import BundleLogCheck, token
    from pausebutton.chip.firmware import Firmware
    from pausebutton.chip.nvm import FileNvm
    from pausebutton.protocol.envelope import Envelope
    from pausebutton.protocol.messages import GLOBAL, License, PauseOrder

    node = d.nodes["dc-a"]
    other = next(iter(d.nodes["dc-b"].agent.gpus.values()))
    gpu = next(iter(node.agent.gpus.values()))
    verifier = BundleLogCheck(d.operators[node.site.owner_id])
    record = gpu.chip.firmware.record

    def fresh() -> Firmware:  # the chip's firmware over a copy of its record (pure)
        return Firmware(record, verifier=verifier)

    rows_lic = d.admin.get("/v1/licenses", chip_id=gpu.chip_id)
    current = max(rows_lic, key=lambda x: x["license_id"])
    lic_bytes = base64.b64decode(current["envelope"])
    other_row = max(
        d.admin.get("/v1/licenses", chip_id=other.chip_id), key=lambda x: x["license_id"]
    )
    other_bytes = base64.b64decode(other_row["envelope"])
    now = int(time.time())
    forged_payload = License(
        license_id=record.max_license_id + 1000,
        chip_id=record.chip_id,
        not_before=now - 3600,
        not_after=now + 86400,
        flop_budget=10**27,
        max_offline=10**9,
    )
    forger = PrivateKey.generate()
    secret = Envelope.create(forged_payload, [d.keys.key("licensing")]).encode()
    k_minus_1 = Envelope.create(
        PauseOrder(
            sequence=10**6,
            scope=GLOBAL,
            effective_at=now,
            issued_at=now,
            reason="K-1 members try to pause",
        ),
        [d.member(i) for i in range(K - 1)],
    ).encode()

    def attempt(fn: Callable[[], Any]) -> tuple[str, str]:
        try:
            fn()
        except errors.PausebuttonError as exc:
            return type(exc).__name__, exc.message
        return "ACCEPTED", ""

    cases: list[tuple[str, str, Callable[[], Any]]] = [
        (
            "forged licence",
            "a 1e27-FLOP licence signed by a key outside the trust root",
            lambda: fresh().install(
                Envelope.create(forged_payload, [forger]).encode(), token(current["log_index"])
            ),
        ),
        (
            "replayed licence",
            "the chip's current licence, sent again with its log proof",
            lambda: fresh().install(lic_bytes, token(current["log_index"])),
        ),
        (
            "licence for another chip",
            "a valid, logged licence of a dc-b chip",
            lambda: fresh().install(other_bytes, token(other_row["log_index"])),
        ),
        (
            "secret licence",
            "signed with the real licensing key, but never logged",
            lambda: fresh().install(secret, None),
        ),
        (
            f"order with {K - 1} signatures",
            f"a pause order signed by {K - 1} of {len(MEMBERS)} members",
            lambda: fresh().install(k_minus_1, None),
        ),
    ]
    rows = []
    results: dict[str, str] = {}
    for name, what, fn in cases:
        err, msg = attempt(fn)
        results[name] = err
        rows.append([name, what, err, msg[:100]])

    # a restored (rolled-back) NVM: the step-3 copies put back over the live chip's folder
    scratch = d.state / "rollback-attack"
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(gpu.chip.dir, scratch, ignore=shutil.ignore_patterns(".lock", "*.sock"))
    assert d.snapshot is not None
    for copy in d.snapshot.glob("nvm-*.bin"):
        shutil.copy2(copy, scratch / copy.name)
    err, msg = attempt(lambda: FileNvm(scratch).read())
    msg = msg.replace(f"{scratch}: ", "")
    results["rolled-back NVM"] = err
    rows.append(
        ["rolled-back NVM", "NVM copies from step 3 restored (fuse is higher)", err, msg[:90]]
    )
    expected = {
        "forged licence": {"BadSignatureError", "BelowThresholdError"},
        "replayed licence": {"ReplayError"},
        "licence for another chip": {"WrongChipError"},
        "secret licence": {"NotLoggedError"},
        f"order with {K - 1} signatures": {"BelowThresholdError"},
        "rolled-back NVM": {"CorruptStateError", "RollbackError"},
    }
    for name, allowed in expected.items():
        expect(results[name] in allowed, f"{name}: got {results[name]}, expected {allowed}")
    expect(gpu.chip.firmware.state.value == "licensed", "an attack changed the live chip")
    r.tables.append(
        TableData("attack gallery", ["attack", "what", "rejected with", "reason"], rows)
    )
    r.data = {"rejections": results}
    r.summary = f"{len(results)} attacks, each rejected with its named error; the chip is unchanged"
