"""The WonderProxy ping data shipped with the package (credit WonderNetwork; see
``pausebutton/data/wonderproxy/README.md``) and the delay model fitted on it.

Reads package data through ``importlib.resources`` (so an installed wheel finds it);
the parsing and the fit are pure (``geo.csvio``, ``geo.delay``).
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

from pausebutton.geo.csvio import Ping, Server, parse_wonderproxy_pings, parse_wonderproxy_servers
from pausebutton.geo.delay import DelayModel

_FOLDER = ("data", "wonderproxy")


def _read(name: str) -> bytes:
    return resources.files("pausebutton").joinpath(*_FOLDER, name).read_bytes()


SOURCE = (
    'WonderNetwork / WonderProxy, "A day in the life of the internet" (pings between'
    " WonderNetwork's servers on 2020-07-19; https://wonderproxy.com,"
    " https://wondernetwork.com)"
)
"""Where the data comes from: credit it, and fetch the full set (every server) there."""


def bundled_texts() -> tuple[str, str]:
    """(servers.csv, pings.csv) of the shipped copy as text, for the CSV readers."""
    servers = _read("servers.csv").decode("utf-8")
    return servers, gzip.decompress(_read("pings.csv.gz")).decode("utf-8")


@functools.cache
def bundled() -> tuple[dict[str, Server], tuple[Ping, ...]]:
    """(servers by id, per-pair minimum pings) of the shipped WonderProxy data."""
    servers = parse_wonderproxy_servers(_read("servers.csv").decode("utf-8"), "servers.csv")
    text = gzip.decompress(_read("pings.csv.gz")).decode("utf-8")
    pings, _ = parse_wonderproxy_pings(text, servers, "pings.csv.gz")
    return servers, tuple(pings)


@functools.cache
def bundled_delay_model() -> DelayModel:
    """The statistical delay model fitted on every shipped server pair (mislocated
    servers dropped). Used when a verification has no calibration pings of its own;
    its landmarks are other hosts, so it applies band-wide delays to them."""
    servers, pings = bundled()
    return DelayModel.fit(
        {k: (v.lat, v.lon) for k, v in servers.items()},
        ((p.source, p.destination, p.min_ms) for p in pings),
    )
