"""Every verb reads FLOP counts and scopes with the one grammar, and refuses bad ones before
doing anything: exit 2, one line naming the value, nothing written, nothing sent."""

from __future__ import annotations

from pathlib import Path

import pytest

DEAD_URL = "http://127.0.0.1:9"  # nothing listens: reaching the network would be exit 1


@pytest.mark.parametrize(
    ("scope", "code"),
    [
        ("planet:earth", "usage"),
        ("region:", "usage"),
        ("chips:abcd", "usage"),
        ("region:nl", "schema"),
    ],
)
def test_bad_scopes_exit_2_offline_and_online(cli, tmp_path: Path, scope: str, code: str) -> None:  # type: ignore[no-untyped-def]
    order = tmp_path / "order.cbor"
    r = cli(
        "pause", "propose", "--reason", "test", "--scope", scope, "--sequence", "1", "--out", order
    )
    assert r.returncode == 2 and r.stderr.startswith(f"error: {code}: "), r.stderr
    assert not order.exists()
    r = cli("pause", "submit", "--reason", "test", "--scope", scope, "--url", DEAD_URL)
    assert r.returncode == 2 and r.stderr.startswith(f"error: {code}: "), r.stderr


def test_good_scope_is_written_as_given(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    order = tmp_path / "order.cbor"
    r = cli(
        "pause",
        "propose",
        "--reason",
        "test",
        "--scope",
        "region:NL, DE",
        "--sequence",
        "1",
        "--out",
        order,
    )
    assert r.returncode == 0, r.stderr
    shown = cli("protocol", "inspect", order)
    assert shown.returncode == 0 and '"NL"' in shown.stdout and '"DE"' in shown.stdout


@pytest.mark.parametrize(
    "flop", ["1.5", "-5", "1e-3", "lots", "1e1000", "1e99999", "1e39", str(2**128)]
)
def test_bad_flop_counts_exit_2_with_the_option_named(cli, tmp_path: Path, flop: str) -> None:  # type: ignore[no-untyped-def]
    # the count is read before the chip's state is opened (there is none here)
    r = cli("chip", "run", tmp_path / "no-chip", "--flop", flop)
    assert r.returncode == 2 and r.stderr.startswith("error: usage: --flop: "), r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "no-chip").exists()
