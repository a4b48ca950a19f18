"""The install file a chip takes: an envelope, optionally with its log inclusion bundle.

Format (docs/cli.md, "Install files"): either

* a bare protocol envelope (canonical CBOR), for what needs no log proof
  (pause orders, time tokens), or
* an *install bundle*, the canonical CBOR map::

      {"kind": "pausebutton/install/v1",
       "envelope": bstr,        ; the signed envelope's exact bytes
       "inclusion": bstr}       ; optional: a translog InclusionBundle (canonical CBOR)

  which permissive objects (licenses, resume orders, trust-root updates) need:
  the chip accepts them only with an inclusion proof under a checkpoint signed
  by the log and cosigned by enough witnesses.
"""

from __future__ import annotations

from dataclasses import dataclass

from pausebutton.errors import MalformedError
from pausebutton.protocol import encoding
from pausebutton.protocol.envelope import Envelope

INSTALL_KIND = "pausebutton/install/v1"
MAX_INSTALL_SIZE = 512 * 1024


@dataclass(frozen=True)
class InstallFile:
    envelope: bytes
    inclusion: bytes | None = None

    def encode(self) -> bytes:
        value: dict[str, object] = {"kind": INSTALL_KIND, "envelope": self.envelope}
        if self.inclusion is not None:
            value["inclusion"] = self.inclusion
        return encoding.encode(value)

    @property
    def type(self) -> str:
        return Envelope.decode(self.envelope).type

    @classmethod
    def decode(cls, data: bytes) -> InstallFile:
        value = encoding.decode(data, max_size=MAX_INSTALL_SIZE)
        if isinstance(value, dict) and "kind" in value:
            if value.get("kind") != INSTALL_KIND:
                raise MalformedError(f"unknown install file kind {value.get('kind')!r}")
            if not set(value) <= {"kind", "envelope", "inclusion"}:
                raise MalformedError("an install bundle holds only kind, envelope and inclusion")
            env, inc = value.get("envelope"), value.get("inclusion")
            if not isinstance(env, bytes) or (inc is not None and not isinstance(inc, bytes)):
                raise MalformedError("install bundle fields envelope/inclusion must be bytes")
            Envelope.decode(env)
            return cls(env, inc)
        Envelope.from_value(value)
        if len(data) > encoding.MAX_MESSAGE_SIZE:
            raise MalformedError("a bare envelope is larger than a protocol message")
        return cls(data, None)
