"""``pausebutton geo`` CLI: the verify/locate contract, exit codes, named CSV errors,
and the WonderProxy loader."""

from __future__ import annotations

import json

import pytest

from pausebutton.geo.physics import destination, distance_km, fibre_rtt_ms

SITES = {
    "ams": (52.3676, 4.9041),
    "bru": (50.8503, 4.3517),
    "dus": (51.2277, 6.7735),
    "par": (48.8566, 2.3522),
    "fra": (50.1109, 8.6821),
}
EIN = (51.4416, 5.4697)


def write_landmarks(tmp_path):
    p = tmp_path / "L.csv"
    p.write_text("id,lat,lon\n" + "".join(f"{k},{a},{b}\n" for k, (a, b) in SITES.items()))
    return p


def write_measurements(tmp_path, site, extra=0.0, only=None, name="M.csv"):
    rows = ["landmark_id,rtt_ms"]
    for k, (a, b) in SITES.items():
        if only and k not in only:
            continue
        rtt = fibre_rtt_ms(distance_km(a, b, *site)) * 1.4 + 0.3 + extra
        rows.append(f"{k},{rtt + 5:.4f}")  # a slower repeat: the minimum counts
        rows.append(f"{k},{rtt:.4f}")
    p = tmp_path / name
    p.write_text("\n".join(rows) + "\n")
    return p


def test_verify_consistent_json(cli, tmp_path):
    lm, ms = write_landmarks(tmp_path), write_measurements(tmp_path, EIN)
    r = cli(
        "geo",
        "verify",
        "--landmarks",
        lm,
        "--measurements",
        ms,
        "--claim",
        f"{EIN[0]},{EIN[1]},2",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "consistent"
    assert set(doc["max_distance_km"]) == set(SITES)
    assert all(v > 0 for v in doc["max_distance_km"].values())
    assert set(doc["estimate"]) >= {"lat", "lon", "radius_km"}
    assert (
        distance_km(*EIN, doc["estimate"]["lat"], doc["estimate"]["lon"])
        <= doc["estimate"]["radius_km"]
    )
    assert doc["reasons"]
    assert all(e["samples"] == 2 for e in doc["landmarks"])


def test_verify_relay_inconsistent_exit_5(cli, tmp_path):
    far = destination(*EIN, 45.0, 500.0)
    extra = fibre_rtt_ms(distance_km(*EIN, *far)) * 1.3
    lm, ms = write_landmarks(tmp_path), write_measurements(tmp_path, EIN, extra=extra)
    r = cli(
        "geo",
        "verify",
        "--landmarks",
        lm,
        "--measurements",
        ms,
        "--claim",
        f"{EIN[0]},{EIN[1]}",
        "--json",
    )
    assert r.returncode == 5, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "inconsistent"
    assert any(e["status"] == "too_slow" and e["too_slow_ms"] > 0 for e in doc["landmarks"])
    assert doc["least_distance_km"] > 0
    # The same data under the hard model is consistent (relays are not physics).
    r = cli(
        "geo",
        "verify",
        "--landmarks",
        lm,
        "--measurements",
        ms,
        "--claim",
        f"{EIN[0]},{EIN[1]}",
        "--model",
        "hard",
    )
    assert r.returncode == 0, r.stdout


def test_verify_insufficient_exit_6(cli, tmp_path):
    lm = write_landmarks(tmp_path)
    ms = write_measurements(tmp_path, EIN, only={"ams", "bru"})
    r = cli(
        "geo",
        "verify",
        "--landmarks",
        lm,
        "--measurements",
        ms,
        "--claim",
        f"{EIN[0]},{EIN[1]}",
        "--json",
    )
    assert r.returncode == 6
    assert json.loads(r.stdout)["verdict"] == "insufficient_evidence"


def test_locate(cli, tmp_path):
    lm, ms = write_landmarks(tmp_path), write_measurements(tmp_path, EIN)
    r = cli("geo", "locate", "--landmarks", lm, "--measurements", ms, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert (
        distance_km(*EIN, doc["estimate"]["lat"], doc["estimate"]["lon"])
        <= doc["estimate"]["radius_km"]
    )


@pytest.mark.parametrize(
    ("landmarks", "measurements", "needle"),
    [
        (
            "id,lat,lon\nams,52.3,4.9\nbru,95,4.3\n",
            "landmark_id,rtt_ms\nams,1\n",
            "L.csv, row 3, field lat",
        ),
        ("id,lat,lon\nams,52.3,abc\n", "landmark_id,rtt_ms\nams,1\n", "L.csv, row 2, field lon"),
        (
            "id,lat,lon\nams,52.3,4.9\nams,52.3,4.9\n",
            "landmark_id,rtt_ms\nams,1\n",
            "L.csv, row 3, field id",
        ),
        (
            "id,lat,lon\nams,52.3,4.9\n",
            "landmark_id,rtt_ms\nams,1\nxxx,2\n",
            "M.csv, row 3, field landmark_id",
        ),
        (
            "id,lat,lon\nams,52.3,4.9\n",
            "landmark_id,rtt_ms\nams,-4\n",
            "M.csv, row 2, field rtt_ms",
        ),
        (
            "id,lat,lon\nams,52.3,4.9\n",
            "landmark_id,rtt_ms\nams,99999999\n",
            "M.csv, row 2, field rtt_ms",
        ),
        ("id,lat,lon\nams,52.3,4.9\n", "landmark_id,rtt_ms\nams,1,7\n", "M.csv, row 2"),
        ("id,lat\nams,52.3\n", "landmark_id,rtt_ms\nams,1\n", "missing column"),
    ],
)
def test_bad_rows_are_named(cli, tmp_path, landmarks, measurements, needle):
    (tmp_path / "L.csv").write_text(landmarks)
    (tmp_path / "M.csv").write_text(measurements)
    r = cli(
        "geo",
        "verify",
        "--landmarks",
        tmp_path / "L.csv",
        "--measurements",
        tmp_path / "M.csv",
        "--claim",
        "52,5",
        "--json",
    )
    assert r.returncode == 2
    assert needle in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("claim", ["52", "a,b", "95,5", "52,5,-3", "1,2,3,4"])
def test_bad_claim(cli, tmp_path, claim):
    lm, ms = write_landmarks(tmp_path), write_measurements(tmp_path, EIN)
    r = cli("geo", "verify", "--landmarks", lm, "--measurements", ms, "--claim", claim)
    assert r.returncode == 2
    assert "claim" in r.stderr


def test_wonderproxy_loader(cli, tmp_path):
    # A small file in the published format: servers + hourly ping summaries.
    names = [*SITES, "ein"]
    coords = {**SITES, "ein": EIN}
    servers = [
        '"id","name","title","location","state","country","state_abbv","continent",'
        '"latitude","longitude"'
    ]
    for i, n in enumerate(names):
        servers.append(
            f'"{i}","{n}","{n.title()}","{n}","","NL","","3","{coords[n][0]}","{coords[n][1]}"'
        )
    pings = ['"source","destination","timestamp","min","avg","max","mdev"']
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i != j:
                rtt = fibre_rtt_ms(distance_km(*coords[a], *coords[b])) * 1.5 + 0.4
                pings.append(
                    f'"{i}","{j}","2020-07-20 00:00:17.000","{rtt:.3f}",'
                    f'"{rtt + 1:.3f}","{rtt + 3:.3f}","0.5"'
                )
    pings.append('"0","1","2020-07-20 01:00:17.000","","","",""')
    (tmp_path / "servers.csv").write_text("\n".join(servers) + "\n")
    (tmp_path / "pings.csv").write_text("\n".join(pings) + "\n")
    r = cli(
        "geo",
        "wonderproxy",
        "--servers",
        tmp_path / "servers.csv",
        "--pings",
        tmp_path / "pings.csv",
        "--holdout",
        "2",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["targets"] == 2 and doc["servers"] == 6 and doc["skipped_rows"] == 1
    assert doc["false_rejects"] == 0
    assert doc["calibrated_landmarks"] == 4
    (tmp_path / "pings.csv").write_text(pings[0] + '\n"0","77","t","1.0","1","1","0"\n')
    r = cli(
        "geo",
        "wonderproxy",
        "--servers",
        tmp_path / "servers.csv",
        "--pings",
        tmp_path / "pings.csv",
        "--holdout",
        "2",
    )
    assert r.returncode == 2
    assert "pings.csv, row 2, field destination" in r.stderr


def test_verify_with_calibration_csv(cli, tmp_path):
    lm, ms = write_landmarks(tmp_path), write_measurements(tmp_path, EIN)
    rows = ["source,destination,rtt_ms"]
    names = list(SITES)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            rtt = fibre_rtt_ms(distance_km(*SITES[a], *SITES[b])) * 1.5 + 0.4
            rows.append(f"{a},{b},{rtt:.4f}")
    cal = tmp_path / "C.csv"
    cal.write_text("\n".join(rows) + "\n")
    claim = f"{EIN[0]},{EIN[1]}"
    r = cli(
        "geo",
        "verify",
        "--landmarks",
        lm,
        "--measurements",
        ms,
        "--claim",
        claim,
        "--calibration",
        cal,
        "--json",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["policy"]["model"] == "calibrated"
    r = cli(
        "geo",
        "verify",
        "--landmarks",
        lm,
        "--measurements",
        ms,
        "--claim",
        claim,
        "--model",
        "calibrated",
    )
    assert r.returncode == 2 and "--calibration" in r.stderr
    cal.write_text("source,destination,rtt_ms\nams,zzz,3\n")
    r = cli(
        "geo",
        "verify",
        "--landmarks",
        lm,
        "--measurements",
        ms,
        "--claim",
        claim,
        "--calibration",
        cal,
    )
    assert r.returncode == 2 and "C.csv, row 2, field destination" in r.stderr


def test_landmark_serve_rejects_bad_input(cli, tmp_path):
    from pausebutton import keystore
    from pausebutton.protocol.keys import PrivateKey

    keystore.write_private_key(tmp_path / "lm.key", PrivateKey.generate())
    r = cli(
        "landmark",
        "serve",
        "--key",
        tmp_path / "lm.key",
        "--lat",
        "95",
        "--lon",
        "0",
        "--port",
        "0",
    )
    assert r.returncode == 2 and "latitude" in r.stderr and "Traceback" not in r.stderr
    r = cli(
        "landmark",
        "serve",
        "--key",
        tmp_path / "missing.key",
        "--lat",
        "5",
        "--lon",
        "0",
        "--port",
        "0",
    )
    assert r.returncode == 2 and "no such file" in r.stderr
    r = cli("landmark", "probe", "nohostport", "--chip-key", tmp_path / "lm.key")
    assert r.returncode == 2 and "HOST:PORT" in r.stderr
