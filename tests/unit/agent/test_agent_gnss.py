"""The agent reads its GNSS receiver's NMEA: fixes with their accuracy, bad input named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pausebutton.agent.gnss import parse_nmea
from pausebutton.errors import DataError

GGA = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"
RMC = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A"


def test_gga_sentences_become_fixes_with_their_accuracy() -> None:
    (fix,) = parse_nmea(f"{RMC}\n{GGA}\n")
    assert fix.lat == pytest.approx(48.1173) and fix.lon == pytest.approx(11.516667)
    assert fix.accuracy_m == pytest.approx(0.9 * 5.0)


@pytest.mark.parametrize(
    "text",
    [
        GGA[:-2] + "00",  # a bad checksum
        "$GPGGA,123519,,,,,0,00,,,M,,M,,*66",  # no fix
        RMC,  # no position fix sentence at all
        "not nmea",
        "",
    ],
)
def test_bad_nmea_is_a_named_error(text: str) -> None:
    with pytest.raises(DataError):
        parse_nmea(text)


def test_the_cli_refuses_before_sending(cli: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.nmea"
    bad.write_text("$GPGGA,garbage*00\n")
    key = tmp_path / "op.key"
    assert cli("keys", "generate", "--out", key).returncode == 0
    chip = "ab" * 32
    r = cli("agent", "gnss-fix", chip, "--lat", "1", "--lon", "2")
    assert r.returncode == 2 and "--key" in r.stderr
    r = cli("agent", "gnss-fix", chip, "--nmea", bad, "--lat", "1", "--lon", "2", "--key", key)
    assert r.returncode == 2 and "either --nmea" in r.stderr
    r = cli("agent", "gnss-fix", chip, "--nmea", bad, "--key", key, "--url", "http://127.0.0.1:9")
    assert r.returncode == 2 and "NMEA line 1" in r.stderr and "Traceback" not in r.stderr
