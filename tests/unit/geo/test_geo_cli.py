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
    # the fibre model (the default is the statistical one, fitted on real pings)
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
        "--model",
        "fibre",
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
        "--model",
        "calibrated",
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
    doc = json.loads(r.stdout)
    assert doc["policy"]["model"] == "statistical"  # auto: offsets from the calibration
    assert not any("no calibration" in reason for reason in doc["reasons"])
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
        "--model",
        "calibrated",
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


def _verify(cli, lm, ms, *extra):
    return cli(
        "geo",
        "verify",
        "--landmarks",
        lm,
        "--measurements",
        ms,
        "--claim",
        f"{EIN[0]},{EIN[1]}",
        "--json",
        *extra,
    )


def test_statistical_default_suspicious_exit_7_and_inconsistent_exit_5(cli, tmp_path):
    lm = write_landmarks(tmp_path)
    honest = _verify(cli, lm, write_measurements(tmp_path, EIN))
    assert honest.returncode == 0, honest.stdout
    doc = json.loads(honest.stdout)
    assert doc["policy"]["model"] == "statistical" and doc["error_probability"] > 0.05
    # a relay from the far side of the world: ~200 ms slower at every landmark
    ms = write_measurements(tmp_path, EIN, extra=200.0, name="R.csv")
    r = _verify(cli, lm, ms)
    assert r.returncode == 5, r.stdout
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "inconsistent" and doc["error_probability"] <= 0.01
    assert len(doc["deciding_landmarks"]) == 3  # the median of 5 rests on the 3 slowest
    # the same evidence under a stricter reject threshold is only suspicious
    p = doc["error_probability"]
    r = _verify(cli, lm, ms, "--reject-probability", f"{p / 10:g}", "--suspect-probability", "0.05")
    assert r.returncode == 7, r.stdout
    assert json.loads(r.stdout)["verdict"] == "suspicious"
    r = _verify(cli, lm, ms, "--reject-probability", "0.2", "--suspect-probability", "0.1")
    assert r.returncode == 2 and "policy" in r.stderr
    # the k-th p-value instead of the common excess: the 2 slowest decide
    r = _verify(cli, lm, ms, "--combination", "kth_p_value", "--robust-k", "2")
    doc = json.loads(r.stdout)
    assert doc["policy"]["combination"] == "kth_p_value" and doc["policy"]["robust_k"] == 2
    assert len(doc["deciding_landmarks"]) == 2 and r.returncode in (5, 7)
    r = _verify(cli, lm, ms, "--combination", "mean")
    assert r.returncode == 2 and "--combination must be" in r.stderr


def test_statistical_calibration_faster_than_light_leaves_the_landmark_out(cli, tmp_path):
    lm, ms = write_landmarks(tmp_path), write_measurements(tmp_path, EIN)
    rows = ["source,destination,rtt_ms"]
    names = list(SITES)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            rtt = fibre_rtt_ms(distance_km(*SITES[a], *SITES[b])) * 1.5 + 0.4
            if "par" in (a, b) and "ams" in (a, b):
                rtt = 0.5  # Paris-Amsterdam (430 km) in 0.5 ms: faster than light
            if "par" in (a, b) and "fra" in (a, b):
                rtt = 0.6
            rows.append(f"{a},{b},{rtt:.4f}")
    cal = tmp_path / "C.csv"
    cal.write_text("\n".join(rows) + "\n")
    r = _verify(cli, lm, ms, "--calibration", cal)
    assert r.returncode == 0, r.stdout
    doc = json.loads(r.stdout)
    assert "par" not in {e["landmark_id"] for e in doc["landmarks"]}
    assert any("left out landmark(s) par" in reason for reason in doc["reasons"])
    # too few landmarks left: insufficient evidence, exit 6
    r = _verify(cli, lm, ms, "--calibration", cal, "--min-landmarks", "5")
    assert r.returncode == 6 and json.loads(r.stdout)["verdict"] == "insufficient_evidence"


def test_contradicting_landmarks_exit_6_not_a_verdict(cli, tmp_path):
    lm = write_landmarks(tmp_path)
    ms = tmp_path / "X.csv"
    # Paris and Amsterdam are 430 km apart: 0.5 ms to each is impossible
    ms.write_text("landmark_id,rtt_ms\npar,0.5\nams,0.5\nbru,3\n")
    for model in ("statistical", "fibre"):
        r = _verify(cli, lm, ms, "--model", model)
        assert r.returncode == 6, r.stdout
        doc = json.loads(r.stdout)
        assert doc["verdict"] == "insufficient_evidence"
        assert "landmark position is wrong" in doc["reasons"][0]


def test_verify_names_the_estimate_the_feasible_regions_centre(cli, tmp_path):
    lm, ms = write_landmarks(tmp_path), write_measurements(tmp_path, EIN)
    args = ("geo", "verify", "--landmarks", lm, "--measurements", ms)
    doc = json.loads(cli(*args, "--claim", f"{EIN[0]},{EIN[1]},2", "--json").stdout)
    est = doc["estimate"]
    r = cli(*args, "--claim", f"{EIN[0]},{EIN[1]},2")
    line = next(x for x in r.stdout.splitlines() if x.startswith("estimate: "))
    # the region's centre (as --json has it), said to be that and not an accusation
    lat, lon = (float(v) for v in line.split("region, ")[1].split(",")[:2])
    assert abs(lat - est["lat"]) < 1e-3 and abs(lon - est["lon"]) < 1e-3
    assert "centre of the feasible region" in line and "not an accusation" in line
    away = distance_km(*EIN, est["lat"], est["lon"])
    assert "the claim is " in line and " km from this centre" in line
    assert away <= est["radius_km"]


def test_wonderproxy_defaults_to_the_statistical_model(cli):
    """As geo verify: the model fitted on the pings of the servers not held out; honest
    held-out servers are not rejected (the calibrated model rejected most of them)."""
    r = cli("geo", "wonderproxy", "--holdout", "10", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["model"] == "statistical" and doc["judged"] == 10
    assert doc["false_rejects"] == 0


def test_wonderproxy_defaults_to_the_shipped_copy_and_says_where_to_get_it(cli, tmp_path):
    r = cli("geo", "wonderproxy", "--holdout", "2", "--model", "hard", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["servers"] == 123 and "shipped with pausebutton" in doc["data"]
    assert "WonderNetwork" in doc["data"]
    r = cli("geo", "wonderproxy", "--servers", tmp_path / "servers.csv")
    assert r.returncode == 2 and "--pings" in r.stderr and "wonderproxy.com" in r.stderr
    r = cli("geo", "wonderproxy", "--servers", tmp_path / "s.csv", "--pings", tmp_path / "p.csv")
    assert r.returncode == 2 and "wonderproxy.com" in r.stderr and "Traceback" not in r.stderr
