"""Inspection scheduling: periodic, random and challenge inspections. Pure.

* **periodic** — every facility at least every ``period_days`` (from its last
  inspection; never inspected means due now);
* **random** — in each ``window_days`` window a facility is drawn with
  probability ``random_rate`` by a keyed hash of (secret seed, facility,
  window): unpredictable to operators without the seed, reproducible by the
  authority and by auditors who are given it later;
* **challenge** — every alert triggers inspections of the flagged site (data
  centre) or owner (AI developer audit plus its facilities), due within
  ``challenge_hours`` (half that for critical alerts).

Tasks are deduplicated per (kind, target), keeping the earliest due date; a
challenge keeps its reason. Inspection results come back as ordinary
signals (``dc_inspection``, ``fab_inspection``, ``developer_inspection``):
see :func:`result_signal`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pausebutton.detect.fusion import Alert
from pausebutton.detect.registry import Registry
from pausebutton.detect.rules import Severity
from pausebutton.detect.signals import DataCenterInspection
from pausebutton.errors import DataError

KINDS = ("dc", "fab", "developer")
TRIGGERS = ("challenge", "periodic", "random")


@dataclass(frozen=True)
class InspectionTask:
    task_id: str
    kind: str
    target: str
    due: datetime
    trigger: str
    reason: str
    alert_id: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "task_id": self.task_id,
            "kind": self.kind,
            "target": self.target,
            "due": self.due.isoformat(),
            "trigger": self.trigger,
            "reason": self.reason,
            "alert_id": self.alert_id,
        }


@dataclass(frozen=True)
class SchedulePolicy:
    period_days: float = 180.0
    window_days: float = 30.0
    random_rate: float = 0.1
    challenge_hours: float = 48.0


def _task_id(kind: str, target: str, trigger: str, due: datetime) -> str:
    h = hashlib.sha256(f"{kind}|{target}|{trigger}|{due.isoformat()}".encode()).hexdigest()
    return f"insp-{h[:12]}"


def _draw(seed: bytes, target: str, window: int) -> tuple[float, float]:
    """Two uniform numbers in [0, 1) from HMAC-SHA256(seed, target|window)."""
    d = hmac.new(seed, f"{target}|{window}".encode(), hashlib.sha256).digest()
    return int.from_bytes(d[:8], "big") / 2**64, int.from_bytes(d[8:16], "big") / 2**64


def schedule(
    registry: Registry,
    now: datetime,
    *,
    seed: bytes,
    last_inspected: Mapping[str, datetime] | None = None,
    alerts: Sequence[Alert] = (),
    policy: SchedulePolicy | None = None,
    fabs: Iterable[str] = (),
) -> list[InspectionTask]:
    """Inspection tasks due from ``now`` on (challenge first, then by due date)."""
    if len(seed) < 16:
        raise DataError("the random-inspection seed must be at least 16 bytes", field="seed")
    pol = policy or SchedulePolicy()
    last = dict(last_inspected or {})
    tasks: dict[tuple[str, str], InspectionTask] = {}

    def add(
        kind: str, target: str, due: datetime, trigger: str, reason: str, alert: str = ""
    ) -> None:
        t = InspectionTask(
            _task_id(kind, target, trigger, due), kind, target, due, trigger, reason, alert
        )
        cur = tasks.get((kind, target))
        if cur is None or (TRIGGERS.index(trigger), due) < (TRIGGERS.index(cur.trigger), cur.due):
            tasks[(kind, target)] = t

    for a in alerts:
        hours = pol.challenge_hours / (2 if a.severity >= Severity.CRITICAL else 1)
        due = now + timedelta(hours=hours)
        why = f"alert {a.alert_id}: p={a.probability:.2f}, {a.findings[0].reason}"
        if a.kind == "site":
            add("dc", a.subject, due, "challenge", why, a.alert_id)
        else:
            add("developer", a.subject, due, "challenge", why, a.alert_id)
            for f in registry.facilities.values():
                if f.owner_id == a.subject:
                    add("dc", f.facility_id, due, "challenge", why, a.alert_id)

    period = timedelta(days=pol.period_days)
    targets = [("dc", f) for f in sorted(registry.facilities)] + [("fab", f) for f in sorted(fabs)]
    for kind, target in targets:
        prev = last.get(target)
        due = now if prev is None else max(now, prev + period)
        if prev is None or prev + period <= now + timedelta(days=pol.window_days):
            add(
                kind,
                target,
                due,
                "periodic",
                "never inspected" if prev is None else f"last inspected {prev.date()}",
            )
        window = int(now.timestamp() // (pol.window_days * 86400))
        p, offset = _draw(seed, f"{kind}:{target}", window)
        if p < pol.random_rate:
            start = datetime.fromtimestamp(window * pol.window_days * 86400, tz=now.tzinfo)
            rdue = max(now, start + timedelta(days=offset * pol.window_days))
            add(kind, target, rdue, "random", f"random draw in window {window}")
    return sorted(tasks.values(), key=lambda t: (TRIGGERS.index(t.trigger), t.due, t.target))


def result_signal(
    task: InspectionTask,
    time: datetime,
    serials_counted: Sequence[str] = (),
    chips_counted: int | None = None,
    findings: str = "",
) -> DataCenterInspection:
    """A data-centre inspection's result as a signal, ready for the rules."""
    if task.kind != "dc":
        raise DataError(f"task {task.task_id} is a {task.kind} inspection, not dc", field="kind")
    if not serials_counted and chips_counted is None:
        raise DataError("give the serials counted or a count", field="serials_counted")
    return DataCenterInspection(
        task.task_id,
        task.target,
        time,
        tuple(serials_counted),
        chips_counted,
        None,
        findings or f"{task.trigger}: {task.reason}",
    )
