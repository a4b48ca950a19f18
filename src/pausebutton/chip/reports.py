"""What a chip says about itself, and how an auditor checks it: the next usage report
built from the record, the JSON-ready status summary, and :func:`verify_report_chain`
over a run of signed usage reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pausebutton.chip import derived
from pausebutton.chip.record import ChipRecord
from pausebutton.errors import BadSignatureError, ChainError, WrongChipError
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.keys import PublicKey
from pausebutton.protocol.messages import GENESIS_HASH, DeviceCertificate, UsageReport, report_hash
from pausebutton.protocol.reportchain import ChainHead, ChainOutcome, classify_report
from pausebutton.protocol.trustroot import TrustRoot


def usage_report(record: ChipRecord) -> UsageReport:
    """The next usage report (unsigned): sequence and ``prev_hash`` chained to the last one,
    cumulative counters, trusted time and state."""
    lic = record.active_license()
    return UsageReport(
        chip_id=record.chip_id,
        sequence=record.report_seq + 1,
        prev_hash=record.report_prev,
        time=derived.trusted_time(record),
        flop_full=record.flop_full,
        flop_throttled=record.flop_throttled,
        cycles=record.cycles,
        energy_mj=record.energy_mj,
        state=derived.state_of(record).value,
        license_id=None if lic is None else lic.license_id,
        license_flop_used=None if lic is None else record.license_used,
    )


def status_summary(record: ChipRecord, root: TrustRoot) -> dict[str, Any]:
    """A JSON-ready summary of a chip under its pinned ``root`` (bytes as hex; big integers
    stay integers)."""
    rec = record
    lic = rec.active_license()
    now = derived.trusted_time(rec)
    cert = Envelope.decode(rec.certificate).open_as(DeviceCertificate)
    return {
        "chip_id": rec.chip_id.hex(),
        "state": derived.state_of(rec).value,
        "trusted_time": now,
        "last_token_time": rec.last_token_time,
        "firmware_version": rec.firmware_version,
        "model": cert.model,
        "serial": cert.serial,
        "vendor": cert.vendor,
        "region": rec.region,
        "owner": rec.owner,
        "trust_root_version": root.version,
        "flop_full": rec.flop_full,
        "flop_throttled": rec.flop_throttled,
        "cycles": rec.cycles,
        "energy_mj": rec.energy_mj,
        "peak_flops": rec.peak_flops,
        "throttle_ppm": rec.throttle_ppm,
        "license": None
        if lic is None
        else {
            "license_id": lic.license_id,
            "flop_budget": lic.flop_budget,
            "flop_used": rec.license_used,
            "flop_left": max(0, lic.flop_budget - rec.license_used),
            "not_before": lic.not_before,
            "not_after": lic.not_after,
            "max_offline": lic.max_offline,
            "offline_deadline": rec.last_token_time + lic.max_offline,
        },
        "max_license_id": rec.max_license_id,
        "licenses_accepted": rec.licenses_accepted,
        "budgets_accepted": rec.budgets_accepted,
        "license_log": rec.license_log.hex(),
        "order_sequence": rec.order_seq,
        "pauses": [
            {"sequence": p.sequence, "effective_at": p.effective_at, "lifted_at": p.lifted_at}
            for p in rec.pauses
        ],
        "report_sequence": rec.report_seq,
        "tampered": rec.tampered,
        "tamper_reason": rec.tamper_reason,
        "full_rate_allowance": derived.full_rate_allowance(rec) if not rec.tampered else 0,
    }


# -- verifying a report chain (for auditors) ----------------------------------------------


def verify_report_chain(
    certificate: bytes,
    reports: Sequence[bytes],
    *,
    prev_hash: bytes = GENESIS_HASH,
    first_sequence: int = 1,
) -> list[UsageReport]:
    """Check a run of usage reports: each signed by the chip's device key, sequences
    consecutive from ``first_sequence``, each ``prev_hash`` the hash of the report
    before. A deleted, reordered or forged report raises ChainError/BadSignatureError.

    The chain rules are :func:`pausebutton.protocol.reportchain.classify_report`'s (the
    authority's ingestion applies the same); a run must be complete, so any outcome
    but ``next`` is refused."""
    cert = Envelope.decode(certificate).open_as(DeviceCertificate)
    device = PublicKey.from_bytes(cert.device_key)
    out: list[UsageReport] = []
    expected_seq = first_sequence
    for i, data in enumerate(reports):
        env = Envelope.decode(data)
        report = env.open_as(UsageReport)
        if not env.signed_by(device):
            raise BadSignatureError(f"report {i} is not signed by the chip's device key")
        if report.chip_id != cert.chip_id:
            raise WrongChipError(f"report {i} is from another chip")
        digest = report_hash(data)
        verdict = classify_report(report, digest, ChainHead(expected_seq - 1, prev_hash))
        if verdict.outcome is ChainOutcome.CHAIN:
            raise ChainError(f"report {report.sequence} does not link to the report before it")
        if verdict.outcome is not ChainOutcome.NEXT:
            raise ChainError(
                f"report {i} has sequence {report.sequence}, expected {expected_seq}"
                " (a report is missing or out of order)"
            )
        if out and (
            report.flop_full < out[-1].flop_full or report.flop_throttled < out[-1].flop_throttled
        ):
            raise ChainError(f"report {report.sequence} has counters that went down")
        out.append(report)
        prev_hash = digest
        expected_seq += 1
    return out
