"""``pausebutton keys``: generate and inspect Ed25519 key files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pausebutton import keystore
from pausebutton.cli.common import out, print_json
from pausebutton.protocol.keys import PrivateKey

app = typer.Typer(help="Generate and inspect Ed25519 key files (private keys are written 0600).")


@app.command("generate")
def generate(
    out_path: Annotated[Path, typer.Option("--out", help="Private key file to write (0600).")],
    public: Annotated[
        Path | None, typer.Option("--public", help="Also write the public key here.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing key file.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Generate a new key; prints only its key id (--json: with the public key and files)."""
    key = PrivateKey.generate()
    keystore.write_private_key(out_path, key, force=force)
    if public is not None:
        keystore.write_public_key(public, key.public)
    if json_out:
        print_json(
            {
                "key_id": key.key_id.hex(),
                "public_key": key.public.raw.hex(),
                "private_file": str(out_path),
                "public_file": None if public is None else str(public),
            }
        )
    else:
        out.print(key.key_id.hex())


@app.command("show")
def show(
    path: Annotated[Path, typer.Argument(help="A private or public key file.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print a key's id and public key (never the secret)."""
    key = keystore.read_public_key(path)
    if json_out:
        print_json({"key_id": key.key_id.hex(), "public_key": key.raw.hex()})
    else:
        out.print(f"key id     {key.key_id.hex()}\npublic key {key.raw.hex()}")


CONSOLE_PREFIX = "pausebutton-console-signin:v1:"


@app.command("sign-challenge")
def sign_challenge(
    path: Annotated[Path, typer.Argument(help="Your private key file.")],
    challenge: Annotated[str, typer.Argument(help="The console's sign-in challenge text.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Sign a web console sign-in challenge: prints the key id and the signature to paste
    into the console's sign-in page. Signs only console challenges, nothing else."""
    from pausebutton.errors import UsageError

    if not challenge.startswith(CONSOLE_PREFIX):
        raise UsageError(
            f"this is not a console sign-in challenge (it starts with {CONSOLE_PREFIX!r})"
        )
    key = keystore.read_private_key(path)
    sig = key.sign(challenge.encode()).hex()
    if json_out:
        print_json({"key_id": key.key_id.hex(), "signature": sig})
    else:
        out.print(f"key id    {key.key_id.hex()}\nsignature {sig}")
