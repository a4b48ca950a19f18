"""docs/governance.md runs as written: every ``$ pausebutton ...`` line of its ``console``
blocks, in order, in one folder, through the in-process CLI, with the exit status each
line states. ``authority serve`` starts the authority in this process (uvicorn in a
thread); before a ``witness run`` the test waits until the log has signed a checkpoint
over every entry (what a person would wait for)."""

from __future__ import annotations

import contextlib
import shlex
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from pausebutton import keystore
from pausebutton.authority.api import create_app
from pausebutton.authority.settings import Settings
from pausebutton.protocol.trustroot import load_pinned_root

DOC = Path(__file__).resolve().parents[3] / "docs" / "governance.md"
PLACEHOLDER = "http://127.0.0.1:8080"


def commands(text: str) -> list[tuple[list[str], int, str]]:
    """(arguments after ``pausebutton``, expected exit status, the line) per command."""
    out = []
    block: str | None = None
    for line in text.splitlines():
        if line.startswith("```"):
            block = line[3:].strip() if block is None else None
        elif block == "console" and line.startswith("$ "):
            command, _, comment = line[2:].partition("  # ")
            code = int(comment.strip().removeprefix("exit ")) if comment else 0
            args = shlex.split(command)
            assert args[0] == "pausebutton", line
            out.append((args[1:], code, line))
    return out


@contextlib.contextmanager
def serve_authority(directory: Path, admin_pub: Path, db_url: str) -> Iterator[str]:
    settings = Settings.from_dir(
        directory,
        db_url,
        admin_keys=(keystore.read_public_key(admin_pub).raw,),
        checkpoint_interval=0.05,
        location_interval=0,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(settings), log_level="error", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the authority did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def wait_for_checkpoint(url: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        size = int(httpx.get(f"{url}/v1/stats").json()["log_size"])
        note = httpx.get(f"{url}/v1/log/checkpoint").text
        if int(note.splitlines()[1]) >= size:
            return
        assert time.monotonic() < deadline, "no checkpoint covers the log"
        time.sleep(0.05)


def test_the_doc_has_each_ceremony() -> None:
    lines = [line for _, _, line in commands(DOC.read_text())]
    text = "\n".join(lines)
    for verb in (
        "member init",
        "witness init",
        "authority init auth --ceremony",
        "root propose",
        "root sign",
        "root assemble",
        "root submit",
        "root fetch",
        "chip install",
        "member revoke",
        "prohibited propose",
        "prohibited submit",
        "prohibited approve",
    ):
        assert f"pausebutton {verb}" in text, verb


@pytest.mark.timeout(300)
def test_the_governance_ceremonies_run_as_written(
    cli: Any, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url: str | None = None
    with contextlib.ExitStack() as stack:
        for written, code, line in commands(DOC.read_text()):
            if written[:2] == ["authority", "serve"]:
                admin = Path(written[written.index("--admin-key") + 1])
                url = stack.enter_context(serve_authority(Path(written[2]), admin, db_url))
                continue
            args = [a.replace(PLACEHOLDER, url) for a in written] if url else written
            if args[:2] == ["witness", "run"] and url is not None:
                wait_for_checkpoint(url)
            r = cli(*args)
            assert r.returncode == code, f"{line}\n{r.stdout}{r.stderr}"
            assert "Traceback" not in r.stderr, line
    assert (tmp_path / "published.cbor").is_file()
    # the witnesses followed the root changes from the authority (chained from v1)
    for w in ("w1", "w2"):
        held = load_pinned_root((tmp_path / w / "trust-root.cbor").read_bytes())[1]
        assert held.version == 4
        assert sorted(p.name for p in (tmp_path / w / "roots").iterdir()) == [
            "1.cbor", "2.cbor", "3.cbor", "4.cbor",
        ]  # fmt: skip
