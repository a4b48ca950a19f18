"""Listing weights without torch: safetensors files are hashed from their bytes, and the
hashes equal the guard's canonical tensor hashes of the same tensors loaded by torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pausebutton.errors import DataError
from pausebutton.guard.artifacts import (
    ProhibitedList,
    file_hash,
    safetensors_hashes,
    tensor_hash,
    weights_artifacts,
)
from pausebutton.protocol.messages import ArtifactKind, ProhibitedArtifacts

torch = pytest.importorskip("torch")

CODES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.int64: "I64", torch.bool: "BOOL"}


def write_safetensors(path: Path, tensors: dict[str, object]) -> None:
    """The safetensors layout, written by hand (the package is not a dependency)."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name, tensor in tensors.items():
        t = tensor.contiguous()  # type: ignore[attr-defined]
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {
            "dtype": CODES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))


def model_tensors() -> dict[str, object]:
    g = torch.Generator().manual_seed(7)
    return {
        "embed.weight": torch.randn(128, 64, generator=g),
        "head.weight": torch.randn(64, 64, generator=g).to(torch.bfloat16),
        "norm.weight": torch.ones(64),
        "steps": torch.tensor(5, dtype=torch.int64),
        "mask": torch.tensor([True, False, True]),
    }


def test_safetensors_hashes_equal_torch_tensor_hashes(tmp_path: Path) -> None:
    tensors = model_tensors()
    path = tmp_path / "model.safetensors"
    write_safetensors(path, tensors)
    got = safetensors_hashes(path)
    assert set(got) == set(tensors)
    for name, t in tensors.items():
        assert got[name][0] == tensor_hash(t), name
    listed = weights_artifacts(path)
    kinds = [a.kind for a in listed]
    assert kinds[0] is ArtifactKind.FILE and listed[0].sha256 == file_hash(path)
    assert {a.description for a in listed if a.kind is ArtifactKind.TENSOR} == {
        "embed.weight",
        "head.weight",
    }  # the large tensors only
    assert kinds.count(ArtifactKind.TENSOR_SET) == 1
    # the guard, with torch, refuses the same weights loaded any other way
    plist = ProhibitedList(ProhibitedArtifacts(sequence=1, issued_at=0, artifacts=tuple(listed)))
    hits = plist.tensor_hits({k: v.clone() for k, v in tensors.items()})  # type: ignore[attr-defined]
    assert {h.kind for h in hits} == {ArtifactKind.TENSOR, ArtifactKind.TENSOR_SET}


def test_listing_safetensors_does_not_import_torch(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    write_safetensors(path, model_tensors())
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "from pausebutton.guard.artifacts import weights_artifacts\n"
        f"print(len(weights_artifacts({str(path)!r})))\n"
    )
    src = Path(__file__).resolve().parents[3] / "src"
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(src)},
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "4"  # file, two large tensors, the set


@pytest.mark.parametrize(
    "data",
    [b"", b"\x05\x00\x00\x00\x00\x00\x00\x00{", b"\x02\x00\x00\x00\x00\x00\x00\x00[]"],
)
def test_a_broken_safetensors_file_is_a_named_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(DataError):
        safetensors_hashes(path)
