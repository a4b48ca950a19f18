"""Single-machine use: the guard draws from a simulated chip made and driven by the chip
CLI (``pausebutton chip new / install``, offline ``license issue`` and ``pause``)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from pausebutton.agent.ledger import ChipBudget  # noqa: E402
from pausebutton.guard.examples import make_batch, tiny_gpt, train_step  # noqa: E402
from pausebutton.guard.torch import Guard, LicenseExhausted, Paused, count_flops  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.timeout(240)]


def _ok(res):
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_guard_on_a_cli_made_chip(cli, tmp_path):
    torch.set_num_threads(1)
    auth, vend, chip = tmp_path / "auth", tmp_path / "vend", tmp_path / "chip"
    _ok(cli("vendor", "init", vend))
    _ok(cli("authority", "init", auth, "--members", "3", "--threshold", "2"))
    chip_id = _ok(
        cli("chip", "new", chip, "--trust", auth / "trust-root.cbor", "--vendor", vend)
    ).strip()
    torch.manual_seed(0)
    model = tiny_gpt(d_model=64, ctx=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = make_batch(model, 4)
    per_step = count_flops(lambda: train_step(model, opt, x, y))
    lic = tmp_path / "license.cbor"
    _ok(
        cli(
            "license",
            "issue",
            "--authority",
            auth,
            "--chip",
            chip_id,
            "--flop",
            per_step * 4 + 1,
            "--valid-for",
            "1d",
            "--out",
            lic,
        )
    )
    _ok(cli("chip", "install", chip, lic))

    ran = 0
    saved = []
    guard = Guard(ChipBudget(chip), checkpoint=saved.append)
    with pytest.raises(LicenseExhausted):
        for _ in range(50):
            with guard.step(x, y):
                train_step(model, opt, x, y)
                ran += 1
    assert ran == 4 and len(saved) == 1
    status = json.loads(_ok(cli("chip", "status", chip, "--json")))
    assert status["license"]["flop_used"] <= per_step * 4 + 1
    assert status["flop_throttled"] == 0

    # a second license, then a K-of-N pause installed by another process
    _ok(
        cli(
            "license",
            "issue",
            "--authority",
            auth,
            "--chip",
            chip_id,
            "--flop",
            per_step * 100,
            "--valid-for",
            "1d",
            "--out",
            lic,
        )
    )
    _ok(cli("chip", "install", chip, lic))
    guard.wait(timeout=5, poll=0.05)
    with guard.step(x, y):
        train_step(model, opt, x, y)
    order = tmp_path / "pause.cbor"
    _ok(
        cli(
            "pause",
            "propose",
            "--reason",
            "test",
            "--out",
            order,
            "--authority",
            auth,
            "--effective-at",
            0,
        )
    )
    for i in (1, 2):
        _ok(cli("pause", "sign", order, "--key", auth / "members" / f"member-{i}.key"))
    signed = tmp_path / "pause-signed.cbor"
    _ok(cli("pause", "assemble", order, "--out", signed, "--authority", auth))
    _ok(cli("chip", "install", chip, signed))
    with pytest.raises(Paused), guard.step(x, y):
        pytest.fail("no step may run once the pause is installed")
    guard.close()
