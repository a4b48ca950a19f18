"""One exit-code table: every error class of ``pausebutton.errors`` run through the CLI
exits with the status the table names, and README and docs/cli.md print that table."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from pausebutton import errors
from pausebutton.cli import common, protocol
from pausebutton.cli.common import EXIT_CODES, exit_code_for

ROOT = Path(__file__).resolve().parents[3]
CliRunner = Callable[..., subprocess.CompletedProcess[str]]

EXPECTED = {
    # the README's table, written out: a change here is a change of the documented contract
    "error": 1,
    "input": 2,
    "encoding": 2,
    "malformed": 2,
    "non_canonical": 2,
    "oversized": 2,
    "unknown_type": 2,
    "schema": 2,
    "data": 2,
    "unit": 2,
    "usage": 2,
    "not_found": 2,
    "verification": 3,
    "bad_signature": 3,
    "below_threshold": 3,
    "expired": 3,
    "not_yet_valid": 3,
    "rollback": 3,
    "replay": 3,
    "wrong_chip": 3,
    "firmware_too_old": 3,
    "not_logged": 3,
    "bad_proof": 3,
    "fork": 3,
    "chain": 3,
    "below_floor": 3,
    "last_key": 3,
    "scope": 3,
    "policy": 3,
    "location": 3,
    "model_mismatch": 3,
    "state": 3,
    "tampered": 3,
    "corrupt_state": 3,
    "paused": 3,
    "license_exhausted": 3,
    "lease": 3,
    "unauthenticated": 3,
    "forbidden": 3,
    "revoked_key": 3,
    "conflict": 3,
    "rate_limited": 1,
    "hardware": 1,
    "service": 1,
}


def test_the_table_names_every_error_class() -> None:
    assert set(errors.all_error_classes()) == set(EXPECTED)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_every_error_class_exits_with_its_status_through_the_cli(
    code: str, cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cls = errors.all_error_classes()[code]

    def raising(path: Path, *_: object, **__: object) -> None:
        raise cls("injected for the exit-code table")

    monkeypatch.setattr(protocol, "read_input", raising)
    r = cli("protocol", "inspect", tmp_path / "any.cbor")
    assert r.returncode == EXPECTED[code], r.stderr
    step = common.NEXT_STEPS.get(code)  # what to do next, on the same line
    expected = f"error: {code}: injected for the exit-code table" + (f"; {step}" if step else "")
    assert r.stderr.strip() == expected
    assert exit_code_for(cls()) == EXPECTED[code]


def test_a_missing_file_is_bad_input(cli: CliRunner, tmp_path: Path) -> None:
    r = cli("protocol", "inspect", tmp_path / "missing.cbor")
    assert r.returncode == common.EXIT_INPUT and "Traceback" not in r.stderr


def _doc_table(path: Path) -> dict[int, str]:
    text = path.read_text()
    section = text[text.index("## Exit codes") :]
    section = section[: section.index("\n## ", 3)]
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M)
    return {int(n): meaning for n, meaning in rows}


@pytest.mark.parametrize("doc", ["README.md", "docs/cli.md"])
def test_the_documents_print_the_one_table(doc: str) -> None:
    table = _doc_table(ROOT / doc)
    statuses = {code for _, code in EXIT_CODES} | {
        common.EXIT_OK,
        common.EXIT_ERROR,
        common.EXIT_THROTTLED,
        common.EXIT_INCONSISTENT,
        common.EXIT_INSUFFICIENT,
        common.EXIT_SUSPICIOUS,
        common.EXIT_INTERRUPTED,
    }
    assert set(table) == statuses
    for cls, status in EXIT_CODES:
        assert f"`{cls.code}`" in table[status], (doc, cls.code, status)
