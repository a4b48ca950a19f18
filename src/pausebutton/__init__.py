"""pausebutton: compute governance through AI chips.

Licenses bound to chips, K-of-N pause orders, an RFC 9162 transparency log,
location verification by round-trip timing, a registry and a verification
engine. See README.md and docs/protocol.md.
"""

__version__ = "0.1.0"
