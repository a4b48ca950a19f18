"""RFC 9162 (RFC 6962) Merkle tree hashing, inclusion and consistency proofs. Pure.

Protocol step L (docs/translog.md, "Merkle tree"):

L1. ``leaf_hash(d) = SHA-256(0x00 || d)``; ``node_hash(l, r) = SHA-256(0x01 || l || r)``;
    the root of the empty tree is ``SHA-256("")``.
L2. The tree over n > 1 leaves splits at k, the largest power of two below n:
    ``MTH(D[0:n]) = node_hash(MTH(D[0:k]), MTH(D[k:n]))`` (RFC 9162 section 2.1.1).
L3. Inclusion proofs are RFC 9162 section 2.1.3 audit paths, leaf to root;
    consistency proofs are section 2.1.4 proofs. Verification follows the
    algorithms of sections 2.1.3.2 and 2.1.4.2, and additionally requires the
    proof to have exactly the length the sizes imply.

Every subtree a proof names is a range of leaves ``[lo, hi)``. ``inclusion_ranges``
and ``consistency_ranges`` give those ranges without any data, and every range is
either a *perfect* subtree (``hi - lo`` a power of two, ``lo`` a multiple of it) or
a right-edge range whose hash folds the perfect subtrees of ``perfect_blocks``.
A store that keeps the hashes of perfect subtrees (``(level, index)``: leaves
``[index * 2**level, (index + 1) * 2**level)``) thus serves any proof in O(log n).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

from pausebutton.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF = b"\x00"
_NODE = b"\x01"

Range = tuple[int, int]
"""A range of leaf indices ``[lo, hi)``."""
Block = tuple[int, int]
"""A perfect subtree ``(level, index)``: leaves ``[index << level, (index + 1) << level)``."""


def leaf_hash(entry: bytes) -> bytes:
    """L1: the hash of one log entry."""
    return hashlib.sha256(_LEAF + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """L1: the hash of an interior node."""
    return hashlib.sha256(_NODE + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# -- ranges: the shape of proofs, without data -----------------------------------------


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The leaf ranges whose hashes make the audit path of ``index`` in a tree of ``size``,
    in proof order (leaf to root)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    out: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    out.reverse()
    return out


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """The leaf ranges whose hashes make the consistency proof from ``old_size`` to
    ``new_size`` (RFC 9162 SUBPROOF), in proof order."""
    if old_size < 0 or new_size < 0:
        raise ProofError("tree sizes must not be negative")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    if old_size in (0, new_size):
        return []
    out: list[Range] = []
    lo, hi, m = 0, new_size, old_size
    complete = True  # the "b" flag of SUBPROOF: the old tree is a complete subtree here
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
            m -= k
            complete = False
    if not complete:
        out.append((lo, hi))
    out.reverse()
    return out


def perfect_blocks(lo: int, hi: int) -> list[Block]:
    """Decompose a proof range ``[lo, hi)`` into perfect subtrees, left to right.

    Its hash is the right fold ``node_hash(b0, node_hash(b1, ... bn))`` of their hashes.
    """
    if not 0 <= lo < hi:
        raise ProofError(f"empty or negative range [{lo}, {hi})")
    out: list[Block] = []
    pos = lo
    while pos < hi:
        level = (hi - pos).bit_length() - 1
        if pos & ((1 << level) - 1):
            raise ProofError(f"range [{lo}, {hi}) is not a subtree of an RFC 9162 tree")
        out.append((level, pos >> level))
        pos += 1 << level
    return out


def fold_blocks(hashes: Sequence[bytes]) -> bytes:
    """The hash of a range from the hashes of its ``perfect_blocks``, left to right."""
    if not hashes:
        raise ProofError("a range has at least one block")
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def range_hash(lo: int, hi: int, block_hash: Callable[[Block], bytes]) -> bytes:
    """The hash of range ``[lo, hi)``, asking ``block_hash`` for each perfect subtree."""
    return fold_blocks([block_hash(b) for b in perfect_blocks(lo, hi)])


def root_blocks(size: int) -> list[Block]:
    """The perfect subtrees whose fold is the root of a tree of ``size`` (> 0)."""
    return perfect_blocks(0, size)


def blocks_for(ranges: Sequence[Range]) -> list[Block]:
    """Every perfect subtree the given ranges need, without duplicates, in order."""
    seen: dict[Block, None] = {}
    for lo, hi in ranges:
        for block in perfect_blocks(lo, hi):
            seen[block] = None
    return list(seen)


def hashes_for(ranges: Sequence[Range], blocks: Mapping[Block, bytes]) -> list[bytes]:
    """The hash of each range from a map of perfect-subtree hashes (``blocks_for``)."""
    try:
        return [fold_blocks([blocks[b] for b in perfect_blocks(lo, hi)]) for lo, hi in ranges]
    except KeyError as exc:
        raise ProofError(f"subtree {exc.args[0]} is not available") from None


# -- the list-based API ---------------------------------------------------------


def _mth(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """L2: the Merkle tree hash of ``leaves[lo:hi]`` (non-empty), without recursion depth
    beyond log2(n)."""
    n = hi - lo
    if n == 1:
        return leaves[lo]
    k = _split(n)
    return node_hash(_mth(leaves, lo, lo + k), _mth(leaves, lo + k, hi))


def _check_leaves(leaf_hashes: Sequence[bytes]) -> None:
    for i, h in enumerate(leaf_hashes):
        if len(h) != HASH_SIZE:
            raise ProofError(f"leaf hash {i} is {len(h)} bytes, not {HASH_SIZE}")


def tree_root(leaf_hashes: Sequence[bytes]) -> bytes:
    """L2: the root hash of the tree with these leaf hashes (``EMPTY_ROOT`` if none)."""
    _check_leaves(leaf_hashes)
    if not leaf_hashes:
        return EMPTY_ROOT
    return _mth(leaf_hashes, 0, len(leaf_hashes))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """L3: the audit path of leaf ``index`` in the tree of ``leaf_hashes``."""
    _check_leaves(leaf_hashes)
    return [_mth(leaf_hashes, lo, hi) for lo, hi in inclusion_ranges(index, len(leaf_hashes))]


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """L3: the proof that the tree of the first ``old_size`` leaves is a prefix of the tree
    of all ``leaf_hashes``."""
    _check_leaves(leaf_hashes)
    return [_mth(leaf_hashes, lo, hi) for lo, hi in consistency_ranges(old_size, len(leaf_hashes))]


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be a {HASH_SIZE}-byte hash")


def _check_int(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProofError(f"{what} must be a non-negative integer")


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """L3 (RFC 9162 2.1.3.2): raise ProofError unless ``proof`` shows the leaf with hash
    ``leaf_hash`` at ``index`` in the tree of ``tree_size`` with ``root``."""
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root")
    _check_int(index, "leaf index")
    _check_int(tree_size, "tree size")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof hash {i}")
    if index >= tree_size:
        raise ProofError(f"leaf index {index} is outside a tree of size {tree_size}")
    expected = len(inclusion_ranges(index, tree_size))
    if len(proof) != expected:
        raise ProofError(
            f"inclusion proof has {len(proof)} hashes; index {index} in size {tree_size}"
            f" needs {expected}"
        )
    fn, sn = index, tree_size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if r != root:
        raise ProofError(f"inclusion proof for index {index} does not lead to the root")


def verify_consistency(  # noqa: C901 (RFC 9162 section 2.1.4.2, kept step for step as the RFC writes it)
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """L3 (RFC 9162 2.1.4.2): raise ProofError unless ``proof`` shows that the tree of
    ``old_size`` with ``old_root`` is a prefix of the tree of ``new_size`` with ``new_root``."""
    _check_int(old_size, "old size")
    _check_int(new_size, "new size")
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof hash {i}")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    expected = len(consistency_ranges(old_size, new_size))
    if len(proof) != expected:
        raise ProofError(
            f"consistency proof has {len(proof)} hashes; sizes {old_size} to {new_size}"
            f" need {expected}"
        )
    if old_size == 0:
        if old_root != EMPTY_ROOT:
            raise ProofError("the root of the empty tree is SHA-256 of the empty string")
        return
    if old_size == new_size:
        if old_root != new_root:
            raise ProofError(f"two different roots for the same size {old_size}")
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != old_root:
        raise ProofError(f"consistency proof does not lead to the old root (size {old_size})")
    if sr != new_root:
        raise ProofError(f"consistency proof does not lead to the new root (size {new_size})")
