"""Typed payloads: frozen dataclasses mapped to canonical CBOR maps.

Protocol step P (docs/protocol.md, "Payloads"):

P1. A payload is a CBOR map whose keys are the field names of its type.
P2. An optional field whose value is absent (``None``) or an empty list is
    omitted, never encoded as null or []. A field with any other default
    (e.g. ``0``) is always encoded and required when decoding.
P3. Integers are CBOR integers of any size (bignums beyond 64 bits); times are
    integer Unix seconds (UTC); hashes and key ids are 32-byte byte strings.
P4. Fields a reader does not know are kept and re-encoded unchanged
    (``extra``), so an older reader forwards a newer writer's data intact.
P5. Decoding then re-encoding a payload gives the same bytes; any other form
    is rejected as non-canonical.

A payload class declares ``TYPE`` and ``VERSION``; nested structures subclass
:class:`Struct`. The codec is derived from the type annotations, once per class.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self, TypeVar

from pausebutton.errors import NonCanonicalError, SchemaError
from pausebutton.protocol import encoding
from pausebutton.protocol.flat import FlatField, Reader, Writer, build_reader, build_writer

Decoder = Callable[[Any, str], Any]
Encoder = Callable[[Any], Any]

_T = TypeVar("_T", bound="Struct")


def _fail(path: str, expected: str, value: object) -> SchemaError:
    return SchemaError(
        f"field {path!r}: expected {expected}, got {type(value).__name__}", field=path
    )


# Exact type checks: encoding.decode only ever yields these exact types (E2), and
# ``type(v) is int`` also rules out bool, which is an int subclass in Python.


def _dec_int(value: Any, path: str) -> int:
    if type(value) is not int:
        raise _fail(path, "integer", value)
    return value


def _dec_bool(value: Any, path: str) -> bool:
    if type(value) is not bool:
        raise _fail(path, "boolean", value)
    return value


def _dec_str(value: Any, path: str) -> str:
    if type(value) is not str:
        raise _fail(path, "text", value)
    return value


def _dec_bytes(value: Any, path: str) -> bytes:
    if type(value) is not bytes:
        raise _fail(path, "bytes", value)
    return value


def _optional_inner(tp: Any) -> Any | None:
    """``X`` for an annotation ``X | None``; None for any other annotation."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(inner) == 1:
            return inner[0]
    return None


def _identity(value: Any) -> Any:
    return value


def _build(tp: Any) -> tuple[Decoder, Encoder]:  # noqa: C901 (one case per field type of the schema language)
    """Decoder and encoder for one annotated type."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is int:
        return _dec_int, _identity
    if tp is bool:
        return _dec_bool, _identity
    if tp is str:
        return _dec_str, _identity
    if tp is bytes:
        return _dec_bytes, _identity
    if tp is Any:
        return (lambda v, p: v), _identity
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {tp}")
        dec, enc = _build(inner[0])

        def dec_opt(v: Any, p: str) -> Any:
            if v is None:
                raise SchemaError(f"field {p!r}: null is not allowed; omit the field", field=p)
            return dec(v, p)

        return dec_opt, enc
    if origin is tuple:
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"only tuple[X, ...] is supported, not {tp}")
        idec, ienc = _build(args[0])

        def dec_tuple(v: Any, p: str) -> tuple[Any, ...]:
            if type(v) is not list:
                raise _fail(p, "array", v)
            return tuple(idec(item, f"{p}[{i}]") for i, item in enumerate(v))

        return dec_tuple, lambda v: [ienc(item) for item in v]
    if origin in (Mapping, dict, typing.Mapping):
        if args[0] is not str:
            raise TypeError("map keys must be str")
        vdec, venc = _build(args[1])

        def dec_map(v: Any, p: str) -> dict[str, Any]:
            if type(v) is not dict:
                raise _fail(p, "map", v)
            return {k: vdec(item, f"{p}.{k}") for k, item in v.items()}

        return dec_map, lambda v: {k: venc(item) for k, item in v.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        members = {m.value: m for m in tp}

        def dec_enum(v: Any, p: str) -> enum.Enum:
            try:
                return members[v]
            except (KeyError, TypeError):
                raise SchemaError(
                    f"field {p!r}: {v!r} is not one of {sorted(map(str, members))}", field=p
                ) from None

        return dec_enum, lambda v: v.value
    if isinstance(tp, type) and issubclass(tp, Struct):
        return tp.from_value, (lambda v: v.to_value())
    raise TypeError(f"unsupported field type {tp!r}")


_ABSENT: Any = object()
_new = object.__new__


@dataclasses.dataclass(frozen=True)
class _FieldCodec:
    name: str
    decode: Decoder
    encode: Encoder
    required: bool


@dataclasses.dataclass(frozen=True)
class _ClassCodec:
    """Everything ``from_value`` needs for one class, derived once from its annotations."""

    fields: tuple[_FieldCodec, ...]
    known: frozenset[str]
    defaults: dict[str, Any]
    """Values of the optional fields when they are absent."""
    plan: tuple[tuple[str, Decoder, bool], ...]
    """(name, decoder, required) per field, in declaration order."""
    flat: bool
    """True if every field is a scalar (int, bool, text, bytes, an enum of text values)
    or an array of scalars: then the exact type checks of the field decoders are E2 for
    the whole payload, the top-level key order is all of E3, and its canonical bytes
    are read and written in one pass (``reader``, ``writer``)."""
    fast: Callable[[dict[str, Any]], dict[str, Any] | None] | None
    """For a flat class: the generated decoder ``_fast_decoder`` builds (the field
    values of a map that holds exactly valid, known fields in their plain form, or None
    for anything else, which ``from_value`` then refuses with its named error)."""
    reader: Reader | None
    """For a flat class: the one-pass reader of its canonical bytes (flat.py), which
    ``decode_payload`` tries before the reference path."""
    writer: Writer | None
    """For a flat class: its canonical encoder (flat.py), which ``encode`` tries first."""
    direct: bool
    """True if an instance may be built by filling ``__dict__`` (a plain dataclass
    without ``__post_init__``, slots or default factories): the same object
    ``cls(**fields)`` would build, without the per-field ``object.__setattr__``."""


_SCALAR_TYPES = (int, bool, str, bytes)


def _is_scalar(tp: Any) -> bool:
    if tp in _SCALAR_TYPES:
        return True
    return (
        isinstance(tp, type) and issubclass(tp, enum.Enum) and all(type(m.value) is str for m in tp)
    )


def _is_flat(tp: Any) -> bool:
    """A scalar or ``tuple[scalar, ...]`` (see ``_ClassCodec.flat``)."""
    if _is_scalar(tp):
        return True
    args = typing.get_args(tp)
    return (
        typing.get_origin(tp) is tuple
        and len(args) == 2
        and args[1] is Ellipsis
        and args[0] in _SCALAR_TYPES
    )


def _fast_decoder(
    cls: type[Struct], hints: dict[str, Any], codecs: list[_FieldCodec]
) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """Straight-line code for one flat class, generated once: per field one ``get``, one
    exact type check and, for an enum, one table lookup. It accepts only what the
    general ``from_value`` loop accepts (absent optional fields take their defaults; a
    null, an empty list, an unknown field or a wrong type gives None), so it changes
    speed, not answers; a test holds the two equal on every vector and on mutations."""
    env: dict[str, Any] = {"_A": _ABSENT}
    lines = ["def fast(value):", "    get = value.get", "    present = 0"]
    out = []
    for i, c in enumerate(codecs):
        tp = hints[c.name]
        inner = _optional_inner(tp)
        tp = tp if inner is None else inner
        v = f"v{i}"
        lines.append(f"    {v} = get({c.name!r}, _A)")
        if c.required:
            lines.append(f"    if {v} is _A: return None")
        else:
            lines.append(f"    if {v} is _A: {v} = _D{i}")
            env[f"_D{i}"] = cls.__dataclass_fields__[c.name].default
            lines.append("    else:")
        pad = "    " if c.required else "        "
        if not c.required:
            lines.append(f"{pad}present += 1")
        if tp in _SCALAR_TYPES:
            env[f"_T{i}"] = tp
            lines.append(f"{pad}if type({v}) is not _T{i}: return None")
        elif isinstance(tp, type) and issubclass(tp, enum.Enum):
            env[f"_M{i}"] = {m.value: m for m in tp}
            lines.append(f"{pad}if type({v}) is not str: return None")
            lines.append(f"{pad}{v} = _M{i}.get({v})")
            lines.append(f"{pad}if {v} is None: return None")
        else:  # tuple[scalar, ...]
            env[f"_T{i}"] = typing.get_args(tp)[0]
            lines.append(f"{pad}if type({v}) is not list or not {v}: return None")
            lines.append(f"{pad}for item in {v}:")
            lines.append(f"{pad}    if type(item) is not _T{i}: return None")
            lines.append(f"{pad}{v} = tuple({v})")
        out.append(f"{c.name!r}: {v}")
    required = sum(1 for c in codecs if c.required)
    lines.append(f"    if present + {required} != len(value): return None")
    lines.append(f"    return {{{', '.join(out)}}}")
    exec("\n".join(lines), env)
    fast: Callable[[dict[str, Any]], dict[str, Any] | None] = env["fast"]
    return fast


def _flat_fields(
    cls: type[Struct], hints: dict[str, Any], codecs: list[_FieldCodec]
) -> list[FlatField]:
    """The fields of a flat class as ``flat.build_reader`` takes them."""
    out = []
    for c in codecs:
        tp = hints[c.name]
        inner = _optional_inner(tp)
        tp = tp if inner is None else inner
        kind = ("array", typing.get_args(tp)[0]) if typing.get_origin(tp) is tuple else tp
        default = None if c.required else cls.__dataclass_fields__[c.name].default
        out.append(FlatField(c.name, kind, c.required, default))
    return out


def _class_codec(cls: type[Struct]) -> _ClassCodec:
    hints = typing.get_type_hints(cls)
    codecs = []
    flat = True
    defaults: dict[str, Any] = {}
    direct = not hasattr(cls, "__post_init__") and all(
        "__slots__" not in vars(k) for k in cls.__mro__[:-1]
    )
    for f in dataclasses.fields(cls):
        if f.name == "extra":
            continue
        tp = hints[f.name]
        # A top-level null is rejected for every field (P2) before decoding, so an
        # optional field decodes with its inner type's decoder.
        inner = _optional_inner(tp)
        dec, enc = _build(tp if inner is None else inner)
        flat = flat and _is_flat(tp if inner is None else inner)
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.default is not dataclasses.MISSING:
            defaults[f.name] = f.default
            # P2: only None and () mean "absent"; a field with another default
            # (``firmware_floor: int = 0``) is always encoded, so a reader requires
            # it; otherwise its absence would decode to a value that re-encodes
            # to other bytes (P5).
            if f.default is not None and f.default != ():
                required = True
        elif not required:
            direct = False  # a default factory: let the dataclass __init__ call it
            flat = False  # and the generated decoder knows only plain defaults
        if not f.init:
            direct = False
        codecs.append(_FieldCodec(f.name, dec, enc, required))
    flat_fields = _flat_fields(cls, hints, codecs) if flat else None
    return _ClassCodec(
        fields=tuple(codecs),
        known=frozenset(c.name for c in codecs),
        defaults=defaults,
        plan=tuple((c.name, c.decode, c.required) for c in codecs),
        flat=flat,
        fast=_fast_decoder(cls, hints, codecs) if flat else None,
        reader=build_reader(flat_fields) if flat_fields is not None else None,
        writer=build_writer(flat_fields) if flat_fields is not None else None,
        direct=direct,
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Struct:
    """A frozen dataclass with a canonical CBOR map form (P1-P5)."""

    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)
    """Fields this reader does not know (P4)."""

    _codec_cache: ClassVar[dict[type, _ClassCodec]] = {}

    @classmethod
    def _class_codec(cls) -> _ClassCodec:
        cached = Struct._codec_cache.get(cls)
        if cached is None:
            cached = Struct._codec_cache[cls] = _class_codec(cls)
        return cached

    @classmethod
    def _codecs(cls) -> tuple[_FieldCodec, ...]:
        return cls._class_codec().fields

    def validate(self) -> None:
        """Check constraints beyond types; raise SchemaError. Subclasses extend."""

    def to_value(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        for codec in self._codecs():
            value = getattr(self, codec.name)
            if value is None or (value == () and not codec.required):  # P2
                continue
            out[codec.name] = codec.encode(value)
        return out

    @classmethod
    def from_value(cls, value: Any, path: str = "") -> Self:
        """Build and validate an instance from a decoded CBOR map (P1-P4)."""
        if type(value) is not dict:
            raise _fail(path or cls.__name__, "map", value)
        spec = cls._class_codec()
        fields = spec.fast(value) if spec.fast is not None else None
        if fields is not None:
            fields["extra"] = {}
            if spec.direct:
                obj = object.__new__(cls)
                obj.__dict__.update(fields)
            else:
                obj = cls._construct(fields)
            obj.validate()
            return obj
        kwargs = dict(spec.defaults)
        present = 0
        for name, decode, required in spec.plan:
            raw = value.get(name, _ABSENT)
            if raw is _ABSENT:
                if required:
                    fpath = f"{path}.{name}" if path else name
                    raise SchemaError(f"field {fpath!r} is missing", field=fpath)
                continue
            present += 1
            fpath = f"{path}.{name}" if path else name
            if raw is None:  # P2: absent optional values are omitted, never null
                raise SchemaError(
                    f"field {fpath!r}: null is not allowed; omit the field", field=fpath
                )
            if type(raw) is list and not raw and not required:  # P2: empty lists are omitted
                raise NonCanonicalError(f"field {fpath!r}: omit an empty list", field=fpath)
            kwargs[name] = decode(raw, fpath)
        if present == len(value):
            extra: dict[str, Any] = {}
        else:  # P4: keep what this reader does not know
            if "extra" in value:
                raise SchemaError("field name 'extra' is reserved", field="extra")
            extra = {k: v for k, v in value.items() if k not in spec.known}
        kwargs["extra"] = extra
        if spec.direct:
            obj = object.__new__(cls)
            obj.__dict__.update(kwargs)
        else:
            obj = cls._construct(kwargs)
        obj.validate()
        return obj

    @classmethod
    def _construct(cls, kwargs: dict[str, Any]) -> Self:
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise SchemaError(f"{cls.__name__}: {exc}") from exc

    def encode(self) -> bytes:
        spec = Struct._codec_cache.get(type(self)) or self._class_codec()
        if spec.writer is not None:
            data = spec.writer(self)  # a flat instance of exact field types (flat.py)
            if data is not None:
                return data
        return encoding.encode(self.to_value())


class Payload(Struct):
    """A top-level signed payload: has a type name and a version (domain separation)."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1

    @classmethod
    def decode_payload(cls, data: bytes) -> Self:
        # P5 holds without re-encoding: encoding.decode enforces E4 on the bytes,
        # from_value rejects null and empty-list forms of optional fields (P2), and
        # every field codec maps values one-to-one. A test checks it on every vector.
        spec = Struct._codec_cache.get(cls) or cls._class_codec()
        if spec.reader is not None and type(data) is bytes:
            # A flat payload in its canonical form with no unknown fields is read in one
            # pass (flat.py: E1-E4, P1, P2 and the field types at once). Anything
            # else takes the reference path below, which accepts it or names the error.
            fields = spec.reader(data)
            if fields is not None:
                if spec.direct:
                    obj = _new(cls)
                    obj.__dict__.update(fields)
                else:
                    obj = cls._construct(fields)
                # The reference path would build this same object from these bytes,
                # so a refusal of validate() here is its refusal too.
                obj.validate()
                return obj
        return cls.from_value(encoding.decode(data))


_REGISTRY: dict[tuple[str, int], type[Payload]] = {}

_P = TypeVar("_P", bound=type[Payload])


def register(cls: _P) -> _P:
    """Class decorator: make a payload type known to envelope decoding."""
    key = (cls.TYPE, cls.VERSION)
    if key in _REGISTRY and _REGISTRY[key] is not cls:
        raise TypeError(f"payload type {key} registered twice")
    _REGISTRY[key] = cls
    return cls


def payload_class(type_name: str, version: int) -> type[Payload] | None:
    return _REGISTRY.get((type_name, version))


def registered_types() -> dict[tuple[str, int], type[Payload]]:
    return dict(_REGISTRY)


def check_len(value: bytes, size: int, name: str) -> None:
    if len(value) != size:
        raise SchemaError(f"field {name!r} must be {size} bytes, got {len(value)}", field=name)


def check_nonneg(value: int, name: str) -> None:
    if value < 0:
        raise SchemaError(f"field {name!r} must not be negative", field=name)
