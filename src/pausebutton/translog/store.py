"""The durable log: an append-only RFC 9162 tree in SQL (SQLAlchemy 2 Core). I/O edge.

Tables (all prefixed ``translog_``; docs/translog.md, "Store"):

- ``translog_meta``        one row: the tree size (the row every append locks first)
- ``translog_entries``     ``idx`` -> entry bytes and leaf hash (indexed by epoch and hash)
- ``translog_nodes``       the hash of every perfect subtree, leaves included, keyed by its
                           in-order ("flat tree") number ``((2 * index + 1) << level) - 1``
- ``translog_checkpoints`` every checkpoint the log signed: size, root, signed note text
- ``translog_cosignatures`` witness cosignature lines per checkpoint size

An append of a batch is one transaction: it bumps the size in ``translog_meta`` (which
serialises writers on SQLite and PostgreSQL alike), reads the O(log n) right-edge
subtrees, and inserts the entries and every newly completed subtree. A crash leaves the
whole batch or none of it. Any root, inclusion proof or consistency proof at any size
needs only the O(log n) perfect subtrees ``merkle.perfect_blocks`` names: one indexed
query, never the whole tree in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pausebutton.errors import (
    ConflictError,
    CorruptStateError,
    ForbiddenError,
    MalformedError,
    NotFoundError,
    OversizedError,
    UsageError,
)
from pausebutton.protocol.encoding import MAX_MESSAGE_SIZE
from pausebutton.protocol.keys import PrivateKey
from pausebutton.translog import merkle
from pausebutton.translog.bundle import InclusionBundle
from pausebutton.translog.merkle import Block
from pausebutton.translog.note import (
    CheckpointBody,
    Note,
    NoteSignature,
    SignedCheckpoint,
    verify_note,
)
from pausebutton.translog.policy import LogPolicy

MAX_BATCH = 100_000
"""Most entries in one append."""
MAX_BATCH_BYTES = 256 * 1024 * 1024
"""Most bytes in one append."""
MAX_ENTRY_SIZE = min(MAX_MESSAGE_SIZE, 0xFFFF)
"""Largest entry accepted: a protocol message, and what a tlog-tiles entry bundle's 16-bit
length prefix can carry."""
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
"""RFC 9162 domain separation of leaf and interior-node hashes (``merkle.leaf_hash`` and
``merkle.node_hash``, inlined in ``append_in``)."""
TILE_WIDTH = 256
"""Hashes in a full c2sp.org/tlog-tiles tile (8 tree levels)."""
MAX_RANGE = 1000
"""Most entries returned by one ``entries`` call."""

metadata = sa.MetaData()
"""The log's tables; include them in the authority's migrations."""

meta_table = sa.Table(
    "translog_meta",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("size", sa.BigInteger, nullable=False),
)
EPOCH_BITS = 14
"""Entries are grouped in epochs of 2**14 for the leaf-hash index (see ``index_of``)."""

entries_table = sa.Table(
    "translog_entries",
    metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Index("ix_translog_entries_epoch_hash", "epoch", "leaf_hash"),
)
nodes_table = sa.Table(
    "translog_nodes",
    metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,
)
checkpoints_table = sa.Table(
    "translog_checkpoints",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)
cosignatures_table = sa.Table(
    "translog_cosignatures",
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("key_hash", sa.LargeBinary(4), nullable=False),
    sa.Column("line", sa.Text, nullable=False),
)


def node_id(block: Block) -> int:
    """The in-order number of a perfect subtree ``(level, index)``."""
    level, index = block
    return ((2 * index + 1) << level) - 1


def create_log_engine(url: str, *, sqlite_cache_mib: int = 32, **kwargs: Any) -> Engine:
    """An engine for the log: on SQLite, WAL journal, ``synchronous=FULL`` (an acknowledged
    append survives power loss), a page cache of ``sqlite_cache_mib`` per connection and a
    busy timeout so concurrent writers wait."""
    if url.startswith("sqlite"):
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", 30)
        engine = sa.create_engine(url, connect_args=connect_args, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute(f"PRAGMA cache_size=-{int(sqlite_cache_mib) * 1024}")
            cur.execute("PRAGMA wal_autocheckpoint=16384")
            cur.close()

        return engine
    return sa.create_engine(url, **kwargs)


_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}
"""Positional parameter markers of the drivers whose SQL the store writes itself."""


def _insert_many(
    conn: Connection, table: sa.Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """A bulk INSERT through the driver's executemany: the rows of an append are plain
    ints and bytes, so SQLAlchemy's per-value processing is skipped (a quarter of the
    time of an append). Other drivers take the portable path."""
    marker = _MARKERS.get(conn.dialect.paramstyle)
    if marker is None:
        conn.execute(sa.insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)})"
        f" VALUES ({', '.join([marker] * len(columns))})"
    )
    conn.exec_driver_sql(sql, rows)


def check_entries(entries: Sequence[bytes]) -> None:
    """Every entry is bytes of at most ``MAX_ENTRY_SIZE``, the batch at most
    ``MAX_BATCH_BYTES`` (one pass over the lengths; the error names the first bad entry)."""
    lengths = [len(e) if isinstance(e, bytes) else -1 for e in entries]
    if sum(lengths) + lengths.count(-1) > MAX_BATCH_BYTES:
        raise OversizedError(f"a batch holds at most {MAX_BATCH_BYTES} bytes")
    if max(lengths) > MAX_ENTRY_SIZE or min(lengths) < 0:
        for i, size in enumerate(lengths):
            if size < 0:
                raise MalformedError(f"entry {i} is not bytes")
            if size > MAX_ENTRY_SIZE:
                raise OversizedError(
                    f"entry {i} of {size} bytes exceeds {MAX_ENTRY_SIZE}", size=size
                )


def _check_index(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"{what} must be a non-negative integer")
    return value


class LogStore:
    """The tree and its checkpoints in SQL. Thread-safe as far as the engine is."""

    def __init__(self, engine: Engine, *, create: bool = True) -> None:
        self.engine = engine
        if create:
            metadata.create_all(engine)
            with engine.begin() as conn:
                have = conn.execute(sa.select(meta_table.c.id).where(meta_table.c.id == 1))
                if have.first() is None:
                    conn.execute(sa.insert(meta_table).values(id=1, size=0))

    # -- appends ---------------------------------------------------------------------------

    def append(self, entries: Sequence[bytes]) -> list[int]:
        """Append a batch in one transaction; returns the indices, once durable."""
        if not entries:
            return []
        if len(entries) > MAX_BATCH:
            raise UsageError(f"at most {MAX_BATCH} entries per append")
        check_entries(entries)
        with self.engine.begin() as conn:
            return self.append_in(conn, entries)

    @classmethod
    def append_in(cls, conn: Connection, entries: Sequence[bytes]) -> list[int]:
        """Append within the caller's open transaction (the authority logs a record and
        its entry in one transaction): bump the size row, which serialises writers; read
        the right-edge subtrees; insert the leaves and every newly completed subtree.

        The leaf hashes are computed before the size row is locked; inside the lock only
        the completed interior nodes are hashed (on a stack of the right edge, as
        ``merkle.root_blocks`` orders it) and the rows written in two executemany calls."""
        sha256 = hashlib.sha256
        leaves = [sha256(_LEAF_PREFIX + e).digest() for e in entries]
        n = len(entries)
        marker = _MARKERS.get(conn.dialect.paramstyle)
        if marker is None:  # another driver: the portable statements
            end = conn.execute(
                sa.update(meta_table)
                .where(meta_table.c.id == 1)
                .values(size=meta_table.c.size + n)
                .returning(meta_table.c.size)
            ).scalar_one_or_none()
        else:  # the driver's own: an append of one licence is a few statements, all hot
            end = conn.exec_driver_sql(
                f"UPDATE {meta_table.name} SET size = size + {marker} WHERE id = 1 RETURNING size",
                (n,),
            ).scalar_one_or_none()
        if end is None:
            raise CorruptStateError("the transparency log's size row is missing")
        start = int(end) - n
        edge: list[bytes] = []  # the right edge's perfect subtrees, largest (leftmost) first
        if start:
            blocks = merkle.root_blocks(start)
            known = cls._blocks(conn, blocks)
            edge = [known[b] for b in blocks]
        new_nodes: list[tuple[int, bytes]] = []
        add = new_nodes.append
        for leaf_index, leaf in enumerate(leaves, start):
            add((2 * leaf_index, leaf))
            level, index, h = 0, leaf_index, leaf
            while index & 1:
                h = sha256(_NODE_PREFIX + edge.pop() + h).digest()
                level += 1
                index >>= 1
                add((((2 * index + 1) << level) - 1, h))
            edge.append(h)
        _insert_many(
            conn,
            entries_table,
            ("idx", "epoch", "leaf_hash", "data"),
            [
                (index, index >> EPOCH_BITS, h, e)
                for index, h, e in zip(range(start, int(end)), leaves, entries, strict=True)
            ],
        )
        _insert_many(conn, nodes_table, ("id", "hash"), new_nodes)
        return list(range(start, int(end)))

    # -- reads -----------------------------------------------------------------------------

    def size(self) -> int:
        with self.engine.connect() as conn:
            return self._size(conn)

    @staticmethod
    def _size(conn: Connection) -> int:
        value = conn.execute(sa.select(meta_table.c.size).where(meta_table.c.id == 1)).scalar()
        if value is None:
            raise CorruptStateError("the log's meta row is missing")
        return int(value)

    @staticmethod
    def _blocks(conn: Connection, blocks: Iterable[Block]) -> dict[Block, bytes]:
        wanted = {node_id(b): b for b in blocks}
        if not wanted:
            return {}
        marker = _MARKERS.get(conn.dialect.paramstyle)
        if marker is None:
            rows = conn.execute(
                sa.select(nodes_table.c.id, nodes_table.c.hash).where(
                    nodes_table.c.id.in_(list(wanted))
                )
            ).all()
        else:  # O(log n) plain ids: through the driver, without statement building
            rows = conn.exec_driver_sql(
                f"SELECT id, hash FROM {nodes_table.name}"
                f" WHERE id IN ({', '.join([marker] * len(wanted))})",
                tuple(wanted),
            ).all()
        out = {wanted[row[0]]: bytes(row[1]) for row in rows}
        if len(out) != len(wanted):
            missing = [b for b in wanted.values() if b not in out]
            raise CorruptStateError(f"the log store lacks subtree hashes {missing[:4]}")
        return out

    def _resolve_size(self, conn: Connection, tree_size: int | None) -> tuple[int, int]:
        size = self._size(conn)
        if tree_size is None:
            return size, size
        _check_index(tree_size, "tree size")
        if tree_size > size:
            raise NotFoundError(f"tree size {tree_size} is beyond the log's size {size}")
        return size, tree_size

    def root(self, tree_size: int | None = None) -> tuple[int, bytes]:
        """``(size, root hash)`` of the tree now, or at an earlier ``tree_size``."""
        with self.engine.connect() as conn:
            _, m = self._resolve_size(conn, tree_size)
            return m, self._root(conn, m)

    def _root(self, conn: Connection, size: int) -> bytes:
        if size == 0:
            return merkle.EMPTY_ROOT
        blocks = merkle.root_blocks(size)
        got = self._blocks(conn, blocks)
        return merkle.fold_blocks([got[b] for b in blocks])

    def inclusion_proof(self, index: int, tree_size: int | None = None) -> tuple[int, list[bytes]]:
        """``(tree size, audit path)`` of leaf ``index`` (NotFoundError beyond the tree)."""
        _check_index(index, "leaf index")
        with self.engine.connect() as conn:
            _, m = self._resolve_size(conn, tree_size)
            if index >= m:
                raise NotFoundError(f"leaf index {index} is beyond tree size {m}")
            ranges = merkle.inclusion_ranges(index, m)
            return m, merkle.hashes_for(ranges, self._blocks(conn, merkle.blocks_for(ranges)))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        _check_index(old_size, "old size")
        with self.engine.connect() as conn:
            _, m = self._resolve_size(conn, new_size)
            if old_size > m:
                raise NotFoundError(f"old size {old_size} is beyond new size {m}")
            ranges = merkle.consistency_ranges(old_size, m)
            return merkle.hashes_for(ranges, self._blocks(conn, merkle.blocks_for(ranges)))

    def entries(self, start: int, end: int) -> list[bytes]:
        """Entries ``[start, end)``: at most ``MAX_RANGE``, all within the tree."""
        _check_index(start, "start")
        _check_index(end, "end")
        if end <= start:
            raise UsageError("end must be greater than start")
        if end - start > MAX_RANGE:
            raise UsageError(f"at most {MAX_RANGE} entries per request")
        with self.engine.connect() as conn:
            size = self._size(conn)
            if end > size:
                raise NotFoundError(f"entries up to {end} requested; the log has {size}")
            rows = conn.execute(
                sa.select(entries_table.c.data)
                .where(entries_table.c.idx >= start, entries_table.c.idx < end)
                .order_by(entries_table.c.idx)
            ).all()
        return [bytes(r[0]) for r in rows]

    def entry(self, index: int) -> bytes:
        return self.entries(index, index + 1)[0]

    def index_of(self, leaf_hash: bytes) -> int:
        """The first index of the entry with ``leaf_hash`` (NotFoundError if none)."""
        if not isinstance(leaf_hash, bytes) or len(leaf_hash) != merkle.HASH_SIZE:
            raise MalformedError("a leaf hash is 32 bytes")
        # The index is on (epoch, leaf hash), not on the hash alone: an append then touches
        # only the index pages of the current epoch instead of ~one random page per entry,
        # which keeps appends fast at millions of entries. A lookup probes every epoch.
        with self.engine.connect() as conn:
            epochs = (self._size(conn) + (1 << EPOCH_BITS) - 1) >> EPOCH_BITS
            for first in range(0, epochs, 256):
                value = conn.execute(
                    sa.select(sa.func.min(entries_table.c.idx)).where(
                        entries_table.c.epoch.in_(list(range(first, min(epochs, first + 256)))),
                        entries_table.c.leaf_hash == leaf_hash,
                    )
                ).scalar()
                if value is not None:
                    return int(value)
        raise NotFoundError("no entry with that leaf hash is in the log")

    # -- tlog-tiles ------------------------------------------------------------------------

    @staticmethod
    def _tile_span(level: int, index: int, width: int | None) -> tuple[int, int]:
        if not 0 <= level <= 63 or index < 0:
            raise UsageError("tile level is 0-63 and tile index non-negative")
        if width is not None and not 1 <= width < TILE_WIDTH:
            raise UsageError(f"a partial tile is 1-{TILE_WIDTH - 1} hashes wide")
        w = TILE_WIDTH if width is None else width
        return w, (index * TILE_WIDTH + w) << (8 * level)

    def tile(self, level: int, index: int, width: int | None = None) -> bytes:
        """The c2sp.org/tlog-tiles tile ``level``/``index`` (``width`` for a partial one):
        the hashes of the perfect subtrees of tree level ``8 * level``, concatenated."""
        w, needs = self._tile_span(level, index, width)
        with self.engine.connect() as conn:
            if needs > self._size(conn):
                raise NotFoundError("the log is not large enough for that tile yet")
            blocks = [(8 * level, index * TILE_WIDTH + i) for i in range(w)]
            got = self._blocks(conn, blocks)
        return b"".join(got[b] for b in blocks)

    def entry_bundle(self, index: int, width: int | None = None) -> bytes:
        """The tlog-tiles entry bundle ``index``: entries with 16-bit big-endian lengths."""
        _, end = self._tile_span(0, index, width)
        items = self.entries(index * TILE_WIDTH, end)  # NotFoundError beyond the tree
        return b"".join(len(e).to_bytes(2, "big") + e for e in items)

    # -- checkpoints ------------------------------------------------------------------------

    def save_checkpoint(self, signed: SignedCheckpoint) -> None:
        """Store a log-signed checkpoint (its note without cosignatures)."""
        with self.engine.begin() as conn:
            stored = self._checkpoint_row(conn, signed.size)
            if stored is not None:
                if stored[1] != signed.root_hash:
                    raise ConflictError(f"a checkpoint of size {signed.size} exists already")
                return
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.insert(checkpoints_table).values(
                            size=signed.size, root_hash=signed.root_hash, note=signed.encode()
                        )
                    )
            except sa.exc.IntegrityError:  # signed concurrently by another worker
                stored = self._checkpoint_row(conn, signed.size)
                if stored is None or stored[1] != signed.root_hash:
                    raise ConflictError(
                        f"a checkpoint of size {signed.size} exists already"
                    ) from None

    @staticmethod
    def _checkpoint_row(conn: Connection, size: int) -> tuple[int, bytes, str] | None:
        row = conn.execute(
            sa.select(
                checkpoints_table.c.size, checkpoints_table.c.root_hash, checkpoints_table.c.note
            ).where(checkpoints_table.c.size == size)
        ).first()
        return None if row is None else (int(row[0]), bytes(row[1]), str(row[2]))

    def latest_checkpoint_size(self) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(checkpoints_table.c.size))).scalar()
        return None if value is None else int(value)

    def checkpoint(self, size: int) -> SignedCheckpoint:
        """The stored checkpoint of ``size`` with every stored cosignature."""
        _check_index(size, "size")
        with self.engine.connect() as conn:
            row = self._checkpoint_row(conn, size)
            if row is None:
                raise NotFoundError(f"the log signed no checkpoint of size {size}")
            lines = conn.execute(
                sa.select(cosignatures_table.c.line)
                .where(cosignatures_table.c.size == size)
                .order_by(cosignatures_table.c.name)
            ).all()
        signed = SignedCheckpoint.parse(row[2])
        cosigs = [Note.parse(signed.note.text + "\n" + str(r[0])).signatures[0] for r in lines]
        return signed.with_signatures(cosigs)

    def add_cosignatures(self, size: int, sigs: Sequence[NoteSignature]) -> None:
        with self.engine.begin() as conn:
            have = {
                str(r[0])
                for r in conn.execute(
                    sa.select(cosignatures_table.c.name).where(cosignatures_table.c.size == size)
                )
            }
            rows = [
                {"size": size, "name": s.name, "key_hash": s.key_hash, "line": s.line()}
                for s in sigs
                if s.name not in have
            ]
            for row in rows:
                try:
                    with conn.begin_nested():
                        conn.execute(sa.insert(cosignatures_table), row)
                except sa.exc.IntegrityError:  # the same witness, posted concurrently
                    continue

    def cosigned_sizes(self, min_size: int, witnesses: int) -> list[int]:
        """Checkpoint sizes above ``min_size`` with at least ``witnesses`` cosignatures,
        largest first."""
        count = sa.func.count(cosignatures_table.c.name)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(cosignatures_table.c.size)
                .where(cosignatures_table.c.size > min_size)
                .group_by(cosignatures_table.c.size)
                .having(count >= witnesses)
                .order_by(cosignatures_table.c.size.desc())
                .limit(8)
            ).all()
        return [int(r[0]) for r in rows]

    def checkpoint_sizes_above(self, min_size: int) -> list[int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(checkpoints_table.c.size)
                .where(checkpoints_table.c.size > min_size)
                .order_by(checkpoints_table.c.size.desc())
                .limit(1)
            ).all()
        return [int(r[0]) for r in rows]


@dataclass(frozen=True)
class CosignResult:
    size: int
    accepted: tuple[str, ...]


class LogService:
    """The log as the authority runs it: appends, signed checkpoints, cosignatures from the
    trust root's witnesses, proofs and bundles."""

    def __init__(self, store: LogStore, log_key: PrivateKey, policy: LogPolicy) -> None:
        if log_key.public.raw not in {k.raw for k in policy.log_keys}:
            raise UsageError("the log key is not a key of the trust root's log role")
        self.store = store
        self.log_key = log_key
        self.policy = policy

    @property
    def origin(self) -> str:
        return self.policy.origin

    def append(self, entries: Sequence[bytes]) -> list[int]:
        return self.store.append(entries)

    def checkpoint(self) -> SignedCheckpoint:
        """The checkpoint of the current tree, signing one if the tree grew, with every
        cosignature received so far."""
        size, root = self.store.root()
        latest = self.store.latest_checkpoint_size()
        if latest != size:
            body = CheckpointBody(self.origin, size, root)
            self.store.save_checkpoint(SignedCheckpoint.sign(body, self.log_key))
        return self.store.checkpoint(size)

    def checkpoint_at(self, size: int) -> SignedCheckpoint:
        return self.store.checkpoint(size)

    def add_cosignature(self, note: str | bytes) -> CosignResult:
        """Store the witness cosignatures on a checkpoint note the log signed. Unknown
        signers are ignored; a note of another text is a ConflictError; a bad cosignature
        by a witness key, BadSignatureError; none by a witness key, ForbiddenError."""
        cosigned = SignedCheckpoint.parse(note)
        stored = self.store.checkpoint(cosigned.size)
        if cosigned.note.text != stored.note.text:
            raise ConflictError(
                f"the cosigned checkpoint of size {cosigned.size} is not the one this log"
                " signed (a witness saw another view)",
                size=cosigned.size,
            )
        verified = verify_note(cosigned.note, self.policy.witness_verifiers)
        if not verified:
            raise ForbiddenError("the note carries no cosignature by a witness of the trust root")
        signers = {v.verifier.signer for v in verified}
        sigs = [s for s in cosigned.note.signatures if s.signer in signers]
        self.store.add_cosignatures(cosigned.size, sigs)
        return CosignResult(cosigned.size, tuple(sorted(s.name for s in sigs)))

    def _bundle_size(self, index: int) -> int:
        sizes = self.store.cosigned_sizes(index, self.policy.witness_threshold)
        if sizes:
            return sizes[0]
        latest = self.store.checkpoint_sizes_above(index)
        if latest:
            return latest[0]
        raise NotFoundError(
            f"entry {index} is not yet under a signed checkpoint; ask again after the next one"
        )

    def inclusion_bundle(self, index: int, tree_size: int | None = None) -> InclusionBundle:
        """Entry ``index`` with its proof under the checkpoint of ``tree_size``, or by
        default under the largest checkpoint with the witness threshold of cosignatures
        (else the largest signed one)."""
        _check_index(index, "leaf index")
        size = self._bundle_size(index) if tree_size is None else tree_size
        checkpoint = self.store.checkpoint(size)
        m, proof = self.store.inclusion_proof(index, size)
        return InclusionBundle(
            entry=self.store.entry(index),
            leaf_index=index,
            tree_size=m,
            proof=tuple(proof),
            checkpoint=checkpoint.encode(),
        )

    def bundle_for_hash(self, leaf_hash: bytes, tree_size: int | None = None) -> InclusionBundle:
        return self.inclusion_bundle(self.store.index_of(leaf_hash), tree_size)

    def bundle_for_entry(self, entry: bytes, tree_size: int | None = None) -> InclusionBundle:
        return self.bundle_for_hash(merkle.leaf_hash(entry), tree_size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        return self.store.consistency_proof(old_size, new_size)

    def entries(self, start: int, end: int) -> list[bytes]:
        return self.store.entries(start, end)
