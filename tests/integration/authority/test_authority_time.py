"""GET /v1/time: time tokens signed by the time role, with a sequence that only goes up
(across calls, app restarts on the same database) and 503 without the time key."""

from __future__ import annotations

import base64
import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pausebutton.authority.api import create_app
from pausebutton.authority.client import AuthorityClient
from pausebutton.authority.inprocess import serve_in_process
from pausebutton.errors import SchemaError, ServiceError
from pausebutton.protocol.envelope import Envelope, decode_as
from pausebutton.protocol.messages import TimeToken
from pausebutton.protocol.trustroot import load_pinned_root


def _tokens(world, db_url, n, **kw):
    app = create_app(world.settings(db_url, **kw))
    with serve_in_process(app) as http:
        client = AuthorityClient("http://testserver", http=http)
        return [decode_as(client.time_token(), TimeToken) for _ in range(n)]


def test_time_tokens_verify_and_their_sequence_survives_a_restart(world, db_url):
    _, root = load_pinned_root(world.root_bytes)
    before = int(time.time())
    first = _tokens(world, db_url, 3)
    again = _tokens(world, db_url, 2)  # a new app (a restart) on the same database
    seqs = [tok.sequence for _, tok in first + again]
    assert seqs == sorted(set(seqs)) and seqs[0] >= 1
    for env, tok in first + again:
        assert root.verify_role(env, "time").ok
        assert not root.verify_role(env, "licensing").ok
        assert before <= tok.time <= int(time.time()) + 1
        assert tok.chip_id is None


def test_chip_bound_token_cbor_form_and_bad_chip_id(api):
    chip = "ab" * 32
    out = api.admin.get("/v1/time", chip_id=chip)
    _, tok = decode_as(base64.b64decode(out["envelope"]), TimeToken)
    assert tok.chip_id == bytes.fromhex(chip) and out["chip_id"] == chip
    assert out["sequence"] == tok.sequence and out["time"] == tok.time
    raw = api.http.get("/v1/time", headers={"accept": "application/cbor"})
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/cbor"
    cbor_tok = Envelope.decode(raw.content).open_as(TimeToken)
    assert cbor_tok.sequence > tok.sequence
    with pytest.raises(SchemaError):
        api.admin.get("/v1/time", chip_id="XYZ")


def test_no_time_key_answers_503(world, db_url):
    app = create_app(world.settings(db_url, time_key=None))
    with serve_in_process(app) as http:
        resp = http.get("/v1/time")
        assert resp.status_code == 503
        assert resp.json()["error"] == "service"
        assert "time key" in resp.json()["message"]
        with pytest.raises(ServiceError):
            AuthorityClient("http://testserver", http=http).time_token()


def test_settings_from_dir_load_the_time_key(deployment, db_url):
    from pausebutton.authority.settings import Settings

    settings = Settings.from_dir(deployment.directory, db_url)
    assert settings.time_key is not None
    assert settings.time_key.public.raw == deployment.world.keys.key("time").public.raw
    (deployment.directory / "keys" / "time-0.key").unlink()
    import json

    meta = deployment.directory / "authority.json"
    doc = json.loads(meta.read_text())
    doc["role_counts"]["time"] = 0
    meta.write_text(json.dumps(doc))
    assert Settings.from_dir(deployment.directory, db_url).time_key is None


@pytest.mark.timeout(120)
def test_two_workers_never_hand_out_one_sequence_twice(deployment, db_url, server_factory):
    import httpx

    server = server_factory(deployment.directory, db_url, deployment.admin_pub, workers=2)
    with httpx.Client(timeout=30) as http:
        client = AuthorityClient(server.url, http=http)

        def fetch(_: int) -> TimeToken:
            return decode_as(client.time_token(), TimeToken)[1]

        with ThreadPoolExecutor(8) as pool:
            tokens = list(pool.map(fetch, range(60)))
    seqs = [t.sequence for t in tokens]
    assert len(set(seqs)) == len(seqs) == 60
    # a higher sequence never carries an earlier time (chips would refuse it)
    by_seq = sorted(tokens, key=lambda t: t.sequence)
    assert all(a.time <= b.time for a, b in itertools.pairwise(by_seq))
