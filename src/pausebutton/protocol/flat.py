"""Readers and writers of the canonical bytes of flat payloads.

Readers: one pass over the bytes (E1-E4 and P1-P5 at once).

A flat payload (``schema._ClassCodec.flat``: every field a scalar or an array of
scalars) has few canonical forms: one map whose keys are some of the class's field
names in canonical order (E3), each value with its shortest head (E3), nothing
after. For each such class a reader is generated once, as straight-line code over
the bytes: per field one comparison of the encoded key, the value read in its
canonical form only, its type checked by the major type it must have. It never
builds the cbor2 value and never re-encodes: bytes it accepts are by construction
the canonical encoding of the fields it read (E4), so they are exactly the bytes the
reference path (``encoding.decode`` then ``Struct.from_value``) accepts with the same
field values and no unknown fields.

Whatever it does not accept in that form, valid or not (an unknown field, another
key order, a longer head, a null, an empty list, a float, a tag, bytes after the
map, truncation, invalid UTF-8), gives None, and the caller takes the reference
path, which accepts it or names its error. The reader changes speed, not answers;
tests hold both paths equal on every vector and on fuzzed mutations.

A reader reads:

- integers: major types 0 and 1 (shortest heads), and bignums (tags 2 and 3) only
  beyond 64 bits with no leading zero byte;
- booleans: ``f4`` and ``f5``; byte strings; text strings (strict UTF-8);
- enums of text values: a text string that is one of the values;
- arrays (non-empty, as P2 omits empty ones) of integers, booleans, bytes or text.

Writers: the map of a flat payload built in canonical key order from fields of their
exact types, then cbor2's plain encoder, which gives the canonical form of such a map
(shortest heads, minimal bignums, definite lengths, the dict's order kept). A payload
with unknown fields (``extra``) or a field of any other type gives None, and the caller
encodes it by the reference path (``encoding.encode(to_value())``), which encodes it or
names its error.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cbor2

from pausebutton.protocol.encoding import MAX_MESSAGE_SIZE

Reader = Callable[[bytes], dict[str, Any] | None]
Writer = Callable[[Any], bytes | None]


@dataclass(frozen=True)
class FlatField:
    """One field of a flat class, as the reader generator needs it."""

    name: str
    kind: Any
    """``int``, ``bool``, ``str``, ``bytes``, an enum of text values, or
    ``("array", item)`` with ``item`` one of the four scalar types."""
    required: bool
    default: Any
    """The value of an absent optional field."""


class _Code:
    """Lines of generated code and the constants they refer to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = {
            "_ifb": int.from_bytes,
            "_U16": struct.Struct(">H").unpack_from,
            "_U32": struct.Struct(">I").unpack_from,
            "_U64": struct.Struct(">Q").unpack_from,
            "_StructError": struct.error,
        }

    def add(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def const(self, name: str, value: Any) -> str:
        self.env[name] = value
        return name


def _head(code: _Code, ind: int, major: int, var: str, *, negate: bool = False) -> None:
    """Read the head of ``major`` type at ``p`` into ``var`` (shortest form only; any
    other initial byte returns None). With ``negate`` the value is ``-1 - argument``
    (major type 1). The caller reads ``b`` and may chain more ``elif`` branches."""
    low = major << 5
    code.add(ind, f"if {low} <= b < {low + 24}:" if low else "if b < 24:")
    if negate:  # -1 - (b - low)
        code.add(ind + 1, f"{var} = {low - 1} - b")
    else:
        code.add(ind + 1, f"{var} = b - {low}" if low else f"{var} = b")
    code.add(ind + 1, "p += 1")
    # 1, 2, 4 and 8 argument bytes; each must be needed (E3: the shortest head)
    code.add(ind, f"elif b == {low + 24}:")
    code.add(ind + 1, f"{var} = data[p + 1]")
    code.add(ind + 1, f"if {var} < 24:")
    code.add(ind + 2, "return None")
    code.add(ind + 1, "p += 2")
    if negate:
        code.add(ind + 1, f"{var} = -1 - {var}")
    for info, (unpack, minimum, width) in enumerate(
        (("_U16", 256, 2), ("_U32", 65536, 4), ("_U64", 1 << 32, 8)), start=25
    ):
        code.add(ind, f"elif b == {low + info}:")
        code.add(ind + 1, f"{var} = {unpack}(data, p + 1)[0]")
        code.add(ind + 1, f"if {var} < {minimum}:")
        code.add(ind + 2, "return None")
        code.add(ind + 1, f"p += {width + 1}")
        if negate:
            code.add(ind + 1, f"{var} = -1 - {var}")


def _head_only(code: _Code, ind: int, major: int, var: str) -> None:
    """A head of ``major`` type at ``p`` into ``var``; anything else returns None."""
    code.add(ind, "b = data[p]")
    _head(code, ind, major, var)
    code.add(ind, "else:")
    code.add(ind + 1, "return None")


def _value(code: _Code, ind: int, kind: Any, var: str, uid: str) -> None:
    """Read one value of ``kind`` at ``p`` into ``var`` (see the module docstring)."""
    if kind is int:
        code.add(ind, "b = data[p]")
        _head(code, ind, 0, var)
        code.add(ind, "elif b == 0xC2 or b == 0xC3:")  # a bignum: beyond 64 bits only
        code.add(ind + 1, "t = b")
        code.add(ind + 1, "p += 1")
        _head_only(code, ind + 1, 2, "k")
        code.add(ind + 1, "if k < 9 or data[p] == 0:")
        code.add(ind + 2, "return None")
        code.add(ind + 1, f"{var} = _ifb(data[p : p + k], 'big')")
        code.add(ind + 1, "p += k")
        code.add(ind + 1, "if t == 0xC3:")
        code.add(ind + 2, f"{var} = -1 - {var}")
        code.add(ind, "else:")  # a negative integer, or not an integer
        _head(code, ind + 1, 1, var, negate=True)
        code.add(ind + 1, "else:")
        code.add(ind + 2, "return None")
    elif kind is bool:
        code.add(ind, "b = data[p]")
        code.add(ind, "if b == 0xF5:")
        code.add(ind + 1, f"{var} = True")
        code.add(ind, "elif b == 0xF4:")
        code.add(ind + 1, f"{var} = False")
        code.add(ind, "else:")
        code.add(ind + 1, "return None")
        code.add(ind, "p += 1")
    elif kind is bytes or kind is str:
        _head_only(code, ind, 2 if kind is bytes else 3, "k")
        decode = "" if kind is bytes else ".decode()"  # strict UTF-8
        code.add(ind, f"{var} = data[p : p + k]{decode}")
        code.add(ind, "p += k")
    elif isinstance(kind, type) and issubclass(kind, enum.Enum):
        members = code.const(f"_M{uid}", {m.value: m for m in kind})
        _value(code, ind, str, var, uid)
        code.add(ind, f"{var} = {members}.get({var})")
        code.add(ind, f"if {var} is None:")
        code.add(ind + 1, "return None")
    elif type(kind) is tuple and kind[0] == "array" and kind[1] in (int, bool, str, bytes):
        _head_only(code, ind, 4, "c")
        code.add(ind, "if c == 0:")  # P2: an empty array is omitted, or the general path reads it
        code.add(ind + 1, "return None")
        code.add(ind, f"{var} = []")
        code.add(ind, "for _ in range(c):")
        _value(code, ind + 1, kind[1], "x", uid)
        code.add(ind + 1, f"{var}.append(x)")
        code.add(ind, f"{var} = tuple({var})")
    else:
        raise TypeError(f"no flat reader for {kind!r}")


def build_reader(fields: Sequence[FlatField]) -> Reader:
    """The reader of one flat class: ``read(data)`` gives the field values (absent
    optional fields with their defaults, and an empty ``extra``) of canonical bytes
    with no unknown fields, or None for anything else."""
    code = _Code()
    code.add(0, "def read(data):")
    code.add(1, "n = len(data)")
    code.add(1, f"if n > {MAX_MESSAGE_SIZE}:")  # E1 (the reference path names the error)
    code.add(2, "return None")
    code.add(1, "p = 0")
    code.add(1, "present = 0")
    code.add(1, "try:")
    _head_only(code, 2, 5, "count")
    keyed = sorted(((cbor2.dumps(f.name), i, f) for i, f in enumerate(fields)), key=lambda t: t[0])
    required = 0
    for key, i, f in keyed:  # E3: the keys in the bytewise order of their encodings
        name = code.const(f"_K{i}", key)
        code.add(2, f"if data[p : p + {len(key)}] == {name}:")
        code.add(3, f"p += {len(key)}")
        _value(code, 3, f.kind, f"v{i}", str(i))
        if f.required:
            required += 1
            code.add(2, "else:")
            code.add(3, "return None")
        else:
            code.add(3, "present += 1")
            code.add(2, "else:")
            code.add(3, f"v{i} = {code.const(f'_D{i}', f.default)}")
    code.add(1, "except (IndexError, _StructError, UnicodeDecodeError):")  # truncated; not UTF-8
    code.add(2, "return None")
    code.add(1, f"if p != n or count != present + {required}:")  # nothing unknown, nothing after
    code.add(2, "return None")
    values = "".join(f"{f.name!r}: v{i}, " for i, f in enumerate(fields))
    code.add(1, f"return {{{values}'extra': {{}}}}")
    exec("\n".join(code.lines), code.env)
    read: Reader = code.env["read"]
    return read


def _keyed(fields: Sequence[FlatField]) -> list[tuple[bytes, int, FlatField]]:
    """The fields in the canonical order of their keys (E3: bytewise order of the
    encoded keys), with their encoded keys and declaration indexes."""
    return sorted(((cbor2.dumps(f.name), i, f) for i, f in enumerate(fields)), key=lambda t: t[0])


def _exact(kind: Any, var: str, code: _Code, uid: str) -> str:
    """A condition true when ``var`` holds a value of ``kind`` of its exact type."""
    if kind in (int, bool, str, bytes):
        return f"type({var}) is {code.const(f'_T{uid}', kind)}"
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return f"type({var}) is {code.const(f'_E{uid}', kind)}"
    if type(kind) is tuple and kind[0] == "array" and kind[1] in (int, bool, str, bytes):
        item = code.const(f"_T{uid}", kind[1])
        return f"type({var}) is tuple and all(type(x) is {item} for x in {var})"
    raise TypeError(f"no flat writer for {kind!r}")


def build_writer(fields: Sequence[FlatField]) -> Writer:
    """The writer of one flat class: ``write(obj)`` gives the canonical bytes of an
    instance whose fields all hold values of their exact types and which has no
    unknown fields, or None for any other instance. Absent optional values (None, and
    the empty tuple) are omitted (P2), as ``Struct.to_value`` omits them."""
    code = _Code()
    code.env["_dumps"] = cbor2.dumps
    code.add(0, "def write(o):")
    code.add(1, "if o.extra:")
    code.add(2, "return None")
    code.add(1, "out = {}")
    for _key, i, f in _keyed(fields):
        name = f.name
        code.add(1, f"v = o.{name}" if name.isidentifier() else f"v = getattr(o, {name!r})")
        if f.required:
            code.add(1, f"if not ({_exact(f.kind, 'v', code, str(i))}):")
            code.add(2, "return None")
            ind = 1
        else:
            code.add(1, "if v is not None and v != ():")
            code.add(2, f"if not ({_exact(f.kind, 'v', code, str(i))}):")
            code.add(3, "return None")
            ind = 2
        if isinstance(f.kind, type) and issubclass(f.kind, enum.Enum):
            value = "v.value"
        elif type(f.kind) is tuple:
            value = "list(v)"
        else:
            value = "v"
        code.add(ind, f"out[{name!r}] = {value}")
    code.add(1, "return _dumps(out)")
    exec("\n".join(code.lines), code.env)
    write: Writer = code.env["write"]
    return write
