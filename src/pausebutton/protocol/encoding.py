"""Canonical CBOR: the one encoding of every signed protocol object.

Protocol step E (docs/protocol.md, "Encoding"):

E1. The size limit is checked before any parsing (``MAX_MESSAGE_SIZE``).
E2. Only this data model is allowed: unsigned/negative integers of any size
    (bignums, tags 2 and 3, only beyond 64 bits), byte strings, text strings,
    booleans, null, arrays and maps whose keys are text strings. No floats,
    no other tags, no undefined, no indefinite lengths, no duplicate keys,
    nesting at most ``MAX_DEPTH`` deep.
E3. Encoding is RFC 8949 section 4.2.1 core deterministic encoding: shortest
    heads, definite lengths, map keys sorted by the bytewise order of their
    encodings.
E4. A decoder accepts bytes only if re-encoding the decoded value gives the
    same bytes (``encode(decode(b)) == b``); anything else is non-canonical.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import cbor2

from pausebutton.errors import MalformedError, NonCanonicalError, OversizedError

MAX_MESSAGE_SIZE = 64 * 1024
"""Default largest encoded object accepted (bytes)."""

MAX_DEPTH = 16
"""Most arrays and maps nested inside one another (a flat map is depth 1)."""

CborValue = Any
"""A value of the E2 data model (int, bytes, str, bool, None, list, dict[str, ...])."""


_SCALARS = frozenset({bool, int, bytes, str, type(None)})
_ORDERED_KEYS: dict[tuple[str, ...], bool] = {}
_ORDERED_KEYS_MAX = 4096
_CACHED_KEYS_CHARS = 1024


def _key_order(key: str) -> tuple[int, bytes]:
    # E3: for text keys the bytewise order of the encodings is (length, bytes).
    raw = key.encode("utf-8")
    return len(raw), raw


def _check_keys(keys: tuple[str, ...]) -> None:
    if keys in _ORDERED_KEYS:  # the few key sets of the protocol are checked once
        return
    previous: tuple[int, bytes] | None = None
    for key in keys:
        if type(key) is not str:
            raise MalformedError(f"map key of type {type(key).__name__}; only text keys")
        order = _key_order(key)
        if previous is not None and order <= previous:
            raise NonCanonicalError("map keys are not in canonical order")
        previous = order
    # Only small key sets are cached, so input cannot pin much memory here.
    if len(_ORDERED_KEYS) < _ORDERED_KEYS_MAX and sum(map(len, keys)) <= _CACHED_KEYS_CHARS:
        _ORDERED_KEYS[keys] = True


def _check_model(value: object, depth: int) -> None:
    """E2 (exact types only) and E3 (map keys in canonical order), so E4 can
    re-encode with cbor2's fast plain encoder."""
    if depth >= MAX_DEPTH:  # ``depth`` counts the containers around ``value``
        raise MalformedError(f"nesting deeper than {MAX_DEPTH}")
    kind = type(value)
    items: Iterable[object]
    if kind is dict:
        assert isinstance(value, dict)
        _check_keys(tuple(value))
        items = value.values()
    elif kind is list:
        assert isinstance(value, list)
        items = value
    elif kind in _SCALARS:
        return
    else:
        raise MalformedError(f"value of type {kind.__name__} is not allowed")
    for item in items:
        if type(item) not in _SCALARS:
            _check_model(item, depth + 1)


def _normalise(value: object, depth: int = 0) -> CborValue:
    """Convert tuples and mappings to the lists and dicts cbor2 encodes."""
    if value is None or isinstance(value, (bool, int, bytes, str)):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if depth >= MAX_DEPTH and isinstance(value, (Mapping, Sequence)):
        raise MalformedError(f"nesting deeper than {MAX_DEPTH}")
    if isinstance(value, Mapping):
        out: dict[str, CborValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise MalformedError(f"map key of type {type(key).__name__}; only text keys")
            out[key] = _normalise(item, depth + 1)
        return out
    if isinstance(value, Sequence):
        return [_normalise(item, depth + 1) for item in value]
    raise MalformedError(f"value of type {type(value).__name__} cannot be encoded")


def encode(value: object) -> bytes:
    """Encode ``value`` canonically (E2, E3). Raises MalformedError for values outside E2."""
    norm = _normalise(value)
    try:
        return cbor2.dumps(norm, canonical=True)
    except (ValueError, TypeError, OverflowError, cbor2.CBOREncodeError) as exc:
        raise MalformedError(f"cannot encode: {exc}") from exc


def parse(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> CborValue:
    """E1 and cbor2's own refusals (indefinite lengths, duplicate keys, depth), nothing
    else: the first half of ``decode``, which then checks E2, E3 and E4."""
    if type(data) is not bytes:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise MalformedError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
    if len(data) > max_size:  # E1: before any parsing
        raise OversizedError(f"{len(data)} bytes exceeds the limit of {max_size}", size=len(data))
    if not data:
        raise MalformedError("empty input")
    try:
        return cbor2.loads(
            data,
            max_depth=MAX_DEPTH,
            allow_indefinite=False,
            allow_duplicate_keys=False,
        )
    except RecursionError as exc:
        raise MalformedError("nesting too deep") from exc
    except Exception as exc:
        raise MalformedError(f"not valid CBOR: {exc}") from exc


def decode(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> CborValue:
    """Decode canonical CBOR (E1-E4), raising only the project's EncodingError subclasses."""
    if type(data) is not bytes and isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    value = parse(data, max_size=max_size)
    _check_model(value, 0)
    # E4: with key order checked above, cbor2's plain encoder (shortest heads,
    # definite lengths, minimal bignums, dict order kept) gives the canonical form.
    if cbor2.dumps(value) != data:
        raise NonCanonicalError("input is not in canonical CBOR form")
    return value
