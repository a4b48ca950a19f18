"""Software governance: refuse weights (or code) on the signed list of prohibited artifacts.

Hashes (all SHA-256, 32 bytes, as listed in ``ProhibitedArtifacts``):

- ``file`` and ``code``: the file's bytes.
- ``tensor``: the canonical form of one tensor, independent of how it was stored::

      SHA-256("pausebutton/tensor/v1" 0x00 dtype 0x00 shape 0x00 bytes)

  where ``dtype`` is torch's name (``float32``, ``bfloat16``…), ``shape`` the
  comma-separated sizes in decimal and ``bytes`` the contiguous row-major
  element bytes in little-endian order. Saving the same weights again
  (another pickle, safetensors, renamed keys, a different file order) gives
  the same tensor hashes, so re-serialising a file does not evade the list.
- ``tensor-set``: SHA-256("pausebutton/tensor-set/v1" 0x00 ‖ sorted tensor hashes):
  the whole set of tensors, with names and order removed.

What the hashes do not catch (documented in docs/operators.md): weights that
were changed numerically (cast to another dtype, fine-tuned, quantised,
noised). The authority should list the distinctive, large tensors of a model
(``listable_tensors`` keeps those above ``MIN_LISTED_ELEMENTS``), because tiny
tensors such as fresh LayerNorm weights are the same in unrelated models.

A list is accepted only when signed by the threshold of the trust root's
``pause`` role (prohibiting is a restriction of compute: a K-of-N quorum of
members suffices, as for a pause) and its sequence is not older than the
list held before.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pausebutton.errors import PolicyError, RollbackError
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.messages import Artifact, ArtifactKind, ProhibitedArtifacts
from pausebutton.protocol.trustroot import TrustRoot

TENSOR_CONTEXT = b"pausebutton/tensor/v1\x00"
TENSOR_SET_CONTEXT = b"pausebutton/tensor-set/v1\x00"
MIN_LISTED_ELEMENTS = 4096
LIST_ROLE = "pause"

Reporter = Callable[[dict[str, object]], None]


def _torch() -> Any:
    from pausebutton.guard.torch import _torch as load

    return load()


def tensor_hash(tensor: Any) -> bytes:
    """The canonical hash of one tensor (see the module docstring)."""
    torch = _torch()
    t = tensor.detach()
    if t.layout != torch.strided:
        t = t.to_dense()
    t = t.cpu().contiguous()
    dtype = str(t.dtype).removeprefix("torch.")
    shape = ",".join(str(s) for s in t.shape)
    h = hashlib.sha256(TENSOR_CONTEXT)
    h.update(dtype.encode() + b"\x00" + shape.encode() + b"\x00")
    if t.numel():
        flat = t.reshape(-1)
        if flat.dtype == torch.bool:
            flat = flat.to(torch.uint8)
        raw = flat.view(torch.uint8)
        if sys.byteorder != "little" and flat.element_size() > 1:  # pragma: no cover
            raw = flat.numpy().byteswap().view("uint8")
            h.update(raw.tobytes())
        else:
            h.update(raw.numpy())
    return h.digest()


def tensor_set_hash(hashes: Iterable[bytes]) -> bytes:
    h = hashlib.sha256(TENSOR_SET_CONTEXT)
    for item in sorted(hashes):
        h.update(item)
    return h.digest()


def file_hash(path: str | os.PathLike[str]) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


def named_tensors(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Every tensor in a state dict, module, or nested dict/list of tensors."""
    torch = _torch()
    out: dict[str, Any] = {}
    if isinstance(obj, torch.nn.Module):
        return dict(obj.state_dict(keep_vars=False))
    if isinstance(obj, torch.Tensor):
        out[prefix or "tensor"] = obj
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            out.update(named_tensors(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(named_tensors(v, f"{prefix}.{i}" if prefix else str(i)))
    return out


def listable_tensors(obj: Any, min_elements: int = MIN_LISTED_ELEMENTS) -> list[Artifact]:
    """Artifacts an authority would list for ``obj``: its large tensors and the tensor set."""
    tensors = named_tensors(obj)
    hashes = {name: tensor_hash(t) for name, t in tensors.items()}
    listed = [
        Artifact(ArtifactKind.TENSOR, hashes[name], name)
        for name, t in sorted(tensors.items())
        if t.numel() >= min_elements
    ]
    listed.append(Artifact(ArtifactKind.TENSOR_SET, tensor_set_hash(hashes.values()), "all"))
    return listed


SAFETENSORS_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E5M2": "float8_e5m2",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U64": "uint64",
    "U32": "uint32",
    "U16": "uint16",
    "U8": "uint8",
    "BOOL": "bool",
}
"""safetensors dtype codes -> torch's names (the canonical tensor hash uses torch's)."""
MAX_SAFETENSORS_HEADER = 100 << 20


def raw_tensor_hash(dtype: str, shape: Iterable[int], data: bytes | memoryview) -> bytes:
    """The canonical tensor hash of raw little-endian row-major bytes (no torch needed):
    equal to ``tensor_hash`` of the same tensor."""
    h = hashlib.sha256(TENSOR_CONTEXT)
    h.update(dtype.encode() + b"\x00" + ",".join(str(s) for s in shape).encode() + b"\x00")
    h.update(data)
    return h.digest()


def safetensors_hashes(path: str | os.PathLike[str]) -> dict[str, tuple[bytes, int]]:
    """``{tensor name: (canonical hash, element count)}`` of a safetensors file, read
    without torch (the format: an 8-byte little-endian header length, a JSON header of
    dtype, shape and data offsets, then the bytes). DataError if it is not one."""
    import json
    import math

    from pausebutton.errors import DataError

    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) != 8:
            raise DataError(f"{path}: not a safetensors file (too short)", file=str(path))
        size = int.from_bytes(head, "little")
        if not 2 <= size <= MAX_SAFETENSORS_HEADER:
            raise DataError(f"{path}: not a safetensors file (header size)", file=str(path))
        try:
            header = json.loads(fh.read(size))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: unreadable safetensors header: {exc}") from None
        if not isinstance(header, dict):
            raise DataError(f"{path}: unreadable safetensors header", file=str(path))
        base = 8 + size
        out: dict[str, tuple[bytes, int]] = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            try:
                dtype = SAFETENSORS_DTYPES[info["dtype"]]
                shape = [int(d) for d in info["shape"]]
                start, end = (int(o) for o in info["data_offsets"])
            except (KeyError, TypeError, ValueError):
                raise DataError(f"{path}: tensor {name!r}: unknown dtype or bad entry") from None
            fh.seek(base + start)
            data = fh.read(end - start)
            if len(data) != end - start:
                raise DataError(f"{path}: tensor {name!r} is truncated", file=str(path))
            out[str(name)] = (raw_tensor_hash(dtype, shape, data), math.prod(shape))
    return out


def weights_artifacts(
    path: str | os.PathLike[str], min_elements: int = MIN_LISTED_ELEMENTS
) -> list[Artifact]:
    """What to list for a weights file: its bytes, its large tensors and the tensor set.
    safetensors needs no torch; a torch checkpoint (.pt, .pth, .bin) is loaded with
    torch (weights only), which must then be installed."""
    name = Path(path).name
    listed = [Artifact(ArtifactKind.FILE, file_hash(path), name)]
    if str(path).endswith(".safetensors"):
        hashes = safetensors_hashes(path)
        listed += [
            Artifact(ArtifactKind.TENSOR, digest, tensor)
            for tensor, (digest, count) in sorted(hashes.items())
            if count >= min_elements
        ]
        listed.append(
            Artifact(
                ArtifactKind.TENSOR_SET,
                tensor_set_hash(d for d, _ in hashes.values()),
                f"{name}: all tensors",
            )
        )
        return listed
    torch = _torch()
    obj = torch.load(Path(path), map_location="cpu", weights_only=True)
    return listed + listable_tensors(obj, min_elements)


@dataclass(frozen=True)
class Hit:
    """One match of a loaded thing against the list."""

    kind: ArtifactKind
    sha256: bytes
    description: str
    where: str

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "sha256": self.sha256.hex(),
            "description": self.description,
            "where": self.where,
        }


class ProhibitedList:
    """A verified list of prohibited artifacts, ready to check files, tensors and modules."""

    def __init__(self, payload: ProhibitedArtifacts, envelope: Envelope | None = None) -> None:
        self.payload = payload
        self.envelope = envelope
        self._by_hash: dict[bytes, Artifact] = {a.sha256: a for a in payload.artifacts}

    @property
    def sequence(self) -> int:
        return self.payload.sequence

    def __len__(self) -> int:
        return len(self._by_hash)

    @classmethod
    def empty(cls) -> ProhibitedList:
        return cls(ProhibitedArtifacts(sequence=1, issued_at=0, artifacts=()))

    @classmethod
    def verify(
        cls, data: bytes, root: TrustRoot, *, previous: ProhibitedList | None = None
    ) -> ProhibitedList:
        """Accept a signed list: pause-role threshold, and no older than ``previous``."""
        env = Envelope.decode(data)
        payload = env.open_as(ProhibitedArtifacts)
        root.require_role(env, LIST_ROLE)
        if previous is not None and payload.sequence < previous.sequence:
            raise RollbackError(
                f"prohibited-artifacts list {payload.sequence} is older than the held"
                f" list {previous.sequence}"
            )
        return cls(payload, env)

    def _refuse(self, hits: list[Hit], what: str, report: Reporter | None) -> None:
        if not hits:
            return
        if report is not None:
            report(
                {
                    "event": "prohibited-artifact",
                    "what": what,
                    "list_sequence": self.sequence,
                    "hits": [h.to_dict() for h in hits],
                }
            )
        first = hits[0]
        raise PolicyError(
            f"{what} is on the prohibited-artifacts list (sequence {self.sequence}):"
            f" {first.kind.value} {first.sha256.hex()[:16]}… {first.description!r}"
            f" at {first.where}" + (f" and {len(hits) - 1} more" if len(hits) > 1 else ""),
            artifact=first.sha256.hex(),
            kind=first.kind.value,
            hits=len(hits),
        )

    def tensor_hits(self, obj: Any) -> list[Hit]:
        hits: list[Hit] = []
        hashes = []
        for name, t in named_tensors(obj).items():
            digest = tensor_hash(t)
            hashes.append(digest)
            art = self._by_hash.get(digest)
            if art is not None and art.kind is ArtifactKind.TENSOR:
                hits.append(Hit(art.kind, digest, art.description, name))
        set_digest = tensor_set_hash(hashes)
        art = self._by_hash.get(set_digest)
        if art is not None and art.kind is ArtifactKind.TENSOR_SET:
            hits.append(Hit(art.kind, set_digest, art.description, "(all tensors)"))
        return hits

    def check_tensors(
        self, obj: Any, *, what: str = "weights", report: Reporter | None = None
    ) -> None:
        """Raise ``PolicyError`` (after reporting) if any tensor or the set is listed."""
        self._refuse(self.tensor_hits(obj), what, report)

    def check_module(self, module: Any, *, report: Reporter | None = None) -> None:
        self.check_tensors(module, what=f"model {type(module).__name__}", report=report)

    def check_file(
        self,
        path: str | os.PathLike[str],
        *,
        kinds: tuple[ArtifactKind, ...] = (ArtifactKind.FILE, ArtifactKind.CODE),
        report: Reporter | None = None,
    ) -> None:
        digest = file_hash(path)
        art = self._by_hash.get(digest)
        if art is not None and art.kind in kinds:
            self._refuse([Hit(art.kind, digest, art.description, str(path))], str(path), report)

    def check_code(self, path: str | os.PathLike[str], *, report: Reporter | None = None) -> None:
        """Refuse a training script (or any code file) whose bytes are listed."""
        self.check_file(path, kinds=(ArtifactKind.CODE, ArtifactKind.FILE), report=report)

    def load(
        self,
        path: str | os.PathLike[str],
        *,
        report: Reporter | None = None,
        map_location: Any = "cpu",
    ) -> Any:
        """``torch.load`` (weights only) that refuses a listed file or listed tensors."""
        torch = _torch()
        self.check_file(path, report=report)
        obj = torch.load(Path(path), map_location=map_location, weights_only=True)
        self.check_tensors(obj, what=str(path), report=report)
        return obj
