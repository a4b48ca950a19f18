"""The scope grammar: which chips an order covers, as text and as JSON (pure).

Text, as the command line takes it (``--scope``)::

    global
    region:NL,DE          ISO 3166 alpha-2 codes (upper case)
    owner:acme,beta       registry owner ids
    chips:HEX,HEX         chip ids, 64 hex digits each

JSON, as the API and the authority's database hold it::

    {"kind": "region", "regions": ["NL", "DE"], "owners": [], "chips": []}

Both give a ``Scope`` (protocol/messages.py) checked by ``Scope.validate``. A text that
does not follow the grammar raises the caller's ``error`` (``UsageError`` on the command
line: exit 2); JSON that does not, and a scope whose entries break the message rules (a
lower-case region, too many entries), raise ``SchemaError`` naming the field.
"""

from __future__ import annotations

from typing import Any

from pausebutton.errors import InputError, SchemaError, UsageError
from pausebutton.protocol.keys import KEY_ID_SIZE
from pausebutton.protocol.messages import GLOBAL, Scope, ScopeKind

SYNTAX = "global, region:CC,..., owner:ID,... or chips:HEX,..."
"""The text grammar in one line, for help texts and error messages."""

_LISTS = {ScopeKind.REGION: "regions", ScopeKind.OWNER: "owners", ScopeKind.CHIPS: "chips"}


def _chip_id(text: str, field: str, error: type[InputError]) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise error(f"{field} must be hex", field=field) from None
    if len(raw) != KEY_ID_SIZE:
        raise error(
            f"{field} must be {KEY_ID_SIZE} bytes ({2 * KEY_ID_SIZE} hex digits)", field=field
        )
    return raw


def parse_scope(text: str, *, error: type[InputError] = UsageError) -> Scope:
    """The scope ``text`` names (grammar above), validated.

    >>> parse_scope("region:NL,DE").regions
    ('NL', 'DE')
    """
    kind_text, _, rest = text.strip().partition(":")
    values = tuple(v.strip() for v in rest.split(",") if v.strip())
    if kind_text == ScopeKind.GLOBAL.value and not values:
        return GLOBAL
    try:
        kind = ScopeKind(kind_text)
    except ValueError:
        kind = ScopeKind.GLOBAL
    if kind is ScopeKind.GLOBAL or not values:
        raise error(f"bad scope {text!r}: use {SYNTAX}", field="scope")
    if kind is ScopeKind.CHIPS:
        scope = Scope(kind, chips=tuple(_chip_id(c, "scope.chips", error) for c in values))
    elif kind is ScopeKind.REGION:
        scope = Scope(kind, regions=values)
    else:
        scope = Scope(kind, owners=values)
    scope.validate()
    return scope


def format_scope(scope: Scope) -> str:
    """The text form of ``scope`` (``parse_scope`` reads it back)."""
    if scope.kind is ScopeKind.GLOBAL:
        return ScopeKind.GLOBAL.value
    if scope.kind is ScopeKind.CHIPS:
        return "chips:" + ",".join(c.hex() for c in scope.chips)
    values = scope.regions if scope.kind is ScopeKind.REGION else scope.owners
    return f"{scope.kind.value}:" + ",".join(values)


def scope_to_json(scope: Scope) -> dict[str, Any]:
    """The JSON form of ``scope``: every list present, chip ids as hex."""
    return {
        "kind": scope.kind.value,
        "regions": list(scope.regions),
        "owners": list(scope.owners),
        "chips": [c.hex() for c in scope.chips],
    }


def scope_from_json(data: Any, field: str = "scope") -> Scope:
    """The scope a JSON object holds (lists may be missing or null), validated;
    ``SchemaError`` naming the field otherwise."""
    if not isinstance(data, dict):
        raise SchemaError("scope must be an object", field=field)
    try:
        kind = ScopeKind(data.get("kind"))
    except ValueError:
        raise SchemaError(
            "scope.kind must be one of global, region, owner, chips", field=f"{field}.kind"
        ) from None
    lists: dict[str, list[str]] = {}
    for name in _LISTS.values():
        values = data.get(name) or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SchemaError(f"scope.{name} must be a list of text", field=f"{field}.{name}")
        lists[name] = values
    scope = Scope(
        kind,
        tuple(lists["regions"]),
        tuple(lists["owners"]),
        tuple(_chip_id(c, f"{field}.chips", SchemaError) for c in lists["chips"]),
    )
    scope.validate()
    return scope
