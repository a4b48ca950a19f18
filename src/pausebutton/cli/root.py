"""``pausebutton root``: trust-root ceremonies, offline and air-gap friendly.

The founding ceremony and every later change of the root (add or remove a member,
rotate a key, change a threshold, add or remove a vendor, witness, landmark, time or log
key, renew the expiry) take the same three steps as a pause order: ``propose`` writes the
unsigned root, each member ``sign``s it on its own machine, ``assemble`` merges the
signatures and checks every rule (docs/governance.md). ``chain`` lists or checks the roots
a chip installs one by one to catch up.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from pausebutton import keystore
from pausebutton.chip.install import InstallFile
from pausebutton.cli.common import err, out, print_json
from pausebutton.cli.online import DEFAULT_URL, JsonOpt, KeyOpt, UrlOpt, client
from pausebutton.errors import ConflictError, DataError, ServiceError, UsageError
from pausebutton.fsutil import atomic_write, read_limited
from pausebutton.issuing.ceremony import Card, founding_root, read_card
from pausebutton.issuing.keydir import CEREMONY, META_FILE, AuthorityDir, install_root, root_chain
from pausebutton.protocol.envelope import Envelope
from pausebutton.protocol.genesis import DEFAULT_ORIGIN
from pausebutton.protocol.governance import (
    RootChange,
    apply_change,
    describe_change,
    verify_chain,
    verify_change,
    verify_founding,
)
from pausebutton.protocol.trustroot import TrustRoot, load_pinned_root

app = typer.Typer(help="Trust-root ceremonies: propose, sign (each member), assemble (K of N).")

DAY = 86400
OutOpt = Annotated[Path, typer.Option("--out", help="File to write.")]
CurrentOpt = Annotated[
    Path | None, typer.Option("--current", help="The trusted root this one replaces.")
]
AuthOpt = Annotated[
    Path | None,
    typer.Option("--authority", help="Authority directory (its current root; installs there)."),
]


def _split(text: str, what: str) -> tuple[str, str]:
    left, sep, right = text.partition("=")
    if not sep or not left or not right:
        raise UsageError(f"{what} must be NAME=VALUE, not {text!r}")
    return left, right


def _card(text: str) -> Card:
    """A card file, or ROLE=FILE for a bare public key file."""
    role, sep, path = text.partition("=")
    if sep and not Path(text).exists():
        return read_card(Path(path), role)
    return read_card(Path(text))


def _thresholds(items: list[str] | None) -> dict[str, int]:
    out_: dict[str, int] = {}
    for item in items or []:
        role, value = _split(item, "--threshold")
        try:
            out_[role] = int(value)
        except ValueError:
            raise UsageError(f"--threshold {item!r}: not a number") from None
    return out_


def _current(current: Path | None, authority: Path | None) -> TrustRoot | None:
    if current is not None and authority is not None:
        raise UsageError("give --current or --authority, not both")
    if current is not None:
        return load_pinned_root(read_limited(current))[1]
    if authority is not None:
        return AuthorityDir.load(authority).root
    return None


@app.command("propose")
def propose(
    out_path: OutOpt,
    card: Annotated[
        list[str] | None,
        typer.Option("--card", help="Founding: a party's card (or ROLE=PUBLIC-KEY-FILE)."),
    ] = None,
    current: CurrentOpt = None,
    authority: AuthOpt = None,
    add_member: Annotated[
        list[Path] | None, typer.Option("--add-member", help="A new member's card.")
    ] = None,
    remove_member: Annotated[
        list[str] | None, typer.Option("--remove-member", help="A member's name.")
    ] = None,
    rotate_member: Annotated[
        list[str] | None,
        typer.Option("--rotate-member", help="NAME=CARD: the member's new key."),
    ] = None,
    add_key: Annotated[
        list[str] | None,
        typer.Option("--add-key", help="A vendor/witness/landmark/time/log/licensing card."),
    ] = None,
    remove_key: Annotated[
        list[str] | None, typer.Option("--remove-key", help="ROLE=KEY-ID (hex) to remove.")
    ] = None,
    threshold: Annotated[
        list[str] | None, typer.Option("--threshold", help="ROLE=K (repeatable).")
    ] = None,
    valid_for: Annotated[
        str | None,
        typer.Option("--valid-for", help="Expire this long from now, e.g. 365d (renews the root)."),
    ] = None,
    valid_days: Annotated[
        int | None, typer.Option("--valid-days", hidden=True, help="Old spelling: days.")
    ] = None,
    origin: Annotated[str, typer.Option(help="Founding: the log origin line.")] = DEFAULT_ORIGIN,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON, for scripts.")
    ] = False,
) -> None:
    """Write an unsigned trust root for the members to sign: the founding root (version 1,
    from --card files) or, with --current/--authority, the next version with the changes."""
    now = int(time.time())
    lifetime: int | None = None
    if valid_days is not None:
        lifetime = valid_days * DAY
    elif valid_for is not None:
        from pausebutton.protocol.units import parse_duration

        lifetime = parse_duration(valid_for, "--valid-for", error=UsageError)
    old = _current(current, authority)
    if old is None:
        if add_member or remove_member or rotate_member or add_key or remove_key:
            raise UsageError("changes need the trusted root: give --current or --authority")
        cards = [_card(c) for c in card or []]
        new = founding_root(
            cards,
            thresholds=_thresholds(threshold),
            expires=now + (lifetime or 365 * DAY),
            log_origin=origin,
        )
    else:
        if card:
            raise UsageError("--card founds a root; a change uses --add-member/--add-key")
        rotations = []
        for item in rotate_member or []:
            name, path = _split(item, "--rotate-member")
            rotations.append((name, read_card(Path(path), "member").public_key))
        removals = []
        for item in remove_key or []:
            role, kid = _split(item, "--remove-key")
            try:
                removals.append((role, bytes.fromhex(kid)))
            except ValueError:
                raise UsageError(f"--remove-key {item!r}: the key id is not hex") from None
        extra = [_card(c) for c in add_key or []]
        if any(c.role == "member" for c in extra):
            raise UsageError("a member card joins with --add-member, not --add-key")
        change = RootChange(
            add_members=tuple(read_card(p, "member").member() for p in add_member or []),
            remove_members=tuple(remove_member or ()),
            rotate_members=tuple(rotations),
            thresholds=_thresholds(threshold),
            add_keys=tuple((c.role, c.public_key) for c in extra),
            remove_keys=tuple(removals),
            expires=None if lifetime is None else now + lifetime,
        )
        new = apply_change(old, change)
    atomic_write(out_path, Envelope.wrap(new).encode())
    changes = describe_change(old, new)
    if json_out:
        doc = {"version": new.version, "out": str(out_path), "signatures": 0, "changes": changes}
        print_json(doc)
        return
    for line in changes:
        out.print(line, markup=False)
    out.print(f"trust root v{new.version} proposed: {out_path} (0 signatures)")


def _draft(path: Path) -> tuple[Envelope, TrustRoot]:
    data = read_limited(path, 1 << 20)
    env = Envelope.decode(InstallFile.decode(data).envelope)
    if env.type != TrustRoot.TYPE:
        raise UsageError(f"{path} holds a {env.type}, not a {TrustRoot.TYPE}")
    return env, env.open_as(TrustRoot)


@app.command("sign")
def sign(
    file: Annotated[Path, typer.Argument(help="The proposed root.")],
    key: Annotated[Path, typer.Option("--key", help="Your member (or new role) key file.")],
    current: CurrentOpt = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="Default: sign in place.")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON, for scripts.")
    ] = False,
) -> None:
    """Add your signature to a proposed root (prints what it changes against --current)."""
    env, new = _draft(file)
    old = load_pinned_root(read_limited(current))[1] if current is not None else None
    changes = describe_change(old, new)
    if not json_out:
        for line in changes:
            out.print(line, markup=False)
    private = keystore.read_private_key(key)
    signed = env.sign(private)
    atomic_write(out_path or file, signed.encode())
    if json_out:
        print_json(
            {
                "version": new.version,
                "out": str(out_path or file),
                "key_id": private.key_id.hex(),
                "signatures": len(signed.signatures),
                "changes": changes,
            }
        )
        return
    out.print(f"signed by {private.key_id.hex()[:16]}: {len(signed.signatures)} signature(s)")


@app.command("assemble")
def assemble(
    files: Annotated[list[Path], typer.Argument(help="Signed copies of the same root.")],
    out_path: OutOpt,
    current: CurrentOpt = None,
    authority: AuthOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON, for scripts.")
    ] = False,
) -> None:
    """Merge the signatures and check every rule (exit 3 if short or refused). Writes the
    signed root (pin it; ``root submit`` it). With --authority the root is installed in
    the directory (founding: a directory made by ``authority init --ceremony``); in a demo
    directory a change is also appended to its local log and --out gets the install
    bundle with the proof (a ceremony authority logs it when it is submitted)."""
    merged: Envelope | None = None
    for f in files:
        env, _ = _draft(f)
        merged = env if merged is None else merged.merge(env)
    if merged is None:
        raise UsageError("give at least one signed root file")
    new: TrustRoot = merged.open_as(TrustRoot)
    data = merged.encode()
    now = int(time.time())
    if new.version == 1:
        if current is not None:
            raise UsageError("a founding root (version 1) replaces no root")
        verify_founding(data, now)
        if authority is not None:
            _install_founding(authority, data, new)
        atomic_write(out_path, data)
    else:
        old = _current(current, authority)
        if old is None:
            raise UsageError(f"root v{new.version} is a change: give --current or --authority")
        verify_change(old, data, now)
        if authority is not None:
            auth_dir = AuthorityDir.load(authority)
            item = InstallFile(data)
            if auth_dir.mode != CEREMONY:  # demo: the directory's own log and witness keys
                from pausebutton.issuing.offline import OfflineAuthority

                item = OfflineAuthority(auth_dir).logged_install_file(merged, timestamp=now)
            install_root(authority, data)
            atomic_write(out_path, item.encode())
        else:
            atomic_write(out_path, data)
    result = new.verify_role(merged, "root")
    if json_out:
        print_json(
            {
                "version": new.version,
                "out": str(out_path),
                "signed": len(result.signed),
                "threshold": result.threshold,
            }
        )
        return
    out.print(
        f"trust root v{new.version} assembled: {out_path}"
        f" ({len(result.signed)} of {result.threshold} member signatures)"
    )


def _install_founding(directory: Path, data: bytes, root: TrustRoot) -> None:
    if (directory / META_FILE).exists():
        raise ConflictError(f"{directory} already holds an authority", file=str(directory))
    if not (directory / "cards").is_dir():
        raise DataError(
            f"{directory} is not a ceremony directory (make it with authority init --ceremony)"
        )
    install_root(directory, data, mode=CEREMONY)
    held = AuthorityDir.load(directory).keys.role_keys
    for role in ("licensing", "log"):
        if not held.get(role):
            err.print(f"warning: the root's {role} role holds none of {directory}'s keys")


@app.command("chain")
def chain(
    trusted: Annotated[Path, typer.Option("--trusted", help="The root a chip holds.")],
    roots: Annotated[
        list[Path] | None, typer.Argument(help="The following roots, in order.")
    ] = None,
    authority: AuthOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON, for scripts.")
    ] = False,
) -> None:
    """Check that the roots (or those the authority directory keeps after --trusted) chain
    from the trusted root, link by link (exit 3 naming the broken link)."""
    old = load_pinned_root(read_limited(trusted))[1]
    if roots:
        datas = [InstallFile.decode(read_limited(p, 1 << 20)).envelope for p in roots]
    elif authority is not None:
        datas = root_chain(authority, old.version)
    else:
        raise UsageError("give the roots or --authority")
    links = verify_chain(old, datas, int(time.time()))
    if json_out:
        print_json(
            {
                "trusted": old.version,
                "chain": [{"version": r.version, "expires": r.expires} for _, r in links],
                "ok": True,
            }
        )
        return
    from pausebutton.protocol.units import format_instant

    for _, root in links:
        out.print(f"v{root.version}: chains (expires {format_instant(root.expires)})")
    out.print(f"v{old.version} -> v{links[-1][1].version if links else old.version}: ok")


@app.command("show")
def show(
    file: Annotated[Path, typer.Argument(help="A (proposed or signed) root.")],
    current: CurrentOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON, for scripts.")
    ] = False,
) -> None:
    """Print what a root holds, or what it changes against --current."""
    env, new = _draft(file)
    old = load_pinned_root(read_limited(current))[1] if current is not None else None
    result = new.verify_role(env, "root")
    if json_out:
        print_json(
            {
                "version": new.version,
                "expires": new.expires,
                "changes": describe_change(old, new),
                "signed": len(result.signed),
                "threshold": result.threshold,
            }
        )
        return
    for line in describe_change(old, new):
        out.print(line, markup=False)
    out.print(f"{len(result.signed)} of {result.threshold} member signatures", markup=False)


@app.command("submit")
def submit(
    file: Annotated[Path, typer.Argument(help="The assembled root (root assemble).")],
    url: UrlOpt = DEFAULT_URL,
    key: KeyOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Submit an assembled root change to the authority (signed with your member key): it
    checks the chain and every rule against its newest root, logs the root, serves it at
    /v1/roots/VERSION and applies it; node agents install it on every chip."""
    if key is None:
        raise UsageError("give your member key with --key")
    env, _ = _draft(file)
    r = client(url, key).request(
        "POST", "/v1/roots", content=env.encode(), content_type="application/cbor"
    )
    if json_out:
        print_json(r)
    else:
        state = "already in force" if r["duplicate"] else "accepted"
        out.print(f"trust root v{r['version']} {state}, log index {r['log_index']}")


@app.command("fetch")
def fetch(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder for the install files.")],
    after: Annotated[int, typer.Option(help="The version the chip holds.")] = 1,
    url: UrlOpt = DEFAULT_URL,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON, for scripts.")
    ] = False,
) -> None:
    """Fetch every root above --after from the authority, each as an install file with its
    log inclusion bundle (root-VERSION.cbor), for a chip to install in order."""
    import base64

    c = client(url, None)
    rows = c.get("/v1/roots", after=after)
    written = []
    for row in rows:
        envelope = base64.b64decode(row["envelope"])
        inclusion = None
        if row["log_index"] is not None:
            resp = c.http.get(f"{c.base_url}/v1/log/bundle", params={"index": row["log_index"]})
            if resp.status_code != 200:
                raise ServiceError(f"no log bundle for root v{row['version']}: {resp.text[:200]}")
            inclusion = resp.content
        item = InstallFile(envelope, inclusion)
        path = out_dir / f"root-{row['version']}.cbor"
        atomic_write(path, item.encode())
        written.append({"version": row["version"], "path": str(path)})
        if not json_out:
            out.print(f"v{row['version']}: {path}")
    if json_out:
        print_json(written)
    elif not rows:
        out.print(f"no root above v{after}")
