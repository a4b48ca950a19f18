"""The message vector files (M1-M11), one per message type."""

from __future__ import annotations

from typing import Any

from vectorgen import licensing, orders, telemetry
from vectorgen.common import Keys, Roles, file_doc


def message_vectors(keys: Keys, root: bytes) -> dict[str, dict[str, Any]]:
    """Every message vector file: type name -> document."""
    files: dict[str, dict[str, Any]] = {}

    def doc(type_name: str, description: str, vectors: list[dict[str, Any]]) -> None:
        files[type_name] = file_doc(description, root, vectors)

    roles = Roles.of(keys)
    for section in (*licensing.SECTIONS, *orders.SECTIONS, *telemetry.SECTIONS):
        section(roles, doc)
    return files
