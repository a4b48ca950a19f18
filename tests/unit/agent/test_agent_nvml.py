"""The NVML layer: the fake backend is deterministic; the real one fails loudly, never silently."""

from __future__ import annotations

import pytest

from pausebutton.agent.nvml import FakeBackend, GpuBackend, NvmlBackend, open_backend
from pausebutton.errors import HardwareError, UsageError


def test_fake_backend_is_deterministic_and_driven():
    a, b = FakeBackend(2), FakeBackend(2)
    assert a.gpus() == b.gpus()
    assert isinstance(a, GpuBackend)
    g0, g1 = (g.uuid for g in a.gpus())
    assert g0 != g1 and g0.startswith("GPU-")
    assert len({g.serial for g in a.gpus()}) == 2
    a.set_power(g0, 350_000)
    a.advance(2.0, g0)
    assert a.energy_mj(g0) == 700_000
    assert a.energy_mj(g1) == 0
    a.attach(g1, 4242)
    assert a.processes(g1) == [4242]


def test_fake_power_limit_range_and_fault():
    fake = FakeBackend(1)
    uuid = fake.gpus()[0].uuid
    limits = fake.power_limits(uuid)
    fake.set_power_limit(uuid, limits.min_mw)
    assert fake.power_limits(uuid).current_mw == limits.min_mw
    with pytest.raises(HardwareError):
        fake.set_power_limit(uuid, limits.min_mw - 1)
    fake.break_gpu(uuid)
    with pytest.raises(HardwareError):
        fake.energy_mj(uuid)
    with pytest.raises(HardwareError):
        fake.power_mw("GPU-nonexistent")


def test_zero_fake_gpus_is_a_usage_error():
    with pytest.raises(UsageError):
        open_backend(0)


def _has_nvidia_gpu() -> bool:
    try:
        NvmlBackend().close()
    except HardwareError:
        return False
    return True


def test_missing_nvml_is_a_hardware_error_not_a_fake():
    if _has_nvidia_gpu():
        backend = open_backend(None)
        assert backend.kind == "nvml"
        assert backend.gpus()
        backend.close()
    else:
        with pytest.raises(HardwareError):
            open_backend(None)
    assert open_backend(3).kind == "fake"
