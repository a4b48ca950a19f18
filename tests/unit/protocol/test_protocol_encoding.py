"""Canonical CBOR (steps E1-E4): what is accepted, and every way of being non-canonical."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest

from pausebutton.errors import MalformedError, NonCanonicalError, OversizedError
from pausebutton.protocol import encoding
from pausebutton.protocol.encoding import MAX_DEPTH, MAX_MESSAGE_SIZE, decode, encode


def nest(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        0,
        23,
        24,
        255,
        256,
        2**32,
        2**64 - 1,
        2**64,
        10**25,
        -1,
        -(2**64),
        -(2**64) - 1,
        -(10**30),
        b"",
        b"\x00" * 300,
        "",
        "grüße",
        True,
        False,
        None,
        [],
        [1, [2, [3]]],
        {},
        {"b": 1, "a": 2, "aa": 3, "é": 4},
        {"nested": {"z": [b"x", None], "a": {}}},
    ],
)
def test_round_trip(value: Any) -> None:
    data = encode(value)
    assert decode(data) == value
    assert encode(decode(data)) == data


def test_map_keys_sorted_length_first() -> None:
    # E3: bytewise order of encoded keys = shorter keys first, then bytewise.
    data = encode({"bb": 1, "a": 2, "ab": 3, "c": 4})
    assert data == cbor2.dumps({"a": 2, "c": 4, "ab": 3, "bb": 1})


def test_utf8_keys_sort_by_encoded_bytes() -> None:
    # "é" is 2 bytes in UTF-8, so it sorts after every 1-byte key, even "z".
    assert list(decode(encode({"é": 1, "z": 2}))) == ["z", "é"]


def test_bignums_only_beyond_64_bits() -> None:
    assert encode(2**64 - 1) == bytes.fromhex("1bffffffffffffffff")
    assert encode(2**64) == bytes.fromhex("c249010000000000000000")
    assert encode(-(2**64)) == bytes.fromhex("3bffffffffffffffff")
    assert encode(-(2**64) - 1) == bytes.fromhex("c349010000000000000000")


def test_tuples_and_mappings_are_normalised() -> None:
    assert encode((1, 2)) == encode([1, 2])
    assert encode(bytearray(b"ab")) == encode(b"ab")
    assert encode(memoryview(b"ab")) == encode(b"ab")


@pytest.mark.parametrize("value", [1.5, float("nan"), {1: "int key"}, {b"k": 1}, object(), {1, 2}])
def test_encode_rejects_values_outside_the_model(value: Any) -> None:
    with pytest.raises(MalformedError):
        encode(value)


def test_encode_rejects_deep_nesting() -> None:
    encode(nest(MAX_DEPTH))
    with pytest.raises(MalformedError):
        encode(nest(MAX_DEPTH + 1))
    empty_innermost: Any = []
    for _ in range(MAX_DEPTH):
        empty_innermost = [empty_innermost]
    with pytest.raises(MalformedError):
        encode(empty_innermost)


def test_encode_and_decode_agree_on_depth() -> None:
    for depth in range(MAX_DEPTH - 1, MAX_DEPTH + 3):
        data = b"\x81" * depth + b"\x80"  # depth + 1 containers
        accepted = depth + 1 <= MAX_DEPTH
        try:
            decode(data)
            decoded = True
        except MalformedError:
            decoded = False
        assert decoded is accepted, depth


# -- decoding: non-canonical forms -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hex_data"),
    [
        ("unsorted keys", "a2616201616102"),
        ("longer key first", "a262616101616102"),
        ("non-shortest int (1 byte)", "1801"),
        ("non-shortest int (2 bytes)", "190001"),
        ("non-shortest int (8 bytes)", "1b0000000000000001"),
        ("non-shortest negative", "3800"),
        ("non-shortest length", "780161"),
        ("non-shortest array length", "980101"),
        ("bignum for a small int", "c24101"),
        ("bignum for 2**64-1", "c248ffffffffffffffff"),
        ("bignum with leading zero", "c24a00010000000000000000"),
        ("negative bignum for small", "c34100"),
        ("trailing bytes", "0000"),
        ("self-described CBOR tag", "d9d9f700"),
    ],
)
def test_non_canonical_is_rejected(name: str, hex_data: str) -> None:
    with pytest.raises(NonCanonicalError):
        decode(bytes.fromhex(hex_data))


@pytest.mark.parametrize(
    ("name", "hex_data"),
    [
        ("indefinite array", "9f01ff"),
        ("indefinite map", "bf616101ff"),
        ("indefinite bytes", "5f4101ff"),
        ("indefinite text", "7f6161ff"),
        ("duplicate keys", "a2616101616102"),
        ("half float", "f93c00"),
        ("single float", "fa3fc00000"),
        ("double float", "fb3ff8000000000000"),
        ("float in array", "82f93c0001"),
        ("datetime tag", "c11a514b67b0"),
        ("string datetime tag", "c074323031332d30332d32315432303a30343a30305a"),
        ("embedded CBOR tag", "d818430a0b0c"),
        ("unknown tag", "d9ffff01"),
        ("set tag", "d9010281 01"),
        ("undefined", "f7"),
        ("simple value", "f0"),
        ("int key", "a10101"),
        ("bytes key", "a1416101"),
        ("array key", "a1800101"),
        ("invalid utf-8", "62c328"),
        ("truncated array", "8201"),
        ("truncated bytes", "4501"),
        ("truncated head", "19"),
        ("break alone", "ff"),
        ("reserved additional info", "1c"),
        ("empty", ""),
    ],
)
def test_malformed_is_rejected(name: str, hex_data: str) -> None:
    with pytest.raises(MalformedError):
        decode(bytes.fromhex(hex_data.replace(" ", "")))


def test_depth_limit() -> None:
    assert decode(encode(nest(MAX_DEPTH))) == nest(MAX_DEPTH)
    for depth in (MAX_DEPTH + 1, MAX_DEPTH + 2, 1000):
        with pytest.raises(MalformedError):
            decode(b"\x81" * depth + b"\x00")


def test_deep_maps_are_limited_too() -> None:
    assert decode(b"\xa1\x61a" * MAX_DEPTH + b"\x00")
    with pytest.raises(MalformedError):
        decode(b"\xa1\x61a" * (MAX_DEPTH + 1) + b"\x00")


def test_non_bytes_input_is_malformed() -> None:
    with pytest.raises(MalformedError):
        decode("a1")  # type: ignore[arg-type]


def test_bytearray_and_memoryview_accepted() -> None:
    data = encode({"a": 1})
    assert decode(bytearray(data)) == {"a": 1}
    assert decode(memoryview(data)) == {"a": 1}


# -- E1: the size limit comes first ----------------------------------------------------------


def test_size_limit_default_and_custom() -> None:
    at_limit = encode(b"\x00" * (MAX_MESSAGE_SIZE - 3))  # 3-byte head
    assert len(at_limit) == MAX_MESSAGE_SIZE
    assert decode(at_limit) == b"\x00" * (MAX_MESSAGE_SIZE - 3)
    with pytest.raises(OversizedError):
        decode(encode(b"\x00" * (MAX_MESSAGE_SIZE - 2)))
    with pytest.raises(OversizedError):
        decode(encode(b"abc"), max_size=3)
    assert decode(encode(b"abc"), max_size=4) == b"abc"


def test_oversized_beats_malformed(monkeypatch: pytest.MonkeyPatch) -> None:
    """E1: oversized input is refused before cbor2 sees a single byte."""
    calls: list[bytes] = []

    def spy(data: bytes, **kwargs: Any) -> Any:
        calls.append(data)
        raise AssertionError("cbor2 must not be called")

    monkeypatch.setattr(encoding.cbor2, "loads", spy)
    with pytest.raises(OversizedError):
        decode(b"\xff" * (MAX_MESSAGE_SIZE + 1))
    assert calls == []


def test_key_order_cache_does_not_accept_new_disorder() -> None:
    # A canonical key set is cached; the same keys in another order are still checked.
    decode(encode({"x": 1, "yy": 2}))
    with pytest.raises(NonCanonicalError):
        decode(cbor2.dumps({"yy": 2, "x": 1}))


def test_key_order_cache_keeps_only_small_key_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoding, "_ORDERED_KEYS", {})
    long_keys = {f"{i:04d}" + "k" * 600: i for i in range(3)}
    decode(encode(long_keys))
    assert tuple(long_keys) not in encoding._ORDERED_KEYS
    decode(encode({"short": 1, "keys": 2}))
    assert ("keys", "short") in encoding._ORDERED_KEYS
