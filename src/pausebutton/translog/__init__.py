"""Transparency log: RFC 9162 Merkle tree, C2SP checkpoints and cosignatures, log store,
HTTP API and witness. See docs/translog.md."""
