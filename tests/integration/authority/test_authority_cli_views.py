"""People's views and ``--json`` of the verbs that printed only JSON (or only a line):
``registry stats|policy|trust-root|auth-events``, ``pause show``, and ``--json`` on the
registry's writes, against a real ``authority serve`` process."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

RAW = [
    (re.compile(r"\b1[6-9]\d{8}\b"), "Unix seconds"),
    (re.compile(r"\b\d{16,}\b"), "a raw FLOP count"),
    (re.compile(r"\bNone\b"), "None"),
]


def readable(text: str) -> None:
    for pattern, what in RAW:
        assert not pattern.search(text), f"{what} in people's output: {text}"


def test_views_for_people_and_json_for_scripts(
    cli: Any, tmp_path: Path, db_url: str, server_factory: Any
) -> None:
    adir = tmp_path / "auth"
    r = cli("authority", "init", adir, "--members", "3", "--threshold", "2", "--json")
    assert r.returncode == 0, r.stderr
    founded = json.loads(r.stdout)
    assert (founded["members"], founded["threshold"]) == (3, 2)
    assert Path(founded["trust_root"]).is_file()
    admin, op = tmp_path / "admin.key", tmp_path / "op.key"
    assert cli("keys", "generate", "--out", admin).returncode == 0
    assert cli("keys", "generate", "--out", op).returncode == 0
    server = server_factory(adir, db_url, admin)
    url, ak = ("--url", server.url), ("--key", admin)
    try:
        r = cli("registry", "owner-add", "acme", "--name", "Acme", "--country", "US", *url, *ak)
        assert r.returncode == 0, r.stderr
        r = cli("registry", "key-add", op, "--owner", "acme", *url, *ak, "--json")
        key_id = json.loads(r.stdout)["key_id"]
        csv = tmp_path / "f.csv"
        csv.write_text(
            "facility_id,name,country,declared_capacity,owner_id\ndc1,DC,US,150 MW,acme\n"
        )
        r = cli("registry", "import", "facilities", csv, *url, *ak, "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["imported"] == 1, r.stderr
        r = cli("registry", "facility-verify", "dc1", *url, *ak, "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["verified"] is True, r.stderr
        r = cli("registry", "export", "facilities", *url, "--json")
        rows = json.loads(r.stdout)
        assert [row["facility_id"] for row in rows] == ["dc1"]
        r = cli("registry", "seed-epoch", "--limit", "3", *url, *ak, "--json")
        seeded = json.loads(r.stdout)
        assert seeded["imported"] == 3 and "Epoch AI" in seeded["source"]
        assert "\x1b" not in r.stderr  # no progress bar when not a terminal

        # a refused request, for auth-events
        r = cli("registry", "key-revoke", key_id, *url, "--key", op)
        assert r.returncode == 3
        r = cli("registry", "auth-events", *url, *ak)
        assert r.returncode == 0, r.stderr
        assert "at (UTC)" in r.stdout and "403" in r.stdout and "refused requests: " in r.stdout
        readable(r.stdout)
        r = cli("registry", "auth-events", *url, *ak, "--json")
        events = json.loads(r.stdout)
        assert events and events[0]["status"] == 403 and isinstance(events[0]["at"], int)
        r = cli("registry", "key-revoke", key_id, *url, *ak, "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["key_id"] == key_id, r.stderr

        r = cli("registry", "stats", *url)
        assert r.returncode == 0 and "facilities" in r.stdout and "log size" in r.stdout
        assert "{" not in r.stdout
        r = cli("registry", "stats", *url, "--json")
        assert json.loads(r.stdout)["facilities"] == 4

        r = cli("registry", "policy", *url)
        assert r.returncode == 0, r.stderr
        assert "1.0e25 FLOP" in r.stdout and "365d" in r.stdout
        readable(r.stdout)
        r = cli("registry", "policy", *url, "--json")
        assert int(json.loads(r.stdout)["frontier_flop"]) == 10**25  # exact, as a string

        r = cli("registry", "trust-root", *url)
        assert r.returncode == 0, r.stderr
        assert "pause threshold" in r.stdout and "member-1" in r.stdout
        assert "members: 3" in r.stdout and "expires (UTC)" in r.stdout
        readable(re.sub(r"[0-9a-f]{64}", "KEY", r.stdout))
        r = cli("registry", "trust-root", *url, "--json")
        doc = json.loads(r.stdout)
        assert doc["pause_threshold"] == 2 and doc["envelope"]

        m1, m2 = adir / "members" / "member-1.key", adir / "members" / "member-2.key"
        r = cli("pause", "submit", "--reason", "drill", "--scope", "region:US", *url, "--key", m1)
        assert r.returncode == 0, r.stderr
        r = cli("pause", "approve", "1", *url, "--key", m2)
        assert r.returncode == 0 and "assembled" in r.stdout, r.stderr
        r = cli("pause", "show", "1", *url, "--out", tmp_path / "p.cbor")
        assert r.returncode == 0, r.stderr
        assert "region:US" in r.stdout and "drill" in r.stdout and "effective (UTC)" in r.stdout
        assert "envelope saved to" in r.stdout and (tmp_path / "p.cbor").stat().st_size > 100
        readable(r.stdout)
        r = cli("pause", "show", "1", *url, "--json")
        order = json.loads(r.stdout)
        assert order["kind"] == "pause" and order["envelope"]
    finally:
        server.stop()
