"""RFC 9162 Merkle maths: the published vectors, corruption probes and a property test."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausebutton.errors import ProofError, VerificationError
from pausebutton.translog import merkle
from pausebutton.translog.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    tree_root,
    verify_consistency,
    verify_inclusion,
)


@pytest.fixture(scope="module")
def vectors(test_data: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((test_data / "rfc6962.json").read_text())
    return data


def _leaves(vectors: dict[str, object]) -> list[bytes]:
    raw = vectors["leaves_hex"]
    assert isinstance(raw, list)
    return [leaf_hash(bytes.fromhex(x)) for x in raw]


def test_proof_error_is_a_verification_error() -> None:
    assert issubclass(ProofError, VerificationError)


def test_empty_tree_root() -> None:
    assert tree_root([]) == EMPTY_ROOT
    assert EMPTY_ROOT.hex().startswith("e3b0c442")


def test_node_hash_prefixes() -> None:
    import hashlib

    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )


def test_vector_roots(vectors: dict[str, object]) -> None:
    leaves = _leaves(vectors)
    roots = vectors["roots_by_size_hex"]
    assert isinstance(roots, list)
    assert len(roots) == len(leaves) + 1
    for size, root in enumerate(roots):
        assert tree_root(leaves[:size]).hex() == root


def test_vector_inclusion(vectors: dict[str, object]) -> None:
    leaves = _leaves(vectors)
    cases = vectors["inclusion"]
    assert isinstance(cases, list) and cases
    for case in cases:
        size, index = case["tree_size"], case["leaf_index"]
        proof = inclusion_proof(leaves[:size], index)
        assert [p.hex() for p in proof] == case["proof_hex"]
        verify_inclusion(leaves[index], index, size, proof, tree_root(leaves[:size]))


def test_vector_consistency(vectors: dict[str, object]) -> None:
    leaves = _leaves(vectors)
    cases = vectors["consistency"]
    assert isinstance(cases, list) and cases
    for case in cases:
        old, new = case["size1"], case["size2"]
        proof = consistency_proof(leaves[:new], old)
        assert [p.hex() for p in proof] == case["proof_hex"]
        verify_consistency(old, new, tree_root(leaves[:old]), tree_root(leaves[:new]), proof)


# -- corruption probes -------------------------------------------------------------------


def _flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


def _shape(index: int, size: int) -> list[bool]:
    """Which side each sibling is on: two (index, size) pairs with the same shape take the
    same hashing path, so RFC 9162 verification cannot tell them apart (the signed
    checkpoint binds size to root instead; see test_translog_policy)."""
    return [lo > index for lo, _ in merkle.inclusion_ranges(index, size)]


def _ctrace(old: int, new: int) -> list[str]:
    """The hash operations RFC 9162 consistency verification performs for (old, new): two
    pairs with one trace are indistinguishable without the signed checkpoint."""
    ops: list[str] = ["pow2" if old & (old - 1) == 0 else "-"]
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    for _ in merkle.consistency_ranges(old, new):
        if fn & 1 or fn == sn:
            ops.append("L")
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            ops.append("R")
        fn >>= 1
        sn >>= 1
    return ops


def _inclusion_cases(leaves: list[bytes]) -> list[tuple[int, int]]:
    return [(i, n) for n in range(1, len(leaves) + 1) for i in range(n)]


def test_inclusion_corruptions_rejected(vectors: dict[str, object]) -> None:
    leaves = _leaves(vectors)
    probes = 0
    for index, size in _inclusion_cases(leaves):
        tree = leaves[:size]
        root = tree_root(tree)
        proof = inclusion_proof(tree, index)
        leaf = leaves[index]
        verify_inclusion(leaf, index, size, proof, root)
        bad: list[tuple[bytes, int, int, list[bytes], bytes]] = []
        for i in range(size):
            if i != index:
                bad.append((leaf, i, size, proof, root))  # wrong index
        for s in (size - 1, size + 1, size * 2 + 1):
            if s > index and (s <= 0 or _shape(index, s) != _shape(index, size)):
                bad.append((leaf, index, s, proof, root))  # wrong size
        bad.append((leaf, index, index, proof, root))  # index == size
        for j, p in enumerate(proof):
            for bit in (0, 7, 130, 255):
                bad.append((leaf, index, size, [*proof[:j], _flip(p, bit), *proof[j + 1 :]], root))
        for bit in (0, 255):
            bad.append((_flip(leaf, bit), index, size, proof, root))
            bad.append((leaf, index, size, proof, _flip(root, bit)))
        if proof:
            bad.append((leaf, index, size, proof[:-1], root))  # truncated
            bad.append((leaf, index, size, proof[1:], root))
        bad.append((leaf, index, size, [*proof, root], root))  # extended
        bad.append((leaf, index, size, [leaf, *proof], root))
        if len(proof) >= 2 and proof[0] != proof[1]:
            bad.append((leaf, index, size, [proof[1], proof[0], *proof[2:]], root))  # reordered
            bad.append((leaf, index, size, proof[::-1], root))
        bad.append((leaf, index, size, [p[:31] for p in proof] or [b"short"], root))
        for args in bad:
            with pytest.raises(ProofError):
                verify_inclusion(*args)
            probes += 1
    assert probes > 300


def test_consistency_corruptions_rejected(vectors: dict[str, object]) -> None:
    leaves = _leaves(vectors)
    probes = 0
    for new in range(1, len(leaves) + 1):
        for old in range(1, new + 1):
            r1, r2 = tree_root(leaves[:old]), tree_root(leaves[:new])
            proof = consistency_proof(leaves[:new], old)
            verify_consistency(old, new, r1, r2, proof)
            bad: list[tuple[int, int, bytes, bytes, list[bytes]]] = []
            for o in range(1, len(leaves) + 1):
                if o != old and o <= new and _ctrace(o, new) != _ctrace(old, new):
                    bad.append((o, new, r1, r2, proof))  # wrong old size
            for n in (new - 1, new + 1, 2 * new + 1):
                if old <= n and n != new and (old == n or _ctrace(old, n) != _ctrace(old, new)):
                    bad.append((old, n, r1, r2, proof))  # wrong new size
            if old != new:
                bad.append((old, new, r2, r1, proof))  # swapped roots
                bad.append((new, old, r1, r2, proof))  # swapped sizes
            for j, p in enumerate(proof):
                for bit in (0, 77, 255):
                    bad.append((old, new, r1, r2, [*proof[:j], _flip(p, bit), *proof[j + 1 :]]))
            for bit in (0, 255):
                bad.append((old, new, _flip(r1, bit), r2, proof))
                bad.append((old, new, r1, _flip(r2, bit), proof))
            if proof:
                bad.append((old, new, r1, r2, proof[:-1]))
                bad.append((old, new, r1, r2, proof[1:]))
            bad.append((old, new, r1, r2, [*proof, r2]))
            bad.append((old, new, r1, r2, [r1, *proof]))
            if len(proof) >= 2 and proof[0] != proof[1]:
                bad.append((old, new, r1, r2, [proof[1], proof[0], *proof[2:]]))
            for args in bad:
                with pytest.raises(ProofError):
                    verify_consistency(*args)
                probes += 1
    assert probes > 300


def test_consistency_from_empty_tree() -> None:
    leaves = [leaf_hash(bytes([i])) for i in range(5)]
    assert consistency_proof(leaves, 0) == []
    verify_consistency(0, 5, EMPTY_ROOT, tree_root(leaves), [])
    with pytest.raises(ProofError):
        verify_consistency(0, 5, tree_root(leaves[:1]), tree_root(leaves), [])


@pytest.mark.parametrize(
    "call",
    [
        lambda: inclusion_proof([leaf_hash(b"a")], 1),
        lambda: inclusion_proof([], 0),
        lambda: inclusion_proof([leaf_hash(b"a")], -1),
        lambda: consistency_proof([leaf_hash(b"a")], 2),
        lambda: consistency_proof([leaf_hash(b"a")], -1),
        lambda: tree_root([b"short"]),
        lambda: verify_inclusion(b"x" * 32, 0, 0, [], b"y" * 32),
        lambda: verify_inclusion(b"x" * 32, -1, 2, [b"z" * 32], b"y" * 32),
        lambda: verify_inclusion(b"x" * 31, 0, 1, [], b"y" * 32),
        lambda: verify_consistency(3, 2, b"x" * 32, b"y" * 32, []),
        lambda: verify_consistency(2, 2, b"x" * 32, b"y" * 32, []),
        lambda: verify_consistency(1, 2, b"x" * 32, b"y" * 32, []),
        lambda: verify_consistency(True, 2, b"x" * 32, b"y" * 32, [b"z" * 32]),
    ],
)
def test_bad_arguments_are_proof_errors(call: object) -> None:
    with pytest.raises(ProofError):
        call()  # type: ignore[operator]


# -- property test -------------------------------------------------------------------------

MAX_SIZE = 10_000


@cache
def _all_leaves() -> tuple[bytes, ...]:
    return tuple(leaf_hash(i.to_bytes(4, "big")) for i in range(MAX_SIZE))


@cache
def _root(size: int) -> bytes:
    return tree_root(_all_leaves()[:size])


def _blocks_map(size: int, need: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    leaves = _all_leaves()
    return {
        (level, idx): tree_root(leaves[idx << level : (idx + 1) << level]) for level, idx in need
    }


@settings(max_examples=60, deadline=None)
@given(data=st.data(), size=st.integers(min_value=1, max_value=MAX_SIZE))
def test_property_proofs_verify(data: st.DataObject, size: int) -> None:
    leaves = _all_leaves()[:size]
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    old = data.draw(st.integers(min_value=0, max_value=size), label="old_size")
    root = _root(size)
    proof = inclusion_proof(leaves, index)
    verify_inclusion(leaves[index], index, size, proof, root)
    cproof = consistency_proof(leaves, old)
    verify_consistency(old, size, _root(old), root, cproof)
    # the range/block form (what the store uses) gives the same proofs
    ranges = merkle.inclusion_ranges(index, size)
    assert merkle.hashes_for(ranges, _blocks_map(size, merkle.blocks_for(ranges))) == proof
    cranges = merkle.consistency_ranges(old, size)
    assert merkle.hashes_for(cranges, _blocks_map(size, merkle.blocks_for(cranges))) == cproof
    # and a proof for one index never verifies for another
    other = data.draw(st.integers(min_value=0, max_value=size - 1), label="other")
    if other != index:
        with pytest.raises(ProofError):
            verify_inclusion(leaves[index], other, size, proof, root)
