"""C2SP signed notes, checkpoints and cosignatures: interop vectors and strict parsing."""

from __future__ import annotations

import base64
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pausebutton.errors import BadSignatureError, EncodingError, MalformedError, OversizedError
from pausebutton.protocol.keys import PrivateKey, PublicKey
from pausebutton.translog.bundle import InclusionBundle
from pausebutton.translog.note import (
    MAX_NOTE_SIZE,
    MAX_SIGNATURES,
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    CheckpointBody,
    Note,
    NoteSignature,
    NoteVerifier,
    SignedCheckpoint,
    cosign_note_text,
    key_hash,
    log_verifier,
    sign_note_text,
    verify_note,
    witness_name,
    witness_verifier,
)

# golang.org/x/mod/sumdb/note's published example (also in the C2SP implementations).
GO_SKEY = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

# c2sp.org/tlog-cosignature's example checkpoint with a log signature and a cosignature.
C2SP_COSIGNED = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
    "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJs"
    "X3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


def test_go_vector_key_hash_signature_and_verify() -> None:
    seed = base64.b64decode(GO_SKEY)[1:]
    key = PrivateKey(seed)
    assert base64.b64decode(GO_VKEY) == bytes([SIG_ED25519]) + key.public.raw
    assert key_hash("PeterNeumann", SIG_ED25519, key.public.raw).hex() == "c74f20a3"
    sig = sign_note_text(GO_TEXT, "PeterNeumann", key)
    assert Note(GO_TEXT, (sig,)).encode() == GO_NOTE
    note = Note.parse(GO_NOTE)
    assert note.text == GO_TEXT
    verifier = NoteVerifier("PeterNeumann", key.public)
    assert [v.timestamp for v in verify_note(note, [verifier])] == [None]
    tampered = Note.parse(GO_NOTE.replace("cryptography", "cryptographY"))
    with pytest.raises(BadSignatureError):
        verify_note(tampered, [verifier])


def test_c2sp_cosigned_checkpoint_parses() -> None:
    cp = SignedCheckpoint.parse(C2SP_COSIGNED)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.encode() == C2SP_COSIGNED
    witness = cp.note.signatures[1]
    assert witness.name == "witness.example.com/w1"
    assert len(witness.signature) == 72
    assert int.from_bytes(witness.signature[:8], "big") == 1679315147


def _key(label: str) -> PrivateKey:
    return PrivateKey.from_seed_material(label.encode())


def test_checkpoint_sign_cosign_verify_roundtrip() -> None:
    log, w1, w2 = _key("log"), _key("w1"), _key("w2")
    body = CheckpointBody("pausebutton.example/log", 12, b"\x07" * 32)
    cp = SignedCheckpoint.sign(body, log)
    cp = cp.with_signatures([cp.cosign(w1, 1_700_000_000), cp.cosign(w2, 1_700_000_001)])
    again = SignedCheckpoint.parse(cp.encode())
    assert again.body == body
    assert again.body.to_message().size == 12
    verified = verify_note(
        again.note,
        [
            log_verifier(body.origin, log.public),
            witness_verifier(w1.public),
            witness_verifier(w2.public),
        ],
    )
    assert [v.timestamp for v in verified] == [None, 1_700_000_000, 1_700_000_001]
    assert again.note.signatures[1].name == witness_name(w1.public)
    assert witness_name(w1.public) == "witness-" + w1.public.key_id.hex()[:16]
    # the same signer is not added twice
    assert len(cp.with_signatures([cp.cosign(w1, 5)]).note.signatures) == 3


def test_cosignature_is_over_the_c2sp_message() -> None:
    w = _key("w")
    text = "o\n1\n" + base64.b64encode(b"\x00" * 32).decode() + "\n"
    sig = cosign_note_text(text, "w", w, 42)
    assert sig.key_hash == key_hash("w", SIG_COSIGNATURE_V1, w.public.raw)
    assert sig.signature[:8] == (42).to_bytes(8, "big")
    PublicKey.from_bytes(w.public.raw).verify(
        b"cosignature/v1\ntime 42\n" + text.encode(), sig.signature[8:]
    )
    # a cosignature is not a plain note signature and vice versa
    note = Note(text, (sig,))
    assert verify_note(note, [NoteVerifier("w", w.public, SIG_ED25519)]) == []
    forged = NoteSignature("w", sig.key_hash, (43).to_bytes(8, "big") + sig.signature[8:])
    with pytest.raises(BadSignatureError):
        verify_note(Note(text, (forged,)), [NoteVerifier("w", w.public, SIG_COSIGNATURE_V1)])


def test_unknown_signers_are_ignored() -> None:
    note = Note.parse(GO_NOTE)
    assert verify_note(note, [NoteVerifier("Other", _key("x").public)]) == []
    # same name, other key: unknown too (name and key hash must both match)
    assert verify_note(note, [NoteVerifier("PeterNeumann", _key("x").public)]) == []


SIG = GO_NOTE[len(GO_TEXT) + 1 :]


@pytest.mark.parametrize(
    "data",
    [
        "",
        "no blank line\n" + SIG,
        "text\n\n",  # no signatures
        "text\n\n" + SIG[:-1],  # no final newline
        "\n\n" + SIG,  # empty text
        "text\n\n- PeterNeumann AAAAAAA=\n",  # hyphen, not em dash
        "text\n\n—PeterNeumann AAAAAAA=\n",
        "text\n\n— Peter Neumann AAAAAAA=\n",
        "text\n\n— Peter+Neumann AAAAAAA=\n",
        "text\n\n—  AAAAAAA=\n",
        "text\n\n— name not!base64\n",
        "text\n\n— name AAAA\n",  # too short for a key hash and a signature
        "text\n\n— name AAAAAAA\n",  # missing padding
        "text\n\n— name AAAAAAA=\n\n",
        "te\x01xt\n\n" + SIG,
        "text\r\n\n" + SIG,
        "text\n\n" + SIG + SIG,  # duplicate signer
        b"text\xff\n\n" + SIG.encode(),
        "text\n\n" + SIG + "trailing",
    ],
)
def test_malformed_notes_rejected(data: str | bytes) -> None:
    with pytest.raises(MalformedError):
        Note.parse(data)


def test_oversized_notes_rejected() -> None:
    with pytest.raises(OversizedError):
        Note.parse("x" * MAX_NOTE_SIZE + "\n\n" + SIG)
    many = "".join(
        f"— n{i} {base64.b64encode(bytes(68)).decode()}\n" for i in range(MAX_SIGNATURES + 1)
    )
    with pytest.raises(OversizedError):
        Note.parse("text\n\n" + many)
    sixteen = "".join(f"— n{i} {base64.b64encode(bytes(68)).decode()}\n" for i in range(16))
    assert len(Note.parse("text\n\n" + sixteen).signatures) == 16


ROOT64 = base64.b64encode(b"\x01" * 32).decode()


@pytest.mark.parametrize(
    "text",
    [
        "origin\n5\n",  # no root line
        f"\n5\n{ROOT64}\n",  # empty origin
        f"origin\n05\n{ROOT64}\n",  # leading zero
        f"origin\n-5\n{ROOT64}\n",
        f"origin\n+5\n{ROOT64}\n",
        f"origin\n 5\n{ROOT64}\n",
        f"origin\n5x\n{ROOT64}\n",
        f"origin\n{1 << 64}\n{ROOT64}\n",  # beyond u64
        f"origin\n5\n{base64.b64encode(b'x' * 31).decode()}\n",
        f"origin\n5\n{ROOT64[:-1]}\n",
        f"origin\n5\n{ROOT64}\n\n",  # empty extension line
        f"origin\n5\n{ROOT64}",  # no final newline
    ],
)
def test_malformed_checkpoints_rejected(text: str) -> None:
    with pytest.raises(MalformedError):
        CheckpointBody.parse(text)


def test_checkpoint_extensions_and_zero() -> None:
    body = CheckpointBody.parse(f"origin\n0\n{ROOT64}\next one\n")
    assert body.size == 0 and body.extensions == ("ext one",)
    assert body.text() == f"origin\n0\n{ROOT64}\next one\n"
    with pytest.raises(MalformedError):
        CheckpointBody("o\nx", 1, b"\x00" * 32)
    with pytest.raises(MalformedError):
        NoteVerifier("bad name", _key("x").public)
    with pytest.raises(MalformedError):
        cosign_note_text("t\n", "w", _key("w"), -1)


# -- fuzzing: bad input only ever raises the named errors ---------------------------------

_NOTE_ALPHABET = st.sampled_from([*"ab \n+=/AQ0\u2014\x00\t", SIG[:8], "\n\n", "\u2014 "])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.lists(_NOTE_ALPHABET, max_size=60).map("".join)))
def test_note_parser_only_raises_named_errors(data: bytes | str) -> None:
    try:
        note = Note.parse(data)
    except (MalformedError, OversizedError):
        return
    assert Note.parse(note.encode()) == note
    with contextlib.suppress(MalformedError):
        CheckpointBody.parse(note.text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_bundle_decoder_only_raises_named_errors(data: bytes) -> None:
    with contextlib.suppress(EncodingError):
        InclusionBundle.decode(data)


@settings(max_examples=100, deadline=None)
@given(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zs"]),
        min_size=1,
        max_size=30,
    ),
    st.integers(min_value=0, max_value=(1 << 64) - 1),
    st.binary(min_size=32, max_size=32),
)
def test_checkpoint_text_roundtrip(origin: str, size: int, root: bytes) -> None:
    body = CheckpointBody(origin, size, root)
    assert CheckpointBody.parse(body.text()) == body
