"""Anonymous whistleblower channel: sealed submissions, receipt codes, replies.

* The authority publishes a Curve25519 public key. A submission is a JSON
  report padded to a multiple of :data:`PAD` bytes and sealed to that key
  with a libsodium sealed box (PyNaCl ``SealedBox``): an ephemeral sender key,
  so nothing identifies the sender and only the authority can open it.
* The submitter keeps a *receipt code* (128 random bits) that travels inside
  the sealed report. From it both sides derive (BLAKE2b, distinct
  personalisations) a *lookup id* under which replies are filed and a
  *reply key* that encrypts them (``SecretBox``). The server sees neither the
  receipt nor the lookup of a submission: only the authority, after opening
  the report, can file a reply, and only the holder of the receipt can find
  and read it.
* The store keeps the sealed bytes and a random id, nothing else: no IP
  address, no time, no headers. Replies are stored as (lookup, ciphertext).

The store is SQLite: each operation is one transaction, so a crash leaves
either the old or the new state.
"""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nacl import exceptions as nacl_exc
from nacl.hash import blake2b
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox

from pausebutton.detect.signals import SCHEMAS, Method, WhistleReport, parse_row
from pausebutton.errors import (
    BadSignatureError,
    DataError,
    InputError,
    NotFoundError,
    OversizedError,
)

PAD = 1024
MAX_SUBMISSION = 64 * 1024
MAX_REPLY = 16 * 1024
SEAL_OVERHEAD = 48
RECEIPT_BYTES = 16
FIELDS = ("claim", "site", "owner", "claimed_chips", "claimed_flop")


def keygen() -> tuple[bytes, bytes]:
    """(private key, public key), 32 raw bytes each."""
    sk = PrivateKey.generate()
    return bytes(sk), bytes(sk.public_key)


def public_from_private(private: bytes) -> bytes:
    return bytes(PrivateKey(private).public_key)


def _check_key(raw: bytes, what: str) -> bytes:
    if len(raw) != 32:
        raise DataError(f"{what}: a Curve25519 key is 32 bytes, got {len(raw)}", field=what)
    return raw


def new_receipt() -> str:
    """A receipt code like ``ABCD-EFGH-...`` (128 bits, base32)."""
    raw = base64.b32encode(secrets.token_bytes(RECEIPT_BYTES)).decode().rstrip("=")
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def _norm_receipt(receipt: str) -> bytes:
    r = receipt.replace("-", "").replace(" ", "").upper()
    if len(r) != 26 or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in r):
        raise DataError("not a receipt code", field="receipt")
    return r.encode()


def lookup_id(receipt: str) -> str:
    """Where replies for ``receipt`` are filed (hex)."""
    return blake2b(_norm_receipt(receipt), digest_size=16, person=b"pb-wb-lookup").decode()


def _reply_key(receipt: str) -> bytes:
    return bytes.fromhex(
        blake2b(_norm_receipt(receipt), digest_size=32, person=b"pb-wb-replykey").decode()
    )


def seal_report(
    public_key: bytes, report: dict[str, Any], receipt: str | None = None
) -> tuple[bytes, str]:
    """Seal a report to the authority; returns (sealed bytes, receipt code to keep)."""
    _check_key(public_key, "public_key")
    unknown = set(report) - set(FIELDS)
    if unknown:
        raise DataError(
            f"unknown report field(s): {', '.join(sorted(unknown))}", field=sorted(unknown)[0]
        )
    if not str(report.get("claim", "")).strip():
        raise DataError("claim: missing", field="claim")
    code = receipt or new_receipt()
    _norm_receipt(code)
    body = json.dumps({"v": 1, **report, "receipt": code}, sort_keys=True).encode()
    padded = body + b" " * (-len(body) % PAD)
    if len(padded) + SEAL_OVERHEAD > MAX_SUBMISSION:
        raise OversizedError(f"report larger than {MAX_SUBMISSION} bytes")
    return SealedBox(PublicKey(public_key)).encrypt(padded), code


@dataclass(frozen=True)
class OpenedReport:
    submission_id: str
    receipt: str
    fields: dict[str, Any]

    def to_signal(self, now: datetime, credibility: float = 0.5) -> WhistleReport:
        """The report as a whistleblower signal dated ``now`` (intake date)."""
        row = {k: v for k, v in self.fields.items() if k in FIELDS and v not in (None, "")}
        row.update(report_id=self.submission_id, time=now.isoformat(), credibility=credibility)
        sig = parse_row(SCHEMAS[Method.WHISTLEBLOWER], row)
        assert isinstance(sig, WhistleReport)
        return sig


def open_report(private_key: bytes, submission_id: str, sealed: bytes) -> OpenedReport:
    _check_key(private_key, "private_key")
    try:
        plain = SealedBox(PrivateKey(private_key)).decrypt(sealed)
    except nacl_exc.CryptoError:
        raise BadSignatureError("submission does not open with this key") from None
    try:
        doc = json.loads(plain.rstrip(b" "))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError("sealed report is not JSON") from None
    if not isinstance(doc, dict) or doc.get("v") != 1 or "receipt" not in doc:
        raise DataError("sealed report has the wrong shape")
    receipt = str(doc.pop("receipt"))
    doc.pop("v")
    return OpenedReport(submission_id, receipt, doc)


def seal_reply(receipt: str, message: str) -> tuple[str, bytes]:
    """(lookup id, ciphertext) of a reply only the receipt holder can read."""
    data = message.encode()
    if len(data) > MAX_REPLY:
        raise OversizedError(f"reply larger than {MAX_REPLY} bytes")
    data += b" " * (-len(data) % 256)
    return lookup_id(receipt), SecretBox(_reply_key(receipt)).encrypt(data)


def open_reply(receipt: str, box: bytes) -> str:
    try:
        return SecretBox(_reply_key(receipt)).decrypt(box).rstrip(b" ").decode()
    except nacl_exc.CryptoError:
        raise BadSignatureError("reply does not open with this receipt") from None


class WhistleStore:
    """SQLite intake queue: sealed submissions and sealed replies; no metadata."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._tx() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS submissions ("
                " id TEXT PRIMARY KEY, sealed BLOB NOT NULL, opened INTEGER NOT NULL DEFAULT 0)"
                " WITHOUT ROWID"  # rows live in random-id order: arrival order is not kept
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS replies (lookup TEXT NOT NULL, box BLOB NOT NULL)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS replies_lookup ON replies(lookup)")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def submit(self, sealed: bytes) -> str:
        """Queue a sealed submission; returns its random id (not told to the submitter)."""
        if len(sealed) > MAX_SUBMISSION:
            raise OversizedError(f"submission larger than {MAX_SUBMISSION} bytes")
        if len(sealed) < SEAL_OVERHEAD + PAD:
            raise DataError("not a sealed submission (too short)")
        sid = secrets.token_hex(8)
        with self._tx() as db:
            db.execute("INSERT INTO submissions (id, sealed) VALUES (?, ?)", (sid, sealed))
        return sid

    def pending(self, include_opened: bool = False) -> list[tuple[str, bytes]]:
        with self._tx() as db:
            q = "SELECT id, sealed FROM submissions"
            if not include_opened:
                q += " WHERE opened = 0"
            return [(str(r[0]), bytes(r[1])) for r in db.execute(q + " ORDER BY id")]

    def get(self, sid: str) -> bytes:
        with self._tx() as db:
            row = db.execute("SELECT sealed FROM submissions WHERE id = ?", (sid,)).fetchone()
        if row is None:
            raise NotFoundError(f"no submission {sid!r}")
        return bytes(row[0])

    def mark_opened(self, ids: list[str]) -> None:
        with self._tx() as db:
            db.executemany("UPDATE submissions SET opened = 1 WHERE id = ?", [(i,) for i in ids])

    def add_reply(self, lookup: str, box: bytes) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO replies (lookup, box) VALUES (?, ?)", (lookup, box))

    def replies(self, lookup: str) -> list[bytes]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT box FROM replies WHERE lookup = ? ORDER BY rowid", (lookup,)
            ).fetchall()
        return [bytes(r[0]) for r in rows]


def intake(
    store: WhistleStore, private_key: bytes, now: datetime
) -> tuple[list[OpenedReport], list[InputError]]:
    """Open every new submission; bad ones are reported and left unopened-marked."""
    opened: list[OpenedReport] = []
    errs: list[InputError] = []
    ok_ids: list[str] = []
    for sid, sealed in store.pending():
        try:
            opened.append(open_report(private_key, sid, sealed))
            ok_ids.append(sid)
        except (InputError, BadSignatureError) as exc:
            errs.append(DataError(f"submission {sid}: {exc.message}", submission=sid))
    store.mark_opened(ok_ids)
    return opened, errs
