"""Ed25519 keys (K1, K2)."""

from __future__ import annotations

import hashlib

import pytest

from pausebutton.errors import BadSignatureError, MalformedError
from pausebutton.protocol.keys import PrivateKey, PublicKey, key_id

ED25519_L = 2**252 + 27742317777372353535851937790883648493


def test_key_id_is_sha256_of_raw_public_key() -> None:
    key = PrivateKey.from_seed_material(b"k1")
    assert key.key_id == hashlib.sha256(key.public.raw).digest()
    assert key.public.key_id == key_id(key.public.raw)
    assert len(key.key_id) == 32


def test_rfc8032_test_vector_1() -> None:
    # RFC 8032 section 7.1, TEST 1 (empty message).
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    key = PrivateKey(seed)
    assert key.public.raw.hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    sig = key.sign(b"")
    assert sig.hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    key.public.verify(b"", sig)


def test_seed_material_is_deterministic() -> None:
    a = PrivateKey.from_seed_material(b"same")
    b = PrivateKey.from_seed_material(b"same")
    c = PrivateKey.from_seed_material(b"other")
    assert a.key_id == b.key_id != c.key_id
    assert a.sign(b"m") == b.sign(b"m")


def test_generate_gives_distinct_keys() -> None:
    assert PrivateKey.generate().key_id != PrivateKey.generate().key_id


def test_verify_and_is_valid() -> None:
    key = PrivateKey.from_seed_material(b"v")
    sig = key.sign(b"message")
    key.public.verify(b"message", sig)
    assert key.public.is_valid(b"message", sig)
    assert not key.public.is_valid(b"messagE", sig)
    other = PrivateKey.from_seed_material(b"w")
    assert not other.public.is_valid(b"message", sig)
    with pytest.raises(BadSignatureError):
        key.public.verify(b"message", sig[:-1] + bytes([sig[-1] ^ 1]))


@pytest.mark.parametrize("length", [0, 63, 65])
def test_wrong_signature_length(length: int) -> None:
    key = PrivateKey.from_seed_material(b"v")
    with pytest.raises(BadSignatureError):
        key.public.verify(b"m", bytes(length))


def test_non_canonical_s_rejected() -> None:
    key = PrivateKey.from_seed_material(b"s")
    sig = key.sign(b"m")
    s = int.from_bytes(sig[32:], "little")
    malleated = sig[:32] + (s + ED25519_L).to_bytes(32, "little")
    with pytest.raises(BadSignatureError):
        key.public.verify(b"m", malleated)


def test_small_order_key_rejected() -> None:
    identity = bytes([1]) + bytes(31)
    public = PublicKey.from_bytes(identity)
    # R = identity, S = 0 satisfies the cofactorless equation for every message.
    with pytest.raises(BadSignatureError):
        public.verify(b"anything", identity + bytes(32))


@pytest.mark.parametrize("raw", [b"", bytes(31), bytes(33), "00" * 32])
def test_public_key_shape(raw: object) -> None:
    with pytest.raises(MalformedError):
        PublicKey.from_bytes(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [b"", bytes(31), bytes(33)])
def test_private_key_seed_shape(seed: bytes) -> None:
    with pytest.raises(MalformedError):
        PrivateKey(seed)


def test_secret_never_in_repr() -> None:
    key = PrivateKey.from_seed_material(b"secret")
    seed_hex = key.seed().hex()
    for text in (repr(key), str(key), f"{key}", repr(key.public)):
        assert seed_hex not in text
        assert seed_hex[:16] not in text
    assert key.key_id.hex()[:16] in repr(key)


def test_public_keys_compare_by_raw_bytes() -> None:
    key = PrivateKey.from_seed_material(b"eq")
    assert PublicKey.from_bytes(key.public.raw) == key.public
    assert hash(PublicKey.from_bytes(key.public.raw)) == hash(key.public)
