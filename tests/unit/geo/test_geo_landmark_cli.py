"""``pausebutton landmark serve`` and ``probe`` as real processes on 127.0.0.1, with the
signed measurements POSTed to a stand-in authority endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

from clienv import cli_env
from pausebutton import keystore
from pausebutton.geo.landmark import verify_measurement
from pausebutton.protocol.keys import PrivateKey


class _Sink(BaseHTTPRequestHandler):
    bodies: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        _Sink.bodies.append((self.headers["content-type"], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_serve_probe_and_post(cli, tmp_path):
    lm_key = PrivateKey.generate()
    chip_key = PrivateKey.generate()
    keystore.write_private_key(tmp_path / "lm.key", lm_key)
    keystore.write_private_key(tmp_path / "chip.key", chip_key)
    httpd = HTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    ready = tmp_path / "port"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pausebutton",
            "landmark",
            "serve",
            "--key",
            str(tmp_path / "lm.key"),
            "--lat",
            "52.37",
            "--lon",
            "4.90",
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--authority-url",
            f"http://127.0.0.1:{httpd.server_port}/v1/location/measurements",
            "--count",
            "4",
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        port = int(ready.read_text())
        r = cli(
            "landmark",
            "probe",
            f"127.0.0.1:{port}",
            "--chip-key",
            tmp_path / "chip.key",
            "--rounds",
            "2",
            "--out-csv",
            tmp_path / "M.csv",
            "--json",
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        r2 = cli(
            "landmark",
            "probe",
            f"127.0.0.1:{port}",
            "--chip-key",
            tmp_path / "chip.key",
            "--rounds",
            "2",
            "--udp",
            timeout=60,
        )
        assert r2.returncode == 0, r2.stderr
        out, errs = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        httpd.shutdown()
        httpd.server_close()
    assert proc.returncode == 0, errs
    lines = [json.loads(x) for x in out.splitlines()]
    assert len(lines) == 4
    assert {x["chip_id"] for x in lines} == {chip_key.key_id.hex()}
    counters = [x["counter"] for x in lines]
    assert counters == sorted(counters) and len(set(counters)) == 4
    docs = json.loads(r.stdout)["measurements"]
    assert len(docs) == 2 and all(d["rtt_ms"] > 0 for d in docs)
    rows = (tmp_path / "M.csv").read_text().splitlines()
    assert rows[0] == "landmark_id,rtt_ms" and rows[1].startswith(lm_key.key_id.hex())
    assert len(_Sink.bodies) == 4
    for ctype, body in _Sink.bodies:
        assert ctype == "application/cbor"
        verify_measurement(body, {lm_key.key_id: lm_key.public}, chip_key.public)
