"""`tabship keygen KEYFILE`: a new Ed25519 key pair for `tabship sign`: KEYFILE (the private
key, PKCS#8 PEM, readable by its owner only) and KEYFILE.pub (the public key for
TABSHIP_TRUSTED_KEYS). Neither file may exist already. With $TABSHIP_SIGN_KEY_PASSWORD set, the
private key is encrypted with it. `openssl genpkey -algorithm ed25519` makes the same files."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tabship.contract import signature
from tabship.runtime.dataplane.errors import ModelRefused


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key", help="where to write the private key (the public one: KEY.pub)")


def _create(path: Path, data: bytes, mode: int) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def run(args: argparse.Namespace) -> int:
    private_path = Path(args.key)
    public_path = private_path.with_name(private_path.name + ".pub")
    for path in (private_path, public_path):
        if os.path.lexists(path):
            print(f"tabship keygen: {path} exists; keys are never overwritten", file=sys.stderr)
            return 1
    try:
        private, public, key_id = signature.new_key_pair(
            os.environ.get(signature.PASSWORD_VARIABLE) or None
        )
    except ModelRefused as error:
        print(f"tabship keygen: {error}", file=sys.stderr)
        return 2
    try:
        _create(private_path, private, 0o600)
        _create(public_path, f"# tabship signing key {key_id}\n".encode() + public, 0o644)
    except OSError as error:
        print(f"tabship keygen: cannot write ({error})", file=sys.stderr)
        return 1
    print(f"key {key_id}: private {private_path}, public {public_path}")
    return 0
