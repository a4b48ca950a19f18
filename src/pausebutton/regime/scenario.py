"""The scenario file: a world, a regime, adversaries and seeds (TOML, validated).

Every number has an allowed range; a value outside it is refused with a
:class:`~pausebutton.errors.DataError` naming the field and the range
(``regime.max_offline_days = 400 is out of range: allowed 1 to 365``). Unknown keys are
refused too, so a typo is never silently ignored.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pausebutton.detect.signals import Method
from pausebutton.errors import DataError

MAX_SCENARIO_BYTES = 1 << 20

METHODS: tuple[str, ...] = tuple(m.value for m in Method)
"""The ten verification methods (pausebutton.detect.signals.Method)."""

STOCK_ASSUMPTION = (
    "Epoch AI's GPU clusters table lists about 1.8 million H100-equivalents in existing"
    " clusters with a known country; the world's installed AI accelerator stock is larger."
    " The simulator keeps the table's distribution over facilities and countries and scales"
    " it to `world.stock_chips` H100-equivalents (default 4,000,000, an order-of-magnitude"
    " estimate of the installed stock at the end of 2024); one simulated chip is one"
    " H100-equivalent."
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MethodParams(_Model):
    """One verification method: in force or not, and how sensitive."""

    enabled: bool = True
    sensitivity: float = Field(default=0.02, ge=0.0, le=1.0)
    """Probability per day that the method detects an activity of 1,000 H100-equivalents it
    applies to (larger activities are easier: 1 - (1 - s) ** (chips / 1000))."""
    false_alarms_per_facility_year: float = Field(default=0.01, ge=0.0, le=100.0)


def _default_methods() -> dict[str, MethodParams]:
    defaults = {
        "remote_sensing": 0.01,
        "whistleblower": 0.005,
        "energy": 0.03,
        "customs": 0.02,
        "financial": 0.01,
        "dc_inspection": 0.9,
        "fab_inspection": 0.5,
        "developer_inspection": 0.5,
        "location": 0.95,
        "usage_report": 0.9,
    }
    return {name: MethodParams(sensitivity=s) for name, s in defaults.items()}


class World(_Model):
    stock_chips: int = Field(default=4_000_000, ge=1_000, le=100_000_000)
    """Total H100-equivalents to simulate (the Epoch distribution scaled to this)."""
    firmware_share: float = Field(default=0.9, ge=0.0, le=1.0)
    """Share of the stock with pause-compatible firmware (the rest: legacy chips)."""
    members: Literal["all"] | list[str] = "all"
    """Member states (ISO 3166 alpha-2 codes) or "all"."""
    intermittent_share: float = Field(default=0.05, ge=0.0, le=1.0)
    intermittent_contact: float = Field(default=0.5, ge=0.0, le=1.0)
    """Probability per day that an intermittently connected chip reaches the authority."""
    served_area_km2: float = Field(default=30e6, ge=1e3, le=150e6)
    """Land area the landmark network covers (for the landmark count)."""


class Pause(_Model):
    day: int = Field(default=10, ge=0, le=3650)
    scope: Literal["global", "members"] | list[str] = "members"


class Regime(_Model):
    licence_validity_days: int = Field(default=30, ge=1, le=365)
    max_offline_days: int = Field(default=7, ge=1, le=365)
    renew_before_days: int = Field(default=3, ge=0, le=364)
    poll_interval_hours: float = Field(default=6.0, ge=0.01, le=720.0)
    push: bool = True
    push_latency_seconds: float = Field(default=5.0, ge=0.0, le=86_400.0)
    k: int = Field(default=3, ge=1, le=100)
    n: int = Field(default=5, ge=1, le=100)
    witnesses: int = Field(default=3, ge=0, le=100)
    landmark_spacing_km: float = Field(default=500.0, ge=10.0, le=20_000.0)
    inspection_rate_per_year: float = Field(default=1.0, ge=0.0, le=365.0)
    """Data-centre inspections per facility per year (member states only)."""
    report_grace_days: int = Field(default=3, ge=1, le=365)
    """Days of missing usage reports before a registered chip is flagged."""
    frontier_flop: float = Field(default=1e25, ge=1e18, le=1e30)
    split_window_days: int = Field(default=90, ge=1, le=3650)
    methods: dict[str, MethodParams] = Field(default_factory=_default_methods)

    @model_validator(mode="after")
    def _check(self) -> Regime:
        if self.k > self.n:
            raise ValueError(f"regime.k = {self.k} must be at most regime.n = {self.n}")
        if self.renew_before_days >= self.licence_validity_days:
            raise ValueError(
                f"regime.renew_before_days = {self.renew_before_days} must be below"
                f" regime.licence_validity_days = {self.licence_validity_days}"
            )
        unknown = sorted(set(self.methods) - set(METHODS))
        if unknown:
            raise ValueError(f"unknown verification method(s) {unknown}; known: {list(METHODS)}")
        return self

    def method(self, name: str) -> MethodParams:
        return self.methods.get(name, MethodParams(enabled=False, sensitivity=0.0))


class Adversary(_Model):
    """An evasion: ``instances`` independent attempts of ``chips`` H100-equivalents each."""

    instances: int = Field(default=100, ge=0, le=1_000_000)
    chips: int = Field(default=1_000, ge=1, le=10_000_000)
    country: str = Field(default="CN", min_length=2, max_length=2)
    start_day: int = Field(default=0, ge=0, le=3650)


class RelaySmuggling(Adversary):
    relay_km_min: float = Field(default=100.0, ge=0.0, le=20_000.0)
    relay_km_max: float = Field(default=3_000.0, ge=0.0, le=20_000.0)


class OfflineChips(Adversary):
    share: float = Field(default=0.01, ge=0.0, le=1.0)
    """Share of the fleet whose owners keep their chips offline (never contact)."""


class RunSplitting(Adversary):
    run_flop: float = Field(default=3e25, ge=1e18, le=1e30)
    owners: int = Field(default=4, ge=1, le=10_000)


class OffGrid(Adversary):
    pass


class CoercedKeys(Adversary):
    coerce_probability: float = Field(default=0.1, ge=0.0, le=1.0)
    """Probability that each member's key is stolen or coerced."""


class ForgedCustoms(Adversary):
    forgery_quality: float = Field(default=0.8, ge=0.0, le=1.0)
    """How much a forged record lowers customs' sensitivity (1: customs sees nothing)."""


class Adversaries(_Model):
    relay_smuggling: RelaySmuggling | None = None
    offline_chips: OfflineChips | None = None
    run_splitting: RunSplitting | None = None
    off_grid_power: OffGrid | None = None
    coerced_keys: CoercedKeys | None = None
    forged_customs: ForgedCustoms | None = None

    def active(self) -> dict[str, Adversary]:
        out: dict[str, Adversary] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


class Costs(_Model):
    """Cost proxies, in one unit the reader chooses (e.g. thousand US dollars)."""

    inspection: float = Field(default=50.0, ge=0.0, le=1e9)
    landmark_year: float = Field(default=5.0, ge=0.0, le=1e9)
    licence: float = Field(default=0.001, ge=0.0, le=1e9)
    false_alert: float = Field(default=20.0, ge=0.0, le=1e9)


class Scenario(_Model):
    name: str = Field(default="scenario", min_length=1, max_length=100)
    description: str = ""
    days: int = Field(default=90, ge=1, le=3650)
    seeds: list[int] = Field(default_factory=lambda: [1], min_length=1, max_length=1000)
    shard_chips: int = Field(default=250_000, ge=100, le=10_000_000)
    hybrid_per_shard: int = Field(default=2, ge=1, le=100)
    world: World = World()
    regime: Regime = Regime()
    pause: Pause = Pause()
    adversaries: Adversaries = Adversaries()
    costs: Costs = Costs()

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        if self.pause.day >= self.days:
            raise ValueError(f"pause.day = {self.pause.day} must be below days = {self.days}")
        relay = self.adversaries.relay_smuggling
        if relay is not None and relay.relay_km_min > relay.relay_km_max:
            raise ValueError("adversaries.relay_smuggling.relay_km_min is above relay_km_max")
        return self

    def digest(self) -> str:
        """A stable hash of the scenario (run directories are bound to it)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_overrides(self, overrides: dict[str, Any]) -> Scenario:
        """A copy with dotted-path values replaced (``{"regime.max_offline_days": 3}``),
        validated like a file."""
        data = self.model_dump(mode="json")
        for dotted, value in overrides.items():
            node = data
            *parents, leaf = dotted.split(".")
            for part in parents:
                if not isinstance(node.get(part), dict):
                    raise DataError(f"no scenario parameter {dotted!r}", field=dotted)
                node = node[part]
            if leaf not in node:
                raise DataError(f"no scenario parameter {dotted!r}", field=dotted)
            node[leaf] = value
        return parse(data, source="overrides")


def _field_range(model: type[BaseModel], loc: tuple[int | str, ...]) -> str | None:
    """The allowed range of the field at ``loc`` (from its ge/le constraints)."""
    current: Any = model
    info = None
    skip = False
    for part in loc:
        if skip:  # the key of a mapping field: its values are the model
            skip = False
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None
            ann = info.annotation
            args = getattr(ann, "__args__", ())
            skip = getattr(ann, "__origin__", None) is dict
            current = next(
                (a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)),
                None,
            )
        else:
            current = None
    if info is None:
        return None
    low = high = None
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            low = meta.ge
        elif isinstance(meta, annotated_types.Le):
            high = meta.le
    if low is None and high is None:
        return None
    return f"{low if low is not None else '-inf'} to {high if high is not None else 'inf'}"


def parse(data: dict[str, Any], *, source: str = "scenario") -> Scenario:
    """Validate a scenario mapping; the first problem as a DataError naming field and range."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        dotted = ".".join(str(p) for p in loc) or "scenario"
        allowed = _field_range(Scenario, loc)
        if allowed is not None and first["type"] in (
            "greater_than_equal",
            "less_than_equal",
            "greater_than",
            "less_than",
        ):
            message = (
                f"{source}: {dotted} = {first.get('input')!r} is out of range: allowed {allowed}"
            )
        else:
            message = f"{source}: {dotted}: {first['msg']}"
        raise DataError(message, file=source, field=dotted) from None


def load(path: Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(
            f"{path}: cannot read the scenario ({exc.strerror})", file=str(path)
        ) from None
    if len(raw) > MAX_SCENARIO_BYTES:
        raise DataError(f"{path}: a scenario file is at most {MAX_SCENARIO_BYTES} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid TOML ({exc})", file=str(path)) from None
    return parse(data, source=str(path))
