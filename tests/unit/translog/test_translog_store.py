"""The durable log store and service, on SQLite (and PostgreSQL with PB_TEST_POSTGRES_URL)."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from pausebutton.errors import (
    BadSignatureError,
    ConflictError,
    ForbiddenError,
    MalformedError,
    NotFoundError,
    OversizedError,
    UsageError,
)
from pausebutton.protocol.genesis import AuthorityKeys, found_authority
from pausebutton.protocol.keys import PrivateKey
from pausebutton.translog import merkle
from pausebutton.translog.note import NoteSignature, SignedCheckpoint
from pausebutton.translog.policy import LogPolicy
from pausebutton.translog.store import (
    MAX_ENTRY_SIZE,
    LogService,
    LogStore,
    create_log_engine,
    metadata,
)

NOW = 1_800_000_000
PG_URL = os.environ.get("PB_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + ([pytest.param("postgres", marks=pytest.mark.postgres)] if PG_URL else [])


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        eng = create_log_engine(f"sqlite:///{tmp_path / 'log.db'}")
    else:
        assert PG_URL is not None
        eng = create_log_engine(PG_URL)
        metadata.drop_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def auth() -> AuthorityKeys:
    return found_authority(seed=b"store-test", witnesses=3, witness_threshold=2)


@pytest.fixture
def service(engine: sa.Engine, auth: AuthorityKeys) -> LogService:
    policy = LogPolicy.from_trust_root(auth.trust_root(version=1, expires=NOW + 1000))
    return LogService(LogStore(engine), auth.key("log"), policy)


def _entries(start: int, n: int) -> list[bytes]:
    return [f"e{i}".encode() for i in range(start, start + n)]


def test_store_matches_the_reference_tree(engine: sa.Engine) -> None:
    store = LogStore(engine)
    rng = random.Random(7)
    leaves: list[bytes] = []
    assert store.root() == (0, merkle.EMPTY_ROOT)
    for batch in (1, 1, 2, 5, 8, 17, 64, 3, 150):
        entries = _entries(len(leaves), batch)
        assert store.append(entries) == list(range(len(leaves), len(leaves) + batch))
        leaves += [merkle.leaf_hash(e) for e in entries]
        size = len(leaves)
        assert store.size() == size
        assert store.root() == (size, merkle.tree_root(leaves))
        for _ in range(6):
            m = rng.randint(1, size)
            i = rng.randrange(m)
            assert store.inclusion_proof(i, m) == (m, merkle.inclusion_proof(leaves[:m], i))
            old = rng.randint(0, m)
            assert store.consistency_proof(old, m) == merkle.consistency_proof(leaves[:m], old)
            assert store.root(m) == (m, merkle.tree_root(leaves[:m]))
    assert store.entries(5, 9) == _entries(5, 4)
    assert store.index_of(leaves[40]) == 40
    assert store.append([]) == []


def test_store_rejects_bad_requests_and_changes_nothing(engine: sa.Engine) -> None:
    store = LogStore(engine)
    store.append(_entries(0, 10))
    root = store.root()
    with pytest.raises(OversizedError):
        store.append([b"ok", b"x" * (MAX_ENTRY_SIZE + 1)])
    with pytest.raises(MalformedError):
        store.append([b"ok", "text"])  # type: ignore[list-item]
    assert store.root() == root
    for call, exc in [
        (lambda: store.entries(5, 11), NotFoundError),
        (lambda: store.entries(5, 5), UsageError),
        (lambda: store.entries(-1, 5), UsageError),
        (lambda: store.entries(0, 2000), UsageError),
        (lambda: store.inclusion_proof(10), NotFoundError),
        (lambda: store.inclusion_proof(3, 11), NotFoundError),
        (lambda: store.inclusion_proof(3, 3), NotFoundError),
        (lambda: store.consistency_proof(11), NotFoundError),
        (lambda: store.consistency_proof(5, 4), NotFoundError),
        (lambda: store.index_of(b"\x00" * 32), NotFoundError),
        (lambda: store.index_of(b"short"), MalformedError),
        (lambda: store.root(11), NotFoundError),
    ]:
        with pytest.raises(exc):
            call()


def test_store_survives_reopening(engine: sa.Engine) -> None:
    store = LogStore(engine)
    store.append(_entries(0, 33))
    root = store.root()
    again = LogStore(engine)
    assert again.root() == root
    again.append(_entries(33, 5))
    leaves = [merkle.leaf_hash(e) for e in _entries(0, 38)]
    assert again.root() == (38, merkle.tree_root(leaves))


def test_service_checkpoints_cosignatures_and_bundles(
    service: LogService, auth: AuthorityKeys
) -> None:
    service.append(_entries(0, 6))
    cp = service.checkpoint()
    assert cp.size == 6 and len(cp.note.signatures) == 1
    assert service.checkpoint().encode() == cp.encode()  # no new signature if unchanged
    policy = service.policy
    policy.parse_log_signed(cp.encode())
    bundle = service.inclusion_bundle(2)
    assert bundle.tree_size == 6
    with pytest.raises(Exception, match="witness"):
        policy.verify_entry(_entries(2, 1)[0], bundle)
    w0, w1, w2 = (auth.key("witness", i) for i in range(3))
    result = service.add_cosignature(cp.with_signatures([cp.cosign(w0, NOW)]).encode())
    assert result.accepted == (f"witness-{w0.public.key_id.hex()[:16]}",)
    service.add_cosignature(cp.with_signatures([cp.cosign(w1, NOW), cp.cosign(w0, NOW)]).encode())
    full = service.checkpoint()
    assert len(full.note.signatures) == 3
    assert policy.verify_checkpoint(full.encode()).size == 6
    bundle = service.bundle_for_entry(_entries(2, 1)[0])
    assert policy.verify_entry(_entries(2, 1)[0], bundle).size == 6
    # a newer checkpoint without cosignatures does not displace the cosigned one in bundles
    service.append(_entries(6, 3))
    assert service.checkpoint().size == 9
    assert service.inclusion_bundle(2).tree_size == 6
    assert service.inclusion_bundle(7).tree_size == 9  # the only checkpoint covering it
    with pytest.raises(NotFoundError):
        service.inclusion_bundle(9)
    # consistency between the two checkpoints
    proof = service.consistency_proof(6, 9)
    merkle.verify_consistency(6, 9, cp.root_hash, service.checkpoint().root_hash, proof)

    # bad cosignatures
    outsider = PrivateKey.from_seed_material(b"outsider")
    with pytest.raises(ForbiddenError):
        service.add_cosignature(cp.with_signatures([cp.cosign(outsider, NOW)]).encode())
    good = cp.cosign(w2, NOW)
    forged = NoteSignature(good.name, good.key_hash, good.signature[:-1] + b"\x00")
    with pytest.raises(BadSignatureError):
        service.add_cosignature(cp.with_signatures([forged]).encode())
    other = SignedCheckpoint.sign(cp.body.__class__(cp.origin, 6, b"\x01" * 32), auth.key("log"))
    with pytest.raises(ConflictError):
        service.add_cosignature(other.with_signatures([other.cosign(w2, NOW)]).encode())
    with pytest.raises(NotFoundError):
        lone = SignedCheckpoint.sign(cp.body.__class__(cp.origin, 7, b"\x01" * 32), auth.key("log"))
        service.add_cosignature(lone.with_signatures([lone.cosign(w2, NOW)]).encode())
    assert len(service.checkpoint_at(6).note.signatures) == 3


def test_service_needs_the_log_key(engine: sa.Engine, auth: AuthorityKeys) -> None:
    policy = LogPolicy.from_trust_root(auth.trust_root(version=1, expires=NOW + 1000))
    with pytest.raises(UsageError):
        LogService(LogStore(engine), auth.key("licensing"), policy)


def test_concurrent_writers_build_one_consistent_tree(engine: sa.Engine) -> None:
    import threading

    LogStore(engine)
    results: list[list[int]] = []
    failures: list[BaseException] = []

    def writer(tag: int) -> None:
        store = LogStore(engine, create=False)
        try:
            for b in range(5):
                results.append(store.append([f"w{tag}-{b}-{i}".encode() for i in range(37)]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures
    store = LogStore(engine)
    indices = sorted(i for batch in results for i in batch)
    assert indices == list(range(3 * 5 * 37))
    for batch in results:  # each batch is contiguous
        assert batch == list(range(batch[0], batch[0] + 37))
    leaves = [merkle.leaf_hash(e) for s in range(0, len(indices), 500)
              for e in store.entries(s, min(len(indices), s + 500))]  # fmt: skip
    assert store.root() == (len(indices), merkle.tree_root(leaves))


def test_checkpoint_and_cosignature_races_are_harmless(
    service: LogService, auth: AuthorityKeys
) -> None:
    service.append(_entries(0, 3))
    cp = service.checkpoint()
    service.store.save_checkpoint(cp)  # again: no error, no duplicate
    w0 = auth.key("witness", 0)
    sig = cp.cosign(w0, NOW)
    service.store.add_cosignatures(3, [sig])
    service.store.add_cosignatures(3, [sig])
    assert len(service.checkpoint_at(3).note.signatures) == 2
    sig1 = cp.cosign(auth.key("witness", 1), NOW)
    service.store.add_cosignatures(3, [sig1, sig1])  # the second insert hits the unique key
    assert len(service.checkpoint_at(3).note.signatures) == 3
    other = SignedCheckpoint.sign(cp.body.__class__(cp.origin, 3, b"\x02" * 32), auth.key("log"))
    with pytest.raises(ConflictError):
        service.store.save_checkpoint(other)
